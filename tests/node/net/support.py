"""What the transport tests share."""

from __future__ import annotations

import asyncio
import time


async def until(cond, timeout: float) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()
