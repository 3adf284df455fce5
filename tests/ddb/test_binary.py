"""Strict base64 decoding of binary values."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb import binary
from ddb.errors import SerializationException
from tests.ddb.strategies import b64


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_round_trip_and_length(raw: bytes) -> None:
    text = b64(raw)
    assert binary.b64decode_strict(text) == raw
    assert binary.b64_length(text) == len(raw)


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=32), st.integers(1, 15))
def test_stray_low_bits_are_refused(raw: bytes, bits: int) -> None:
    text = b64(raw)
    pad = len(text) - len(text.rstrip("="))
    if not pad:
        return
    mask = 0x3 if pad == 1 else 0xF
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[-pad - 1]) | (bits & mask)
    if last == alphabet.index(text[-pad - 1]):
        return
    bad = text[: -pad - 1] + alphabet[last] + "=" * pad
    assert base64.b64decode(bad) == raw  # lenient decoders accept it...
    with pytest.raises(SerializationException) as info:  # ...DynamoDB does not
        binary.b64decode_strict(bad)
    assert info.value.message == "Invalid last non-pad Base64 character dectected"


def test_messages() -> None:
    cases = {
        "23456": "Base64 encoded length is expected a multiple of 4 bytes but found: 5",
        "=+/=": "Invalid last non-pad Base64 character dectected",
        "Y!==": "Invalid Base64 character: '!'",
    }
    for text, message in cases.items():
        with pytest.raises(SerializationException) as info:
            binary.b64decode_strict(text)
        assert info.value.message == message


def test_non_strings_are_refused() -> None:
    with pytest.raises(SerializationException, match="only base-64"):
        binary.b64decode_strict(5)  # type: ignore[arg-type]


def test_values_re_exports_the_helpers() -> None:
    from ddb import values

    assert values.b64decode_strict is binary.b64decode_strict
    assert values.b64_length is binary.b64_length
