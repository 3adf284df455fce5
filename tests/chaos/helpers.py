"""Shorthand for hand-made histories, and an independent witness validator."""

from __future__ import annotations

from typing import Any, Sequence

from chaos.history import INFO, OK, Event, Operation, fail, info, invoke, ok


def op(process: int, f: str, value: Any, start: float, end: float | None,
       status: str = OK, key: Any = "x") -> list[Event]:
    """Events of one operation: for a read `value` is the result, else the argument.

    `end=None` leaves the operation without a completion (the run ended).
    """
    arg = None if f == "read" else value
    evs = [invoke(process, f, key, arg, start)]
    if end is None:
        return evs
    result = value if (status == OK or f != "read") else None
    make = {OK: ok, INFO: info, "fail": fail}[status]
    evs.append(make(process, f, key, result, end))
    return evs


def history(*ops: list[Event]) -> list[Event]:
    """Merge operations' events into one time-ordered history."""
    evs = [e for o in ops for e in o]
    return sorted(evs, key=lambda e: (e.time, e.type != "invoke"))


def assert_witness(order: Sequence[Operation], ops: Sequence[Operation], initial: Any = None) -> None:
    """Check, independently of the search, that `order` proves linearizability.

    Every ok operation appears once, info write/cas at most once, nothing
    else; replaying the order on a register gives each operation's observed
    outcome; and no operation comes after one that was invoked after it
    completed (real-time order).
    """
    ids = [o.index for o in order]
    assert len(ids) == len(set(ids)), "an operation was placed twice"
    placed = set(ids)
    for o in ops:
        if o.status == OK and o.complete_time is not None:
            assert o.index in placed, f"ok operation missing from witness: {o}"
        elif o.status == "fail" or o.f == "read":
            assert o.index not in placed, f"failed or unknown read placed: {o}"
    state = initial
    for o in order:
        if o.f == "read":
            assert state == o.result, f"{o} but register held {state!r}"
        elif o.f == "write":
            state = o.value
        else:
            assert state == o.value[0], f"{o} but register held {state!r}"
            state = o.value[1]
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            # b is placed after a, so b must not have completed before a began.
            if b.status == OK and b.complete_time is not None:
                assert not b.complete_time < a.invoke_time, f"{b} placed after {a}"
