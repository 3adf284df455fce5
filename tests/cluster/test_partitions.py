"""Replica choice and retries of the router's cluster client, without nodes."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from cluster.meta import MetaState, NodeInfo, PartitionInfo, TableInfo
from cluster.nodes import NOTE, NodeDown
from cluster.partitions import Cluster
from ddb.errors import EvaluationFailed, InternalServerError, ServiceUnavailable
from router.batches import retryable
from trireme_pb import node_pb2

AZ = {"a1": "az-a", "a2": "az-a", "b1": "az-b", "c1": "az-c", "c2": "az-c"}


def _state(voters: dict[str, list[str]], version: int = 1) -> MetaState:
    s = MetaState(version=version)
    for n, az in AZ.items():
        s.nodes[n] = NodeInfo(n, f"addr-{n}", az)
    for g, vs in voters.items():
        s.partitions[g] = PartitionInfo(g, 1, 0, 0, (1 << 64) - 1, vs)
    s.tables["t"] = TableInfo("t", 1, "u", "ACTIVE", 0.0, {}, partitions=["g"])
    return s


def _cluster(voters: dict[str, list[str]]) -> Cluster:
    c = Cluster([], "az-a", cluster_id="c1")
    c.install(_state(voters))
    return c


def test_eventual_reads_go_local_first_and_spread_over_local_replicas():
    c = _cluster({"g": ["b1", "a1", "c1", "a2", "c2"]})
    orders = [c._targets("g", False) for _ in range(2000)]
    assert all(sorted(o) == sorted(["a1", "a2", "b1", "c1", "c2"]) for o in orders)
    assert all(set(o[:2]) == {"a1", "a2"} for o in orders)
    firsts = Counter(o[0] for o in orders)
    assert firsts["a1"] > 800 and firsts["a2"] > 800
    assert {o[2] for o in orders} == {"b1", "c1", "c2"}  # failing over spreads too


def test_without_local_replicas_every_replica_comes_first_sometimes():
    c = _cluster({"g": ["b1", "c1", "c2"]})
    assert Counter(c._targets("g", False)[0] for _ in range(600)).keys() == {"b1", "c1", "c2"}


def test_leader_first_follows_the_known_leader_at_once():
    c = _cluster({"g": ["a1", "b1", "c1"]})
    assert all(c._targets("g", True)[0] == "a1" for _ in range(50))  # no leader known: local first
    c._leaders["g"] = "c1"
    for _ in range(50):
        o = c._targets("g", True)
        assert o[0] == "c1" and sorted(o) == ["a1", "b1", "c1"]
        assert c._targets("g", False)[0] == "a1"
    c._leaders["g"] = "b1"
    assert all(c._targets("g", True)[0] == "b1" for _ in range(50))
    c._leaders["g"] = "x9"  # not a voter: ignored
    assert all(c._targets("g", True)[0] == "a1" for _ in range(50))
    del c._leaders["g"]
    assert all(c._targets("g", True)[0] == "a1" for _ in range(50))


def test_orders_follow_metadata_changes():
    c = _cluster({"g": ["a1", "b1", "c1"]})
    assert c._targets("g", False)[0] == "a1"
    c._leaders["g"] = "b1"
    assert c._targets("g", True)[0] == "b1"
    c.install(_state({"g": ["a2", "b1", "c1"]}, version=2))
    assert c._targets("g", False)[0] == "a2"
    assert sorted(c._targets("g", True)) == ["a2", "b1", "c1"]
    # A state changed in place (a node's own view) is noticed by its version.
    c.state.partitions["g"].voters = ["b1", "c1", "c2"]
    c.state.version += 1
    assert sorted(c._targets("g", False)) == ["b1", "c1", "c2"]
    assert c._targets("nope", False) == ()


class _FakeNode:
    def __init__(self, calls: list, outcome, tag_prefix: str = "", delay: float = 0.0) -> None:
        self.calls, self.outcome, self.tag_prefix, self.delay = calls, outcome, tag_prefix, delay

    def silent_for(self, now: float) -> float:
        return 0.0

    async def call(self, req, timeout):
        req.id = len(self.calls) + 1
        self.calls.append((req, req.group))
        await asyncio.sleep(self.delay)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _with_fakes(c: Cluster, outcomes: dict) -> list:
    calls: list = []
    fakes = {f"addr-{n}": _FakeNode(calls, o) for n, o in outcomes.items()}
    c.nodes.get = fakes.__getitem__
    return calls


def test_a_retry_sends_a_copy_and_leaves_the_first_message_alone():
    c = _cluster({"g": ["a1", "b1", "c1"]})
    c._leaders["g"] = "a1"
    calls = _with_fakes(c, {"a1": TimeoutError(), "b1": node_pb2.DataResponse(status=node_pb2.OK),
                            "c1": node_pb2.DataResponse(status=node_pb2.OK)})
    req = node_pb2.DataRequest(op="GET", key=b"k", consistent=True)
    resp = asyncio.run(c.send("t", 5, req, to_leader=True))
    assert resp.status == node_pb2.OK
    assert calls[0][0] is req and len(calls) == 2
    assert calls[1][0] is not req and calls[1][0].key == b"k" and calls[1][1] == "g"
    assert "g" in c._leaders and c._leaders["g"] != "a1"


def test_a_write_whose_node_went_silent_is_not_retried():
    c = _cluster({"g": ["a1", "b1", "c1"]})
    c._leaders["g"] = "a1"
    ok = node_pb2.DataResponse(status=node_pb2.OK)
    for exc in (TimeoutError(), NodeDown("gone", sent=True)):
        c._leaders["g"] = "a1"
        calls = _with_fakes(c, {"a1": exc, "b1": ok, "c1": ok})
        with pytest.raises(InternalServerError, match="outcome of this write is unknown"):
            asyncio.run(c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True, idempotent=False))
        assert len(calls) == 1 and "g" not in c._leaders
    # Not sent: safe to send elsewhere.
    c._note_leader("g", "a1")  # (it answered again since: no longer noted down)
    calls = _with_fakes(c, {"a1": NodeDown("refused", sent=False), "b1": ok, "c1": ok})
    asyncio.run(c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True, idempotent=False))
    assert len(calls) == 2


def test_a_node_that_failed_evaluating_the_request_is_asked_once():
    """INTERNAL (the node raised while evaluating) is deterministic: retrying
    would fail the same way until the deadline, so it is answered at once."""
    c = _cluster({"g": ["a1", "b1", "c1"]})
    for op, to_leader, idempotent in (("GET", False, True), ("GET", True, True), ("PUT", True, False)):
        c._leaders["g"] = "a1"
        internal = node_pb2.DataResponse(status=node_pb2.INTERNAL, message="internal error: TypeError: boom")
        calls = _with_fakes(c, {"a1": internal, "b1": internal, "c1": internal})
        with pytest.raises(EvaluationFailed) as exc:
            asyncio.run(c.send("t", 5, node_pb2.DataRequest(op=op, key=b"k"), to_leader=to_leader,
                               idempotent=idempotent))
        assert len(calls) == 1
        assert exc.value.to_wire() == (500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                             "message": "Internal server error"})


def test_a_batch_entry_that_failed_on_its_node_is_not_unprocessed():
    assert retryable(ServiceUnavailable()) and retryable(InternalServerError("outcome unknown"))
    assert not retryable(EvaluationFailed()) and not retryable(ValueError())


def _noted(c: Cluster, outcome, *, delay: float = 0.0, **send) -> tuple[tuple[str, str] | None, BaseException | None]:
    """What a send to a1 (answering `outcome` after `delay`) noted for the request, and what it raised."""
    c._leaders["g"] = "a1"
    c.nodes.get = {"addr-a1": _FakeNode([], outcome, "P" * 40, delay)}.__getitem__

    async def go() -> tuple[tuple[str, str] | None, BaseException | None]:
        note = [None]
        NOTE.set(note)
        try:
            await c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True, **send)
        except Exception as exc:  # noqa: BLE001
            return note[0], exc
        return note[0], None
    return asyncio.run(go())


def test_a_failed_or_slow_data_call_notes_the_id_its_node_logs_it_under():
    """The tag prefix of the node's stream and the DataRequest id: what the node logs (node/services/data.py)."""
    c = Cluster([], "az-a", cluster_id="c1", slow_ms=50)
    c.install(_state({"g": ["a1"]}))
    tag = ("P" * 40 + "000000000001", "a1")
    assert _noted(c, node_pb2.DataResponse(status=node_pb2.OK)) == (None, None)
    assert _noted(c, node_pb2.DataResponse(status=node_pb2.OK), delay=0.06) == (tag, None)
    for status, raised in ((node_pb2.INTERNAL, EvaluationFailed), (node_pb2.UNKNOWN, InternalServerError)):
        note, exc = _noted(c, node_pb2.DataResponse(status=status))
        assert note == tag and isinstance(exc, raised)
    note, exc = _noted(c, NodeDown("gone", sent=True), idempotent=False)
    assert note == tag and isinstance(exc, InternalServerError)
    note, exc = _noted(c, node_pb2.DataResponse(status=node_pb2.DDB_ERROR, error_type="ValidationException"))
    assert note is None and exc is not None  # a 4xx: nothing to tie


