"""The router's operations before its first metadata arrives (just after a
start): held until it comes, never answered as if no table existed."""

from __future__ import annotations

import asyncio

import pytest

from cluster.meta import MetaState, TableInfo
from cluster.partitions import Cluster
from ddb.errors import ServiceUnavailable
from router.api import Api

SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}


def _state() -> MetaState:
    s = MetaState(version=3)
    s.tables["orders"] = TableInfo("orders", 1, "u", "ACTIVE", 0.0, dict(SPEC))
    return s


def test_requests_wait_for_the_first_metadata():
    async def go():
        cluster = Cluster([], "az-a", deadline_s=5.0, cluster_id="c1")
        ops = Api(cluster, region="us-east-1").operations()
        listing = asyncio.ensure_future(ops["ListTables"]({}))
        describe = asyncio.ensure_future(ops["DescribeTable"]({"TableName": "orders"}))
        await asyncio.sleep(0.05)
        assert not listing.done() and not describe.done()
        cluster.install(_state())
        assert (await listing)["TableNames"] == ["orders"]
        assert (await describe)["Table"]["TableName"] == "orders"
        # Loaded: answered at once, without waiting.
        assert (await asyncio.wait_for(ops["ListTables"]({}), 0.01))["TableNames"] == ["orders"]
    asyncio.run(go())


def test_without_metadata_within_the_deadline_the_answer_is_503_not_not_found():
    async def go():
        ops = Api(Cluster([], "az-a", deadline_s=0.1, cluster_id="c1"), region="us-east-1").operations()
        for op, body in (("ListTables", {}), ("GetItem", {"TableName": "orders", "Key": {"pk": {"S": "a"}}})):
            with pytest.raises(ServiceUnavailable, match="not received the cluster's metadata"):
                await ops[op](body)
    asyncio.run(go())
