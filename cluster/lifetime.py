"""Process lifetime: nodes and routers started by `trireme up` (or a test)
die with it.

They run in sessions of their own (so a Ctrl-C reaches `up`, which stops
them in order), and a node may be restarted by a short-lived command
(`trireme start n2`), so neither the process group nor PR_SET_PDEATHSIG of
the immediate parent ties them to `up`. Instead each watches the pid of the
`up` process (`--parent-pid`) and stops when it is gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

log = logging.getLogger(__name__)

CHECK_S = 0.5
HARD_EXIT_S = 15.0  # a graceful stop that hangs longer ends the process anyway


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks after boot), None once it is gone
    or a zombie: with the pid, it names one process even if the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


async def watch_parent(pid: int, stop: asyncio.Event) -> None:
    """Set `stop` when process `pid` ends; a hard exit follows if stopping hangs."""
    born = start_time(pid)
    while born is not None and start_time(pid) == born and not stop.is_set():
        await asyncio.sleep(CHECK_S)
    if stop.is_set():
        return
    log.warning("the process that started this one (pid %d) is gone: stopping", pid)
    timer = threading.Timer(HARD_EXIT_S, os._exit, (1,))
    timer.daemon = True
    timer.start()
    stop.set()
