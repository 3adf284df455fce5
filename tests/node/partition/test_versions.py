"""Item versions and replicated applies on a real one-node partition (engine,
Raft group, storage; no sockets): a global table's writes carry versions and
fill the change log, a non-global one pays nothing, and replicated changes
apply iff newer, idempotently, in any order (node/partition/versions.py)."""

from __future__ import annotations

import asyncio
import itertools
import time

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.keys import change_bounds, hash_range_bounds, stream_bounds, tombstone_bounds
from cluster.meta import LAST_HASH
from cluster.versions import Version, base_version, make_ts, unpack
from ddb.encoding import encode_key_value
from node.groups.engine import Engine
from node.partition import streams
from node.partition.replica import PartitionReplica
from node.partition.versions import applied_settings, read_changes, wanted_of
from node.storage import DATA, STREAMS, VERSIONS, Storage
from tests.node.feed.test_ttl_sweeper import GROUP, LOCAL, key_of
from trireme_pb import node_pb2

PKL = len(encode_key_value({"S": "p"}))
Req = node_pb2.DataRequest
GLOBAL = {"region": "us-east-1", "regions": ["eu-west-1"], "keys": ["pk", "sk"], "creating": []}


def item(sk: str, v: int) -> dict:
    return {"pk": {"S": "p"}, "sk": {"S": sk}, "lsk": {"S": f"l{v}"}, "v": {"N": str(v)}}


def put_req(sk: str, v: int) -> node_pb2.DataRequest:
    return Req(op=Req.PUT, key=key_of(sk), item=orjson.dumps(item(sk, v)), partition_key_length=PKL,
               local_indexes=LOCAL)


def replicate_req(sk: str, v: int | None, ts: int, region: str) -> node_pb2.DataRequest:
    return Req(op=Req.REPLICATE, key=key_of(sk), item=orjson.dumps(item(sk, v)) if v is not None else b"",
               version=node_pb2.Version(ts=ts, region=region), partition_key_length=PKL, local_indexes=LOCAL)


def version_of(replica: PartitionReplica, sk: str) -> tuple[Version, bool] | None:
    raw = replica.engine.storage.get(VERSIONS, key_of(sk))
    return unpack(raw) if raw is not None else None


def value_of(replica: PartitionReplica, sk: str) -> dict | None:
    raw = replica.engine.storage.get_item(key_of(sk))
    return orjson.loads(raw) if raw is not None else None


def local_entries(replica: PartitionReplica) -> list[dict]:
    lo, hi = hash_range_bounds(1 | (1 << 24), 0, LAST_HASH + 1)  # by_lsk's key space
    return [orjson.loads(v) for _, v in replica.engine.storage.iter_range(DATA, lo, hi)]


async def make_global(replica: PartitionReplica, wanted: dict = GLOBAL) -> None:
    await replica.propose(node_pb2.WriteCommand(replication_config=orjson.dumps(wanted)).SerializeToString())


async def enable_stream(replica: PartitionReplica) -> None:
    wanted = [{"label": "L", "view": "NEW_AND_OLD_IMAGES", "keys": ["pk", "sk"], "enabled": True}]
    await replica.propose(node_pb2.WriteCommand(stream_config=orjson.dumps(wanted),
                                                timestamp_ms=int(time.time() * 1000)).SerializeToString())


async def started(tmp_path):
    storage = Storage.open(tmp_path / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    replica = engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH}, ["n1"])
    engine.start()
    deadline = time.monotonic() + 20
    while not (replica.raft.role.name == "LEADER" and replica.writable()):
        assert time.monotonic() < deadline, "the one-node group elected no leader"
        await asyncio.sleep(0.02)
    return storage, engine, replica


async def stopped(storage, engine) -> None:
    await engine.stop()
    storage.close()


def run(tmp_path, test):
    async def go():
        storage, engine, replica = await started(tmp_path)
        try:
            return await test(replica)
        finally:
            await stopped(storage, engine)
    return asyncio.run(go())


def test_a_table_that_is_not_global_writes_no_version_and_no_change(tmp_path):
    async def test(replica):
        applied = []
        real = replica.apply_command

        def counting(batch, index, cmd):
            before = len(batch)
            out = real(batch, index, cmd)
            applied.append(len(batch) - before)
            return out
        replica.apply_command = counting
        await replica.write(put_req("a", 1))
        await replica.write(Req(op=Req.PUT, key=key_of("b"), item=orjson.dumps(item("b", 1))))
        await replica.write(Req(op=Req.DELETE, key=key_of("a"), partition_key_length=PKL, local_indexes=LOCAL))
        # The item, its local entry and its collection size; one item; the item, entry and size removed.
        assert applied == [3, 1, 3]
        storage = replica.engine.storage
        assert list(storage.iter_range(VERSIONS, b"", None)) == []
        assert list(storage.iter_range(STREAMS, *change_bounds(GROUP))) == []
    run(tmp_path, test)


