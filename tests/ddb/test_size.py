"""Item sizes against the developer guide, captured measurements and hand counts."""

from __future__ import annotations

import math
from decimal import Context, Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb import size as s
from ddb.errors import ValidationException
from ddb.numbers import format_number, normalize_number
from tests.ddb.strategies import b64, number_texts, parsed_numbers
from tests.ddb.test_values import attribute_values


def test_limits_page_example() -> None:
    # Developer guide, Limits: shirt-color "R" and shirt-size "M" take 23 bytes.
    assert s.item_size({"shirt-color": {"S": "R"}, "shirt-size": {"S": "M"}}) == 23


# Each literal was measured byte-exactly against DynamoDB's 400 KB gate in
# eu-west-2 (accepted at 409,600, refused at 409,601).
CAPTURED = [
    ("0", 1), ("1", 2), ("12", 2), ("123", 3), ("1234", 3),
    ("12345678901234567890123456789012345678", 20), ("0042", 2), ("100", 2),
    ("1010", 3), ("0.0000001", 2), ("1E125", 2), ("1E-100", 2), ("1.5", 3),
    ("15", 2), ("1.2", 3), ("1.200", 3), ("1.234", 4), ("3.14159", 5),
    ("123456", 4), ("100.5", 4), ("0.15", 2), ("-42", 3), ("-0", 1),
]


@pytest.mark.parametrize(("literal", "size"), CAPTURED)
def test_captured_number_sizes(literal: str, size: int) -> None:
    assert s.number_size(literal) == size
    assert s.value_size({"N": literal}) == size


def test_dynalite_number_sizes() -> None:
    # dynalite test/putItem.js item-size tests against DynamoDB: 1111111e119 costs 5.
    assert s.number_size("1111111" + "0" * 119) == 5
    assert s.number_size("11" + "0" * 124) == 2
    assert s.number_size("1" * 38 + "0" * 88) == 20


@settings(max_examples=500)
@given(parsed_numbers())
def test_number_size_matches_dynalites_formula(parsed: tuple[bool, str, int]) -> None:
    # dynalite db/index.js valSize, written independently from Decimal's view:
    # 1 + ceil(digits/2) + (1 if digits even and exponent even) + (1 if negative).
    value = Decimal(format_number(parsed))
    if value == 0:
        expected = 1
    else:
        digits = len(Context(prec=100).normalize(value).as_tuple().digits)
        e = value.adjusted()
        expected = 1 + math.ceil(digits / 2) + (0 if digits % 2 or e % 2 else 1) + (value < 0)
    assert s.number_size(format_number(parsed)) == expected


def test_scalar_sizes() -> None:
    assert s.value_size({"S": ""}) == 0
    assert s.value_size({"S": "abc"}) == 3
    assert s.value_size({"S": "\u00e9"}) == 2
    assert s.value_size({"S": "\u20ac"}) == 3
    assert s.value_size({"S": "\U0001f600"}) == 4
    assert s.value_size({"B": b64(b"\x00\xff\x10")}) == 3  # raw bytes, not base64 length
    assert s.value_size({"B": b64(b"ab")}) == 2
    assert s.value_size({"B": ""}) == 0
    assert s.value_size({"BOOL": False}) == 1
    assert s.value_size({"NULL": True}) == 1


def test_attribute_names_count_utf8_bytes() -> None:
    assert s.item_size({"\u00e9t\u00e9": {"S": "x"}}) == 5 + 1


def test_documents() -> None:
    # L: 3 + per element (1 + size): 3 + (1 + 2) + (1 + 2) = 9.
    assert s.value_size({"L": [{"S": "xy"}, {"N": "1"}]}) == 9
    # M: 3 + per entry (key + 1 + size): 3 + (1 + 1 + 1) + (2 + 1 + 1) = 10.
    assert s.value_size({"M": {"k": {"S": "v"}, "kk": {"BOOL": True}}}) == 10
    assert s.item_size({"l": {"L": []}, "m": {"M": {}}}) == (1 + 3) + (1 + 3)
    nested = {"M": {"a": {"L": [{"M": {}}]}}}
    assert s.value_size(nested) == 3 + (1 + 1 + (3 + (1 + 3)))


def test_sets_are_the_sum_of_their_members() -> None:
    assert s.value_size({"SS": ["a", "bc", ""]}) == 3
    assert s.value_size({"NS": ["1", "-42", "3.14159"]}) == 2 + 3 + 5
    assert s.value_size({"BS": [b64(b"\x00"), b64(b"abcd")]}) == 5


def test_bad_values() -> None:
    with pytest.raises(ValueError):
        s.value_size({})
    with pytest.raises(ValueError):
        s.value_size({"X": 1})


def test_item_size_limit_is_409600_bytes_inclusive() -> None:
    # Like dynalite's "just small enough" / "too big" pair: a + 1-byte key, b + padding.
    fits = {"a": {"S": "k"}, "b": {"S": "x" * (409600 - 1 - 1 - 1)}}
    assert s.check_item_size(fits) == 409600
    over = {"a": {"S": "k"}, "b": {"S": "x" * (409600 - 1 - 1 - 1 + 1)}}
    with pytest.raises(ValidationException) as info:
        s.check_item_size(over)
    assert info.value.message == "Item size has exceeded the maximum allowed size"
    with pytest.raises(ValidationException, match="^Item size to update has exceeded"):
        s.check_item_size(over, message=s.UPDATE_TOO_LARGE)


def test_limit_with_numbers() -> None:
    # dynalite: key a + b + two 7-digit 1e125-scale numbers (5 bytes each).
    number = "1111111" + "0" * 119
    base = {"a": {"S": "k"}, "c": {"N": number}, "d": {"N": number}}
    used = 1 + 1 + (1 + 5) + (1 + 5) + 1  # names a, c, d, b and their values but b's
    fits = dict(base, b={"S": "x" * (409600 - used)})
    assert s.check_item_size(fits) == 409600
    with pytest.raises(ValidationException):
        s.check_item_size(dict(base, b={"S": "x" * (409600 - used + 1)}))


@settings(max_examples=300)
@given(number_texts)
def test_any_spelling_has_the_size_of_its_canonical_form(text: str) -> None:
    assert s.number_size(text) == s.number_size(normalize_number(text))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=4), attribute_values)
def test_the_json_of_an_item_bounds_its_size_from_above(name: str, value: dict) -> None:
    """A leader prices a provisioned put without parsing the old item when its
    stored JSON's length already costs no more (node/partition/replica.py).
    (One attribute: an item's size and its JSON's length both add up over its attributes.)"""
    assert s.item_size({name: value}) <= len(orjson.dumps({name: value}))
