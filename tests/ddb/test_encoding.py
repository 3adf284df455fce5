"""Key encoding: order equals DynamoDB's order, round trips, and splits cleanly."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ddb import encoding as enc
from ddb.keys import KeySchema
from ddb.numbers import format_number
from tests.ddb.strategies import as_decimal, b64, key_binaries, key_strings, number_texts, parsed_numbers

MAX = "9.9999999999999999999999999999999999999E+125"
EXTREMES = [
    "1E-130", "-1E-130", MAX, "-" + MAX, "0",
    "1.0000000000000000000000000000000000001", "1.0000000000000000000000000000000000002",
    "-1.0000000000000000000000000000000000001", "-1.0000000000000000000000000000000000002",
    "1000000000000000000000000000000000000000000000000", "1", "-1", "10", "0.1", "-10", "-0.1",
    "0.99", "-0.99", "1.01", "-1.01",
]

numbers = st.one_of(number_texts, st.sampled_from(EXTREMES))


def cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def n(text: str) -> dict[str, str]:
    return {"N": text}


# ---------------------------------------------------------------- order


@settings(max_examples=1000)
@given(numbers, numbers)
@example("1E-130", "-1E-130")
@example(MAX, "-" + MAX)
@example("1.0000000000000000000000000000000000001", "1.0000000000000000000000000000000000002")
@example("12", "1.2")
@example("-1", "-1.01")
def test_number_order_is_numeric_order(a: str, b: str) -> None:
    ea, eb = enc.encode_key_value(n(a)), enc.encode_key_value(n(b))
    assert cmp(ea, eb) == cmp(Decimal(a), Decimal(b))


def test_extremes_sort_in_numeric_order() -> None:
    ordered = sorted(EXTREMES, key=Decimal)
    encoded = [enc.encode_key_value(n(x)) for x in ordered]
    assert encoded == sorted(encoded)
    assert len(set(encoded)) == len(encoded)


@settings(max_examples=1000)
@given(key_strings, key_strings)
@example("a", "a\x00")
@example("a\x00", "a\x01")
@example("a\x00\xff", "a\x00")
@example("\uffff", "\U0001f600")  # UTF-16 order would say the opposite
def test_string_order_is_utf8_byte_order(a: str, b: str) -> None:
    ea, eb = enc.encode_key_value({"S": a}), enc.encode_key_value({"S": b})
    assert cmp(ea, eb) == cmp(a.encode(), b.encode())


@settings(max_examples=1000)
@given(key_binaries, key_binaries)
@example(b"", b"\x00")
@example(b"\x00", b"\x00\x00")
@example(b"\x00\xff", b"\x00\x01")
@example(b"\xff", b"\x00\xff")
def test_binary_order_is_unsigned_byte_order(a: bytes, b: bytes) -> None:
    ea, eb = enc.encode_key_value({"B": b64(a)}), enc.encode_key_value({"B": b64(b)})
    assert cmp(ea, eb) == cmp(a, b)


key_values = st.one_of(
    numbers.map(n),
    key_strings.map(lambda s: {"S": s}),
    key_binaries.map(lambda b: {"B": b64(b)}),
)


def _natural(value: dict[str, str]) -> Any:
    kind, x = next(iter(value.items()))
    if kind == "N":
        return Decimal(x)
    if kind == "S":
        return x.encode()
    return x  # unused: binaries are compared through their bytes below


def _same_type_pairs() -> st.SearchStrategy[tuple[dict[str, str], dict[str, str]]]:
    return st.one_of(
        st.tuples(numbers.map(n), numbers.map(n)),
        st.tuples(key_strings.map(lambda s: {"S": s}), key_strings.map(lambda s: {"S": s})),
        st.tuples(key_binaries, key_binaries).map(lambda p: ({"B": b64(p[0])}, {"B": b64(p[1])})),
    )


def _order(a: dict[str, str], b: dict[str, str]) -> int:
    if "B" in a:
        return cmp(enc.base64.b64decode(a["B"]), enc.base64.b64decode(b["B"]))
    return cmp(_natural(a), _natural(b))


@settings(max_examples=1000)
@given(_same_type_pairs(), st.binary(max_size=6), st.binary(max_size=6))
@example(({"S": "a"}, {"S": "a\x00"}), b"\xff\xff", b"")
@example(({"B": "AA=="}, {"B": ""}), b"", b"\xff")
@example((n("1"), n("1.01")), b"\x0b\x0b", b"")
@example((n("-1"), n("-1.01")), b"", b"\xff")
def test_encodings_are_prefix_free(pair: tuple[dict[str, str], dict[str, str]], x: bytes, y: bytes) -> None:
    a, b = pair
    order = _order(a, b)
    if order:
        ea, eb = enc.encode_key_value(a), enc.encode_key_value(b)
        assert cmp(ea + x, eb + y) == order


@settings(max_examples=1000)
@given(
    st.tuples(key_strings, numbers),
    st.tuples(key_strings, numbers),
)
@example(("a", "1"), ("a\x00", "0"))
@example(("a", "2"), ("a", "10"))
def test_composite_keys_sort_by_partition_then_sort_key(a: tuple[str, str], b: tuple[str, str]) -> None:
    schema = KeySchema("pk", "S", "sk", "N")
    ka = {"pk": {"S": a[0]}, "sk": n(a[1])}
    kb = {"pk": {"S": b[0]}, "sk": n(b[1])}
    expected = cmp((a[0].encode(), Decimal(a[1])), (b[0].encode(), Decimal(b[1])))
    assert cmp(enc.encode_key(schema, ka), enc.encode_key(schema, kb)) == expected


# ---------------------------------------------------------------- round trips


@settings(max_examples=1000)
@given(parsed_numbers())
@example((False, "1", -130))
@example((True, "1", -130))
@example((False, "9" * 38, 88))
@example((True, "9" * 38, 88))
def test_numbers_round_trip_to_canonical_form(parsed: tuple[bool, str, int]) -> None:
    canonical = format_number(parsed)
    data = enc.encode_key_value(n(canonical))
    assert enc.decode_key_value(data) == (n(canonical), len(data))
    assert Decimal(canonical) == as_decimal(parsed)


def test_decoded_numbers_are_canonical_whatever_the_spelling() -> None:
    data = enc.encode_key_value(n("+0001.500e3"))
    assert enc.decode_key_value(data)[0] == n("1500")
    assert enc.encode_key_value(n("-0")) == enc.encode_key_value(n("0e99"))
    assert len(enc.encode_key_value(n(MAX))) == 1 + 1 + 1 + 19 + 1


@settings(max_examples=500)
@given(key_values, key_values, st.binary(max_size=4))
def test_values_split_from_a_concatenation(a: dict[str, str], b: dict[str, str], tail: bytes) -> None:
    canon = enc.decode_key_value(enc.encode_key_value(a))[0]
    data = enc.encode_key_value(a) + enc.encode_key_value(b) + tail
    first, pos = enc.decode_key_value(data)
    second, end = enc.decode_key_value(data, pos)
    assert first == canon
    assert second == enc.decode_key_value(enc.encode_key_value(b))[0]
    assert data[end:] == tail
    if "S" in a:
        assert first == a
    if "B" in a:
        assert first == a


def test_decode_key() -> None:
    schema = KeySchema("pk", "B", "sk", "S")
    key = {"pk": {"B": b64(b"\x00\xff\x00")}, "sk": {"S": "x\x00y"}}
    data = enc.encode_key(schema, key)
    assert data.startswith(enc.encode_partition_key(schema, key))
    assert enc.decode_key(schema, data) == (key, len(data))
    hash_only = KeySchema("id", "N")
    data = enc.encode_key(hash_only, {"id": n("42"), "ignored": {"S": "x"}})
    assert enc.decode_key(hash_only, data + b"rest") == ({"id": n("42")}, len(data))


def test_layout() -> None:
    assert enc.encode_key_value({"S": "a\x00b"}) == b"Sa\x00\xffb\x00\x01"
    assert enc.encode_key_value({"B": b64(b"")}) == b"B\x00\x01"
    assert enc.encode_key_value(n("0")) == b"N\x02"
    assert enc.encode_key_value(n("1")) == bytes([0x4E, 0x03, 130, 11, 0])
    assert enc.encode_key_value(n("-1")) == bytes([0x4E, 0x01, 255 - 130, 255 - 11, 0xFF])
    assert enc.encode_key_value(n("123")) == bytes([0x4E, 0x03, 132, 13, 31, 0])


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "value",
    [{"SS": ["a"]}, {"BOOL": True}, {}],
)
def test_only_scalar_key_types_encode(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        enc.encode_key_value(value)


@pytest.mark.parametrize(
    "data",
    [b"Xabc", b"Sabc", b"Sab\x00", b"Sa\x00\x02", b"N\x07", b"Babc\x00"],
)
def test_corrupt_data_is_rejected(data: bytes) -> None:
    with pytest.raises(ValueError):
        enc.decode_key_value(data)


# ---------------------------------------------------------------- placement hash


def test_hash64_is_stable_blake2b() -> None:
    data = enc.encode_key_value({"S": "user#1"})
    expected = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    assert enc.hash64(data) == expected
    # Pinned: a change here would move every existing item to another partition.
    assert enc.hash64(b"") == 0xE4A6A0577479B2B4
    assert enc.hash64(data) == 0xF4329C17D3315410


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_hash64_is_unsigned_64_bit(data: bytes) -> None:
    h = enc.hash64(data)
    assert 0 <= h < 2**64
    assert enc.hash64(data) == h
