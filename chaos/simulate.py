"""Seeded simulations of correct systems, producing histories the checkers must accept.

Why: a checker is only trustworthy if it accepts every history a correct
system can produce and rejects broken ones.  These generators play a correct
(linearizable) system: each operation takes effect at one random instant
inside its window (an ``info`` one possibly later, or never), and results are
computed by applying the operations in that order.  Tests, benchmarks and
demos feed the histories to the checkers, unchanged or corrupted.

All randomness comes from the `random.Random` passed in, so a seed
reproduces a history exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from chaos.history import FAIL, INFO, INVOKE, OK, Event, pair_operations


@dataclass
class _SimOp:
    process: int
    f: str
    key: Any
    arg: Any
    start: float
    end: float
    status: str = OK
    at: float | None = None  # instant it takes effect; None: never
    result: Any = None


def _schedule(
    rng: random.Random, processes: int, ops: int, latency: float, think: float
) -> list[tuple[int, float, float]]:
    """Per-process sequential windows (process, start, end), interleaved in time."""
    clocks = [rng.uniform(0, think) for _ in range(processes)]
    out = []
    for _ in range(ops):
        p = min(range(processes), key=lambda q: clocks[q])  # next free process
        start = clocks[p]
        end = start + rng.uniform(0.05, 1.0) * latency
        out.append((p, start, end))
        clocks[p] = end + rng.uniform(0.0, 1.0) * think
    return out


def _events(sim: list[_SimOp]) -> list[Event]:
    evs = []
    for n, o in enumerate(sim):
        evs.append((o.start, 1, n, Event(INVOKE, o.process, o.f, o.key,
                                         None if o.f == "read" else o.arg, o.start)))
        value = o.result if o.f == "read" else (None if o.status == INFO else o.arg)
        err = "timeout" if o.status == INFO else ("rejected" if o.status == FAIL else None)
        evs.append((o.end, 0, n, Event(o.status, o.process, o.f, o.key, value, o.end, err)))
    # At equal times completions go first, so that a process that invokes
    # again the instant its previous operation completed stays well-formed.
    evs.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in evs]


def register_history(
    rng: random.Random,
    *,
    processes: int = 5,
    ops: int = 100,
    keys: int = 1,
    read_rate: float = 0.5,
    cas_rate: float = 0.2,
    info_rate: float = 0.05,
    fail_rate: float = 0.02,
    latency: float = 0.01,
    think: float = 0.002,
    initial: Any = None,
    values: int | None = None,
) -> list[Event]:
    """A linearizable history of reads, writes and cas on `keys` registers.

    Written values are unique integers; a cas expects a recently written value
    (or None) and is reported ``fail`` when it did not apply.  With `values`,
    values are drawn from ``range(values)`` instead, as in Jepsen's classic
    cas-register workload: repeated values make the search much harder.  With
    `info_rate` an operation times out (``info``): half of those took effect
    at a random instant up to two latencies after the client gave up, half
    never did.  With `fail_rate` a write is rejected outright (``fail``).
    """
    sim: list[_SimOp] = []
    written: list[Any] = [initial]
    next_value = 1
    for p, start, end in _schedule(rng, processes, ops, latency, think):
        key = f"k{rng.randrange(keys)}"
        r = rng.random()
        if r < read_rate:
            f, arg = "read", None
        elif r < read_rate + cas_rate:
            new = rng.randrange(values) if values else next_value
            expected = rng.randrange(values) if values else rng.choice(written[-4:])
            f, arg = "cas", (expected, new)
            written.append(new)
            next_value += 1
        else:
            f, arg = "write", rng.randrange(values) if values else next_value
            written.append(arg)
            next_value += 1
        o = _SimOp(p, f, key, arg, start, end, at=rng.uniform(start, end))
        if rng.random() < info_rate:
            o.status = INFO
            o.at = rng.uniform(start, end + 2 * (end - start)) if rng.random() < 0.5 else None
        elif f == "write" and rng.random() < fail_rate:
            o.status, o.at = FAIL, None
        sim.append(o)

    state = {}
    for o in sorted((o for o in sim if o.at is not None), key=lambda o: o.at):
        cur = state.get(o.key, initial)
        if o.f == "read":
            o.result = cur
        elif o.f == "write":
            state[o.key] = o.arg
        elif cur == o.arg[0]:
            state[o.key] = o.arg[1]
        elif o.status == OK:
            o.status = FAIL  # the conditional check failed: definitely not applied
    return _events(sim)


def corrupt_one_read(rng: random.Random, history: list[Event], value: Any = "never-written") -> list[Event] | None:
    """Copy of `history` with one ``ok`` read's result replaced by `value`.

    `value` must be a value no operation writes, so the result is certainly
    not linearizable.  Returns None if there is no ok read to corrupt.
    """
    idx = [i for i, e in enumerate(history) if e.type == OK and e.f == "read"]
    if not idx:
        return None
    i = rng.choice(idx)
    e = history[i]
    out = list(history)
    out[i] = Event(e.type, e.process, e.f, e.key, value, e.time, e.error)
    return out


def corrupt_stale_read(rng: random.Random, history: list[Event], late: float = 0.9) -> list[Event] | None:
    """Copy of `history` where one late ok read returns a value already overwritten.

    The read (chosen among the last ``1 - late`` of reads) returns the value
    of a write that completed before another write of a different value
    began, which itself completed before the read began: a stale read, the
    typical bug of a deposed leader serving reads.  With unique written
    values the result is certainly not linearizable, and the search has to
    rule out every order of the history before the read, which makes this
    the worst case for the checker.  Returns None if no read qualifies.
    """
    ops = pair_operations(history)
    setters = sorted((o for o in ops if o.status == OK and o.f in ("write", "cas")),
                     key=lambda o: o.complete_time)
    reads = sorted((o for o in ops if o.status == OK and o.f == "read"), key=lambda o: o.invoke_time)
    pool = reads[int(len(reads) * late):]
    rng.shuffle(pool)

    def written(o):
        return o.value if o.f == "write" else o.value[1]

    for r in pool:
        done = [s for s in setters if s.key == r.key and s.complete_time < r.invoke_time]
        for new in reversed(done):
            older = [s for s in done if s.complete_time < new.invoke_time
                     and written(s) != written(new) and written(s) != r.result]
            if older:
                value = written(older[-1])
                break
        else:
            continue
        # The read's completion is the next event of its process after its invoke.
        for i in range(r.index + 1, len(history)):
            e = history[i]
            if e.process == r.process and e.type != INVOKE:
                out = list(history)
                out[i] = Event(e.type, e.process, e.f, e.key, value, e.time, e.error)
                return out
    return None


def set_history(
    rng: random.Random,
    *,
    processes: int = 5,
    adds: int = 100,
    info_rate: float = 0.1,
    fail_rate: float = 0.05,
    latency: float = 0.01,
    think: float = 0.002,
    key: Any = "s",
) -> list[Event]:
    """Unique inserts into one set, then a final read after everything settled."""
    sim = []
    for n, (p, start, end) in enumerate(_schedule(rng, processes, adds, latency, think)):
        o = _SimOp(p, "add", key, n, start, end, at=start)
        r = rng.random()
        if r < info_rate:
            o.status = INFO
            o.at = start if rng.random() < 0.5 else None
        elif r < info_rate + fail_rate:
            o.status, o.at = FAIL, None
        sim.append(o)
    last = max((o.end for o in sim), default=0.0) + 1.0
    final = _SimOp(0, "read", key, None, last, last + latency)
    final.result = tuple(sorted(o.arg for o in sim if o.at is not None))
    sim.append(final)
    return _events(sim)


def counter_history(
    rng: random.Random,
    *,
    processes: int = 5,
    ops: int = 100,
    read_rate: float = 0.2,
    info_rate: float = 0.1,
    fail_rate: float = 0.05,
    latency: float = 0.01,
    think: float = 0.002,
    key: Any = "c",
) -> list[Event]:
    """Increments (deltas 1..5) and reads of one counter, then a final read."""
    sim = []
    for p, start, end in _schedule(rng, processes, ops, latency, think):
        if rng.random() < read_rate:
            o = _SimOp(p, "read", key, None, start, end, at=rng.uniform(start, end))
        else:
            o = _SimOp(p, "incr", key, rng.randint(1, 5), start, end, at=rng.uniform(start, end))
            r = rng.random()
            if r < info_rate:
                o.status = INFO
                o.at = rng.uniform(start, end + 2 * (end - start)) if rng.random() < 0.5 else None
            elif r < info_rate + fail_rate:
                o.status, o.at = FAIL, None
        sim.append(o)
    last = max((o.end for o in sim), default=0.0) + 1.0
    sim.append(_SimOp(0, "read", key, None, last, last + latency, at=last))
    total, applied = 0, False
    for o in sorted((o for o in sim if o.at is not None), key=lambda o: o.at):
        if o.f == "read":
            o.result = total if applied else None  # None: the item does not exist yet
        else:
            total += o.arg
            applied = True
    return _events(sim)
