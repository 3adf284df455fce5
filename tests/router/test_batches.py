"""router/batches.py BatchWriteItem: one BATCH_WRITE per partition, each
part's answer turned into its item's outcome, and the parts a node did not
propose sent again on their own (against a partition client that records)."""

from __future__ import annotations

import asyncio

from cluster.meta import MetaState, PartitionInfo, TableInfo
from cluster.partitions import Cluster
from router.api import Api
from trireme_pb import node_pb2

Req = node_pb2.DataRequest
SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


class _Answering(Cluster):
    """Two partitions; `answer(part index, part)` decides each BATCH_WRITE part's status."""

    def __init__(self, answer) -> None:
        super().__init__([], "az-a", cluster_id="c1")
        self.sent: list[Req] = []
        self.answer = answer
        state = MetaState(version=1)
        state.tables["things"] = TableInfo("things", 7, "u", "ACTIVE", 0.0, SPEC, partitions=["t7.a", "t7.b"])
        state.partitions["t7.a"] = PartitionInfo("t7.a", 7, 0, 0, (1 << 63) - 1, ["n1"])
        state.partitions["t7.b"] = PartitionInfo("t7.b", 7, 1, 1 << 63, (1 << 64) - 1, ["n1"])
        self.install(state)

    async def send(self, table, hash64, req, *, to_leader, idempotent=True, ranged=False):
        self.sent.append(req)
        resp = node_pb2.DataResponse()
        for i, part in enumerate(req.parts):
            resp.parts.add(status=self.answer(i, part), error_type="ProvisionedThroughputExceededException")
        return resp


def _write(cluster: Cluster, n: int) -> dict:
    items = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(n)]
    return asyncio.run(Api(cluster, region="us-east-1").operations()["BatchWriteItem"](
        {"RequestItems": {"things": items}}))


def test_one_request_per_partition():
    cluster = _Answering(lambda i, p: node_pb2.OK)
    assert _write(cluster, 25) == {"UnprocessedItems": {}}
    batches = [r for r in cluster.sent if r.op == Req.BATCH_WRITE]
    assert len(cluster.sent) == 2 and len(batches) == 2  # 25 keys over two partitions
    assert sum(len(b.parts) for b in batches) == 25


def test_parts_not_proposed_go_again_alone_and_throttled_ones_come_back_unprocessed():
    statuses = {0: node_pb2.WRONG_GROUP, 1: node_pb2.UNAVAILABLE, 2: node_pb2.DDB_ERROR}
    cluster = _Answering(lambda i, p: statuses.get(i, node_pb2.OK))
    out = _write(cluster, 25)
    singles = [r for r in cluster.sent if r.op == Req.PUT]
    assert len(singles) == 4  # parts 0 and 1 of each partition's request, sent again as PUTs
    assert len(out["UnprocessedItems"]["things"]) == 2  # each request's throttled part 2
