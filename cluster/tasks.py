"""Background tasks' shutdown, shared by the node's feeds and the clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def cancel(tasks: Iterable[asyncio.Task | None]) -> None:
    """Cancel every task given (None stands for no task) and wait until all have ended."""
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    await asyncio.gather(*live, return_exceptions=True)
