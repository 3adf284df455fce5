"""Coral's type-mismatch messages for request members."""

from __future__ import annotations

import pytest

from ddb import serialization as s
from ddb.errors import SerializationException


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("23", "STRING_VALUE cannot be converted to Integer"),
        (True, "TRUE_VALUE cannot be converted to Integer"),
        (False, "FALSE_VALUE cannot be converted to Integer"),
        ([], "Unrecognized collection type class java.lang.Integer"),
        ({}, "Start of structure or map found where not expected"),
    ],
)
def test_integer_members(value: object, message: str) -> None:
    err = s.integer_error(value)
    assert isinstance(err, SerializationException)
    assert err.message == message


def test_long_members() -> None:
    assert s.integer_error("23", "Long").message == "STRING_VALUE cannot be converted to Long"


def test_map_and_struct_of_other_shapes() -> None:
    assert s.map_error([], "Condition").message == (
        "Unrecognized collection type java.util.Map<java.lang.String, "
        "com.amazonaws.dynamodb.v20120810.Condition>"
    )
    assert s.struct_error([], "KeySchemaElement").message == (
        "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.KeySchemaElement"
    )
    assert s.struct_error("x").message == "Unexpected value type in payload"
