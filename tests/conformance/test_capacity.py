"""ReturnConsumedCapacity: the units DynamoDB would charge, on every data operation."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of
from tests.integration.conftest import wait_until


@pytest.fixture(scope="module")
def table(ddb):
    name = create_table(ddb, "cap_t", ("pk", "S"))
    ddb.put_item(TableName=name, Item={"pk": {"S": "small"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "big"}, "blob": {"S": "x" * 9000}})
    return name


def test_writes_by_the_kilobyte(ddb, table):
    r = ddb.put_item(TableName=table, Item={"pk": {"S": "w"}, "blob": {"S": "x" * 2500}},
                     ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 3.0}
    r = ddb.delete_item(TableName=table, Key={"pk": {"S": "w"}}, ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 3.0, "Table": {"CapacityUnits": 3.0}}


def test_reads_by_four_kilobytes_half_when_eventual(ddb, table):
    r = ddb.get_item(TableName=table, Key={"pk": {"S": "big"}}, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert r["ConsumedCapacity"]["CapacityUnits"] == 3.0
    r = ddb.get_item(TableName=table, Key={"pk": {"S": "small"}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 0.5
    r = ddb.get_item(TableName=table, Key={"pk": {"S": "small"}})
    assert "ConsumedCapacity" not in r


def test_query_scan_and_batches(ddb, table):
    r = ddb.scan(TableName=table, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert r["ConsumedCapacity"]["TableName"] == table and r["ConsumedCapacity"]["CapacityUnits"] >= 3.0
    r = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={
        ":p": {"S": "small"}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 0.5
    r = ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "small"}}]}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 0.5}]
    r = ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}}
                                                   for i in range(3)]}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 3.0}]


def test_bad_value_rejected_before_the_write(raw_ddb, ddb, table):
    code, msg = error_of(raw_ddb.put_item, TableName=table, Item={"pk": {"S": "never"}},
                         ReturnConsumedCapacity="ALL")
    assert code == "ValidationException" and "returnConsumedCapacity" in msg
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "never"}}, ConsistentRead=True)


# --- indexes: writes cost index writes, index reads are the index's (developer guide, "Provisioned
# throughput considerations" for global and local secondary indexes) ---------------------------------------


@pytest.fixture(scope="module")
def indexed(ddb):
    return create_table(
        ddb, "cap_ix", ("pk", "S"), ("sk", "S"), more_definitions={"g": "S", "l": "S"},
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}])


@pytest.fixture(scope="module")
def indexed_active(ddb, indexed):
    wait_until(lambda: all(g["IndexStatus"] == "ACTIVE" for g in
                           ddb.describe_table(TableName=indexed)["Table"]["GlobalSecondaryIndexes"]), 30,
               "by_g to become ACTIVE")
    return indexed


def indexes_cost(table, table_units, local=None, global_=None):
    out = {"TableName": table, "Table": {"CapacityUnits": table_units},
           "CapacityUnits": table_units + sum((local or {}).values()) + sum((global_ or {}).values())}
    if local:
        out["LocalSecondaryIndexes"] = {k: {"CapacityUnits": v} for k, v in local.items()}
    if global_:
        out["GlobalSecondaryIndexes"] = {k: {"CapacityUnits": v} for k, v in global_.items()}
    return out


def put(ddb, table, item, how="INDEXES"):
    return ddb.put_item(TableName=table, Item=item, ReturnConsumedCapacity=how)["ConsumedCapacity"]


def test_writes_pay_for_the_index_entries_they_change(ddb, indexed):
    key = {"pk": {"S": "w"}, "sk": {"S": "1"}}
    assert put(ddb, indexed, key) == indexes_cost(indexed, 1.0)  # in no index: the table's write only
    assert put(ddb, indexed, {**key, "g": {"S": "a"}, "l": {"S": "x"}}) == \
        indexes_cost(indexed, 1.0, {"by_l": 1.0}, {"by_g": 1.0})  # two new entries
    assert put(ddb, indexed, {**key, "g": {"S": "b"}, "l": {"S": "x"}, "other": {"S": "y"}}) == \
        indexes_cost(indexed, 1.0, global_={"by_g": 2.0})  # g moved: delete + put; by_l's entry is unchanged
    assert put(ddb, indexed, {**key, "g": {"S": "b"}, "l": {"S": "x"}}, how="TOTAL") == \
        {"TableName": indexed, "CapacityUnits": 1.0}  # only a non-projected attribute changed
    r = ddb.update_item(TableName=indexed, Key=key, UpdateExpression="REMOVE g", ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == indexes_cost(indexed, 1.0, global_={"by_g": 1.0})
    r = ddb.delete_item(TableName=indexed, Key=key, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": indexed, "CapacityUnits": 2.0}  # the item and its by_l entry


def test_batch_writes_add_up_index_writes(ddb, indexed):
    r = ddb.batch_write_item(RequestItems={indexed: [
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"S": str(i)}, "g": {"S": "a"}}}} for i in range(3)]},
        ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == [indexes_cost(indexed, 3.0, global_={"by_g": 3.0})]


def test_index_reads_are_the_index_s(ddb, indexed_active):
    indexed = indexed_active
    for i in range(3):
        ddb.put_item(TableName=indexed, Item={"pk": {"S": "r"}, "sk": {"S": str(i)}, "g": {"S": "q"},
                                              "l": {"S": str(i)}, "blob": {"S": "x" * 3000}})
    r = ddb.query(TableName=indexed, IndexName="by_g", KeyConditionExpression="g = :g",
                  ExpressionAttributeValues={":g": {"S": "q"}}, ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == indexes_cost(indexed, 0.0, global_={"by_g": 0.5})
    r = ddb.scan(TableName=indexed, IndexName="by_g", ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == indexes_cost(indexed, 0.0, global_={"by_g": 0.5})
    lq = dict(TableName=indexed, IndexName="by_l", KeyConditionExpression="pk = :p",
              ExpressionAttributeValues={":p": {"S": "r"}}, ConsistentRead=True, ReturnConsumedCapacity="INDEXES")
    assert ddb.query(**lq)["ConsumedCapacity"] == indexes_cost(indexed, 0.0, local={"by_l": 1.0})
    # Attributes the index does not project are fetched from the table, at the table's cost (3 x 3 KB: 3 units).
    r = ddb.query(**lq, Select="ALL_ATTRIBUTES")
    assert len(r["Items"]) == 3 and r["Items"][0]["blob"]["S"] == "x" * 3000
    assert r["ConsumedCapacity"] == indexes_cost(indexed, 3.0, local={"by_l": 1.0})
