"""BatchGetItem and BatchWriteItem, case by case."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of


@pytest.fixture(scope="module")
def tables(ddb):
    return (create_table(ddb, "batch_a", ("pk", "S")),
            create_table(ddb, "batch_b", ("pk", "S"), ("sk", "N")))


def put(pk, **attrs):
    return {"PutRequest": {"Item": {"pk": {"S": pk}, **attrs}}}


def test_write_25_then_get_them_back(ddb, tables):
    a, _ = tables
    r = ddb.batch_write_item(RequestItems={a: [put(f"w{i}", n={"N": str(i)}) for i in range(25)]})
    assert r["UnprocessedItems"] == {}
    got = ddb.batch_get_item(RequestItems={a: {"Keys": [{"pk": {"S": f"w{i}"}} for i in range(25)],
                                               "ConsistentRead": True}})
    assert sorted(int(i["n"]["N"]) for i in got["Responses"][a]) == list(range(25))
    assert got["UnprocessedKeys"] == {}


def test_puts_and_deletes_across_tables(ddb, tables):
    a, b = tables
    ddb.put_item(TableName=a, Item={"pk": {"S": "gone"}})
    r = ddb.batch_write_item(RequestItems={
        a: [{"DeleteRequest": {"Key": {"pk": {"S": "gone"}}}}, put("kept")],
        b: [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"N": "1"}}}}],
    })
    assert r["UnprocessedItems"] == {}
    assert "Item" not in ddb.get_item(TableName=a, Key={"pk": {"S": "gone"}}, ConsistentRead=True)
    assert "Item" in ddb.get_item(TableName=a, Key={"pk": {"S": "kept"}}, ConsistentRead=True)
    assert "Item" in ddb.get_item(TableName=b, Key={"pk": {"S": "x"}, "sk": {"N": "1"}}, ConsistentRead=True)


def test_get_missing_keys_are_simply_absent(ddb, tables):
    a, b = tables
    ddb.put_item(TableName=a, Item={"pk": {"S": "here"}, "x": {"S": "1"}, "y": {"S": "2"}})
    r = ddb.batch_get_item(RequestItems={
        a: {"Keys": [{"pk": {"S": "here"}}, {"pk": {"S": "absent"}}], "ProjectionExpression": "#y",
            "ExpressionAttributeNames": {"#y": "y"}, "ConsistentRead": True},
        b: {"Keys": [{"pk": {"S": "nobody"}, "sk": {"N": "9"}}], "ConsistentRead": True},
    })
    assert r["Responses"] == {a: [{"y": {"S": "2"}}], b: []}


def test_get_100_keys(ddb, tables):
    a, _ = tables
    for start in range(0, 100, 25):
        ddb.batch_write_item(RequestItems={a: [put(f"h{i}") for i in range(start, start + 25)]})
    r = ddb.batch_get_item(RequestItems={a: {"Keys": [{"pk": {"S": f"h{i}"}} for i in range(100)],
                                             "ConsistentRead": True}})
    assert len(r["Responses"][a]) == 100


@pytest.mark.parametrize("request_items,message", [
    ({"batch_a": {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}},
     "Too many items requested for the BatchGetItem call"),
    ({"batch_a": {"Keys": [{"pk": {"S": "d"}}, {"pk": {"S": "d"}}]}},
     "Provided list of item keys contains duplicates"),
    ({"batch_a": {"Keys": [{"pk": {"N": "1"}}]}}, "The provided key element does not match the schema"),
    ({"batch_a": {"Keys": [{"pk": {"S": "a"}, "extra": {"S": "b"}}]}},
     "The provided key element does not match the schema"),
    ({"batch_a": {"Keys": []}}, "Member must have length greater than or equal to 1"),
    ({}, "Member must have length greater than or equal to 1"),
])
def test_get_validation(raw_ddb, tables, request_items, message):
    code, msg = error_of(raw_ddb.batch_get_item, RequestItems=request_items)
    assert code == "ValidationException" and message in msg, msg


@pytest.mark.parametrize("request_items,message", [
    ({"batch_a": [put(f"k{i}") for i in range(26)]}, "Member must have length less than or equal to 25"),
    ({"batch_a": [put(f"k{i}") for i in range(13)], "batch_b": [
        {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "sk": {"N": "1"}}}} for i in range(13)]},
     "Too many items requested for the BatchWriteItem call"),
    ({"batch_a": [put("d"), {"DeleteRequest": {"Key": {"pk": {"S": "d"}}}}]},
     "Provided list of item keys contains duplicates"),
    ({"batch_a": [{"PutRequest": {"Item": {"nokey": {"S": "x"}}}}]},
     "One or more parameter values were invalid: Missing the key pk in the item"),
    ({"batch_a": [{"DeleteRequest": {"Key": {"pk": {"B": "AA=="}}}}]},
     "The provided key element does not match the schema"),
    ({"batch_a": [put("big", blob={"S": "x" * 410_000})]}, "Item size has exceeded the maximum allowed size"),
    ({"batch_a": [{}]}, "Request has no PutRequest or DeleteRequest"),
])
def test_write_validation(raw_ddb, tables, request_items, message):
    code, msg = error_of(raw_ddb.batch_write_item, RequestItems=request_items)
    assert code == "ValidationException" and message in msg, msg


def test_failed_validation_writes_nothing(ddb, tables):
    a, _ = tables
    error_of(ddb.batch_write_item, RequestItems={a: [put("half1"), {"PutRequest": {"Item": {"x": {"S": "1"}}}}]})
    assert "Item" not in ddb.get_item(TableName=a, Key={"pk": {"S": "half1"}}, ConsistentRead=True)


def test_unknown_table(ddb, tables):
    assert error_of(ddb.batch_get_item, RequestItems={"nope": {"Keys": [{"pk": {"S": "a"}}]}})[0] == \
        "ResourceNotFoundException"
    assert error_of(ddb.batch_write_item, RequestItems={"nope": [put("a")]})[0] == "ResourceNotFoundException"
