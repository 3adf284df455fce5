"""A strongly consistent global table's partition (MRSC) on a real one-node
group: the member is named REGION/NODE, and the leader refuses one region's
write of an item while another region's write of it is uncommitted."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from cluster.meta import LAST_HASH
from ddb.errors import ReplicatedWriteConflictException, ServiceUnavailable
from node.groups.engine import Engine
from node.partition.replica import PartitionReplica
from node.storage import Storage
from tests.node.feed.test_ttl_sweeper import GROUP, key_of
from trireme_pb import node_pb2

Req = node_pb2.DataRequest


def put(sk: str, origin: str) -> node_pb2.DataRequest:
    return Req(op=Req.PUT, key=key_of(sk), item=orjson.dumps({"pk": {"S": "p"}, "sk": {"S": sk}}),
               origin_region=origin)


async def _leader(tmp_path, member: str) -> tuple[Storage, Engine, PartitionReplica]:
    """A one-node group of table 1 led by this node (``member``: its id in a group spanning regions)."""
    storage = Storage.open(tmp_path / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    config = {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH, **({"member": member} if member else {})}
    replica = engine.create(GROUP, config, [member or "n1"])
    engine.start()
    deadline = time.monotonic() + 20
    while not (replica.raft.role.name == "LEADER" and replica.writable()):
        if time.monotonic() > deadline:
            await engine.stop()
            storage.close()
            raise AssertionError("the one-node group elected no leader")
        await asyncio.sleep(0.02)
    return storage, engine, replica


def test_a_write_of_an_item_another_region_is_writing_conflicts(tmp_path):
    async def go() -> None:
        storage, engine, replica = await _leader(tmp_path, "us-east-1/n1")
        try:
            assert replica.raft.id == "us-east-1/n1" and engine.leader_of(GROUP) == "us-east-1/n1"
            first = replica.write(put("a", "eu-west-1"))
            same = replica.write(put("a", "eu-west-1"))  # the same region's writes queue up behind each other
            other_item = replica.write(put("b", "ap-southeast-1"))
            with pytest.raises(ReplicatedWriteConflictException, match="another Region"):
                replica.write(put("a", "ap-southeast-1"))
            await asyncio.gather(first, same, other_item)
            await replica.write(put("a", "ap-southeast-1"))  # committed meanwhile: no conflict
            await asyncio.gather(replica.write(put("c", "")), replica.write(put("c", "")))  # not MRSC: never
        finally:
            await engine.stop()
            storage.close()

    asyncio.run(go())


def test_a_frozen_partition_applies_no_write_after_the_freeze_until_thawed(tmp_path):
    """FREEZE goes through the log: a write proposed before it applies, one
    proposed after it (even if evaluated first) is never applied and answers
    503; the freeze is kept in the replica's config; a thaw resumes writes."""
    async def go() -> None:
        storage, engine, replica = await _leader(tmp_path, "")
        try:
            before = replica.write(put("a", ""))
            freeze = asyncio.ensure_future(replica.freeze(Req(op=Req.FREEZE, freeze=True)))
            await asyncio.sleep(0)  # the freeze is queued first
            after = replica.write(put("b", ""))  # evaluated before the freeze applied: refused at apply
            await before
            await freeze
            with pytest.raises(ServiceUnavailable, match="MultiRegionConsistency STRONG"):
                await after
            with pytest.raises(ServiceUnavailable):
                replica.write(put("c", ""))
            assert storage.get_item(key_of("a")) is not None and storage.get_item(key_of("b")) is None
            assert orjson.loads(storage.group_config(GROUP))["frozen"] is True
            await replica.freeze(Req(op=Req.FREEZE, freeze=False))
            await replica.write(put("b", ""))
            assert storage.get_item(key_of("b")) is not None
            # A key built from an older map (another table id: the table moved to new partitions)
            # is refused, never written where no read of the table would find it.
            stale = put("d", "")
            stale.key = (2).to_bytes(4, "big") + stale.key[4:]
            with pytest.raises(ServiceUnavailable, match="moved to new partitions"):
                replica.write(stale)
        finally:
            await engine.stop()
            storage.close()

    asyncio.run(go())
