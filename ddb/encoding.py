"""Order-preserving, self-delimiting byte encoding of key values, and the placement hash.

Storage keys are ``... | encoded partition key | encoded sort key``, so that a
Query is a range scan in sort-key order. For two values of the same type the
bytewise order of their encodings is DynamoDB's order:

* S: by UTF-8 bytes (which is also code point order);
* B: by bytes, unsigned;
* N: by numeric value, exactly, over the whole range and both signs.

Each encoding is self-delimiting and no encoding is a proper prefix of another,
so ``enc(a) + x`` and ``enc(b) + y`` compare like ``a`` and ``b`` whenever
``a != b``: a composite key orders by partition key, then sort key, and can be
split again by ``decode_key_value``.

Layout (one tag byte, then the payload):

* ``S``/``B`` (tags 0x53/0x42): the raw bytes with every 0x00 written as
  0x00 0xFF, then the terminator 0x00 0x01 (FoundationDB tuple-layer style; the
  two-byte terminator sorts below an escaped NUL and below every other byte).
* ``N`` (tag 0x4E): a class byte, 0x01 negative, 0x02 zero, 0x03 positive.
  Zero ends there. Otherwise one exponent byte, ``adjusted exponent + 130``
  (0..255 covers DynamoDB's whole range), then the digits packed in pairs from
  the leading digit (an odd count padded with a 0), each pair ``p`` written as
  ``p + 1``, then a 0x00 terminator. Canonical digits have no trailing zeros,
  so a shorter digit string is a smaller mantissa and the terminator sorts
  below every pair. A negative number writes the complement (``255 - byte``) of
  the exponent, pairs and terminator, which reverses the order of magnitudes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from ddb.keys import KeySchema
from ddb.numbers import MIN_EXPONENT, format_number, parse_number

TAG_S = 0x53
TAG_N = 0x4E
TAG_B = 0x42

_NEGATIVE, _ZERO, _POSITIVE = 0x01, 0x02, 0x03
_ZERO_ENCODING = bytes((TAG_N, _ZERO))
_BIAS = -MIN_EXPONENT  # 130

_PAIR_UP = {f"{p:02d}": p + 1 for p in range(100)}
_PAIR_DOWN = {f"{p:02d}": 254 - p for p in range(100)}
_PAIR_TEXT = [f"{p:02d}" for p in range(100)]


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def _unescape(data: bytes, start: int) -> tuple[bytes, int]:
    pos = start
    while True:
        nul = data.find(b"\x00", pos)
        if nul < 0 or nul + 1 >= len(data):
            raise ValueError("truncated key encoding")
        follower = data[nul + 1]
        if follower == 0x01:
            return data[start:nul].replace(b"\x00\xff", b"\x00"), nul + 2
        if follower != 0xFF:
            raise ValueError("corrupt key encoding")
        pos = nul + 2


def encode_number(text: str) -> bytes:
    """Encoding of a number (tag included); accepts any valid wire spelling."""
    negative, digits, exponent = parse_number(text)
    if not digits:
        return _ZERO_ENCODING
    adjusted = exponent + len(digits) - 1
    if len(digits) & 1:
        digits += "0"
    pairs = [digits[i : i + 2] for i in range(0, len(digits), 2)]
    if negative:
        table = _PAIR_DOWN
        head = bytes((TAG_N, _NEGATIVE, 255 - (adjusted + _BIAS)))
        tail = b"\xff"
    else:
        table = _PAIR_UP
        head = bytes((TAG_N, _POSITIVE, adjusted + _BIAS))
        tail = b"\x00"
    return head + bytes([table[p] for p in pairs]) + tail


def _decode_number(data: bytes, pos: int) -> tuple[str, int]:
    cls = data[pos]
    if cls == _ZERO:
        return "0", pos + 1
    negative = cls == _NEGATIVE
    if not negative and cls != _POSITIVE:
        raise ValueError("corrupt number encoding")
    exp_byte = data[pos + 1]
    adjusted = (255 - exp_byte if negative else exp_byte) - _BIAS
    end = data.index(b"\xff" if negative else b"\x00", pos + 2)
    body = data[pos + 2 : end]
    if negative:
        digits = "".join(_PAIR_TEXT[254 - b] for b in body)
    else:
        digits = "".join(_PAIR_TEXT[b - 1] for b in body)
    digits = digits.rstrip("0")  # only the odd-count pad can be a trailing zero
    exponent = adjusted - len(digits) + 1
    return format_number((negative, digits, exponent)), end + 1


def encode_key_value(value: dict[str, Any]) -> bytes:
    """Encode one validated key AttributeValue (``{"S": ...}``, ``{"N": ...}`` or ``{"B": ...}``)."""
    for kind, x in value.items():
        if kind == "S":
            return b"S" + _escape(x.encode("utf-8"))
        if kind == "N":
            return encode_number(x)
        if kind == "B":
            return b"B" + _escape(binascii.a2b_base64(x))
        raise ValueError(f"{kind} is not a key type")
    raise ValueError("empty AttributeValue")


def decode_key_value(data: bytes, offset: int = 0) -> tuple[dict[str, str], int]:
    """Decode the value starting at ``offset``; return it and the offset after it.

    Numbers come back in DynamoDB's canonical form, binaries as base64.
    """
    tag = data[offset]
    if tag == TAG_S:
        raw, end = _unescape(data, offset + 1)
        return {"S": raw.decode("utf-8")}, end
    if tag == TAG_N:
        text, end = _decode_number(data, offset + 1)
        return {"N": text}, end
    if tag == TAG_B:
        raw, end = _unescape(data, offset + 1)
        return {"B": base64.b64encode(raw).decode("ascii")}, end
    raise ValueError(f"unknown key tag {tag:#x}")


def encode_partition_key(schema: KeySchema, key: dict[str, Any]) -> bytes:
    """Encoded partition key of a validated key or item."""
    return encode_key_value(key[schema.hash_key])


def encode_key(schema: KeySchema, key: dict[str, Any]) -> bytes:
    """Encoded partition key followed by the encoded sort key (if the schema has one)."""
    out = encode_key_value(key[schema.hash_key])
    if schema.range_key is not None:
        out += encode_key_value(key[schema.range_key])
    return out


def decode_key(schema: KeySchema, data: bytes, offset: int = 0) -> tuple[dict[str, Any], int]:
    """Inverse of ``encode_key``: the key attributes, and the offset after them."""
    hash_value, pos = decode_key_value(data, offset)
    key = {schema.hash_key: hash_value}
    if schema.range_key is not None:
        key[schema.range_key], pos = decode_key_value(data, pos)
    return key, pos


def hash64(encoded_partition_key: bytes) -> int:
    """Stable unsigned 64-bit hash of an encoded partition key, for placement.

    BLAKE2b is keyless and identical on every machine and process (unlike
    ``hash()``), so routers and nodes agree on which partition owns a key.
    """
    return int.from_bytes(hashlib.blake2b(encoded_partition_key, digest_size=8).digest(), "big")
