"""The history of a concurrent test run: events, operations, JSON lines, timeline.

A client cannot know *when* the database applied its request, only that it
sent it (``invoke``) and what came back.  So a history records, per client
process, an ``invoke`` event and then one completion:

* ``ok``   -- the operation happened, and took effect at some instant between
  its invoke and this completion;
* ``fail`` -- it definitely did not happen (e.g. a conditional check failed,
  or the request was rejected before it was sent);
* ``info`` -- the outcome is unknown (a timeout, a dropped connection): it may
  have taken effect at any instant after its invoke -- even after the client
  gave up -- or never.

The checkers reason only from these facts, which is why timestamps must come
from one monotonic clock (supplied by the caller: this module never reads a
clock).  Fault-injection steps may be recorded in the same history as events
of the process ``"nemesis"`` so a timeline shows faults next to operations;
they are ignored when pairing operations.

Values must be JSON-like.  Lists (and sets) are stored as tuples so that
values are hashable and compare equal after a JSON round trip.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

INVOKE = "invoke"
OK = "ok"
FAIL = "fail"
INFO = "info"
EVENT_TYPES = (INVOKE, OK, FAIL, INFO)
COMPLETIONS = (OK, FAIL, INFO)

#: Process name for fault-injection events (kept out of operation pairing).
NEMESIS = "nemesis"


class HistoryError(ValueError):
    """The history is malformed (e.g. a completion without an invoke)."""


def freeze(value: Any) -> Any:
    """Return `value` with lists/sets turned into tuples, recursively.

    Why: checkers compare and hash values (memoised model states), and a JSON
    round trip turns tuples into lists; freezing makes both sides agree.
    Sets are ordered by ``repr`` so that the result is deterministic.
    """
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((freeze(v) for v in value), key=repr))
    if isinstance(value, dict):
        return {k: freeze(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a history: an invoke or a completion by one process.

    ``value`` is the argument on an invoke (write: the value; cas: the pair
    ``(expected, new)``; add: the element; incr: the delta; read: None) and the
    result on a completion (read: the value seen, None = item absent).
    ``time`` is a monotonic timestamp in seconds from the caller's clock.
    """

    type: str
    process: int | str
    f: str
    key: Any
    value: Any
    time: float
    error: str | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise HistoryError(f"event type must be one of {EVENT_TYPES}, got {self.type!r}")
        if not isinstance(self.time, (int, float)) or math.isnan(self.time):
            raise HistoryError(f"event time must be a number, got {self.time!r}")
        object.__setattr__(self, "value", freeze(self.value))
        object.__setattr__(self, "key", freeze(self.key))

    @property
    def is_nemesis(self) -> bool:
        return self.process == NEMESIS

    def to_dict(self) -> dict[str, Any]:
        d = {
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "key": self.key,
            "value": self.value,
        }
        if self.error is not None:
            d["error"] = self.error
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        try:
            return cls(
                type=d["type"],
                process=d["process"],
                f=d["f"],
                key=d.get("key"),
                value=d.get("value"),
                time=d["time"],
                error=d.get("error"),
            )
        except KeyError as e:
            raise HistoryError(f"event is missing field {e.args[0]!r}: {d!r}") from None


# Short constructors: histories in tests and drivers read like the timeline.


def invoke(process: int | str, f: str, key: Any, value: Any, time: float) -> Event:
    return Event(INVOKE, process, f, key, value, time)


def ok(process: int | str, f: str, key: Any, value: Any, time: float) -> Event:
    return Event(OK, process, f, key, value, time)


def fail(process: int | str, f: str, key: Any, value: Any, time: float, error: str | None = None) -> Event:
    return Event(FAIL, process, f, key, value, time, error)


def info(process: int | str, f: str, key: Any, value: Any, time: float, error: str | None = None) -> Event:
    return Event(INFO, process, f, key, value, time, error)


def nemesis(f: str, value: Any, time: float) -> Event:
    """A fault-injection step (e.g. ``nemesis("kill", "n2", t)``)."""
    return Event(INFO, NEMESIS, f, None, value, time)