def test_a_global_tables_writes_carry_versions_and_fill_the_change_log_in_order(tmp_path):
    async def test(replica):
        await make_global(replica)
        await replica.write(put_req("a", 1))
        await replica.write(put_req("a", 2))
        await replica.write(Req(op=Req.DELETE, key=key_of("a"), partition_key_length=PKL, local_indexes=LOCAL))
        # Nothing to delete here: a tombstone, and a change all the same (the item may be on its way
        # from another region, where this newer delete must win too).
        await replica.write(Req(op=Req.DELETE, key=key_of("b")))
        await replica.write(put_req("t", 1))
        await replica.write(Req(op=Req.DELETE, key=key_of("t"), ttl_delete=True))  # by TTL: sent marked so
        (v, tombstone) = version_of(replica, "a")
        assert tombstone and v.region == "us-east-1" and v.ts > make_ts(int(time.time() * 1000) - 60_000)
        assert version_of(replica, "b")[1]
        changes = read_changes(replica.engine.storage, GROUP, (0, 0), 10)
        *changes, (_, gone_b), (_, put_t), (_, ttl_t) = changes
        assert orjson.loads(gone_b.keys) == {"pk": {"S": "p"}, "sk": {"S": "b"}} and not gone_b.new_image
        assert gone_b.version == node_pb2.Version(ts=version_of(replica, "b")[0].ts, region="us-east-1")
        assert not put_t.by_ttl and ttl_t.by_ttl and not ttl_t.new_image
        assert [orjson.loads(c.keys) for _, c in changes] == [{"pk": {"S": "p"}, "sk": {"S": "a"}}] * 3
        assert [orjson.loads(c.new_image)["v"]["N"] if c.new_image else None for _, c in changes] == ["1", "2", None]
        ts = [c.version.ts for _, c in changes]
        assert ts == sorted(ts) and len(set(ts)) == 3 and ts[-1] == v.ts
        assert [p for p, _ in changes] == sorted(p for p, _ in changes)
        # From a position on: only what follows it.
        assert [p for p, _ in read_changes(replica.engine.storage, GROUP, changes[1][0], 2)] == [
            p for p, _ in changes[1:]]
        assert len(read_changes(replica.engine.storage, GROUP, (0, 0), 10, max_bytes=1)) == 1  # a byte cap
    run(tmp_path, test)


def test_a_replicated_change_applies_iff_newer_and_is_not_logged_again(tmp_path):
    async def test(replica):
        await make_global(replica)
        await enable_stream(replica)
        now = make_ts(int(time.time() * 1000))
        assert not (await replica.replicate(replicate_req("a", 1, now, "eu-west-1"))).superseded
        assert value_of(replica, "a")["v"] == {"N": "1"}
        assert (await replica.replicate(replicate_req("a", 1, now, "eu-west-1"))).superseded  # again: idempotent
        assert (await replica.replicate(replicate_req("a", 0, now - 5, "eu-west-1"))).superseded  # older
        assert (await replica.replicate(replicate_req("a", 0, now, "ap-south-1"))).superseded  # tie: region order
        assert not (await replica.replicate(replicate_req("a", None, now + 1, "ap-south-1"))).superseded  # delete
        assert value_of(replica, "a") is None and version_of(replica, "a") == (Version(now + 1, "ap-south-1"), True)
        # The tombstone keeps a late older write from bringing the item back.
        assert (await replica.replicate(replicate_req("a", 7, now, "us-west-2"))).superseded
        assert value_of(replica, "a") is None and local_entries(replica) == []
        assert read_changes(replica.engine.storage, GROUP, (0, 0), 10) == []
        # The receiving region's stream shows each applied change, as ordinary records.
        recs = streams.read(replica.engine.storage, GROUP, replica.stream, (0, 0), 100, 1 << 20).records
        assert [r.event for r in recs] == [node_pb2.StreamRecord.INSERT, node_pb2.StreamRecord.REMOVE]
        assert not any(r.by_ttl for r in recs)
        # A local write after seeing a replicated version comes after it.
        await replica.replicate(replicate_req("b", 1, now + 10_000_000, "eu-west-1"))
        await replica.write(put_req("b", 2))
        (v, _), = [version_of(replica, "b")]
        assert v > Version(now + 10_000_000, "eu-west-1") and value_of(replica, "b")["v"] == {"N": "2"}
    run(tmp_path, test)


