"""A member of a group spanning regions (MRSC) that catches up by a snapshot
from another region's member: it keeps its own settings and its own region's
index outbox (never the sender's, which is another region's), and adds the
index changes of the entries it skipped, so its region's global index, fed its
outbox in order, ends up exactly the snapshot's items' (node/partition/replica.py
`write_state`, node/partition/global_indexes.py `catch_up_changes`)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.meta import LAST_HASH
from node.groups.engine import Engine
from node.groups.snapshots import encode_records
from node.partition import global_indexes as gsi
from node.partition.replica import PartitionReplica
from node.storage import STREAMS, Storage
from tests.node.feed.test_ttl_sweeper import GROUP, key_of
from trireme_pb import node_pb2

Req = node_pb2.DataRequest
INDEX = gsi.config_entry("t#by-g", 7, {
    "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"},
    "BaseKeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]},
    backfill=False)
INDEXES = gsi.global_indexes([INDEX])


def item(sk: str, g: str) -> dict:
    return {"pk": {"S": "p"}, "sk": {"S": sk}, "g": {"S": g}}


async def member(tmp_path, name: str, witness: bool = False) -> tuple[Storage, Engine, PartitionReplica]:
    """A one-node group of table 1 led by ``name`` (REGION/NODE; a witness never leads), with the
    global index configured."""
    storage = Storage.open(tmp_path / name.replace("/", "-"))
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    replica = engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH, "member": name,
                                    "witness": witness, "gsi": [INDEX]}, [name])
    engine.start()
    deadline = time.monotonic() + 20
    while not (witness or replica.is_leader and replica.writable()):
        assert time.monotonic() < deadline, "the one-node group elected no leader"
        await asyncio.sleep(0.02)
    return storage, engine, replica


async def put(replica: PartitionReplica, sk: str, g: str) -> None:
    await replica.write(Req(op=Req.PUT, key=key_of(sk), item=orjson.dumps(item(sk, g))))


def outbox(storage: Storage) -> list[tuple[int, list[node_pb2.GsiChange]]]:
    return [(gsi.outbox_index(k), list(node_pb2.GsiChanges.FromString(v).changes))
            for k, v in storage.iter_range(STREAMS, *gsi.outbox_bounds(GROUP))]


def shipped(index: dict[bytes, bytes], records: list) -> dict[bytes, bytes]:
    """An index partition's entries after applying ``records`` in order (idempotent puts and deletes)."""
    out = dict(index)
    for _, changes in records:
        for ch in changes:
            if ch.delete:
                out.pop(ch.key, None)
            else:
                out[ch.key] = ch.value
    return out


def index_of(items: dict[bytes, dict]) -> dict[bytes, bytes]:
    return shipped({}, [(0, [ch for key, it in items.items() for ch in gsi.changes(INDEXES, key, None, it)])])


