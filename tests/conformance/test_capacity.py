"""ReturnConsumedCapacity: the units DynamoDB would charge, on every data operation."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of


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