def test_the_apply_decides_whatever_the_leader_checked(tmp_path):
    """Two replicated changes of one item proposed at once, older last: the
    apply (the same on every replica) keeps the newer."""
    async def test(replica):
        now = make_ts(int(time.time() * 1000))
        newer = node_pb2.WriteCommand(mutations=[node_pb2.Mutation(key=key_of("a"), value=orjson.dumps(item("a", 2)))],
                                      replicated=node_pb2.Version(ts=now + 1, region="eu-west-1"))
        older = node_pb2.WriteCommand(mutations=[node_pb2.Mutation(key=key_of("a"), value=orjson.dumps(item("a", 1)))],
                                      replicated=node_pb2.Version(ts=now, region="eu-west-1"))
        results = await asyncio.gather(replica.propose(newer.SerializeToString()),
                                       replica.propose(older.SerializeToString()))
        assert results == ["applied", "superseded"] and value_of(replica, "a")["v"] == {"N": "2"}
    run(tmp_path, test)


CHANGES = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5)), st.integers(1, 4),
                             st.sampled_from(["eu-west-1", "us-east-1", "ap-south-1"])),
                   min_size=1, max_size=6, unique_by=lambda c: (c[1], c[2]))


def test_any_arrival_order_of_the_same_changes_converges(tmp_path):
    """Each example applies one set of changes (with duplicates: at least
    once) in two drawn orders to two items; both end as the newest change
    says, with the same version, and their local index entries follow."""
    loop = asyncio.new_event_loop()
    storage, engine, replica = loop.run_until_complete(started(tmp_path))
    names = (f"k{i}" for i in itertools.count())
    base = make_ts(int(time.time() * 1000))

    async def deliver(sk: str, order: list) -> None:
        for v, ts, region in order:
            await replica.replicate(replicate_req(sk, v, base + ts, region))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(CHANGES, st.data())
    def check(changes, data):
        a, b = next(names), next(names)
        order_a = data.draw(st.permutations(changes + changes[:1]))
        order_b = data.draw(st.permutations(changes))
        loop.run_until_complete(deliver(a, order_a))
        loop.run_until_complete(deliver(b, order_b))
        v, ts, region = max(changes, key=lambda c: (c[1], c[2]))
        for sk in (a, b):
            assert version_of(replica, sk) == (Version(base + ts, region), v is None)
            assert value_of(replica, sk) == (item(sk, v) if v is not None else None)
        entries = [e["sk"]["S"] for e in local_entries(replica)]
        assert (a in entries, b in entries) == (v is not None, v is not None)

    try:
        check()
    finally:
        loop.run_until_complete(stopped(storage, engine))
        loop.close()


def test_a_snapshot_carries_the_versions_and_the_change_log(tmp_path):
    async def test(replica):
        await make_global(replica)
        await replica.write(put_req("a", 1))
        _, records = replica.snapshot_state()
        families = {cf for cf, _, _ in records}
        assert VERSIONS in families and STREAMS in families
    run(tmp_path, test)


def test_settings_start_new_regions_after_their_entry_and_backfill_those_being_created():
    s1 = applied_settings(None, GLOBAL, 7)
    assert s1["start"] == 7 and s1["checkpoints"] == {"eu-west-1": [8, 0]} and s1["backfills"] == {}
    assert wanted_of(s1) == GLOBAL
    s1["checkpoints"]["eu-west-1"] = [20, 1]
    more = {**GLOBAL, "regions": ["ap-south-1", "eu-west-1"], "creating": ["ap-south-1"]}
    s2 = applied_settings(s1, more, 30)
    assert s2["start"] == 7 and s2["checkpoints"] == {"eu-west-1": [20, 1], "ap-south-1": [31, 0]}
    assert s2["backfills"] == {"ap-south-1": ""}
    s2["backfills"]["ap-south-1"] = "ab"
    s3 = applied_settings(s2, {**more, "creating": []}, 40)  # ACTIVE now: the backfill goes on where it was
    assert s3["backfills"] == {"ap-south-1": "ab"} and s3["checkpoints"] == s2["checkpoints"]
    assert applied_settings(s3, {}, 50) is None


