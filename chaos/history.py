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
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

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


class Pairer:
    """Pairs invokes with completions one event at a time, keeping only the
    pending invokes (one per process) in memory.

    Why: a long run's history is streamed from disk; the checkers consume
    operations as they complete instead of a list of every event.
    Operations come out in completion order; `finish` returns those never
    completed, as ``info`` with ``complete_time=None``.
    """

    def __init__(self) -> None:
        self._pending: dict[Any, tuple[int, Event]] = {}
        self._i = -1

    def feed(self, ev: Event) -> Operation | None:
        """Take the next event; return the operation it completes, if any.

        Raises `HistoryError` when a process completes without an outstanding
        invoke, invokes twice without completing, or completes a different
        function/key than it invoked -- checking a malformed history would
        give verdicts that mean nothing.  Nemesis events are skipped.
        """
        self._i += 1
        i = self._i
        if ev.is_nemesis:
            return None
        if ev.type == INVOKE:
            if ev.process in self._pending:
                j, _ = self._pending[ev.process]
                raise HistoryError(
                    f"event {i}: process {ev.process!r} invokes again while event {j} is still pending")
            self._pending[ev.process] = (i, ev)
            return None
        if ev.process not in self._pending:
            raise HistoryError(f"event {i}: {ev.type} by process {ev.process!r} with no pending invoke")
        j, inv = self._pending.pop(ev.process)
        if ev.f != inv.f or ev.key != inv.key:
            raise HistoryError(
                f"event {i}: process {ev.process!r} completes {ev.f} {ev.key!r} "
                f"but invoked {inv.f} {inv.key!r} (event {j})")
        if ev.time < inv.time:
            raise HistoryError(f"event {i}: completes at {ev.time} before its invoke at {inv.time}")
        return Operation(j, inv.process, inv.f, inv.key, inv.value, ev.value, ev.type,
                         inv.time, ev.time, ev.error)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def finish(self) -> list[Operation]:
        """The operations still pending at the end of the history, as ``info``."""
        return [Operation(j, inv.process, inv.f, inv.key, inv.value, None, INFO, inv.time, None,
                          "no completion recorded")
                for j, inv in sorted(self._pending.values(), key=lambda p: p[0])]


def iter_operations(history: Iterable[Event]) -> Iterator[Operation]:
    """Operations in completion order, then those never completed (see `Pairer`)."""
    pairer = Pairer()
    for ev in history:
        op = pairer.feed(ev)
        if op is not None:
            yield op
    yield from pairer.finish()


def pair_operations(history: Iterable[Event]) -> list[Operation]:
    """Pair every invoke with the next completion of the same process.

    Returns operations in invoke order; raises `HistoryError` on a malformed
    history (see `Pairer.feed`).  An invoke never completed becomes ``info``
    with ``complete_time=None``.
    """
    return sorted(iter_operations(history), key=lambda o: o.index)


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


def event_line(ev: Event) -> str:
    """One event as a JSON line (newline-terminated)."""
    return json.dumps(ev.to_dict(), ensure_ascii=False, separators=(",", ":"), default=_json_default) + "\n"


def to_jsonl(history: Iterable[Event]) -> str:
    """Serialise events as JSON lines (one object per line, newline-terminated).

    Why JSON lines: a history can be appended to while a run is going and
    read back, grepped or diffed line by line afterwards.
    """
    return "".join(event_line(ev) for ev in history)


def iter_jsonl(lines: Iterable[str]) -> Iterator[Event]:
    """Parse JSON lines one at a time; blank lines are skipped."""
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
            yield Event.from_dict(d)
        except HistoryError as e:
            raise HistoryError(f"line {n}: {e}") from None


def from_jsonl(text: str | Iterable[str]) -> list[Event]:
    """Parse JSON lines (a string or an iterable of lines); blank lines are skipped.

    A string is split on ``\n`` only: `str.splitlines` would also split on
    characters such as U+2028 that JSON strings may contain unescaped.
    """
    return list(iter_jsonl(text.split("\n") if isinstance(text, str) else text))


def read_jsonl(path: Path) -> Iterator[Event]:
    """Stream the events of a history file, without loading it whole."""
    with open(path, encoding="utf-8", newline="\n") as f:
        yield from iter_jsonl(f)


# ------------------------------------------------------------------ timeline


