"""Strict base64, as DynamoDB decodes the B and BS values it receives.

Binary values travel as base64 (RFC 4648, with padding). Coral refuses anything
but the canonical spelling and reports, in this order (messages captured by
dynalite's suite against the service, typo included): a length that is not a
multiple of 4, a last data character with stray low bits (``"Yh=="``), then a
character outside the alphabet. The text of that last message is a guess.
"""

from __future__ import annotations

import binascii
from typing import NoReturn

from ddb.errors import SerializationException
from ddb.serialization import blob_error

BAD_B64_LENGTH = "Base64 encoded length is expected a multiple of 4 bytes but found: {}"
BAD_B64_LAST = "Invalid last non-pad Base64 character dectected"
BAD_B64_CHAR = "Invalid Base64 character: '{}'"

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {c: i for i, c in enumerate(_B64_ALPHABET)}


def _b64_slow_check(text: str) -> NoReturn:
    """Raise the error Coral reports for a string the strict decoder refused.

    Coral checks the length, then the last data character, then the alphabet
    (``"=+/="`` fails on its last character, not its leading ``=``).
    """
    if len(text) % 4:
        raise SerializationException(BAD_B64_LENGTH.format(len(text)))
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    if pad:
        last = _B64_INDEX.get(text[-pad - 1])
        if last is not None and last & (0x3 if pad == 1 else 0xF):
            raise SerializationException(BAD_B64_LAST)
    for ch in text[: len(text) - pad]:
        if ch not in _B64_INDEX:
            raise SerializationException(BAD_B64_CHAR.format(ch))
    # Every refusal of the strict decoder involves one of the cases above.
    raise SerializationException(BAD_B64_CHAR.format("="))  # pragma: no cover


def b64decode_strict(text: str) -> bytes:
    """Decode base64 exactly as strictly as DynamoDB; SerializationException otherwise.

    Beyond padding and alphabet, DynamoDB rejects a last character whose unused
    low bits are set (``"Yh=="``), so every byte string has one encoding and
    sets of binaries can be compared by their base64 text.
    """
    if type(text) is not str:
        raise blob_error(text)
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        _b64_slow_check(text)
    if text.endswith("="):
        pad = 2 if text.endswith("==") else 1
        if _B64_INDEX[text[-pad - 1]] & (0x3 if pad == 1 else 0xF):
            raise SerializationException(BAD_B64_LAST)
    return raw


def b64_length(text: str) -> int:
    """Byte length of valid base64 text, without decoding it."""
    n = len(text)
    if not n:
        return 0
    return n // 4 * 3 - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)