def test_no_data_call_is_slow_with_slow_ms_0():
    c = Cluster([], "az-a", cluster_id="c1", slow_ms=0)
    c.install(_state({"g": ["a1"]}))
    assert _noted(c, node_pb2.DataResponse(status=node_pb2.OK), delay=0.01) == (None, None)


# --- failover: finding a new leader without a metadata round ---------------

class _Scripted:
    """A node answering from a list, the last answer for ever after."""

    def __init__(self, name: str, log: list, answers: list) -> None:
        self.name, self.log, self.answers, self.tag_prefix = name, log, answers, ""

    def silent_for(self, now: float) -> float:
        return 0.0

    async def call(self, req, timeout):
        self.log.append((self.name, asyncio.get_running_loop().time()))
        out = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(out, BaseException):
            raise out
        return out


def _scripted(c: Cluster, answers: dict) -> list:
    log: list = []
    fakes = {f"addr-{n}": _Scripted(n, log, list(a)) for n, a in answers.items()}
    c.nodes.get = fakes.__getitem__
    return log


def _resp(status, leader: str = "") -> node_pb2.DataResponse:
    return node_pb2.DataResponse(status=status, leader=leader)


def test_a_dead_leader_named_by_followers_that_have_not_noticed_is_not_asked_again():
    for _ in range(20):  # the order of b1 and c1 is random
        c = _cluster({"g": ["a1", "b1", "c1"]})
        c._leaders["g"] = "a1"
        log = _scripted(c, {"a1": [NodeDown("refused", sent=False)], "b1": [_resp(node_pb2.NOT_LEADER, "a1")],
                            "c1": [_resp(node_pb2.OK)]})
        resp = asyncio.run(c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True,
                                  idempotent=False))
        assert resp.status == node_pb2.OK and c._leaders["g"] == "c1"
        assert [n for n, _ in log].count("a1") == 1, log


