"""Proposals that share one Raft entry.

Every entry costs the same fixed work on every replica (the log record, its
encoding on the wire, the follower's append and the apply's dispatch),
whatever it carries. Proposals queued in the same engine turn that the
replica marks mergeable (a tag: plain item writes, whose commands concatenate)
go into one entry, each still answered on its own: the entry's applied result
is a list with one result per proposal, in order. Order is kept: only
neighbours in the queue merge, so a proposal that cannot merge stays between
the ones before and after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

MAX_PARTS = 64            # proposals in one entry
MAX_BYTES = 1 << 20       # and their bytes (a large item fills an entry alone)

# data, future, on_done(applied), answer(result), tag (None: never merged)
Queued = tuple[Any, asyncio.Future, Callable[[bool], None] | None, Callable[[Any], Any] | None, Any]


def merge_runs(queued: list[Queued], combine: Callable[[list[tuple[bytes, Any]]], bytes]) -> list[Queued]:
    """`queued` with each run of neighbouring tagged proposals (within the
    limits) replaced by one proposal of ``combine([(data, tag), ...])``."""
    out: list[Queued] = []
    run: list[Queued] = []
    size = 0
    for q in queued:
        if q[4] is not None and run and len(run) < MAX_PARTS and size + len(q[0]) <= MAX_BYTES:
            run.append(q)
            size += len(q[0])
            continue
        if run:
            out.append(run[0] if len(run) == 1 else _merged(run, combine))
            run = []
        if q[4] is None:
            out.append(q)
        else:
            run, size = [q], len(q[0])
    if run:
        out.append(run[0] if len(run) == 1 else _merged(run, combine))
    return out


def _merged(run: list[Queued], combine: Callable[[list[tuple[bytes, Any]]], bytes]) -> Queued:
    """One proposal standing for ``run``: its outcome reaches every part."""
    data = combine([(q[0], q[4]) for q in run])
    fut = asyncio.get_running_loop().create_future()

    def on_done(applied: bool) -> None:
        for q in run:
            if q[2] is not None:
                q[2](applied)

    def answer(results: list) -> None:
        for (_, f, _, part_answer, _), result in zip(run, results):
            if f.done():
                continue
            if part_answer is None:
                f.set_result(result)
                continue
            try:
                f.set_result(part_answer(result))
            except Exception as exc:  # noqa: BLE001 (a refusal, or a bug: that part's caller hears of it)
                f.set_exception(exc)

    def failed(merged: asyncio.Future) -> None:
        exc = None if merged.cancelled() else merged.exception()
        if exc is None and not merged.cancelled():
            return
        for q in run:
            f = q[1]
            if not f.done():
                if exc is None:
                    f.cancel()
                else:
                    f.set_exception(exc)

    fut.add_done_callback(failed)
    return data, fut, on_done, answer, None
