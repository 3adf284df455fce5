"""The WAL syncer: one thread runs the fsyncs and hands each back to the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from node.groups.syncer import Syncer


def test_sync_runs_the_flush_on_its_own_thread_and_resolves_after_it() -> None:
    calls: list[str] = []

    async def main() -> None:
        s = Syncer(lambda: calls.append(threading.current_thread().name), name="wal-sync-test")
        try:
            await s.sync()
            assert calls == ["wal-sync-test"]
            await asyncio.gather(s.sync(), s.sync())
            assert calls == ["wal-sync-test"] * 3
        finally:
            s.close()

    asyncio.run(main())


def test_a_failed_flush_reaches_the_waiter_and_the_thread_goes_on() -> None:
    fail = [True]

    def flush() -> None:
        if fail[0]:
            fail[0] = False
            raise OSError("disk gone")

    async def main() -> None:
        s = Syncer(flush)
        try:
            with pytest.raises(OSError, match="disk gone"):
                await s.sync()
            await asyncio.wait_for(s.sync(), 5)
        finally:
            s.close()

    asyncio.run(main())


def test_a_cancelled_waiter_does_not_stop_the_thread_and_close_waits_for_the_flush() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def flush() -> None:
        started.set()
        release.wait(5)
        done.append(1)

    async def main() -> None:
        s = Syncer(flush)
        fut = s.sync()
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        fut.cancel()
        release.set()
        await asyncio.wait_for(s.sync(), 5)
        s.close()
        assert done == [1, 1]
        assert s._thread is None

    asyncio.run(main())