def test_a_member_caught_up_by_snapshot_owes_its_region_s_index_exactly_the_skipped_changes(tmp_path):
    async def go() -> None:
        storage, engine, us = await member(tmp_path, "us-east-1/n1")
        try:  # the sender: the leader's region, whose outbox holds its own unshipped changes
            for sk, g in (("x", "c"), ("y", "b"), ("z", "a"), ("w", "a"), ("v", "v"), ("u", "u")):
                await put(us, sk, g)
            await us.write(Req(op=Req.DELETE, key=key_of("y")))
            assert outbox(storage), "the sender's region has not shipped its changes"
            meta, records = us.snapshot_state()
            chunks = list(encode_records(records))
            theirs = outbox(storage)
        finally:
            await engine.stop()
            storage.close()
        storage, engine, eu = await member(tmp_path, "eu-west-1/n1")
        try:
            for sk, g in (("x", "a"), ("y", "b"), ("w", "a")):
                await put(eu, sk, g)
            mine = outbox(storage)
            region = shipped({}, mine[:1])  # this region's index got the first change; the others wait
            batch = storage.batch()  # (its shipper's local trim)
            batch.delete_range(STREAMS, gsi.outbox_bounds(GROUP)[0], gsi.outbox_key(GROUP, mine[0][0] + 1))
            storage.write(batch)
            before = eu.applied
            meta = dataclasses.replace(meta, index=max(meta.index, before + 3))  # (the sender is ahead)
            batch = storage.batch()
            eu.write_state(batch, meta, chunks)
            storage.write(batch)
            eu.install_snapshot(None)

            assert eu.config["member"] == "eu-west-1/n1" and eu.raft.id == "eu-west-1/n1"
            assert orjson.loads(storage.group_config(GROUP))["member"] == "eu-west-1/n1"
            now = outbox(storage)
            assert now[:2] == mine[1:]  # its own unshipped records stay, in order
            added = now[2:]
            assert added and all(before < at <= meta.index for at, _ in added) and eu.outbox_last == added[-1][0]
            assert not any(rec in theirs for rec in added)
            items = {key_of(sk): item(sk, g) for sk, g in (("x", "c"), ("z", "a"), ("w", "a"), ("v", "v"),
                                                            ("u", "u"))}
            assert shipped(region, now) == index_of(items)
            # Only what changed is owed: w is the same item on both sides.
            assert not any(ch.key.endswith(key_of("w")[12:]) for _, chs in added for ch in chs)
        finally:
            await engine.stop()
            storage.close()
    asyncio.run(go())


def test_a_witness_keeps_its_settings_and_no_outbox_after_a_snapshot(tmp_path):
    async def go() -> None:
        storage, engine, us = await member(tmp_path, "us-east-1/n1")
        try:
            await put(us, "x", "a")
            meta, records = us.snapshot_state()
            chunks = list(encode_records(records))
        finally:
            await engine.stop()
            storage.close()
        storage, engine, ap = await member(tmp_path, "ap-southeast-1/n1", witness=True)
        try:
            batch = storage.batch()
            ap.write_state(batch, dataclasses.replace(meta, index=ap.applied + 5), chunks)
            storage.write(batch)
            ap.install_snapshot(None)
            assert ap.config["witness"] is True and ap.config["member"] == "ap-southeast-1/n1"
            assert outbox(storage) == [] and ap.outbox_last == 0
            assert storage.get_item(key_of("x")) is not None
        finally:
            await engine.stop()
            storage.close()
    asyncio.run(go())


_values = st.none() | st.sampled_from(["a", "b", "c"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("pqrstuvw"), st.tuples(_values, st.booleans())),
       st.dictionaries(st.sampled_from("pqrstuvw"), st.tuples(_values, st.booleans())),
       st.integers(1, 5), st.integers(0, 6))
def test_catch_up_changes_take_any_index_to_the_new_items_in_records_within_the_skipped_entries(
        old, new, per_record, skipped):
    """Items with or without an index key (None), other attributes changing
    or not: the old items' index plus the records, in order, is the new items'."""
    def items(spec: dict) -> dict[bytes, dict]:
        out = {}
        for sk, (g, other) in spec.items():
            it = {"pk": {"S": "p"}, "sk": {"S": sk}, "o": {"BOOL": other}}
            if g is not None:
                it["g"] = {"S": g}
            out[key_of(sk)] = it
        return out
    before, after = items(old), items(new)
    changes = gsi.catch_up_changes(INDEXES, sorted((k, orjson.dumps(v)) for k, v in before.items()),
                                   {k: orjson.dumps(v) for k, v in after.items()})
    records = gsi.catch_up_records(changes, 10, 10 + skipped, per_record)
    assert [at for at, _ in records] == list(range(11 + skipped - len(records), 11 + skipped))
    assert all(rec.changes for _, rec in records) and len(records) <= skipped + 1
    assert sum(len(rec.changes) for _, rec in records) == len(changes)
    assert all(len(rec.changes) <= per_record for _, rec in records) or len(records) == skipped + 1
    assert shipped(index_of(before), [(at, rec.changes) for at, rec in records]) == index_of(after)
