"""ItemCount and TableSizeBytes (DynamoDB refreshes them about every six
hours; Trireme within seconds), for tables and global indexes."""

from __future__ import annotations

from tests.conformance.conftest import create_table
from tests.integration.conftest import wait_until


def test_counts_follow_the_data(ddb):
    name = create_table(ddb, "stats_t", ("pk", "S"), more_definitions={"g": "S"},
                        GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    for i in range(12):
        item = {"pk": {"S": f"k{i}"}, "pad": {"S": "x" * 100}}
        if i % 3 == 0:
            item["g"] = {"S": "yes"}
        ddb.put_item(TableName=name, Item=item)

    def counts():
        t = ddb.describe_table(TableName=name)["Table"]
        return t["ItemCount"], t["GlobalSecondaryIndexes"][0]["ItemCount"], t["TableSizeBytes"]

    wait_until(lambda: counts()[:2] == (12, 4), 30, "ItemCount to reach 12 items and 4 index entries",
               interval=0.5)
    assert counts()[2] > 12 * 100
    for i in range(6):
        ddb.delete_item(TableName=name, Key={"pk": {"S": f"k{i}"}})
    wait_until(lambda: counts()[:2] == (6, 2), 30, "ItemCount to drop", interval=0.5)


def test_local_index_counts(ddb):
    name = create_table(ddb, "stats_l", ("pk", "S"), ("sk", "S"), more_definitions={"x": "N"},
                        LocalSecondaryIndexes=[{"IndexName": "by_x", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                              {"AttributeName": "x", "KeyType": "RANGE"}]}])
    for i in range(9):
        item = {"pk": {"S": "p"}, "sk": {"S": f"s{i}"}}
        if i % 3 == 0:
            item["x"] = {"N": str(i)}
        ddb.put_item(TableName=name, Item=item)

    def counts():
        t = ddb.describe_table(TableName=name)["Table"]
        return t["ItemCount"], t["LocalSecondaryIndexes"][0]["ItemCount"]

    wait_until(lambda: counts() == (9, 3), 30, "9 items, 3 of them in the local index", interval=0.5)
