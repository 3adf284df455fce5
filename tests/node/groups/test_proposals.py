"""A proposal's answer: its future resolves to answer(applied result), or to
the exception answer raises (a refusal, and also a bug: the caller hears of
it rather than waiting for its deadline); on_done runs first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from node.groups.replica import Reply
from tests.node.partition.test_versions import put_req, run
from trireme_pb import node_pb2

NOTHING = node_pb2.WriteCommand().SerializeToString()  # applies, changes nothing


def test_the_future_holds_what_answer_makes_of_the_result(tmp_path):
    async def test(replica):
        seen = []
        fut = replica.propose(NOTHING, seen.append, lambda result: ("answered", result))
        assert await fut == ("answered", None)
        assert seen == [True]
    run(tmp_path, test)


def test_an_exception_in_answer_reaches_the_caller(tmp_path):
    async def test(replica):
        def broken(result):
            raise KeyError("a bug in an answer")
        with pytest.raises(KeyError):
            await replica.propose(NOTHING, None, broken)
        # and the replica goes on answering writes
        assert (await replica.write(put_req("a", 1))).status == node_pb2.OK
    run(tmp_path, test)


def test_a_committed_write_is_answered_without_waiting_for_the_next_fsync(tmp_path):
    """Under load a turn applies committed entries and appends new ones: the
    applied writes are answered before the new entries' fsync (which only
    they need), not after it."""
    async def test(replica):
        syncer = replica.engine._syncer  # noqa: SLF001
        real, calls = syncer.sync, []
        first, b_queued, gate = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def sync():
            calls.append(1)
            if len(calls) == 1:  # A's own: B is proposed meanwhile
                first.set()
                await b_queued.wait()
            else:  # B's, in the turn that applies A: held
                await gate.wait()
            await real()
        syncer.sync = sync
        a = replica.write(put_req("a", 1))
        await first.wait()
        b = replica.write(put_req("b", 2))
        b_queued.set()
        assert (await asyncio.wait_for(a, 5)).status == node_pb2.OK
        assert len(calls) == 2 and not b.done()  # B's fsync still held
        gate.set()
        assert (await asyncio.wait_for(b, 5)).status == node_pb2.OK
    run(tmp_path, test)


def recorder() -> tuple[list, asyncio.Event, Callable[[Any, BaseException | None], None]]:
    """A Reply's callback that records each (result, exception) and sets the event."""
    got: list = []
    done = asyncio.Event()

    def callback(result: Any, exc: BaseException | None) -> None:
        got.append((result, exc))
        done.set()
    return got, done, callback


def test_a_reply_is_given_the_outcome_when_it_is_known(tmp_path, caplog):
    """A Reply instead of a future: its callback gets (result, None) or (None,
    exception) once, inside the turn that learns it; a callback that fails is
    logged and the replica goes on."""
    async def test(replica):
        got, done, callback = recorder()
        reply = Reply(callback)
        assert replica.propose(NOTHING, None, lambda result: ("answered", result), reply=reply) is reply
        await asyncio.wait_for(done.wait(), 5)
        assert got == [(("answered", None), None)] and reply.done()
        with pytest.raises(asyncio.InvalidStateError):
            reply.set_result("again")
        done.clear()
        replica.propose(NOTHING, None, lambda result: 1 / 0, reply=Reply(callback))
        await asyncio.wait_for(done.wait(), 5)
        assert isinstance(got[-1][1], ZeroDivisionError)

        def broken(result, exc):
            done.set()
            raise KeyError("a bug in a reply")
        done.clear()
        replica.propose(NOTHING, None, None, reply=Reply(broken))
        await asyncio.wait_for(done.wait(), 5)
        assert (await replica.write(put_req("a", 1))).status == node_pb2.OK
        assert "a proposal's reply failed" in caplog.text
    run(tmp_path, test)


def test_a_write_given_a_reply_answers_through_it(tmp_path):
    async def test(replica):
        got, done, callback = recorder()
        reply = Reply(callback)
        assert replica.write(put_req("a", 1), reply) is reply
        await asyncio.wait_for(done.wait(), 5)
        assert got[0][1] is None and got[0][0].status == node_pb2.OK
    run(tmp_path, test)
