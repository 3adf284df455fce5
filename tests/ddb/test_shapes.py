"""Whole-request type checks compiled from DynamoDB's service model: the
messages Coral sends for each kind of misplaced JSON value (dynalite's suite,
run against the service, test/helpers.js assertType)."""

from __future__ import annotations

import functools

import pytest
from botocore.loaders import Loader

from ddb.errors import SerializationException
from ddb.shapes import CAST, compile_model

MAP_OF_VALUES = ("Unrecognized collection type java.util.Map<java.lang.String, "
                 "com.amazonaws.dynamodb.v20120810.AttributeValue>")


@functools.cache
def checks() -> dict:
    return compile_model(Loader().load_service_model("dynamodb", "service-2"))


def message(op: str, body: dict) -> str | None:
    try:
        checks()[op](body)
    except SerializationException as exc:
        return exc.message
    return None


def test_every_operation_of_the_model_has_a_checker() -> None:
    assert {"PutItem", "GetItem", "Query", "Scan", "CreateTable", "BatchWriteItem", "TransactWriteItems"} <= set(
        checks())


@pytest.mark.parametrize(("op", "body", "expected"), [
    # dynamodb-admin's create-table form sends the capacity units as strings
    ("CreateTable", {"ProvisionedThroughput": {"ReadCapacityUnits": "5"}}, "STRING_VALUE cannot be converted to Long"),
    ("CreateTable", {"ProvisionedThroughput": {"WriteCapacityUnits": True}}, "TRUE_VALUE cannot be converted to Long"),
    ("CreateTable", {"ProvisionedThroughput": {"WriteCapacityUnits": []}},
     "Unrecognized collection type class java.lang.Long"),
    ("CreateTable", {"ProvisionedThroughput": {"WriteCapacityUnits": {}}},
     "Start of structure or map found where not expected"),
    ("Scan", {"Limit": "5"}, "STRING_VALUE cannot be converted to Integer"),
    ("Scan", {"Limit": 1.5}, "DECIMAL_VALUE cannot be converted to Integer"),
    ("Scan", {"Limit": 1 << 40}, "NUMBER_VALUE cannot be converted to Integer"),
    ("Scan", {"ConsistentRead": "true"}, "Unexpected token received from parser"),
    ("Scan", {"ConsistentRead": 1}, "NUMBER_VALUE cannot be converted to Boolean"),
    ("Scan", {"ConsistentRead": 1.5}, "DECIMAL_VALUE cannot be converted to Boolean"),
    ("Scan", {"ConsistentRead": []}, "Unrecognized collection type class java.lang.Boolean"),
    ("GetItem", {"TableName": 5}, "NUMBER_VALUE cannot be converted to String"),
    ("GetItem", {"TableName": False}, "FALSE_VALUE cannot be converted to String"),
    ("GetItem", {"TableName": []}, "Unrecognized collection type class java.lang.String"),
    # the reproducers: non-string expression attribute names
    ("PutItem", {"ExpressionAttributeNames": {"#a": 5}}, "NUMBER_VALUE cannot be converted to String"),
    ("Query", {"ExpressionAttributeNames": {"#a": {"a": 1}}}, "Start of structure or map found where not expected"),
    ("Query", {"ExpressionAttributeNames": []},
     "Unrecognized collection type java.util.Map<java.lang.String, java.lang.String>"),
    ("Query", {"ExpressionAttributeNames": "x"}, "Unexpected field type"),
    ("Scan", {"AttributesToGet": "a"}, "Unexpected field type"),
    ("Scan", {"AttributesToGet": {}}, "Start of structure or map found where not expected"),
    ("Scan", {"AttributesToGet": [1]}, "NUMBER_VALUE cannot be converted to String"),
    ("PutItem", {"Item": []}, MAP_OF_VALUES),
    ("PutItem", {"Item": 3}, "Unexpected field type"),
    ("PutItem", {"Item": {"a": "x"}}, "Unexpected value type in payload"),
    ("PutItem", {"Item": {"a": []}},
     "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"),
    ("PutItem", {"Item": {"a": {"S": 5}}}, "NUMBER_VALUE cannot be converted to String"),
    ("PutItem", {"Item": {"a": {"B": 5}}}, "only base-64-encoded strings are convertible to bytes"),
    ("PutItem", {"Item": {"a": {"BS": [[]]}}}, "Unrecognized collection type class java.nio.ByteBuffer"),
    ("PutItem", {"Item": {"a": {"M": {"b": {"L": [{"NULL": "x"}]}}}}}, "Unexpected token received from parser"),
    ("PutItem", {"Item": {"a": {"L": {}}}}, "Start of structure or map found where not expected"),
    ("PutItem", {"Item": {"a": {"M": []}}}, MAP_OF_VALUES),
    ("CreateTable", {"ProvisionedThroughput": 5}, "Unexpected field type"),
    ("CreateTable", {"ProvisionedThroughput": []},
     "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.ProvisionedThroughput"),
    ("CreateTable", {"KeySchema": [3]}, "Unexpected value type in payload"),
    ("CreateTable", {"KeySchema": [{"AttributeName": 3}]}, "NUMBER_VALUE cannot be converted to String"),
    ("BatchWriteItem", {"RequestItems": []}, "Unrecognized collection type java.util.Map<java.lang.String, "
                                             "java.util.List<com.amazonaws.dynamodb.v20120810.WriteRequest>>"),
    ("BatchWriteItem", {"RequestItems": {"t": 3}}, CAST),
    ("BatchWriteItem", {"RequestItems": {"t": {}}}, "Start of structure or map found where not expected"),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [3]}}}, CAST),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [[]]}}}, MAP_OF_VALUES),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"k": {"N": 1}}]}}}, "NUMBER_VALUE cannot be converted to String"),
])
def test_wrong_types(op: str, body: dict, expected: str) -> None:
    assert message(op, body) == expected


@pytest.mark.parametrize(("op", "body"), [
    ("PutItem", {"TableName": "t", "Item": {"a": {"S": "x"}, "b": {"M": {"c": {"L": [{"N": "1"}, {"NULL": True}]}}},
                                            "c": {"BS": ["AA=="]}, "d": {"BOOL": False}}}),
    # JSON nulls are absent members, as in Coral; unknown members are ignored
    ("PutItem", {"TableName": None, "Item": {"a": None}, "Unknown": [1, {"x": 2}]}),
    ("Scan", {"Limit": 5, "ConsistentRead": True, "Segment": 0, "TotalSegments": 2}),
    ("CreateTable", {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 9}}),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"k": {"S": "x"}}], "ConsistentRead": True}}}),
])
def test_well_typed_requests_pass(op: str, body: dict) -> None:
    assert message(op, body) is None


def test_the_first_error_found_is_reported_without_walking_on() -> None:
    # Coral fails on the first bad token: one message, not a list
    assert message("PutItem", {"TableName": 1, "Item": {"a": {"S": 2}}}) == "NUMBER_VALUE cannot be converted to String"


def test_a_recursive_shape_is_checked_at_every_depth() -> None:
    value: dict = {"S": 1}
    for _ in range(40):
        value = {"L": [value]}
    assert message("PutItem", {"Item": {"a": value}}) == "NUMBER_VALUE cannot be converted to String"
