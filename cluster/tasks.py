"""Background tasks: periodic planning and shutdown, shared by the node's
feeds and the clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], timeout: float) -> T:
    """``await aw``, or TimeoutError after ``timeout`` seconds: what
    ``asyncio.wait_for`` does, without its Python 3.11 flaw. There, a task
    cancelled in the same loop turn that its awaitable completes (an event set
    as the node stops) loses the cancellation (CPython gh-86296), so a loop
    around the wait never ends and the process hangs on stop. ``asyncio.timeout``
    tells its own cancellation from anyone else's."""
    async with asyncio.timeout(timeout):
        return await aw


async def cancel(tasks: Iterable[asyncio.Task | None]) -> None:
    """Cancel every task given (None stands for no task) and wait until all have ended."""
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    await asyncio.gather(*live, return_exceptions=True)


async def every(period_s: float, step: Callable[[], None], what: str, log: logging.Logger) -> None:
    """Call ``step`` every ``period_s`` for the task's life. A step that raises
    is logged and tried again next period: a bug in one planning round must
    not end the feature for the life of the process."""
    while True:
        try:
            step()
        except Exception:  # noqa: BLE001
            log.exception("%s failed", what)
        await asyncio.sleep(period_s)
