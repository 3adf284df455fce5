"""Trigger checkpoints on a real one-node partition (engine, Raft group,
storage; no sockets): proposed through the log, never moved back, kept over
a restart and carried by snapshots; and the ReportBatchItemFailures rules."""

from __future__ import annotations

import asyncio
import time

import orjson

from cluster.meta import LAST_HASH
from node.feed.triggers import batch_item_failures, failure_record
from node.groups.engine import Engine
from node.partition.replica import PartitionReplica
from node.storage import META, Storage
from trireme_pb import node_pb2

GROUP = "t1.p0"


def checkpoint(mapping: str, index: int, offset: int) -> bytes:
    return node_pb2.WriteCommand(checkpoint=node_pb2.TriggerCheckpoint(mapping=mapping, index=index,
                                                                       offset=offset)).SerializeToString()


async def leading(tmp_path, create: bool) -> tuple[Storage, Engine, PartitionReplica]:
    storage = Storage.open(tmp_path / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    if create:
        engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH}, ["n1"])
    else:
        engine.recover()
    engine.start()
    replica = engine.replicas[GROUP]
    deadline = time.monotonic() + 20
    while not (replica.raft.role.name == "LEADER" and replica.writable()):
        assert time.monotonic() < deadline, "the one-node group elected no leader"
        await asyncio.sleep(0.02)
    return storage, engine, replica


def test_checkpoints_go_through_the_log_never_back_and_survive_restarts_and_snapshots(tmp_path):
    async def go():
        storage, engine, replica = await leading(tmp_path, create=True)
        try:
            assert replica.checkpoint("m1") is None
            await replica.propose(checkpoint("m1", 12, 3))
            await replica.propose(checkpoint("m1", 12, 1))  # a deposed poller's late, older checkpoint
            await replica.propose(checkpoint("m2", 5, 0))
            assert (replica.checkpoint("m1"), replica.checkpoint("m2")) == ((12, 3), (5, 0))
            _, records = replica.snapshot_state()
            config = next(orjson.loads(v) for cf, k, v in records if cf == META)
            assert config["checkpoints"] == {"m1": [12, 3], "m2": [5, 0]}
        finally:
            await engine.stop()
            storage.close()
        storage, engine, replica = await leading(tmp_path, create=False)
        try:
            assert replica.checkpoint("m1") == (12, 3)
        finally:
            await engine.stop()
            storage.close()
    asyncio.run(go())


SEQS = ["100", "200", "300"]


def test_batch_item_failures_name_the_lowest_failed_record():
    assert batch_item_failures(b'{"batchItemFailures": [{"itemIdentifier": "300"}, {"itemIdentifier": "200"}]}',
                               SEQS) == 1
    # Success: an empty or null list, a null answer, no answer.
    for ok in (b'{"batchItemFailures": []}', b'{"batchItemFailures": null}', b"null", b"", b"{}"):
        assert batch_item_failures(ok, SEQS) is None, ok
    # The whole batch failed: an empty or null identifier, one not in the batch, another shape.
    for bad in (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', b'{"batchItemFailures": [{"id": "200"}]}',
                b'{"batchItemFailures": [{"itemIdentifier": "999"}]}', b'[1]', b'{"batchItemFailures": "x"}',
                b"not json"):
        assert batch_item_failures(bad, SEQS) == 0, bad


def test_the_on_failure_record_describes_the_batch():
    part = [{"dynamodb": {"SequenceNumber": s, "ApproximateCreationDateTime": 1700000000.0}} for s in SEQS]
    mapping = {"function_arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "source": "arn:stream"}
    out = failure_record(mapping, "shardId-1", part, "RetryAttemptsExhausted")
    info = out["DDBStreamBatchInfo"]
    assert (info["shardId"], info["streamArn"], info["batchSize"], info["startSequenceNumber"],
            info["endSequenceNumber"]) == ("shardId-1", "arn:stream", 3, "100", "300")
    assert out["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert out["requestContext"]["functionArn"] == mapping["function_arn"]
