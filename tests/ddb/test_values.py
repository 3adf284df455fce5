"""AttributeValue validation: one test per invalid class, with type and message."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb import values as v
from ddb.errors import SerializationException, ValidationException
from ddb.numbers import format_number
from tests.ddb.strategies import b64, number_texts, parsed_numbers


def ser(value: Any, message: str) -> None:
    with pytest.raises(SerializationException) as info:
        v.validate_value(value)
    assert info.value.message == message
    assert info.value.to_wire()[1]["Message"] == message


def val(value: Any, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        v.validate_value(value)
    assert info.value.message == message


def deep(levels: int, leaf: dict[str, Any] | None = None, kind: str = "M") -> dict[str, Any]:
    out: dict[str, Any] = leaf or {"S": "leaf"}
    for _ in range(levels):
        out = {"M": {"n": out}} if kind == "M" else {"L": [out]}
    return out


# ---------------------------------------------------------------- valid values


def test_valid_item_is_returned_in_place_with_numbers_normalised() -> None:
    item = {
        "a": {"S": "x"},
        "b": {"N": "-0015.789e6"},
        "c": {"B": "Yg=="},
        "d": {"BOOL": False},
        "e": {"NULL": True},
        "f": {"SS": ["a", ""]},  # empty strings are allowed in sets since 2020
        "g": {"NS": ["1.50", "+2"]},
        "h": {"BS": ["Yg==", ""]},
        "i": {"L": [{"N": "01"}, {"L": []}, {"M": {}}]},
        "j": {"M": {"k": {"N": "1e2"}, "e": {"S": ""}, "z": {"B": ""}}},
    }
    out = v.validate_item(item)
    assert out is item
    assert item["b"] == {"N": "-15789000"}
    assert item["g"] == {"NS": ["1.5", "2"]}
    assert item["i"]["L"][0] == {"N": "1"}
    assert item["j"]["M"]["k"] == {"N": "100"}


def test_validate_value_returns_the_same_object() -> None:
    value = {"N": "1.0"}
    assert v.validate_value(value) is value
    assert value == {"N": "1"}


def test_unknown_members_and_nulls_are_dropped() -> None:
    value = {"S": "a", "X": 1, "N": None}
    assert v.validate_value(value) == {"S": "a"}
    assert v.validate_value({"X": "?", "N": "01.0"}) == {"N": "1"}


def test_ns_already_canonical_keeps_its_list() -> None:
    ns = ["1", "2"]
    value = {"NS": ns}
    v.validate_value(value)
    assert value["NS"] is ns


# ---------------------------------------------------------------- shape of the AttributeValue


def test_value_not_an_object() -> None:
    ser("x", "Unexpected value type in payload")
    ser(5, "Unexpected value type in payload")
    ser(True, "Unexpected value type in payload")
    ser([], "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue")


def test_empty_value() -> None:
    val({}, v.EMPTY_VALUE)
    assert v.EMPTY_VALUE == (
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    )


def test_unknown_type_only() -> None:
    val({"a": ""}, v.EMPTY_VALUE)  # dynalite putItem "bad key type", as DynamoDB answers


def test_null_member_only() -> None:
    val({"S": None}, v.EMPTY_VALUE)


def test_null_attribute_value() -> None:
    val({"L": [None]}, v.EMPTY_VALUE)
    with pytest.raises(ValidationException, match="^Supplied AttributeValue is empty"):
        v.validate_item({"a": None})


def test_more_than_one_type() -> None:
    val({"S": "a", "N": "1"}, v.MULTIPLE_TYPES)
    assert v.MULTIPLE_TYPES == (
        "Supplied AttributeValue has more than one datatypes set, "
        "must contain exactly one of the supported datatypes"
    )


def test_content_errors_come_before_the_multiple_types_error() -> None:
    val({"S": "a", "N": "x"}, "The parameter cannot be converted to a numeric value: x")


# ---------------------------------------------------------------- wrong JSON type per member


@pytest.mark.parametrize("kind", ["S", "N"])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (5, "NUMBER_VALUE cannot be converted to String"),
        (-2147483648, "NUMBER_VALUE cannot be converted to String"),
        (34.56, "DECIMAL_VALUE cannot be converted to String"),
        (True, "TRUE_VALUE cannot be converted to String"),
        (False, "FALSE_VALUE cannot be converted to String"),
        ([], "Unrecognized collection type class java.lang.String"),
        ({}, "Start of structure or map found where not expected"),
    ],
)
def test_string_members(kind: str, bad: Any, message: str) -> None:
    ser({kind: bad}, message)


@pytest.mark.parametrize("kind", ["BOOL", "NULL"])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("23", "Unexpected token received from parser"),
        ("true", "Unexpected token received from parser"),
        (23, "NUMBER_VALUE cannot be converted to Boolean"),
        (34.56, "DECIMAL_VALUE cannot be converted to Boolean"),
        ([], "Unrecognized collection type class java.lang.Boolean"),
        ({}, "Start of structure or map found where not expected"),
    ],
)
def test_boolean_members(kind: str, bad: Any, message: str) -> None:
    ser({kind: bad}, message)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (True, "only base-64-encoded strings are convertible to bytes"),
        (23, "only base-64-encoded strings are convertible to bytes"),
        (34.56, "only base-64-encoded strings are convertible to bytes"),
        ([], "Unrecognized collection type class java.nio.ByteBuffer"),
        ({}, "Start of structure or map found where not expected"),
        ("23456", "Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
        ("=+/=", "Invalid last non-pad Base64 character dectected"),
        ("+/+=", "Invalid last non-pad Base64 character dectected"),
        ("Yh==", "Invalid last non-pad Base64 character dectected"),
        ("YR==", "Invalid last non-pad Base64 character dectected"),
        ("YWJ=", "Invalid last non-pad Base64 character dectected"),
        ("Y!==", "Invalid Base64 character: '!'"),
        ("YQ==YQ==", "Invalid Base64 character: '='"),
        ("=AAA", "Invalid Base64 character: '='"),
        ("Y===", "Invalid Base64 character: '='"),
        ("YQ\u00e9=", "Invalid Base64 character: '\u00e9'"),
    ],
)
def test_binary_member(bad: Any, message: str) -> None:
    ser({"B": bad}, message)
    ser({"BS": ["Yg==", bad]}, message)


@pytest.mark.parametrize("kind", ["SS", "NS", "BS", "L"])
def test_list_members(kind: str) -> None:
    for bad in ["23", True, 23, 34.56]:
        ser({kind: bad}, "Unexpected field type")
    ser({kind: {}}, "Start of structure or map found where not expected")


def test_map_member() -> None:
    for bad in ["23", True, 23, 34.56]:
        ser({"M": bad}, "Unexpected field type")
    ser(
        {"M": []},
        "Unrecognized collection type java.util.Map<java.lang.String, "
        "com.amazonaws.dynamodb.v20120810.AttributeValue>",
    )


def test_set_member_types() -> None:
    ser({"SS": ["a", 5]}, "NUMBER_VALUE cannot be converted to String")
    ser({"NS": ["1", True]}, "TRUE_VALUE cannot be converted to String")
    ser({"BS": ["Yg==", 1]}, "only base-64-encoded strings are convertible to bytes")


def test_list_and_map_elements_must_be_objects() -> None:
    ser({"L": ["a"]}, "Unexpected value type in payload")
    ser({"M": {"k": 1}}, "Unexpected value type in payload")
    ser({"M": {"k": []}}, "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue")


def test_item_must_be_a_map() -> None:
    for bad in ["x", 1, True]:
        with pytest.raises(SerializationException, match="^Unexpected field type$"):
            v.validate_item(bad)
    with pytest.raises(SerializationException, match="java.util.Map<java.lang.String"):
        v.validate_item([])


# ---------------------------------------------------------------- validation errors


def test_null_false() -> None:
    val({"NULL": False}, "One or more parameter values were invalid: Null attribute value types must have the value of true")


def test_empty_string_set() -> None:
    val({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty")


def test_empty_number_set() -> None:
    val({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty")


def test_empty_binary_set() -> None:
    val({"BS": []}, "One or more parameter values were invalid: Binary sets should not be empty")


def test_duplicate_strings() -> None:
    val({"SS": ["a", "a"]}, "One or more parameter values were invalid: Input collection [a, a] contains duplicates.")


def test_duplicate_numbers_after_normalisation() -> None:
    val({"NS": ["1", "1"]}, "Input collection contains duplicates")
    val({"NS": ["1", "1.0"]}, "Input collection contains duplicates")
    val({"NS": ["100", "1e2", "3"]}, "Input collection contains duplicates")


def test_duplicate_binaries() -> None:
    val(
        {"BS": ["Yg==", "Yg=="]},
        "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates.",
    )


def test_bad_numbers() -> None:
    val({"N": ""}, "The parameter cannot be converted to a numeric value")
    val({"N": "b"}, "The parameter cannot be converted to a numeric value: b")
    val({"NS": ["1", "b", "a"]}, "The parameter cannot be converted to a numeric value: b")
    val({"NS": ["1", ""]}, "The parameter cannot be converted to a numeric value")
    val({"N": "1e126"}, "Number overflow. Attempting to store a number with magnitude larger than supported range")
    val({"NS": ["1e-131"]}, "Number underflow. Attempting to store a number with magnitude smaller than supported range")
    val({"N": "1" * 39}, "Attempting to store more than 38 significant digits in a Number")


def test_null_set_members() -> None:
    val({"SS": ["a", None]}, v.NULL_IN_SS)
    val({"NS": ["1", None]}, v.NULL_IN_NS)
    val({"BS": [None]}, v.NULL_IN_BS)


def test_nesting_limit_is_32_levels() -> None:
    # The top-level attribute is level 1: 31 wraps put the leaf at level 32.
    v.validate_value(deep(31))
    v.validate_value(deep(31, kind="L"))
    v.validate_value(deep(31, {"M": {}}))
    val(deep(32), v.NESTING)
    val(deep(32, kind="L"), v.NESTING)
    val(deep(32, {"NS": ["1"]}), v.NESTING)
    assert v.NESTING == (
        "Nesting Levels have exceeded supported limits: "
        "Attributes in the item have nested levels beyond supported limit"
    )
    with pytest.raises(ValidationException, match="^Nesting Levels"):
        v.validate_item({"a": {"S": "x"}, "data": deep(32)})
    # A value placed deeper counts from there.
    with pytest.raises(ValidationException, match="^Nesting Levels"):
        v.validate_value(deep(2), depth=31)


def test_empty_attribute_name() -> None:
    with pytest.raises(ValidationException) as info:
        v.validate_item({"": {"S": "x"}})
    assert info.value.message == v.EMPTY_NAME


# ---------------------------------------------------------------- precedence


def test_serialization_error_anywhere_beats_validation_error() -> None:
    with pytest.raises(SerializationException):
        v.validate_value({"L": [{"NULL": False}, {"S": 5}]})
    with pytest.raises(SerializationException):
        v.validate_item({"a": {"SS": []}, "b": {"B": "Yh=="}})
    with pytest.raises(SerializationException):
        v.validate_value({"NS": ["x", 5]})


def test_first_validation_error_wins() -> None:
    with pytest.raises(ValidationException) as info:
        v.validate_item({"a": {"NULL": False}, "b": {"SS": []}})
    assert info.value.message == v.NULL_NOT_TRUE


def test_path_desc_is_attached() -> None:
    with pytest.raises(ValidationException) as info:
        v.validate_value({"SS": []}, path_desc=":v")
    assert info.value.path == ":v"
    assert info.value.to_wire()[1] == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": v.EMPTY_SS,
    }


def test_expression_attribute_values_wrap_the_message() -> None:
    values = {":a": {"N": "01"}, ":b": {"S": "x"}}
    assert v.validate_expression_attribute_values(values) is values
    assert values[":a"] == {"N": "1"}
    with pytest.raises(ValidationException) as info:
        v.validate_expression_attribute_values({":ok": {"S": "x"}, ":v": {"SS": []}, ":w": {"NS": []}})
    assert info.value.message == (
        "ExpressionAttributeValues contains invalid value: One or more parameter values were "
        "invalid: An string set  may not be empty for key :v"
    )
    with pytest.raises(SerializationException):
        v.validate_expression_attribute_values({":v": {"SS": []}, ":w": {"S": 1}})
    with pytest.raises(SerializationException, match="^Unexpected field type$"):
        v.validate_expression_attribute_values("x")


# ---------------------------------------------------------------- helpers


def test_attribute_type_and_depth() -> None:
    assert v.attribute_type({"NS": ["1"]}) == "NS"
    with pytest.raises(ValueError):
        v.attribute_type({})
    assert v.nesting_depth({"S": "x"}) == 1
    assert v.nesting_depth({"M": {}}) == 1
    assert v.nesting_depth({"L": [{"S": "x"}, {"M": {"a": {"L": []}}}]}) == 3
    assert v.nesting_depth(deep(31)) == 32


# ---------------------------------------------------------------- random valid values


def _scalar() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.text(max_size=5).map(lambda s: {"S": s}),
        number_texts.map(lambda s: {"N": s}),
        st.binary(max_size=5).map(lambda b: {"B": b64(b)}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.sets(st.text(max_size=3), min_size=1, max_size=4).map(lambda s: {"SS": sorted(s)}),
        st.sets(parsed_numbers(), min_size=1, max_size=4).map(
            lambda s: {"NS": sorted(format_number(p) for p in s)}
        ),
        st.sets(st.binary(max_size=3), min_size=1, max_size=4).map(lambda s: {"BS": sorted(map(b64, s))}),
    )


attribute_values = st.recursive(
    _scalar(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: {"L": xs}),
        st.dictionaries(st.text(max_size=3), children, max_size=4).map(lambda d: {"M": d}),
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.dictionaries(st.text(min_size=1, max_size=4), attribute_values, max_size=5))
def test_valid_items_validate_and_normalisation_is_idempotent(item: dict[str, Any]) -> None:
    once = copy.deepcopy(v.validate_item(item))
    assert v.validate_item(copy.deepcopy(once)) == once


_SCALARS = st.one_of(
    st.text(max_size=8).map(lambda s: {"S": s}),
    number_texts.map(lambda n: {"N": n}),
    st.binary(max_size=8).map(lambda b: {"B": b64(b)}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(max_size=4), min_size=1, max_size=3, unique=True).map(lambda ss: {"SS": ss}),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda xs: {"L": xs}),
    st.dictionaries(st.text(max_size=4), inner, max_size=3).map(lambda m: {"M": m})), max_leaves=8)


@settings(max_examples=200)
@given(st.dictionaries(st.text(min_size=1, max_size=6), _VALUES, min_size=1, max_size=6))
def test_validate_sized_item_counts_what_item_size_counts(item: dict[str, Any]) -> None:
    # One walk validates a written item and sizes it: the size must be ddb.size's, numbers normalised first.
    from ddb.size import item_size

    checked, size = v.validate_sized_item(copy.deepcopy(item))
    assert checked == v.validate_item(copy.deepcopy(item))
    assert size == item_size(checked)


def test_validate_sized_item_refuses_what_validate_item_refuses() -> None:
    with pytest.raises(ValidationException) as info:
        v.validate_sized_item({"a": {"S": "x"}, "b": {"NULL": False}})
    assert info.value.message == v.NULL_NOT_TRUE
    with pytest.raises(SerializationException):
        v.validate_sized_item({"a": {"S": 5}})
