"""bench/router_path.py: each operation's requests go through the router's
whole handling and are answered 200; an error answer stops the run."""

from __future__ import annotations

import asyncio
import random

import pytest

from bench import router_path


@pytest.mark.parametrize("op", router_path.OPS)
def test_each_operation_is_answered_and_reports_each_repetition(op):
    handle = router_path.handler(router_path.state())
    reps = asyncio.run(router_path.drive(handle, router_path.requests(op, 6, random.Random(1)), 2))
    assert len(reps) == 2 and all(x > 0 for x in reps)


def test_a_request_for_a_missing_table_fails_the_run():
    handle = router_path.handler(router_path.state())
    wire = router_path.requests("GetItem", 1, random.Random(1))[0].replace(b"usertable", b"nosuchtbl")
    with pytest.raises(RuntimeError, match="ResourceNotFoundException"):
        asyncio.run(router_path.drive(handle, [wire], 0))
