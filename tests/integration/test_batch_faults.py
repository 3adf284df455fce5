"""Batches under a partition outage: keys that cannot be served come back as
UnprocessedKeys / UnprocessedItems within the router's deadline, and the
client's retry of just those succeeds once the partition is back."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import make_client, wait_until

pytestmark = pytest.mark.slow


def test_unprocessed_items_and_keys(own_cluster):
    cluster = own_cluster(router_deadline_s=2.0)
    ddb = make_client(cluster.endpoint, retries=3)  # batches answer 200 with leftovers: never retried
    ddb.create_table(TableName="bat", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName="bat")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    keys = [{"pk": {"S": f"k{i}"}} for i in range(10)]
    ddb.batch_write_item(RequestItems={"bat": [{"PutRequest": {"Item": k}} for k in keys[:5]]})
    cluster.kill("n2")
    cluster.kill("n3")
    t0 = time.monotonic()
    r = ddb.batch_write_item(RequestItems={"bat": [{"PutRequest": {"Item": k}} for k in keys[5:]]})
    assert time.monotonic() - t0 < 2.0 + 3.0
    assert sorted(w["PutRequest"]["Item"]["pk"]["S"] for w in r["UnprocessedItems"]["bat"]) == \
        [f"k{i}" for i in range(5, 10)]
    g = ddb.batch_get_item(RequestItems={"bat": {"Keys": keys[:5], "ConsistentRead": True}})
    assert sorted(k["pk"]["S"] for k in g["UnprocessedKeys"]["bat"]["Keys"]) == [f"k{i}" for i in range(5)]
    assert g["UnprocessedKeys"]["bat"]["ConsistentRead"] is True
    assert g["Responses"] == {"bat": []}
    cluster.start_proc("n2")
    cluster.start_proc("n3")

    def retry_writes():
        left = ddb.batch_write_item(RequestItems=r["UnprocessedItems"])["UnprocessedItems"]
        return not left

    wait_until(retry_writes, 30, "the unprocessed writes to go through", interval=0.5)
    got = ddb.batch_get_item(RequestItems={"bat": {"Keys": keys, "ConsistentRead": True}})
    assert got["UnprocessedKeys"] == {}
    assert sorted(i["pk"]["S"] for i in got["Responses"]["bat"]) == sorted(f"k{i}" for i in range(10))
