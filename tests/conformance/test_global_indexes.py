"""Global secondary indexes: partitioned like tables, fed asynchronously from
the base table's committed writes; Query and Scan read them eventually
consistently."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of
from tests.integration.conftest import wait_until


def gsi(name, hash_attr, range_attr=None, projection=None):
    keys = [{"AttributeName": hash_attr, "KeyType": "HASH"}]
    if range_attr:
        keys.append({"AttributeName": range_attr, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": keys, "Projection": projection or {"ProjectionType": "ALL"}}


@pytest.fixture(scope="module")
def table(ddb):
    name = create_table(ddb, "gsi_t", ("pk", "S"), more_definitions={"city": "S", "age": "N"},
                        GlobalSecondaryIndexes=[
                            gsi("by_city", "city", "age"),
                            gsi("by_age", "age", projection={"ProjectionType": "KEYS_ONLY"}),
                        ])
    people = [("ann", "Oslo", 31), ("bob", "Oslo", 25), ("cyd", "Rome", 40), ("dee", "Oslo", 52),
              ("eve", None, 31), ("fay", "Rome", None)]
    for pk, city, age in people:
        item = {"pk": {"S": pk}, "note": {"S": f"about {pk}"}}
        if city:
            item["city"] = {"S": city}
        if age:
            item["age"] = {"N": str(age)}
        ddb.put_item(TableName=name, Item=item)
    return name


def city_query(ddb, table, city, **kw):
    return ddb.query(TableName=table, IndexName="by_city", KeyConditionExpression="city = :c",
                     ExpressionAttributeValues={":c": {"S": city}}, **kw)


def names(resp):
    return [i["pk"]["S"] for i in resp["Items"]]


def eventually(fn, expected, what):
    seen = []

    def check():
        seen[:] = [fn()]
        return seen[0] == expected

    try:
        wait_until(check, 20, what, interval=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last {seen[0] if seen else None!r}, expected {expected!r}") from None


def test_describe_shows_active_indexes(ddb, table):
    desc = ddb.describe_table(TableName=table)["Table"]
    got = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert set(got) == {"by_city", "by_age"}
    assert got["by_city"]["IndexStatus"] == "ACTIVE"
    assert got["by_age"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert got["by_city"]["IndexArn"].endswith(f"table/{table}/index/by_city")
    assert "gsi_t#by_city" not in ddb.list_tables()["TableNames"]


def test_query_by_index_key_sorted_by_index_sort_key(ddb, table):
    eventually(lambda: names(city_query(ddb, table, "Oslo")), ["bob", "ann", "dee"], "Oslo in the index")
    r = city_query(ddb, table, "Oslo", ScanIndexForward=False, Limit=2)
    assert names(r) == ["dee", "ann"]
    assert r["LastEvaluatedKey"] == {"city": {"S": "Oslo"}, "age": {"N": "31"}, "pk": {"S": "ann"}}
    rest = city_query(ddb, table, "Oslo", ScanIndexForward=False, ExclusiveStartKey=r["LastEvaluatedKey"])
    assert names(rest) == ["bob"]


def test_sparse_and_non_unique(ddb, table):
    eventually(lambda: names(city_query(ddb, table, "Rome")), ["cyd"], "Rome needs an age")  # fay has none
    def by_age():
        return ddb.query(TableName=table, IndexName="by_age", KeyConditionExpression="age = :a",
                         ExpressionAttributeValues={":a": {"N": "31"}})
    eventually(lambda: sorted(names(by_age())), ["ann", "eve"], "both of age 31")
    assert all(set(i) == {"pk", "age"} for i in by_age()["Items"])  # KEYS_ONLY


def test_range_condition_on_index(ddb, table):
    eventually(lambda: names(ddb.query(
        TableName=table, IndexName="by_city", KeyConditionExpression="city = :c AND age > :a",
        ExpressionAttributeValues={":c": {"S": "Oslo"}, ":a": {"N": "30"}})), ["ann", "dee"], "age > 30")


def test_updates_and_deletes_reach_the_index(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "gus"}, "city": {"S": "Lima"}, "age": {"N": "7"}})
    eventually(lambda: names(city_query(ddb, table, "Lima")), ["gus"], "gus in Lima")
    ddb.update_item(TableName=table, Key={"pk": {"S": "gus"}}, UpdateExpression="SET city = :c",
                    ExpressionAttributeValues={":c": {"S": "Kyiv"}})
    eventually(lambda: (names(city_query(ddb, table, "Lima")), names(city_query(ddb, table, "Kyiv"))),
               ([], ["gus"]), "gus moved to Kyiv")
    ddb.update_item(TableName=table, Key={"pk": {"S": "gus"}}, UpdateExpression="REMOVE age")
    eventually(lambda: names(city_query(ddb, table, "Kyiv")), [], "gus left the index")
    ddb.put_item(TableName=table, Item={"pk": {"S": "gus"}, "city": {"S": "Kyiv"}, "age": {"N": "8"}})
    eventually(lambda: names(city_query(ddb, table, "Kyiv")), ["gus"], "gus back")
    ddb.delete_item(TableName=table, Key={"pk": {"S": "gus"}})
    eventually(lambda: names(city_query(ddb, table, "Kyiv")), [], "gus deleted")


def test_scan_index(ddb, table):
    eventually(lambda: sorted(names(ddb.scan(TableName=table, IndexName="by_age"))),
               ["ann", "bob", "cyd", "dee", "eve"], "every item with an age")


def test_batch_writes_reach_the_index(ddb, table):
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "city": {"S": "Bern"}, "age": {"N": str(i)}}}}
        for i in range(10)]})
    eventually(lambda: names(city_query(ddb, table, "Bern")), [f"b{i}" for i in range(10)], "batch in Bern")


@pytest.mark.parametrize("kwargs,message", [
    ({"ConsistentRead": True}, "Consistent reads are not supported on global secondary indexes"),
    ({"Select": "ALL_ATTRIBUTES", "IndexName": "by_age"},
     "Select type ALL_ATTRIBUTES is not supported for global secondary index by_age because its projection "
     "type is not ALL"),
])
def test_read_validation(ddb, table, kwargs, message):
    args = {"TableName": table, "IndexName": "by_city", "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": "city" if kwargs.get("IndexName") != "by_age" else "age"},
            "ExpressionAttributeValues": {":v": {"S": "Oslo"} if kwargs.get("IndexName") != "by_age"
                                          else {"N": "1"}}, **kwargs}
    code, msg = error_of(ddb.query, **args)
    assert code == "ValidationException" and message in msg, msg


def test_wrong_index_key_type_rejected(ddb, table):
    code, msg = error_of(ddb.put_item, TableName=table, Item={"pk": {"S": "x"}, "age": {"S": "old"}})
    assert code == "ValidationException" and "Type mismatch for Index Key age" in msg


def _all_in_index(ddb, table, index):
    items, start = [], None
    while True:
        r = ddb.scan(TableName=table, IndexName=index, **({"ExclusiveStartKey": start} if start else {}))
        items += names(r)
        start = r.get("LastEvaluatedKey")
        if not start:
            return sorted(items)


@pytest.mark.parametrize("round_", range(3))
def test_index_is_complete_once_active(ddb, round_):
    """ACTIVE means backfilled: every item written before it is readable in
    the index at once (until then the index is CREATING and Backfilling). The
    write made right after UpdateTable answered CREATING may itself come
    after ACTIVE (a small table's backfill takes milliseconds), so it is only
    sure to arrive; one answered before ACTIVE is in the index at once
    (tests/node/partition/test_index_hand_off.py)."""
    name = create_table(ddb, f"gsi_live{round_}", ("pk", "S"))
    for i in range(300):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "color": {"S": ["red", "blue"][i % 2]}})
    desc = ddb.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
                            GlobalSecondaryIndexUpdates=[{"Create": gsi("by_color", "color")}])["TableDescription"]
    assert desc["GlobalSecondaryIndexes"][0]["IndexName"] == "by_color"
    assert desc["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    ddb.put_item(TableName=name, Item={"pk": {"S": "during"}, "color": {"S": "red"}})

    def active():
        index = ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]
        assert index["IndexStatus"] == "ACTIVE" or index.get("Backfilling") is True, index
        return index["IndexStatus"] == "ACTIVE"

    wait_until(active, 60, "the index to be backfilled", interval=0.02)
    before = [f"k{i}" for i in range(300)]
    assert set(before) <= set(_all_in_index(ddb, name, "by_color"))
    eventually(lambda: _all_in_index(ddb, name, "by_color"), sorted(before + ["during"]), "the write while CREATING")
    reds = ddb.query(TableName=name, IndexName="by_color", KeyConditionExpression="color = :c",
                     ExpressionAttributeValues={":c": {"S": "red"}})
    assert len(reds["Items"]) == 151
    ddb.delete_table(TableName=name)


def test_delete_index(ddb):
    name = create_table(ddb, "gsi_drop", ("pk", "S"), more_definitions={"c": "S"},
                        GlobalSecondaryIndexes=[gsi("by_c", "c")])
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "c": {"S": "x"}})
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_c"}}])
    wait_until(lambda: "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=name)["Table"], 30,
               "the index to go", interval=0.2)
    code, msg = error_of(ddb.query, TableName=name, IndexName="by_c", KeyConditionExpression="c = :c",
                         ExpressionAttributeValues={":c": {"S": "x"}})
    assert msg == "The table does not have the specified index: by_c"
    assert "c" not in {d["AttributeName"] for d in ddb.describe_table(TableName=name)["Table"]["AttributeDefinitions"]}


@pytest.mark.parametrize("kwargs,message", [
    ({"GlobalSecondaryIndexes": []}, "List of GlobalSecondaryIndexes is empty"),
    ({"GlobalSecondaryIndexes": [gsi("gx1", "nope")]}, "Some index key attributes are not defined"),
    ({"GlobalSecondaryIndexes": [gsi("gx1", "c"), gsi("gx1", "c")]}, "Duplicate index name: gx1"),
    ({"GlobalSecondaryIndexes": [gsi(f"gx{i}", "c") for i in range(21)]},
     "GlobalSecondaryIndex count exceeds the per-table limit of 20"),
    ({"GlobalSecondaryIndexes": [gsi("gx1", "c", projection={"ProjectionType": "KEYS_ONLY",
                                                            "NonKeyAttributes": ["x"]})]},
     "ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified"),
])
def test_create_table_validation(raw_ddb, kwargs, message):
    code, msg = error_of(raw_ddb.create_table, TableName="gsi_bad", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "c", "AttributeType": "S"}], **kwargs)
    assert code == "ValidationException" and message in msg, msg


EMPTY_CITY = ("One or more parameter values are not valid. A value specified for a secondary index key is not "
              "supported. The AttributeValue for a key attribute cannot contain an empty string value. "
              "IndexName: by_city, IndexKey: city")
LONG_CITY = ("One or more parameter values were invalid: Size limit exceeded for Index Key city Actual Size: 2049 "
             "bytes Max Size: 2048 bytes IndexName: by_city")
EMPTY_AGE_SORT = "Type mismatch for Index Key age Expected: N Actual: S IndexName: by_age"


def _write_paths(ddb, table, pk, attrs):
    """The same item written by PutItem, UpdateItem and BatchWriteItem (with a valid neighbour)."""
    values = {f":v{i}": v for i, v in enumerate(attrs.values())}
    sets = ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs)))
    return {
        "put": lambda: ddb.put_item(TableName=table, Item={"pk": {"S": pk}, **attrs}),
        "update": lambda: ddb.update_item(
            TableName=table, Key={"pk": {"S": pk}}, UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames={f"#a{i}": a for i, a in enumerate(attrs)}, ExpressionAttributeValues=values),
        "batch": lambda: ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": pk + "-ok"}, "city": {"S": "Ok"}, "age": {"N": "1"}}}},
            {"PutRequest": {"Item": {"pk": {"S": pk}, **attrs}}}]}),
    }


@pytest.mark.parametrize("path", ["put", "update", "batch"])
@pytest.mark.parametrize("attrs,message", [
    ({"city": {"S": ""}, "age": {"N": "3"}}, EMPTY_CITY),
    ({"city": {"S": "x" * 2049}, "age": {"N": "3"}}, LONG_CITY),
    ({"city": {"S": "x" * 2048}, "age": {"S": "old"}}, EMPTY_AGE_SORT),
])
def test_index_key_values_refused_on_every_write_path(ddb, table, path, attrs, message):
    pk = f"bad-{path}-{len(attrs['city']['S'])}-{next(iter(attrs['age']))}"
    code, msg = error_of(_write_paths(ddb, table, pk, attrs)[path])
    assert code == "ValidationException" and msg.endswith(message), msg
    # Nothing half-applied: neither the item nor a batch neighbour was written.
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": pk + "-ok"}}, ConsistentRead=True)


def test_index_key_limits_are_inclusive(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "long"}, "city": {"S": "c" * 2048}, "age": {"N": "1"}})
    eventually(lambda: names(city_query(ddb, table, "c" * 2048)), ["long"], "a 2,048-byte index key")


def test_backfill_skips_values_an_index_cannot_hold(ddb):
    """Items written before the index existed may hold values it refuses:
    they stay out of the index, and writes that leave them unchanged succeed."""
    name = create_table(ddb, "gsi_viol", ("pk", "S"))
    ddb.put_item(TableName=name, Item={"pk": {"S": "empty"}, "c": {"S": ""}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "fine"}, "c": {"S": "x"}})
    ddb.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "c", "AttributeType": "S"}],
                     GlobalSecondaryIndexUpdates=[{"Create": gsi("by_c", "c")}])
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"]
               == "ACTIVE", 60, "the index to be backfilled", interval=0.1)
    assert _all_in_index(ddb, name, "by_c") == ["fine"]
    ddb.update_item(TableName=name, Key={"pk": {"S": "empty"}}, UpdateExpression="SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "1"}})
    code, msg = error_of(ddb.update_item, TableName=name, Key={"pk": {"S": "fine"}},
                         UpdateExpression="SET c = :c", ExpressionAttributeValues={":c": {"S": ""}})
    assert msg.endswith("IndexName: by_c, IndexKey: c"), msg
    ddb.delete_table(TableName=name)


def test_a_new_table_is_active_with_its_indexes(ddb):
    """CreateTable with indexes: once the table is ACTIVE its indexes are too,
    and a Query on them answers at once."""
    for round_ in range(3):
        name = f"gsi_new{round_}"
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "c", "AttributeType": "S"}],
                         GlobalSecondaryIndexes=[gsi("by_c", "c")])
        while True:
            desc = ddb.describe_table(TableName=name)["Table"]
            if desc["TableStatus"] == "ACTIVE":
                break
        assert desc["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
        ddb.query(TableName=name, IndexName="by_c", KeyConditionExpression="c = :c",
                  ExpressionAttributeValues={":c": {"S": "x"}})
        ddb.delete_table(TableName=name)
