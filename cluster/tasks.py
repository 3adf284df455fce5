"""Background tasks: periodic planning and shutdown, shared by the node's
feeds and the clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable


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