@dataclass(frozen=True, slots=True)
class Operation:
    """An invoke paired with its completion.

    ``index`` is the position of the invoke in the history and serves as a
    stable id.  ``value`` is the invoke's argument, ``result`` the
    completion's value.  ``complete_time`` is None when the client never
    reported back (the run ended first); such operations count as ``info``.
    """

    index: int
    process: int | str
    f: str
    key: Any
    value: Any
    result: Any
    status: str
    invoke_time: float
    complete_time: float | None
    error: str | None = None

    def describe(self) -> str:
        """The operation as a learner would say it, e.g. ``read -> 3``."""
        return _op_text(self.f, self.value if self.f != "read" else self.result,
                        completed=self.status == OK or self.f != "read")

    def __str__(self) -> str:
        end = "..." if self.complete_time is None else f"{self.complete_time:.6f}"
        outcome = self.status + (f" ({self.error})" if self.error else "")
        key = "" if self.key is None else f" {format_value(self.key)}"
        return (f"#{self.index} p{self.process}{key} {self.describe()} "
                f"{outcome} [{self.invoke_time:.6f} .. {end}]")


def pair_operations(history: Iterable[Event]) -> list[Operation]:
    """Pair every invoke with the next completion of the same process.

    Returns operations in invoke order.  Raises `HistoryError` when a
    process completes without an outstanding invoke, invokes twice without
    completing, or completes a different function/key than it invoked --
    checking a malformed history would give verdicts that mean nothing.
    Nemesis events are skipped.  An invoke never completed becomes ``info``
    with ``complete_time=None``.
    """
    pending: dict[Any, tuple[int, Event]] = {}
    done: list[Operation] = []
    for i, ev in enumerate(history):
        if ev.is_nemesis:
            continue
        if ev.type == INVOKE:
            if ev.process in pending:
                j, _ = pending[ev.process]
                raise HistoryError(
                    f"event {i}: process {ev.process!r} invokes again while event {j} is still pending")
            pending[ev.process] = (i, ev)
            continue
        if ev.process not in pending:
            raise HistoryError(f"event {i}: {ev.type} by process {ev.process!r} with no pending invoke")
        j, inv = pending.pop(ev.process)
        if ev.f != inv.f or ev.key != inv.key:
            raise HistoryError(
                f"event {i}: process {ev.process!r} completes {ev.f} {ev.key!r} "
                f"but invoked {inv.f} {inv.key!r} (event {j})")
        if ev.time < inv.time:
            raise HistoryError(f"event {i}: completes at {ev.time} before its invoke at {inv.time}")
        done.append(Operation(j, inv.process, inv.f, inv.key, inv.value, ev.value, ev.type,
                              inv.time, ev.time, ev.error))
    for j, inv in pending.values():
        done.append(Operation(j, inv.process, inv.f, inv.key, inv.value, None, INFO,
                              inv.time, None, "no completion recorded"))
    done.sort(key=lambda o: o.index)
    return done


def operations(history: Sequence[Event] | Sequence[Operation]) -> list[Operation]:
    """Accept either events or already-paired operations (checkers use this)."""
    items = list(history)
    if all(isinstance(x, Operation) for x in items):
        return items  # type: ignore[return-value]
    if all(isinstance(x, Event) for x in items):
        return pair_operations(items)  # type: ignore[arg-type]
    raise TypeError("history must be a sequence of Event or of Operation, not a mix")


# ---------------------------------------------------------------- JSON lines


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):  # boto3 returns DynamoDB numbers as Decimal
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, (set, frozenset)):
        return list(freeze(obj))
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serialisable")


def to_jsonl(history: Iterable[Event]) -> str:
    """Serialise events as JSON lines (one object per line, newline-terminated).

    Why JSON lines: a history can be appended to while a run is going and
    read back, grepped or diffed line by line afterwards.
    """
    return "".join(
        json.dumps(ev.to_dict(), ensure_ascii=False, separators=(",", ":"),
                   default=_json_default) + "\n"
        for ev in history)


def from_jsonl(text: str | Iterable[str]) -> list[Event]:
    """Parse JSON lines (a string or an iterable of lines); blank lines are skipped.

    A string is split on ``\n`` only: `str.splitlines` would also split on
    characters such as U+2028 that JSON strings may contain unescaped.
    """
    lines = text.split("\n") if isinstance(text, str) else text
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise HistoryError(f"line {n}: not JSON: {e}") from None
        if not isinstance(d, dict):
            raise HistoryError(f"line {n}: expected a JSON object")
        try:
            out.append(Event.from_dict(d))
        except HistoryError as e:
            raise HistoryError(f"line {n}: {e}") from None
    return out


# ------------------------------------------------------------------ timeline


def format_value(v: Any) -> str:
    """Format a value for people: None is an absent item, tuples are lists."""
    if v is None:
        return "absent"
    if isinstance(v, tuple):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, str):
        return v if v and v.isprintable() and " " not in v else repr(v)
    return str(v)


