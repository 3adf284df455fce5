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


def check_set(history: Sequence[Event] | Sequence[Operation]) -> SetResult:
    """Check ``add`` operations against the last ok ``read`` of each key.

    "Last" is by completion time: the run's final strongly consistent read.
    Elements are compared with ``==``; adds are assumed unique (adding the
    same element twice makes the later add's outcome indistinguishable).
    """
    by_key: dict[Any, list[Operation]] = {}
    for op in operations(history):
        if op.f not in ("add", "read"):
            raise ValueError(f"set checker: unsupported function {op.f!r} in {op}")
        by_key.setdefault(op.key, []).append(op)
    result = SetResult()
    for key, ops in by_key.items():
        result.keys[key] = _check_set_key(key, ops)
    return result


def _check_set_key(key: Any, ops: list[Operation]) -> SetKeyResult:
    adds = [o for o in ops if o.f == "add"]
    res = SetKeyResult(key, None, attempted=len(adds),
                       acknowledged=sum(o.status == OK for o in adds),
                       failed=sum(o.status == FAIL for o in adds),
                       unknown=sum(o.status == INFO or o.complete_time is None for o in adds))
    reads = [o for o in ops if o.f == "read" and o.status == OK and o.complete_time is not None]
    if not reads:
        return res
    final = max(reads, key=lambda o: (o.complete_time, o.index))
    res.final_read = final
    seen = Counter(final.result or ())
    present = set(seen)
    by_element: dict[Any, list[Operation]] = {}
    for o in adds:
        by_element.setdefault(o.value, []).append(o)

    lost, phantom, unexpected, recovered, not_recovered, late = [], [], [], [], [], []
    for element, tries in by_element.items():
        here = element in present
        # The most favourable add explains the element; only if none can is it a violation.
        before = [o for o in tries if o.status != FAIL and o.invoke_time <= final.complete_time]
        if here:
            if not before:
                unexpected.append(element)
            elif all(o.status != OK for o in before):
                recovered.append(element)
            continue
        if any(o.status == OK and o.complete_time < final.invoke_time for o in tries):
            lost.append(element)
        elif any(o.status == OK for o in tries):
            late.append(element)
        elif any(o.status == INFO or o.complete_time is None for o in tries):
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


def check_counter(history: Sequence[Event] | Sequence[Operation]) -> CounterResult:
    """Check every ok ``read`` of each counter against the ``incr`` ops around it.

    For a read: increments ok and completed before it began certainly count;
    increments not failed and begun before it completed may count.  With
    deltas of any sign the bounds are: certain sum + the negative possible
    deltas, and certain sum + the positive possible deltas.  (This checks
    each read alone; it does not check that successive reads agree.)
    """
    by_key: dict[Any, list[Operation]] = {}
    for op in operations(history):
        if op.f not in ("incr", "read"):
            raise ValueError(f"counter checker: unsupported function {op.f!r} in {op}")
        if op.f == "incr" and not isinstance(op.value, (int, float, Decimal)):
            raise ValueError(f"counter checker: increment must be a number in {op}")
        by_key.setdefault(op.key, []).append(op)
    return CounterResult({k: _check_counter_key(k, ops) for k, ops in by_key.items()})


def _check_counter_key(key: Any, ops: list[Operation]) -> CounterKeyResult:
    incs = [o for o in ops if o.f == "incr"]
    okays = [o for o in incs if o.status == OK]
    maybes = [o for o in incs if o.status != FAIL]  # ok or unknown: may have happened
    unknown = [o for o in incs if o.status != OK and o.status != FAIL]
    res = CounterKeyResult(
        key, None, increments=len(incs), acknowledged=len(okays),
        failed=sum(o.status == FAIL for o in incs), unknown=len(unknown),
        ok_sum=sum(o.value for o in okays), info_sum=sum(o.value for o in unknown))

    # Certain: ok increments by completion time, with prefix sums of the
    # deltas and of their positive/negative parts.
    okays.sort(key=lambda o: o.complete_time)
    ok_done = [o.complete_time for o in okays]
    ok_pos = [0, *accumulate(max(o.value, 0) for o in okays)]
    ok_neg = [0, *accumulate(min(o.value, 0) for o in okays)]
    # Possible: not-failed increments by invoke time.
    maybes.sort(key=lambda o: o.invoke_time)
    m_start = [o.invoke_time for o in maybes]
    m_pos = [0, *accumulate(max(o.value, 0) for o in maybes)]
    m_neg = [0, *accumulate(min(o.value, 0) for o in maybes)]

    reads = [o for o in ops if o.f == "read" and o.status == OK and o.complete_time is not None]
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