def test_nodes_whose_connection_just_broke_are_tried_last():
    c = _cluster({"g": ["a1", "b1", "c1"]})
    c._down["a1"] = __import__("time").monotonic()
    assert all(c._down_last(c._targets("g", True))[-1] == "a1" for _ in range(20))
    c._down["a1"] -= 5  # long ago: a1 is local, first again
    assert c._down_last(c._targets("g", True))[0] == "a1" and "a1" not in c._down


def test_a_new_leader_that_is_not_ready_yet_is_asked_again_at_once():
    c = _cluster({"g": ["a1", "b1", "c1"]})
    c._leaders["g"] = "b1"
    not_ready = _resp(node_pb2.UNAVAILABLE, "b1")
    log = _scripted(c, {"b1": [not_ready] * 8 + [_resp(node_pb2.OK)], "a1": [_resp(node_pb2.NOT_LEADER, "b1")],
                        "c1": [_resp(node_pb2.NOT_LEADER, "b1")]})
    resp = asyncio.run(c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True, idempotent=False))
    assert resp.status == node_pb2.OK and [n for n, _ in log] == ["b1"] * 9
    assert log[-1][1] - log[0][1] < 1.0  # at most 50 ms apart; the backoff would wait 2.1 s at least


def test_requests_waiting_to_retry_go_as_soon_as_another_finds_the_leader():
    c = _cluster({"g": ["a1", "b1", "c1"]})

    async def go() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.ensure_future(c._leader_found("g", 5.0))
        await asyncio.sleep(0.01)
        c._note_leader("g", "c1")
        await waiting
        return loop.time() - started
    assert asyncio.run(go()) < 1.0


class _Paused:
    """A node that answers nothing (SIGSTOP), failing waiting calls only when abandoned."""

    def __init__(self, log: list) -> None:
        self.log, self.tag_prefix, self.waiting, self.since = log, "", [], None

    async def call(self, req, timeout):
        loop = asyncio.get_running_loop()
        self.log.append(("a1", loop.time()))
        if self.since is None:
            self.since = loop.time()
        fut = loop.create_future()
        self.waiting.append((fut, req.group))
        return await asyncio.wait_for(fut, timeout)

    def silent_for(self, now: float) -> float:
        return now - self.since if self.since is not None and any(not f.done() for f, _ in self.waiting) else 0.0

    def waiting_groups(self) -> set[str]:
        return {g for f, g in self.waiting if not f.done()}

    def abandon(self, group: str, exc: Exception) -> None:
        for fut, g in self.waiting:
            if g == group and not fut.done():
                fut.set_exception(exc)


