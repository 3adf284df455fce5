"""Checkers for the ``set`` and ``counter`` workloads.

These workloads test durability more than ordering, with checks far cheaper
than a linearizability search:

* ``set``: each client adds unique elements to a set (``add``, value = the
  element), and the run ends with a strongly consistent ``read`` (result =
  the elements present).  Every add acknowledged ``ok`` before the final read
  began must be in it (else it is *lost*: the system acknowledged a write and
  then forgot it), and nothing may be in it that was never added
  (*phantom*).  An ``info`` add may be present or absent; a ``fail`` add must
  be absent, since ``fail`` claims it definitely did not happen.
* ``counter``: clients increment a counter (``incr``, value = the delta, e.g.
  UpdateItem ADD) and read it.  A read must lie between the sum of the
  increments that certainly happened before it and the sum of those that
  possibly did.

Each key is checked independently.  Reads whose value is None mean the item
does not exist: an empty set, a counter of 0.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from typing import Any, ClassVar, Sequence

from chaos.history import FAIL, INFO, OK, Event, Operation, format_value, operations


def _sorted(xs: Any) -> tuple:
    return tuple(sorted(xs, key=lambda x: (type(x).__name__, x)))


# ----------------------------------------------------------------------- set


@dataclass
class SetKeyResult:
    """The verdict for one set.

    ``valid`` is None when there was no ok read to judge.  Element lists:

    * ``lost``: acknowledged (ok) before the final read began, yet absent;
    * ``phantom``: present, but nobody ever tried to add it;
    * ``unexpected``: present although its add failed, or began only after
      the final read completed;
    * ``duplicates``: present more than once (a set holds each element once);
    * ``recovered``: present though its add's outcome was unknown (fine);
    * ``not_recovered``: unknown outcome and absent (also fine).
    """

    key: Any
    valid: bool | None
    attempted: int = 0
    acknowledged: int = 0
    failed: int = 0
    unknown: int = 0
    final_read: Operation | None = None
    lost: tuple = ()
    phantom: tuple = ()
    unexpected: tuple = ()
    duplicates: tuple = ()
    recovered: tuple = ()
    not_recovered: tuple = ()
    late_acknowledged: tuple = ()

    def explain(self, limit: int = 20) -> str:
        verdict = {True: "valid", False: "INVALID", None: "unknown (no final read)"}[self.valid]
        lines = [f"set {format_value(self.key)}: {verdict}; {self.attempted} adds attempted: "
                 f"{self.acknowledged} ok, {self.failed} failed, {self.unknown} unknown outcome"]
        if self.final_read is not None:
            f = self.final_read
            lines.append(f"  final read by p{f.process} [{f.invoke_time:.6f} .. "
                         f"{f.complete_time:.6f}]: {len(f.result or ())} element(s)")

        def show(name: str, xs: tuple, why: str) -> None:
            if xs:
                head = ", ".join(format_value(x) for x in xs[:limit])
                more = f", ... ({len(xs) - limit} more)" if len(xs) > limit else ""
                lines.append(f"  {name} ({len(xs)}): {head}{more}\n      {why}")

        show("LOST", self.lost, "acknowledged ok before the final read began, but missing")
        show("PHANTOM", self.phantom, "present, but never added by anyone")
        show("UNEXPECTED", self.unexpected,
             "present, but the add failed or began after the final read completed")
        show("DUPLICATED", self.duplicates, "present more than once")
        show("recovered", self.recovered, "outcome unknown, present: the add did happen")
        show("not recovered", self.not_recovered, "outcome unknown, absent: it did not happen")
        show("acknowledged during the final read", self.late_acknowledged,
             "may legitimately be absent from it")
        return "\n".join(lines)


@dataclass
class _Results:
    """Per-key verdicts: invalid if any key is, unknown if any is undecided (or none was checked)."""

    keys: dict[Any, Any] = field(default_factory=dict)
    title: ClassVar[str] = ""
    noun: ClassVar[str] = ""
    limit: ClassVar[int] = 10

    @property
    def valid(self) -> bool | None:
        vs = [r.valid for r in self.keys.values()]
        return False if False in vs else (None if None in vs or not vs else True)

    def explain(self, limit: int | None = None) -> str:
        verdict = {True: "valid", False: "INVALID", None: "unknown"}[self.valid]
        shown = self.limit if limit is None else limit
        return "\n".join([f"{self.title} history: {verdict} ({len(self.keys)} {self.noun}(s))"]
                         + [r.explain(shown) for r in self.keys.values()])

    def __str__(self) -> str:
        return self.explain()


@dataclass
class SetResult(_Results):
    keys: dict[Any, SetKeyResult] = field(default_factory=dict)
    title: ClassVar[str] = "Set"
    noun: ClassVar[str] = "set"
    limit: ClassVar[int] = 20


class SetChecker:
    """The set check, fed one operation at a time (in any order).

    Memory: one small record per attempted element (its tries' outcomes and
    times) and the last ok read -- never the operations themselves -- so a
    history streamed from disk is checked in memory proportional to the
    number of elements.
    """

    def __init__(self) -> None:
        self._tries: dict[Any, dict[Any, list[tuple[str, float, float | None]]]] = {}
        self._final: dict[Any, Operation] = {}

    def feed(self, op: Operation) -> None:
        if op.f not in ("add", "read"):
            raise ValueError(f"set checker: unsupported function {op.f!r} in {op}")
        tries = self._tries.setdefault(op.key, {})
        if op.f == "add":
            tries.setdefault(op.value, []).append((op.status, op.invoke_time, op.complete_time))
        elif op.status == OK and op.complete_time is not None:
            last = self._final.get(op.key)
            if last is None or (op.complete_time, op.index) > (last.complete_time, last.index):
                self._final[op.key] = op  # the last by completion: the run's final read

    def result(self) -> SetResult:
        return SetResult({key: _check_set_key(key, tries, self._final.get(key))
                          for key, tries in self._tries.items()})


def check_set(history: Sequence[Event] | Sequence[Operation]) -> SetResult:
    """Check ``add`` operations against the last ok ``read`` of each key.

    "Last" is by completion time: the run's final strongly consistent read.
    Elements are compared with ``==``; adds are assumed unique (adding the
    same element twice makes the later add's outcome indistinguishable).
    """
    checker = SetChecker()
    for op in operations(history):
        checker.feed(op)
    return checker.result()


def _check_set_key(key: Any, by_element: dict[Any, list[tuple[str, float, float | None]]],
                   final: Operation | None) -> SetKeyResult:
    """`by_element`: each element's adds as (status, invoke time, completion time)."""
    adds = [t for tries in by_element.values() for t in tries]
    res = SetKeyResult(key, None, attempted=len(adds),
                       acknowledged=sum(st == OK for st, _, _ in adds),
                       failed=sum(st == FAIL for st, _, _ in adds),
                       unknown=sum(st == INFO or done is None for st, _, done in adds))
    del adds
    if final is None:
        return res
    res.final_read = final
    seen = Counter(final.result or ())
    present = set(seen)

    lost, unexpected, recovered, not_recovered, late = [], [], [], [], []
    for element, tries in by_element.items():
        here = element in present
        # The most favourable add explains the element; only if none can is it a violation.
        before = [st for st, start, _ in tries if st != FAIL and start <= final.complete_time]
        if here:
            if not before:
                unexpected.append(element)
            elif all(st != OK for st in before):
                recovered.append(element)
            continue
        if any(st == OK and done < final.invoke_time for st, _, done in tries):
            lost.append(element)
        elif any(st == OK for st, _, _ in tries):
            late.append(element)
        elif any(st == INFO or done is None for st, _, done in tries):
            not_recovered.append(element)
    phantom = [e for e in present if e not in by_element]
    res.lost = _sorted(lost)
    res.phantom = _sorted(phantom)
    res.unexpected = _sorted(unexpected)
    res.duplicates = _sorted(e for e, n in seen.items() if n > 1)
    res.recovered = _sorted(recovered)
    res.not_recovered = _sorted(not_recovered)
    res.late_acknowledged = _sorted(late)
    res.valid = not (res.lost or res.phantom or res.unexpected or res.duplicates)
    return res


# ------------------------------------------------------------------- counter


@dataclass
class CounterRead:
    """One ok read with the bounds it had to respect."""

    op: Operation
    value: Any
    lower: Any
    upper: Any

    @property
    def ok(self) -> bool:
        return self.lower <= self.value <= self.upper


@dataclass
class CounterKeyResult:
    """The verdict for one counter.

    ``final`` is the last ok read (by completion) with its bounds; for a
    final read after every increment finished, ``lower`` is the sum of the ok
    increments and ``upper`` adds the unknown ones (positive deltas).
    ``violations`` are all ok reads outside their bounds.
    """

    key: Any
    valid: bool | None
    reads: int = 0
    ok_sum: Any = 0
    info_sum: Any = 0
    increments: int = 0
    acknowledged: int = 0
    failed: int = 0
    unknown: int = 0
    final: CounterRead | None = None
    violations: list[CounterRead] = field(default_factory=list)

    def explain(self, limit: int = 10) -> str:
        verdict = {True: "valid", False: "INVALID", None: "unknown (no read)"}[self.valid]
        lines = [f"counter {format_value(self.key)}: {verdict}; {self.increments} increments: "
                 f"{self.acknowledged} ok (sum {self.ok_sum}), {self.failed} failed, "
                 f"{self.unknown} unknown outcome (sum {self.info_sum}); {self.reads} reads checked"]
        if self.final is not None:
            f = self.final
            lines.append(f"  final value {f.value}, allowed [{f.lower}, {f.upper}]"
                         + ("" if f.ok else "  <-- OUT OF BOUNDS"))
        for v in self.violations[:limit]:
            lines.append(f"  read {v.value} outside [{v.lower}, {v.upper}]: {v.op}")
        if len(self.violations) > limit:
            lines.append(f"  ... {len(self.violations) - limit} more")
        return "\n".join(lines)


@dataclass
class CounterResult(_Results):
    keys: dict[Any, CounterKeyResult] = field(default_factory=dict)
    title: ClassVar[str] = "Counter"
    noun: ClassVar[str] = "counter"


class CounterChecker:
    """The counter check, fed one operation at a time (in any order).

    Memory: an (outcome, delta, times) record per increment and the ok reads.
    """

    def __init__(self) -> None:
        self._incrs: dict[Any, list[tuple[str, Any, float, float | None]]] = {}
        self._reads: dict[Any, list[Operation]] = {}

    def feed(self, op: Operation) -> None:
        if op.f not in ("incr", "read"):
            raise ValueError(f"counter checker: unsupported function {op.f!r} in {op}")
        incrs = self._incrs.setdefault(op.key, [])
        reads = self._reads.setdefault(op.key, [])
        if op.f == "incr":
            if not isinstance(op.value, (int, float, Decimal)):
                raise ValueError(f"counter checker: increment must be a number in {op}")
            incrs.append((op.status, op.value, op.invoke_time, op.complete_time))
        elif op.status == OK and op.complete_time is not None:
            reads.append(op)

    def result(self) -> CounterResult:
        return CounterResult({k: _check_counter_key(k, incrs, self._reads[k]) for k, incrs in self._incrs.items()})


def check_counter(history: Sequence[Event] | Sequence[Operation]) -> CounterResult:
    """Check every ok ``read`` of each counter against the ``incr`` ops around it.

    For a read: increments ok and completed before it began certainly count;
    increments not failed and begun before it completed may count.  With
    deltas of any sign the bounds are: certain sum + the negative possible
    deltas, and certain sum + the positive possible deltas.  (This checks
    each read alone; it does not check that successive reads agree.)
    """
    checker = CounterChecker()
    for op in operations(history):
        checker.feed(op)
    return checker.result()


def _check_counter_key(key: Any, incs: list[tuple[str, Any, float, float | None]],
                       reads: list[Operation]) -> CounterKeyResult:
    """`incs`: every increment as (status, delta, invoke time, completion time)."""
    okays = [(done, d) for st, d, _, done in incs if st == OK]
    maybes = [(start, d) for st, d, start, _ in incs if st != FAIL]  # ok or unknown: may have happened
    unknown = [d for st, d, _, _ in incs if st != OK and st != FAIL]
    res = CounterKeyResult(
        key, None, increments=len(incs), acknowledged=len(okays),
        failed=sum(st == FAIL for st, _, _, _ in incs), unknown=len(unknown),
        ok_sum=sum(d for _, d in okays), info_sum=sum(unknown))

    # Certain: ok increments by completion time, with prefix sums of the
    # deltas and of their positive/negative parts.
    okays.sort(key=lambda o: o[0])
    ok_done = [t for t, _ in okays]
    ok_pos = [0, *accumulate(max(d, 0) for _, d in okays)]
    ok_neg = [0, *accumulate(min(d, 0) for _, d in okays)]
    # Possible: not-failed increments by invoke time.
    maybes.sort(key=lambda o: o[0])
    m_start = [t for t, _ in maybes]
    m_pos = [0, *accumulate(max(d, 0) for _, d in maybes)]
    m_neg = [0, *accumulate(min(d, 0) for _, d in maybes)]
    del okays, maybes

    reads.sort(key=lambda o: (o.complete_time, o.index))
    for r in reads:
        value = 0 if r.result is None else r.result
        if not isinstance(value, (int, float, Decimal)):
            raise ValueError(f"counter checker: read value must be a number in {r}")
        c = bisect.bisect_left(ok_done, r.invoke_time)  # ok and completed strictly before
        m = bisect.bisect_right(m_start, r.complete_time)  # begun no later than the read ended
        # Certain ones (the first c ok) are among the m possible ones: every
        # certain delta counts, plus the possible rest's negative (for the
        # lower bound) or positive (upper) parts.
        cr = CounterRead(r, value, ok_pos[c] + m_neg[m], ok_neg[c] + m_pos[m])
        if not cr.ok:
            res.violations.append(cr)
        res.final = cr
    res.reads = len(reads)
    if reads:
        res.valid = not res.violations
    return res
