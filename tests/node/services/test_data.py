"""The node's `Data` service logs a request that failed (a 5xx) or was
slow under `request_id=` the id its caller knows it by: the caller's stream
tag and the DataRequest id (cluster/nodes.py), what a router answers the
client with. A real gRPC server over a one-member partition group, called
by the router's NodeClient."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import grpc

from cluster.frames import GRPC_OPTIONS
from cluster.nodes import NodeClient, tag
from node.groups.engine import Engine
from node.partition.replica import PartitionReplica
from node.services.admission import Admission
from node.services.data import DataServicer
from node.storage import Storage
from trireme_pb import node_pb2, node_pb2_grpc

GROUP = "t1.p0"


async def _with_node(data_dir: Path, slow_ms: float, test) -> None:
    storage = Storage.open(data_dir / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    replica = engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": (1 << 64) - 1}, ["n1"])
    engine.start()
    server = grpc.aio.server(options=GRPC_OPTIONS)
    node_pb2_grpc.add_DataServicer_to_server(
        DataServicer(engine.replicas, lambda node_id: None, "n1", Admission("c1", "node n1")), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = NodeClient(f"127.0.0.1:{port}", cluster_id="c1", slow_ms=slow_ms)
    try:
        await test(replica, client)
    finally:
        await client.close()
        await server.stop(None)
        await engine.stop()
        storage.close()


def _range() -> node_pb2.DataRequest:
    return node_pb2.DataRequest(op=node_pb2.DataRequest.RANGE, group=GROUP)


def test_a_failed_and_a_slow_request_are_logged_under_their_callers_ids(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="node.services.data")

    async def test(replica: PartitionReplica, client: NodeClient) -> None:
        calls = []

        async def read_range(req: node_pb2.DataRequest) -> node_pb2.DataResponse:
            calls.append(req.id)
            if len(calls) == 1:
                raise RuntimeError("boom")  # a bug evaluating the request: INTERNAL, a 500
            await asyncio.sleep(0.12 if len(calls) == 2 else 0)
            return node_pb2.DataResponse(status=node_pb2.OK)
        replica.read_range = read_range
        failed, slow, quick = _range(), _range(), _range()
        assert (await client.call(failed, 5)).status == node_pb2.INTERNAL
        assert (await client.call(slow, 5)).status == node_pb2.OK
        assert (await client.call(quick, 5)).status == node_pb2.OK
        lines = [r.getMessage() for r in caplog.records if r.name == "node.services.data"]
        assert len(lines) == 2, lines
        assert lines[0] == f"500 request_id={tag(client.tag_prefix, failed.id)} failed"
        assert re.fullmatch(rf"slow request_id={tag(client.tag_prefix, slow.id)} partition={GROUP} op=RANGE "
                            r"status=OK latency_ms=\d+\.\d", lines[1])

    asyncio.run(_with_node(tmp_path, 100, test))


def test_ids_are_52_characters_like_dynamodbs():
    client = NodeClient("127.0.0.1:1", cluster_id="c1")
    rid = tag(client.tag_prefix, 5)
    assert re.fullmatch(r"[A-Z0-9]{52}", rid) and rid.endswith("000000000005")
    assert NodeClient("127.0.0.1:1", cluster_id="c1").tag_prefix != client.tag_prefix


def test_a_batch_write_over_the_wire_answers_each_part_in_order(tmp_path):
    from tests.node.partition.test_split import leading

    async def test(replica: PartitionReplica, client: NodeClient) -> None:
        await leading(replica)
        req = node_pb2.DataRequest(op=node_pb2.DataRequest.BATCH_WRITE, group=GROUP)
        for i in range(3):
            req.parts.add(op=node_pb2.DataRequest.PUT, key=b"\x00\x00\x00\x01" + bytes(8) + b"k%d" % i,
                          item=b'{"pk":{"S":"k%d"}}' % i)
        req.parts.add(op=node_pb2.DataRequest.PUT, key=b"\x00\x00\x00\x02" + bytes(8) + b"x",
                      item=b'{"pk":{"S":"x"}}')  # another table's key: this partition refuses it alone
        resp = await client.call(req, 10)
        assert resp.status == node_pb2.OK and resp.id == req.id
        assert [p.status for p in resp.parts[:3]] == [node_pb2.OK] * 3
        # Refused (a retryable 503 while the leader's lease vouches for it, else UNAVAILABLE: sent again alone).
        refused = resp.parts[3]
        assert (refused.status, refused.error_type) in ((node_pb2.DDB_ERROR, "ServiceUnavailable"),
                                                        (node_pb2.UNAVAILABLE, ""))
        assert replica.engine.storage.get_item(b"\x00\x00\x00\x01" + bytes(8) + b"k2") == b'{"pk":{"S":"k2"}}'

    asyncio.run(_with_node(tmp_path, 10_000, test))