def _paused_a1(c: Cluster) -> list:
    """a1 leads `g` and is paused; b1 and c1 name a1 three times, then b1 leads. The calls' log."""
    c.deadline_s = 6.0
    c._leaders["g"] = "a1"
    log: list = []
    followers = {"b1": _Scripted("b1", log, [_resp(node_pb2.NOT_LEADER, "a1")] * 3 + [_resp(node_pb2.OK)]),
                 "c1": _Scripted("c1", log, [_resp(node_pb2.NOT_LEADER, "a1")] * 3
                                 + [_resp(node_pb2.NOT_LEADER, "b1")])}
    fakes = {"addr-a1": _Paused(log), **{f"addr-{n}": f for n, f in followers.items()}}
    c.nodes.get = fakes.__getitem__
    return log


def test_a_silent_leaders_requests_give_up_once_another_leads_and_new_ones_skip_it():
    import cluster.partitions as partitions
    c = _cluster({"g": ["a1", "b1", "c1"]})
    log = _paused_a1(c)

    async def go():
        loop = asyncio.get_running_loop()
        started = loop.time()
        held = asyncio.ensure_future(c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True,
                                            idempotent=False))
        await asyncio.sleep(partitions.SILENT_S + 0.05)
        # a1 silent: a new request asks the followers (they name a1 a while, then b1 answers) and never a1.
        resp = await c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k2"), to_leader=True, idempotent=False)
        assert resp.status == node_pb2.OK and c._leaders["g"] == "b1"
        with pytest.raises(InternalServerError, match="outcome of this write is unknown"):
            await held  # given up when b1 was found, not after its 3 s timeout
        return loop.time() - started
    took = asyncio.run(go())
    assert took < 2.5, took
    assert [n for n, _ in log].count("a1") == 1, log


def test_requests_all_held_by_a_silent_leader_are_freed_by_probing_its_followers():
    """No new request comes (every client waits on the paused leader): the
    router asks the followers itself, finds b1, gives up the held write
    (outcome unknown) and retries the held read at b1, long before 3 s."""
    import cluster.partitions as partitions
    c = _cluster({"g": ["a1", "b1", "c1"]})
    log = _paused_a1(c)  # (probes every 0.05 s: b1 is named by the fourth, about 0.15 s after the first)

    async def go():
        loop = asyncio.get_running_loop()
        started = loop.time()
        write = asyncio.ensure_future(c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True,
                                             idempotent=False))
        read = asyncio.ensure_future(c.send("t", 5, node_pb2.DataRequest(op="GET", key=b"k", consistent=True),
                                            to_leader=True))
        with pytest.raises(InternalServerError, match="outcome of this write is unknown"):
            await write
        assert (await read).status == node_pb2.OK
        return loop.time() - started
    took = asyncio.run(go())
    assert partitions.SILENT_S < took < partitions.SILENT_S + 1.0, took
    assert c._leaders["g"] == "b1"
    assert [n for n, _ in log].count("a1") == 2, log  # each request once; the probes asked only b1 and c1


class _Electing(_Scripted):
    """A follower that names no leader until `at` (loop time), then `leader` (itself: answers OK)."""

    def __init__(self, name: str, leader: str, at: list) -> None:
        super().__init__(name, [], [None])
        self.leader, self.at = leader, at

    async def call(self, req, timeout):
        if asyncio.get_running_loop().time() < self.at[0]:
            return _resp(node_pb2.NOT_LEADER)
        return _resp(node_pb2.OK) if self.leader == self.name else _resp(node_pb2.NOT_LEADER, self.leader)


def test_requests_backing_off_after_a_leader_died_go_as_soon_as_a_probe_finds_the_next(monkeypatch):
    """The retries' backoff has grown to 0.32-0.64 s by the time the
    election ends (here 0.65 s after the kill, with the largest jitter: the
    next retry at 1.6 s): the router's probe finds the new leader within
    PROBE_EVERY_S instead, and the waiting request goes then."""
    import random
    monkeypatch.setattr(random, "random", lambda: 0.999)
    c = _cluster({"g": ["a1", "b1", "c1"]})
    c._leaders["g"] = "a1"
    at = [0.0]
    log: list = []
    fakes = {"addr-a1": _Scripted("a1", log, [NodeDown("refused", sent=False)]),
             "addr-b1": _Electing("b1", "b1", at), "addr-c1": _Electing("c1", "b1", at)}
    c.nodes.get = fakes.__getitem__

    async def go() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        at[0] = started + 0.65
        resp = await c.send("t", 5, node_pb2.DataRequest(op="PUT", key=b"k"), to_leader=True, idempotent=False)
        assert resp.status == node_pb2.OK
        return loop.time() - started
    took = asyncio.run(go())
    assert 0.65 <= took < 1.2, took
    assert c._leaders["g"] == "b1"
