"""Local secondary indexes: CreateTable checks, DescribeTable, maintenance in
the same atomic write as the base item, Query and Scan on the index."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of


def lsi(name, attr, projection=None):
    return {"IndexName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                             {"AttributeName": attr, "KeyType": "RANGE"}],
            "Projection": projection or {"ProjectionType": "ALL"}}


@pytest.fixture(scope="module")
def table(ddb):
    name = create_table(ddb, "lsi_t", ("pk", "S"), ("sk", "S"),
                        more_definitions={"score": "N", "tag": "S"},
                        LocalSecondaryIndexes=[
                            lsi("by_score", "score"),
                            lsi("by_tag", "tag", {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}),
                        ])
    for i, (score, tag) in enumerate([(30, "c"), (10, "a"), (20, "b"), (None, "d"), (40, None)]):
        item = {"pk": {"S": "u"}, "sk": {"S": f"s{i}"}, "note": {"S": f"n{i}"}, "other": {"S": f"o{i}"}}
        if score is not None:
            item["score"] = {"N": str(score)}
        if tag is not None:
            item["tag"] = {"S": tag}
        ddb.put_item(TableName=name, Item=item)
    return name


def q(ddb, table, index, cond="pk = :p", values=None, **kw):
    kw.setdefault("ConsistentRead", True)  # local indexes allow it; the writes were just acknowledged
    return ddb.query(TableName=table, IndexName=index, KeyConditionExpression=cond,
                     ExpressionAttributeValues={":p": {"S": "u"}, **(values or {})}, **kw)


def test_describe_table_shows_the_indexes(ddb, table):
    desc = ddb.describe_table(TableName=table)["Table"]
    got = {i["IndexName"]: i for i in desc["LocalSecondaryIndexes"]}
    assert set(got) == {"by_score", "by_tag"}
    assert got["by_tag"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}
    assert got["by_score"]["KeySchema"][1] == {"AttributeName": "score", "KeyType": "RANGE"}
    assert got["by_score"]["IndexArn"].endswith(f"table/{table}/index/by_score")


def test_query_orders_by_the_index_key_and_is_sparse(ddb, table):
    r = q(ddb, table, "by_score")
    assert [i["score"]["N"] for i in r["Items"]] == ["10", "20", "30", "40"]
    assert r["Items"][0]["other"] == {"S": "o1"}  # ALL projection
    r = q(ddb, table, "by_score", ScanIndexForward=False, Limit=2)
    assert [i["score"]["N"] for i in r["Items"]] == ["40", "30"]
    assert r["LastEvaluatedKey"] == {"pk": {"S": "u"}, "sk": {"S": "s0"}, "score": {"N": "30"}}
    rest = q(ddb, table, "by_score", ScanIndexForward=False, ExclusiveStartKey=r["LastEvaluatedKey"])
    assert [i["score"]["N"] for i in rest["Items"]] == ["20", "10"]


def test_sort_key_condition_on_the_index_key(ddb, table):
    r = q(ddb, table, "by_score", "pk = :p AND score BETWEEN :a AND :b", {":a": {"N": "15"}, ":b": {"N": "35"}})
    assert [i["sk"]["S"] for i in r["Items"]] == ["s2", "s0"]


def test_include_projection(ddb, table):
    r = q(ddb, table, "by_tag")
    assert [i["tag"]["S"] for i in r["Items"]] == ["a", "b", "c", "d"]
    assert set(r["Items"][0]) == {"pk", "sk", "tag", "note"}


def test_all_attributes_fetches_from_the_table(ddb, table):
    r = q(ddb, table, "by_tag", Select="ALL_ATTRIBUTES")
    assert r["Items"][0]["other"] == {"S": "o1"}


def test_updates_move_and_remove_entries(ddb, table):
    key = {"pk": {"S": "u"}, "sk": {"S": "s1"}}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET score = :s", ExpressionAttributeValues={
        ":s": {"N": "99"}})
    r = q(ddb, table, "by_score", ConsistentRead=True)
    assert [i["score"]["N"] for i in r["Items"]] == ["20", "30", "40", "99"]
    ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE score")
    r = q(ddb, table, "by_score", ConsistentRead=True)
    assert [i["score"]["N"] for i in r["Items"]] == ["20", "30", "40"]
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET score = :s", ExpressionAttributeValues={
        ":s": {"N": "10"}})


def test_delete_removes_entries(ddb, table):
    item = {"pk": {"S": "u"}, "sk": {"S": "tmp"}, "score": {"N": "5"}, "tag": {"S": "z"}}
    ddb.put_item(TableName=table, Item=item)
    assert q(ddb, table, "by_score", ConsistentRead=True)["Items"][0]["sk"] == {"S": "tmp"}
    ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    assert all(i["sk"]["S"] != "tmp" for i in q(ddb, table, "by_score", ConsistentRead=True)["Items"])
    assert all(i["sk"]["S"] != "tmp" for i in q(ddb, table, "by_tag", ConsistentRead=True)["Items"])


def test_batch_writes_maintain_indexes(ddb, table):
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": {"S": "v"}, "sk": {"S": str(i)}, "score": {"N": str(-i)}}}}
        for i in range(5)]})
    r = ddb.query(TableName=table, IndexName="by_score", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "v"}}, ConsistentRead=True)
    assert [i["score"]["N"] for i in r["Items"]] == ["-4", "-3", "-2", "-1", "0"]


def test_scan_on_an_index(ddb, table):
    r = ddb.scan(TableName=table, IndexName="by_tag", ConsistentRead=True)
    tags = [i["tag"]["S"] for i in r["Items"] if i["pk"]["S"] == "u"]
    assert tags == ["a", "b", "c", "d"]


def test_wrong_index_key_type_rejected(ddb, table):
    code, msg = error_of(ddb.put_item, TableName=table, Item={"pk": {"S": "u"}, "sk": {"S": "bad"},
                                                                "score": {"S": "high"}})
    assert code == "ValidationException" and "Type mismatch for Index Key score" in msg
    code, msg = error_of(ddb.update_item, TableName=table, Key={"pk": {"S": "u"}, "sk": {"S": "s0"}},
                         UpdateExpression="SET score = :s", ExpressionAttributeValues={":s": {"S": "x"}})
    assert code == "ValidationException" and "Type mismatch for Index Key score" in msg


def test_query_start_key_must_carry_the_index_key(ddb, table):
    code, msg = error_of(ddb.query, TableName=table, IndexName="by_score", KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": {"S": "u"}},
                         ExclusiveStartKey={"pk": {"S": "u"}, "sk": {"S": "s0"}})
    assert msg.startswith("The provided starting key is invalid")


KS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
DEFS = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "x", "AttributeType": "N"}]


@pytest.mark.parametrize("kwargs,message", [
    ({"KeySchema": KS[:1], "AttributeDefinitions": DEFS[:1] + DEFS[2:], "LocalSecondaryIndexes": [lsi("ix1", "x")]},
     "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"),
    ({"LocalSecondaryIndexes": [lsi("ix1", "y")]}, "Some index key attributes are not defined in "
                                                   "AttributeDefinitions. Keys: [pk, y]"),
    ({"LocalSecondaryIndexes": [lsi("ix1", "x"), lsi("ix1", "x")]}, "Duplicate index name: ix1"),
    ({"LocalSecondaryIndexes": [lsi(f"ix{i}", "x") for i in range(6)]},
     "Number of LocalSecondaryIndexes exceeds per-table limit of 5"),
    ({"LocalSecondaryIndexes": [{**lsi("ix1", "x"), "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"},
                                                                   {"AttributeName": "x", "KeyType": "RANGE"}]}]},
     "Index KeySchema does not have the same leading hash key as table KeySchema for index: ix1"),
    ({"LocalSecondaryIndexes": [{**lsi("ix1", "x"), "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}]},
     "Index KeySchema does not have a range key for index: ix1"),
    ({"LocalSecondaryIndexes": [lsi("ix1", "x", {"ProjectionType": "ALL", "NonKeyAttributes": ["a"]})]},
     "ProjectionType is ALL, but NonKeyAttributes is specified"),
    ({"LocalSecondaryIndexes": []}, "List of LocalSecondaryIndexes is empty"),
    ({"AttributeDefinitions": DEFS + [{"AttributeName": "unused", "AttributeType": "S"}],
      "LocalSecondaryIndexes": [lsi("ix1", "x")]}, "Some AttributeDefinitions are not used"),
])
def test_create_table_validation(raw_ddb, kwargs, message):
    args = {"TableName": "lsi_bad", "KeySchema": KS, "AttributeDefinitions": DEFS,
            "BillingMode": "PAY_PER_REQUEST", **kwargs}
    code, msg = error_of(raw_ddb.create_table, **args)
    assert code == "ValidationException" and message in msg, msg


@pytest.mark.parametrize("value,message", [
    ({"S": ""}, "The AttributeValue for a key attribute cannot contain an empty string value. "
                "IndexName: by_tag, IndexKey: tag"),
    ({"S": "t" * 1025}, "Size limit exceeded for Index Key tag Actual Size: 1025 bytes Max Size: 1024 bytes "
                        "IndexName: by_tag"),
])
def test_index_sort_key_values_refused(ddb, table, value, message):
    key = {"pk": {"S": "u"}, "sk": {"S": "bad-tag"}}
    for call, kwargs in [
        (ddb.put_item, {"TableName": table, "Item": {**key, "tag": value}}),
        (ddb.update_item, {"TableName": table, "Key": key, "UpdateExpression": "SET tag = :t",
                           "ExpressionAttributeValues": {":t": value}}),
        (ddb.batch_write_item, {"RequestItems": {table: [{"PutRequest": {"Item": {**key, "tag": value}}}]}}),
    ]:
        code, msg = error_of(call, **kwargs)
        assert code == "ValidationException" and msg.endswith(message), msg
    assert "Item" not in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
