"""An engine stops at once, also with a proposal in flight: the proposal
wakes the engine's loop in the turn that the stop cancels it (this hung
before cluster/tasks.py's `within`, and nodes took their hard exit)."""

from __future__ import annotations

import asyncio

from tests.node.partition.test_versions import put_req, started, stopped


def test_stop_with_a_write_in_flight(tmp_path):
    async def go():
        storage, engine, replica = await started(tmp_path)
        pending = replica.write(put_req("a", 1))  # queued, not awaited: it wakes the engine
        stop = asyncio.create_task(stopped(storage, engine))
        done, _ = await asyncio.wait({stop}, timeout=5)
        assert done, "the engine did not stop within 5 s"
        stop.result()
        await asyncio.gather(pending, return_exceptions=True)
    asyncio.run(go())
