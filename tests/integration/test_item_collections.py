"""The item collection size limit of tables with local secondary indexes
(10 GB in DynamoDB; lowered here through the node's environment)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import make_client, wait_until

LIMIT = 20_000


def test_collection_limit_and_metrics(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_ITEM_COLLECTION_LIMIT": str(LIMIT)})
    ddb = make_client(cluster.endpoint, retries=2)
    ddb.create_table(
        TableName="icoll", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "x")],
        LocalSecondaryIndexes=[{"IndexName": "by_x", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "x", "KeyType": "RANGE"}]}])
    wait_until(lambda: ddb.describe_table(TableName="icoll")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")

    def put(sk: str, size: int):
        return ddb.put_item(TableName="icoll", Item={"pk": {"S": "big"}, "sk": {"S": sk}, "x": {"S": sk},
                                                  "pad": {"S": "p" * size}}, ReturnItemCollectionMetrics="SIZE")

    r = put("a", 5000)
    assert r["ItemCollectionMetrics"] == {"ItemCollectionKey": {"pk": {"S": "big"}},
                                          "SizeEstimateRangeGB": [0.0, 1.0]}
    put("b", 5000)
    put("c", 5000)
    with pytest.raises(ClientError) as exc:
        put("d", 6000)
    assert exc.value.response["Error"]["Code"] == "ItemCollectionSizeLimitExceededException"
    # The refused write left nothing behind, and other partition keys are unaffected.
    assert "Item" not in ddb.get_item(TableName="icoll", Key={"pk": {"S": "big"}, "sk": {"S": "d"}},
                                      ConsistentRead=True)
    ddb.put_item(TableName="icoll", Item={"pk": {"S": "small"}, "sk": {"S": "d"}, "pad": {"S": "p" * 6000}})
    # Shrinking the collection makes room again.
    ddb.delete_item(TableName="icoll", Key={"pk": {"S": "big"}, "sk": {"S": "a"}})
    put("d", 6000)
    r = ddb.query(TableName="icoll", IndexName="by_x", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "big"}}, ConsistentRead=True)
    assert [i["x"]["S"] for i in r["Items"]] == ["b", "c", "d"]
