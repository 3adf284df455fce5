"""A proposal's answer: its future resolves to answer(applied result), or to
the exception answer raises (a refusal, and also a bug: the caller hears of
it rather than waiting for its deadline); on_done runs first."""

from __future__ import annotations

import pytest

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