#: Longest list shown whole, and widest timeline cell: a set's final read
#: holds every element, and a table padded to its width grows with the
#: square of the run's length.
MAX_SHOWN = 12
MAX_CELL = 100


def format_value(v: Any) -> str:
    """Format a value for people: None is an absent item, tuples are lists
    (a long one abbreviated, with its length)."""
    if v is None:
        return "absent"
    if isinstance(v, tuple):
        if len(v) > MAX_SHOWN:
            head = ", ".join(format_value(x) for x in v[:MAX_SHOWN - 2])
            return f"[{head}, ..., {format_value(v[-1])}] ({len(v)} elements)"
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, str):
        return v if v and v.isprintable() and " " not in v else repr(v)
    return str(v)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."


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
    """Render events as a plain-text table, one line per event, in time order
    (ties keep history order); see `timeline_lines`."""
    events = sorted(history, key=lambda e: e.time)  # stable: ties keep history order
    return "".join(timeline_lines(lambda: events, relative=relative, legend=legend, lanes=lanes))


def timeline_lines(
    events: Callable[[], Iterable[Event]],
    *,
    relative: bool = True,
    legend: bool = True,
    lanes: bool | None = None,
) -> Iterator[str]:
    """The timeline table, line by line (each newline-terminated).

    Columns: time (seconds since the first event when `relative`), optional
    lanes (one per process, showing which operations overlap -- overlap is
    what makes concurrency hard), process, key, operation and outcome, with
    the latency on completions.  `lanes` defaults to on for at most 16
    processes.

    `events` is called twice and must give the events in time order each
    time: a first pass sizes the columns, the second yields the lines, so a
    history streamed from disk is never held in memory.  Cells are clipped
    to `MAX_CELL` characters.
    """
    procs_seen: set[Any] = set()
    keys: set[Any] = set()
    nevents = nops = nfaults = 0
    header = ("time(s)" if relative else "time", "lanes", "process", "key", "operation", "outcome", "note")
    widths = [len(x) for x in header]
    for ev, row in _timeline_rows(events(), None, relative):
        nevents += 1
        if ev.is_nemesis:
            nfaults += 1
        else:
            procs_seen.add(ev.process)
            keys.add(ev.key)
            nops += ev.type == INVOKE
        for c, cell in enumerate(row):
            widths[c] = max(widths[c], len(cell))
    procs = sorted(procs_seen, key=lambda p: (str(type(p)), p))
    if lanes is None:
        lanes = 0 < len(procs) <= 16
    widths[1] = max(widths[1], 2 * len(procs) - 1) if lanes else 0
    shown = [c for c in range(len(header)) if c != 1 or lanes]

    def line(r: Sequence[str]) -> str:
        cells = [r[c].rjust(widths[c]) if c == 0 else r[c].ljust(widths[c]) for c in shown]
        return "  ".join(cells).rstrip() + "\n"

    if legend:
        yield (f"Timeline: {nevents} events, {nops} operations by {len(procs)} processes "
               f"on {len(keys)} key(s), {nfaults} fault event(s)\n")
        yield _LEGEND + "\n"
        if lanes and procs:
            yield "Lane order: " + " ".join(f"p{p}" for p in procs) + "\n"
        yield "\n"
    yield line(header)
    yield line(tuple("-" * w for w in widths))
    for _, row in _timeline_rows(events(), procs if lanes else None, relative):
        yield line(row)


def _timeline_rows(events: Iterable[Event], procs: list[Any] | None,
                   relative: bool) -> Iterator[tuple[Event, tuple[str, ...]]]:
    """Each event with its table row; the lanes cell is empty when `procs` is None."""
    open_at: dict[Any, Event] = {}
    t0: float | None = None
    for ev in events:
        if t0 is None:
            t0 = ev.time if relative else 0.0
        t = f"{ev.time - t0:.6f}"
        if ev.is_nemesis:
            lane = " ".join("|" if p in open_at else " " for p in procs) if procs else ""
            yield ev, (t, lane, "nemesis", "", _clip(_op_text(ev.f, ev.value, True)), "fault", "")
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
        if procs:
            mark = {INVOKE: "[", OK: "]", FAIL: "x", INFO: "?"}[ev.type]
            lane = " ".join(mark if p == ev.process else ("|" if p in open_at else " ") for p in procs)
        key = "" if ev.key is None else _clip(format_value(ev.key))
        yield ev, (t, lane, f"p{ev.process}", key, _clip(op), outcome, _clip(note))
