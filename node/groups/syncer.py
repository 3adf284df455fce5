"""The WAL's fsyncs, off the event loop, on one long-lived thread.

The engine fsyncs once per turn (group commit). `run_in_executor` per fsync
costs a thread-pool submission, a concurrent future and its chaining into an
asyncio future each time (about a tenth of a busy leader's loop under
YCSB-A, by py-spy); a thread of our own fed by a queue answers with one
`call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable

JOIN_S = 10.0  # longest close() waits for an fsync under way


class Syncer:
    def __init__(self, flush: Callable[[], None], name: str = "wal-sync") -> None:
        """`flush`: makes every write so far durable (blocking; runs on the thread)."""
        self._flush = flush
        self._name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def sync(self) -> asyncio.Future[None]:
        """Resolves once every write made before this call is durable (or
        with the flush's exception)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put((loop, fut))
        return fut

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, fut = job
            exc: BaseException | None = None
            try:
                self._flush()
            except BaseException as e:  # noqa: BLE001 (handed to the waiter)
                exc = e
            try:
                loop.call_soon_threadsafe(_settle, fut, exc)
            except RuntimeError:  # the loop closed meanwhile: nobody waits
                pass

    def close(self) -> None:
        """Stop the thread once the fsync under way (if any) is done."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join(JOIN_S)


def _settle(fut: asyncio.Future, exc: BaseException | None) -> None:
    if fut.done():  # the waiter was cancelled
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