def test_a_backfill_sends_every_item_with_its_version_then_the_changes(tmp_path):
    async def test(replica):
        for i in range(5):  # before the table is global: no versions
            await replica.write(put_req(f"old{i}", i))
        await make_global(replica)
        await replica.write(put_req("new", 9))
        await make_global(replica, {**GLOBAL, "regions": ["ap-south-1", "eu-west-1"], "creating": ["ap-south-1"]})
        assert replica.backfill_of("ap-south-1") == b"" and replica.backfill_of("eu-west-1") is None
        await replica.write(put_req("during", 10))  # written during the backfill: a change after it
        sent = []
        after = b""
        while (after := replica.backfill_of("ap-south-1")) is not None:
            changes, last = replica.backfill_changes(after, 3, max_bytes=100)  # (about 60 bytes an item)
            assert len(changes) <= 2
            sent += changes
            cp = node_pb2.ReplicationCheckpoint(region="ap-south-1", backfilled=last or b"",
                                                backfill_done=last is None)
            await replica.propose(node_pb2.WriteCommand(replication_checkpoint=cp).SerializeToString())
        by_key = {orjson.loads(c.keys)["sk"]["S"]: c for c in sent}
        assert sorted(by_key) == ["during", "new", "old0", "old1", "old2", "old3", "old4"]
        old = by_key["old0"].version
        assert Version(old.ts, old.region) == base_version("us-east-1")
        assert by_key["new"].version.ts > 1 and orjson.loads(by_key["new"].new_image)["v"] == {"N": "9"}
        # The region's changes start after the entry that added it: the write made during the backfill.
        changes = read_changes(replica.engine.storage, GROUP, replica.checkpoint_of("ap-south-1"), 10)
        assert [orjson.loads(c.keys)["sk"]["S"] for _, c in changes] == ["during"]
    run(tmp_path, test)


def test_an_item_written_before_the_table_went_global_counts_as_the_base_version(tmp_path):
    async def test(replica):
        await replica.write(put_req("a", 1))
        await make_global(replica)
        # Another region's base-versioned copy: ordered against ours by region.
        assert (await replica.replicate(replicate_req("a", 2, 1, "eu-west-1"))).superseded  # eu < us
        assert not (await replica.replicate(replicate_req("a", 3, 1, "zz-south-1"))).superseded
        assert value_of(replica, "a")["v"] == {"N": "3"}
    run(tmp_path, test)


def test_tombstones_are_collected_once_old_unless_a_write_replaced_them(tmp_path):
    async def test(replica):
        await make_global(replica)
        for sk in ("gone", "back", "young"):
            await replica.write(put_req(sk, 1))
        for sk in ("gone", "back"):
            await replica.write(Req(op=Req.DELETE, key=key_of(sk), partition_key_length=PKL, local_indexes=LOCAL))
        await replica.write(put_req("back", 2))  # replaces its tombstone
        cutoff = replica.hlc.now()
        await replica.write(Req(op=Req.DELETE, key=key_of("young"), partition_key_length=PKL, local_indexes=LOCAL))
        assert replica.oldest_tombstone() < cutoff
        await replica.propose(node_pb2.WriteCommand(collect_tombstones=cutoff).SerializeToString())
        assert version_of(replica, "gone") is None
        assert version_of(replica, "back")[1] is False and value_of(replica, "back")["v"] == {"N": "2"}
        assert version_of(replica, "young")[1] is True  # newer than the cutoff: kept
        assert replica.oldest_tombstone() > cutoff
    run(tmp_path, test)


def test_destroying_a_replica_leaves_none_of_its_state_behind(tmp_path):
    async def test(replica):
        await make_global(replica)
        await enable_stream(replica)
        await replica.write(put_req("a", 1))
        await replica.write(put_req("b", 1))
        await replica.write(Req(op=Req.DELETE, key=key_of("b"), partition_key_length=PKL, local_indexes=LOCAL))
        storage, ranges = replica.engine.storage, replica.state_ranges()
        held = {cf for cf, lo, hi in ranges for _ in storage.iter_range(cf, lo, hi, limit=1)}
        assert held == {DATA, VERSIONS, STREAMS}  # items and index entries, versions, stream/changes/tombstones
        for bounds in (change_bounds(GROUP), tombstone_bounds(GROUP), stream_bounds(GROUP)):
            assert list(storage.iter_range(STREAMS, *bounds, limit=1))
        replica.engine.destroy(GROUP)
        assert [(cf, k) for cf, lo, hi in ranges for k, _ in storage.iter_range(cf, lo, hi)] == []
    run(tmp_path, test)


def test_a_replicated_change_is_not_refused_at_the_item_collection_limit(tmp_path, monkeypatch):
    """The origin region accepted it and the regions converge to its
    collection: refusing it would stall the partition's replication for good."""
    from ddb.errors import ItemCollectionSizeLimitExceededException
    from node.partition import replica as replica_module
    monkeypatch.setattr(replica_module, "ITEM_COLLECTION_LIMIT", 40)  # one item and its entry: 28 bytes

    async def test(replica):
        await make_global(replica)
        await replica.write(put_req("a", 1))
        try:
            replica.write(put_req("b", 2))
            raise AssertionError("a local write past the limit must be refused")
        except ItemCollectionSizeLimitExceededException:
            pass
        now = make_ts(int(time.time() * 1000)) + 1_000
        assert not (await replica.replicate(replicate_req("b", 2, now, "eu-west-1"))).superseded
        assert value_of(replica, "b")["v"] == {"N": "2"} and len(local_entries(replica)) == 2
    run(tmp_path, test)