def _op_text(f: str, value: Any, completed: bool) -> str:
    if f == "read":
        return f"read -> {format_value(value)}" if completed else "read ?"
    if f == "cas" and isinstance(value, tuple) and len(value) == 2:
        return f"cas {format_value(value[0])} -> {format_value(value[1])}"
    if f == "incr" and isinstance(value, (int, float, Decimal)) and value >= 0:
        return f"incr +{value}"
    if value is None:
        return f
    return f"{f} {format_value(value)}"


_LEGEND = """\
How to read this: each operation appears twice, when the client sent it
(invoke) and when it learned the outcome:
  ok    it happened, at some instant between its invoke and this line
  fail  it definitely did not happen
  info  unknown outcome: it may take effect at any time after its invoke, or never
Lanes: one column per process; [ invoke, ] ok, x fail, ? info, | waiting.
A correct (linearizable) system must be explainable by putting each operation
at one instant inside its own invoke..ok window."""


def render_timeline(
    history: Iterable[Event],
    *,
    relative: bool = True,
    legend: bool = True,
    lanes: bool | None = None,
) -> str:
    """Render events as a plain-text table, one line per event, in time order.

    Columns: time (seconds since the first event when `relative`), optional
    lanes (one per process, showing which operations overlap -- overlap is
    what makes concurrency hard), process, key, operation and outcome, with
    the latency on completions.  Ties in time keep history order.  `lanes`
    defaults to on for at most 16 processes.
    """
    events = list(history)
    order = sorted(range(len(events)), key=lambda i: (events[i].time, i))
    procs = sorted({e.process for e in events if not e.is_nemesis}, key=lambda p: (str(type(p)), p))
    if lanes is None:
        lanes = 0 < len(procs) <= 16
    t0 = events[order[0]].time if (events and relative) else 0.0

    # Build rows first so columns can be sized to fit.
    rows: list[tuple[str, ...]] = []
    open_at: dict[Any, Event] = {}
    for i in order:
        ev = events[i]
        t = f"{ev.time - t0:.6f}" if relative else f"{ev.time:.6f}"
        if ev.is_nemesis:
            lane = " ".join("|" if p in open_at else " " for p in procs) if lanes else ""
            rows.append((t, lane, "nemesis", "", _op_text(ev.f, ev.value, True), "fault", ""))
            continue
        note = ""
        if ev.type == INVOKE:
            open_at[ev.process] = ev
            op = _op_text(ev.f, ev.value, completed=False)
            outcome = "invoke"
        else:
            inv = open_at.pop(ev.process, None)
            arg = ev.value
            if inv is not None and ev.f != "read":
                arg = inv.value  # show the argument (e.g. the cas pair), not the echo
            op = _op_text(ev.f, arg, completed=ev.type == OK)
            outcome = {OK: "ok", FAIL: "fail", INFO: "info (unknown)"}[ev.type]
            if inv is not None:
                note = f"took {1000 * (ev.time - inv.time):.1f} ms"
            if ev.error:
                note = f"{note}; {ev.error}" if note else ev.error
        lane = ""
        if lanes:
            mark = {INVOKE: "[", OK: "]", FAIL: "x", INFO: "?"}[ev.type]
            lane = " ".join(mark if p == ev.process else ("|" if p in open_at else " ")
                            for p in procs)
        rows.append((t, lane, f"p{ev.process}", "" if ev.key is None else format_value(ev.key), op,
                     outcome, note))

    header = ("time(s)" if relative else "time", "lanes", "process", "key", "operation",
              "outcome", "note")
    ncol = len(header)
    widths = [max([len(header[c])] + [len(r[c]) for r in rows]) for c in range(ncol)]
    shown = [c for c in range(ncol) if c != 1 or lanes]

    def line(r: Sequence[str]) -> str:
        cells = [r[c].rjust(widths[c]) if c == 0 else r[c].ljust(widths[c]) for c in shown]
        return "  ".join(cells).rstrip()

    out = []
    if legend:
        nops = sum(1 for e in events if e.type == INVOKE and not e.is_nemesis)
        nfaults = sum(1 for e in events if e.is_nemesis)
        keys = {e.key for e in events if not e.is_nemesis}
        out.append(f"Timeline: {len(events)} events, {nops} operations by {len(procs)} processes "
                   f"on {len(keys)} key(s), {nfaults} fault event(s)")
        out.append(_LEGEND)
        if lanes and procs:
            out.append("Lane order: " + " ".join(f"p{p}" for p in procs))
        out.append("")
    out.append(line(header))
    out.append(line(tuple("-" * w for w in widths)))
    out.extend(line(r) for r in rows)
    return "\n".join(out) + "\n"
