"""cluster/tasks.py: `within` ends a loop that is cancelled in the very turn
its event is set (asyncio.wait_for on Python 3.11 swallows that cancellation,
and a node's stop then hung on its engine loop)."""

from __future__ import annotations

import asyncio

import pytest

from cluster.tasks import cancel, within


def test_a_cancel_in_the_turn_the_event_is_set_ends_the_loop():
    async def go():
        wake = asyncio.Event()
        turns = 0

        async def loop():
            nonlocal turns
            while True:
                try:
                    await within(wake.wait(), 10)
                except TimeoutError:
                    pass
                wake.clear()
                turns += 1

        task = asyncio.create_task(loop())
        for _ in range(3):
            await asyncio.sleep(0)  # the loop waits on its event
        wake.set()
        task.cancel()  # the same turn: the wait's result and the cancel meet
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done and task.cancelled() and turns == 0
    asyncio.run(go())


def test_timeouts_and_results_are_wait_fors():
    async def go():
        with pytest.raises(TimeoutError):
            await within(asyncio.Event().wait(), 0.01)
        assert await within(asyncio.sleep(0, "x"), 1) == "x"
        await cancel([None])
    asyncio.run(go())
