"""Global secondary indexes with multi-attribute keys: up to four partition-key
and four sort-key attributes, each with its own type; queries fix every
partition-key attribute and take sort-key attributes left to right."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of
from tests.conformance.test_global_indexes import eventually
from tests.integration.conftest import wait_until

HASH = [("tour", "S"), ("season", "N")]
RANGE = [("stage", "N"), ("game", "S")]


def key_schema(hash_attrs, range_attrs):
    return ([{"AttributeName": n, "KeyType": "HASH"} for n, _ in hash_attrs]
            + [{"AttributeName": n, "KeyType": "RANGE"} for n, _ in range_attrs])


@pytest.fixture(scope="module")
def table(ddb):
    name = create_table(ddb, "mak_t", ("pk", "S"), more_definitions=dict(HASH + RANGE), GlobalSecondaryIndexes=[
        {"IndexName": "by_match", "KeySchema": key_schema(HASH, RANGE), "Projection": {"ProjectionType": "ALL"}}])
    rows = [("m1", "open", 2025, 2, "b"), ("m2", "open", 2025, 1, "z"), ("m3", "open", 2025, 2, "a"),
            ("m4", "open", 2025, 10, "c"), ("m5", "open", 2024, 1, "a"), ("m6", "cup", 2025, 1, "a")]
    for pk, tour, season, rnd, game in rows:
        ddb.put_item(TableName=name, Item={"pk": {"S": pk}, "tour": {"S": tour}, "season": {"N": str(season)},
                                           "stage": {"N": str(rnd)}, "game": {"S": game}})
    # Missing one key attribute each: not indexed.
    ddb.put_item(TableName=name, Item={"pk": {"S": "x1"}, "tour": {"S": "open"}, "stage": {"N": "1"},
                                       "game": {"S": "a"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "x2"}, "tour": {"S": "open"}, "season": {"N": "2025"},
                                       "stage": {"N": "1"}})
    return name


def query(ddb, table, cond, values, **kw):
    vals = {":t": {"S": "open"}, ":y": {"N": "2025"}, **values}
    used = {k: v for k, v in vals.items() if k in cond}
    return ddb.query(TableName=table, IndexName="by_match", KeyConditionExpression=cond,
                     ExpressionAttributeValues=used, **kw)


def pks(resp):
    return [i["pk"]["S"] for i in resp["Items"]]


def test_describe_shows_every_key_attribute(ddb, table):
    index = ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"][0]
    assert index["KeySchema"] == key_schema(HASH, RANGE)
    assert index["IndexStatus"] == "ACTIVE"


def test_partition_key_attributes_together_sorted_by_sort_attributes(ddb, table):
    eventually(lambda: pks(query(ddb, table, "tour = :t AND season = :y", {})),
               ["m2", "m3", "m1", "m4"], "2025 open matches by stage (a number) then game")
    assert pks(query(ddb, table, "season = :y AND tour = :t", {}, ScanIndexForward=False)) == ["m4", "m1", "m3", "m2"]


def test_sort_attributes_left_to_right(ddb, table):
    eventually(lambda: pks(query(ddb, table, "tour = :t AND season = :y AND stage = :r", {":r": {"N": "2"}})),
               ["m3", "m1"], "stage 2")
    assert pks(query(ddb, table, "tour = :t AND season = :y AND stage = :r AND game > :m",
                     {":r": {"N": "2"}, ":m": {"S": "a"}})) == ["m1"]
    assert pks(query(ddb, table, "tour = :t AND season = :y AND stage = :r AND begins_with(game, :m)",
                     {":r": {"N": "2"}, ":m": {"S": "b"}})) == ["m1"]
    assert pks(query(ddb, table, "tour = :t AND season = :y AND stage BETWEEN :a AND :b",
                     {":a": {"N": "2"}, ":b": {"N": "10"}})) == ["m3", "m1", "m4"]
    assert pks(query(ddb, table, "tour = :t AND season = :y AND stage < :r", {":r": {"N": "2"}})) == ["m2"]


def test_pages_continue_after_the_last_key(ddb, table):
    first = query(ddb, table, "tour = :t AND season = :y", {}, Limit=2)
    assert pks(first) == ["m2", "m3"]
    assert first["LastEvaluatedKey"] == {"pk": {"S": "m3"}, "tour": {"S": "open"}, "season": {"N": "2025"},
                                         "stage": {"N": "2"}, "game": {"S": "a"}}
    rest = query(ddb, table, "tour = :t AND season = :y", {}, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert pks(rest) == ["m1", "m4"]


def test_items_missing_a_key_attribute_are_not_indexed(ddb, table):
    eventually(lambda: sorted(pks(ddb.scan(TableName=table, IndexName="by_match"))),
               ["m1", "m2", "m3", "m4", "m5", "m6"], "the six complete items only")


@pytest.mark.parametrize("cond,values,message", [
    ("tour = :t", {}, "Query condition missed key schema element: season"),
    ("tour = :t AND season > :y", {}, "Query key condition not supported"),
    ("tour = :t AND season = :y AND game = :m", {":m": {"S": "a"}},
     "RANGE key attributes stage must have equality conditions specified in the query because a condition is "
     "present on key attribute game"),
    ("tour = :t AND season = :y AND stage > :r AND game = :m", {":r": {"N": "1"}, ":m": {"S": "a"}},
     "RANGE key attributes stage must have equality conditions specified in the query because a condition is "
     "present on key attribute game"),
    ("tour = :t AND season = :y AND note = :m", {":m": {"S": "a"}}, "Query key condition not supported"),
    ("tour = :t AND season = :r", {":r": {"S": "2025"}},
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
])
def test_query_rules(ddb, table, cond, values, message):
    code, msg = error_of(query, ddb=ddb, table=table, cond=cond, values=values)
    assert (code, msg) == ("ValidationException", message)


def test_each_key_value_is_checked_on_write(ddb, table):
    code, msg = error_of(ddb.put_item, TableName=table, Item={"pk": {"S": "bad"}, "tour": {"S": "open"},
                                                              "season": {"S": "2025"}})
    assert msg == ("One or more parameter values were invalid: Type mismatch for Index Key season Expected: N "
                   "Actual: S IndexName: by_match")
    code, msg = error_of(ddb.update_item, TableName=table, Key={"pk": {"S": "m1"}}, UpdateExpression="SET game = :e",
                         ExpressionAttributeValues={":e": {"S": ""}})
    assert msg.endswith("cannot contain an empty string value. IndexName: by_match, IndexKey: game"), msg


def _create_with(raw_ddb, keys, defs=("a", "b", "c", "d", "e", "f", "g", "h", "i")):
    return error_of(raw_ddb.create_table, TableName="mak_bad", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", *defs)],
                    GlobalSecondaryIndexes=[{"IndexName": "gix", "KeySchema": keys,
                                             "Projection": {"ProjectionType": "ALL"}}])


@pytest.mark.parametrize("hashes,ranges,message", [
    ("abcde", "", "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of HASH key attributes"),
    ("a", "bcdef", "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of RANGE key attributes"),
])
def test_at_most_four_of_each(raw_ddb, hashes, ranges, message):
    assert _create_with(raw_ddb, key_schema([(n, "S") for n in hashes], [(n, "S") for n in ranges])) == (
        "ValidationException", message)


def test_hash_attributes_come_first(raw_ddb):
    keys = [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"},
            {"AttributeName": "c", "KeyType": "HASH"}]
    assert _create_with(raw_ddb, keys) == (
        "ValidationException",
        "Invalid KeySchema: All HASH key attributes must precede RANGE key attributes in the KeySchema")


def test_local_indexes_keep_one_sort_key(raw_ddb):
    code, msg = error_of(raw_ddb.create_table, TableName="mak_bad", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "a", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "a", "b", "c")],
                         LocalSecondaryIndexes=[{"IndexName": "l", "KeySchema": key_schema(
                             [("pk", "S")], [("b", "S"), ("c", "S")]), "Projection": {"ProjectionType": "ALL"}}])
    assert code == "ValidationException" and "localSecondaryIndexes.1.member.keySchema" in msg, msg


def test_added_to_a_live_table_and_backfilled(ddb):
    name = create_table(ddb, "mak_live", ("pk", "S"))
    for i in range(20):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "a": {"S": "x"}, "b": {"N": str(i % 2)},
                                           "c": {"N": str(i)}})
    ddb.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                                                           for n, t in (("a", "S"), ("b", "N"), ("c", "N"))],
                     GlobalSecondaryIndexUpdates=[{"Create": {
                         "IndexName": "ab_c", "KeySchema": key_schema([("a", "S"), ("b", "N")], [("c", "N")]),
                         "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"]
               == "ACTIVE", 60, "the index to be backfilled", interval=0.1)
    r = ddb.query(TableName=name, IndexName="ab_c", KeyConditionExpression="a = :a AND b = :b AND c >= :c",
                  ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"N": "1"}, ":c": {"N": "15"}})
    assert pks(r) == ["k15", "k17", "k19"]
    assert set(r["Items"][0]) == {"pk", "a", "b", "c"}
    ddb.delete_table(TableName=name)
