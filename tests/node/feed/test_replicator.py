"""The replicator on a real one-node partition (engine, Raft group, storage),
sending to a stand-in for another region's router (a small HTTP server that
records what it is sent, and can refuse): the partition's settings follow the
metadata, changes arrive in order and once acknowledged the checkpoint moves;
an unreachable region is retried with backoff while the lag grows; old
tombstones are collected; a split partition's changes arrive in order, the
parent's up to the split first."""

from __future__ import annotations

import asyncio
import time

import orjson

from cluster.meta import MetaState, TableInfo
from node.feed import replicator as rep
from node.feed.replicator import Replicator, request_body, wanted_settings
from node.partition import versions
from node.partition.split import median_hash
from node.partition.versions import read_changes
from node.storage import VERSIONS
from tests.node.partition.test_split import key_and_hash, put
from tests.node.partition.test_versions import GROUP, Req, key_of, put_req, started, stopped
from trireme_pb import node_pb2

SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")]}


def table(replicas: list[dict]) -> TableInfo:
    return TableInfo("t", 1, "u", "ACTIVE", 0.0, SPEC, [GROUP], replicas=replicas)


class Remote:
    """Another region's router endpoint, as far as the replicator sees it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.arrived: list[dict] = []  # every request as it came in, answered or not yet
        self.refuse = False
        self.gate = asyncio.Event()  # cleared: requests wait for it before they are answered
        self.gate.set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        body = orjson.loads(await reader.readexactly(length))
        assert b"X-Amz-Target: TriremeReplication_1.Replicate" in head
        self.arrived.append(body)
        await self.gate.wait()
        if self.refuse:
            out = b'{"__type": "ServiceUnavailable"}'
            writer.write(b"HTTP/1.1 503 Unavailable\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
        else:
            self.bodies.append(body)
            out = orjson.dumps({"Applied": len(body["Changes"]), "Superseded": 0})
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    def sent(self) -> list[str]:
        return [c["Keys"]["sk"]["S"] for b in self.bodies for c in b["Changes"]]


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def run(tmp_path, test, status: str = "ACTIVE", before=None):
    async def go():
        storage, engine, replica = await started(tmp_path)
        if before is not None:
            await before(replica)
        remote = Remote()
        url = await remote.start()
        state = MetaState(tables={"t": table([{"region": "eu-west-1", "status": status}])})
        async def report(op: str, body: dict) -> dict:  # the metadata's own state machine answers
            return state.apply({"op": op, **body})
        replicator = Replicator(engine, lambda: state, "us-east-1", {"eu-west-1": url}, report)
        replicator.start()
        try:
            return await test(replica, replicator, remote, state)
        finally:
            await replicator.stop()
            await remote.stop()
            await stopped(storage, engine)
    return asyncio.run(go())


def test_wanted_settings_follow_the_replicas_not_being_deleted():
    t = table([{"region": "eu-west-1", "status": "ACTIVE"}, {"region": "ap-south-1", "status": "CREATING"},
               {"region": "sa-east-1", "status": "DELETING"}])
    assert wanted_settings(t, "us-east-1") == {"region": "us-east-1", "regions": ["ap-south-1", "eu-west-1"],
                                               "keys": ["pk", "sk"], "creating": ["ap-south-1"]}
    assert wanted_settings(table([]), "us-east-1") == {}
    assert wanted_settings(table([{"region": "sa-east-1", "status": "DELETING"}]), "us-east-1") == {}
    # A failed creation gets nothing: retried (CREATING again), the region is new, so backfilled afresh.
    assert wanted_settings(table([{"region": "sa-east-1", "status": "CREATION_FAILED"}]), "us-east-1") == {}


def test_a_request_body_splices_the_stored_json():
    change = node_pb2.ReplicationChange(keys=b'{"pk":{"S":"a"}}', version=node_pb2.Version(ts=5, region="r"),
                                        by_ttl=True)
    assert orjson.loads(request_body("t", "us-east-1", [change])) == {
        "TableName": "t", "SourceRegion": "us-east-1",
        "Changes": [{"Keys": {"pk": {"S": "a"}}, "NewImage": None, "Version": {"Ts": 5, "Region": "r"},
                     "ByTtl": True}]}


def test_changes_are_sent_in_order_and_the_checkpoint_follows_the_acknowledgment(tmp_path, monkeypatch):
    monkeypatch.setattr(versions, "TRIM_EVERY", 1)

    async def test(replica, replicator, remote, state):
        await until(lambda: replica.replication is not None, 10, "the settings")
        for i in range(5):
            await replica.write(put_req(f"k{i}", i))
        await replica.write(Req(op=Req.DELETE, key=key_of("k0")))
        await until(lambda: len(remote.sent()) == 6, 10, "the changes to arrive")
        assert remote.sent() == ["k0", "k1", "k2", "k3", "k4", "k0"]
        assert remote.bodies[0]["SourceRegion"] == "us-east-1" and remote.bodies[0]["TableName"] == "t"
        assert remote.bodies[-1]["Changes"][-1]["NewImage"] is None
        await until(lambda: read_changes(replica.engine.storage, GROUP, (0, 0), 10) == [], 10, "the log trimmed")
        await until(lambda: replicator.status() and replicator.status()[0]["lag_ms"] == 0, 10, "no lag")
        # A region that refuses: retried, the checkpoint stays, the lag grows; then all arrive once.
        remote.refuse = True
        at = replica.checkpoint_of("eu-west-1")
        await replica.write(put_req("late", 1))
        await until(lambda: replicator.status()[0]["lag_ms"] > 300, 10, "the lag to grow")
        assert replica.checkpoint_of("eu-west-1") == at
        remote.refuse = False
        await until(lambda: remote.sent()[-1:] == ["late"], 10, "the change to arrive after the outage")
        assert remote.sent().count("late") == 1
        # The table is no longer global: no more versions, no more changes.
        state.tables["t"] = table([])
        await until(lambda: replica.replication is None, 10, "the settings to go")
        await replica.write(put_req("regional", 1))
        assert replica.engine.storage.get(VERSIONS, key_of("regional")) is None
    run(tmp_path, test)


def test_old_tombstones_are_collected(tmp_path, monkeypatch):
    monkeypatch.setattr(rep, "RETENTION_S", 0.5)
    monkeypatch.setattr(rep, "COLLECT_EVERY_S", 0.2)

    async def test(replica, replicator, remote, state):
        await until(lambda: replica.replication is not None, 10, "the settings")
        await replica.write(put_req("a", 1))
        await replica.write(Req(op=Req.DELETE, key=key_of("a")))
        assert replica.engine.storage.get(VERSIONS, key_of("a")) is not None
        await until(lambda: replica.engine.storage.get(VERSIONS, key_of("a")) is None, 10, "the tombstone to go")
        assert replica.oldest_tombstone() is None
    run(tmp_path, test)


def test_a_region_being_created_is_backfilled_first_then_turns_active(tmp_path, monkeypatch):
    monkeypatch.setattr(rep, "BATCH", 2)

    async def before(replica):  # items written before the table went global
        for i in range(5):
            await replica.write(put_req(f"old{i}", i))

    async def test(replica, replicator, remote, state):
        remote.gate.clear()
        await until(lambda: replica.replication is not None, 10, "the settings")
        await replica.write(put_req("during", 9))
        await until(lambda: replicator.status() and replicator.status()[0]["backfilling"] == 1, 10, "the backfill")
        assert state.tables["t"].replica("eu-west-1")["status"] == "CREATING"
        remote.gate.set()
        await until(lambda: replicator.status()[0]["backfilled_items"] >= 2 or replica.backfill_of("eu-west-1")
                    is None, 10, "progress")
        await until(lambda: replica.backfill_of("eu-west-1") is None and len(remote.sent()) == 7, 10, "the end")
        sent = remote.sent()
        assert sorted(sent[:6]) == ["during", "old0", "old1", "old2", "old3", "old4"]  # every item, then
        assert sent[6:] == ["during"]  # the change made during the backfill
        assert replicator.status()[0]["backfilling"] == 0
        # The partition told the metadata its backfill is done: the only partition, so the replica is ACTIVE.
        await until(lambda: state.tables["t"].replica("eu-west-1")["status"] == "ACTIVE", 10, "ACTIVE")
        assert state.tables["t"].replica("eu-west-1") == {"region": "eu-west-1", "status": "ACTIVE"}
    run(tmp_path, test, status="CREATING", before=before)


def test_a_split_sends_the_parents_changes_up_to_the_split_then_the_childs(tmp_path):
    """Writes on both sides of a split while the region holds the parent's
    first request: the child's sender waits for the parent's to pass the
    split, so each item's changes arrive in order, each exactly once (the
    delete's tombstone moved to the child's list)."""
    async def test(replica, replicator, remote, state):
        await until(lambda: replica.replication is not None, 10, "the settings")
        pks = [f"p{i}" for i in range(12)]
        remote.gate.clear()  # the region answers nothing yet: the parent's first request waits
        await replica.write(put(pks[0], 0))
        await until(lambda: remote.arrived, 10, "the first request")
        for i, pk in enumerate(pks[1:], 1):  # (the parent's next request: once the first is answered)
            await replica.write(put(pk, i))
        mid = median_hash(replica.engine.storage, *replica.data_range(), 0)
        right = [pk for pk in pks if key_and_hash(pk)[1] >= mid]
        await replica.write(Req(op=Req.DELETE, key=key_and_hash(right[0])[0]))
        child = replica.engine.replicas[(await replica.propose_split(mid))["child"]]
        assert child.replication["checkpoints"] == replica.replication["checkpoints"]
        assert child.oldest_tombstone() is not None and replica.oldest_tombstone() is None
        await until(lambda: child.is_leader and child.writable(), 10, "the child's leader")
        for i, pk in enumerate(pks):
            await (child if pk in right else replica).write(put(pk, 100 + i))
        key = (child.group, "eu-west-1")
        await until(lambda: (replicator._oldest.get(key) or (0, None))[1] is not None, 10, "the child's sender")
        remote.gate.set()
        await until(lambda: sum(len(b["Changes"]) for b in remote.bodies) >= 25, 10, "every change")
        seen: dict[str, list] = {}
        for body in remote.arrived:
            for c in body["Changes"]:
                image = c["NewImage"]
                seen.setdefault(c["Keys"]["pk"]["S"], []).append(int(image["v"]["N"]) if image else None)
        assert seen == {pk: [i, *([None] if pk == right[0] else []), 100 + i] for i, pk in enumerate(pks)}
    run(tmp_path, test)
