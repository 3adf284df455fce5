"""Linearizability checker for per-key registers (read, write, compare-and-set).

A history is *linearizable* when every operation can be given one instant,
inside its own invoke..completion window, such that executing the operations
one at a time in that order on a single register gives exactly the results
the clients saw.  That is what DynamoDB promises for strongly consistent reads
and conditional writes on one item.

The search is Wing & Gong's, with Lowe's memoisation, as Porcupine implements
it (https://github.com/anishathalye/porcupine):

* Registers are independent, so the history is checked key by key
  (P-compositionality) -- small searches instead of one huge one.
* Invoke and completion instants are merged into one time-ordered list.  The
  *candidates* to take effect next are the operations invoked before the first
  completion still in the list; the operation owning that completion must be
  placed before anything invoked later.  The search tries a candidate against
  the model, removes ("lifts") it from the list and goes on; when no
  candidate fits it backtracks.
* (Operations placed so far, register value) pairs already explored are
  memoised: two paths reaching the same pair have the same future.

Outcomes:

* ``fail`` operations definitely did not happen and are dropped.  (So a
  conditional write that failed its check constrains nothing: sound, but it
  cannot catch a system that wrongly rejects a cas.)
* ``info`` operations may take effect at any instant after their invoke, or
  never: they are optional candidates with no completion.  An ``info`` read
  constrains nothing and is dropped.

Reductions on top of Porcupine, each of which keeps the verdict exact (every
one is an exchange argument: if some valid order exists, one exists that the
reduced search explores; `tests/chaos/reference.py` is the naive oracle the
property tests hold it to):

* a pre-check rejects any read or cas that saw a value no operation invoked
  before it completed could have written -- instant, and the clearest
  explanation of a phantom value;
* values that no read returns and no cas expects are merged into one
  (`_DEAD`): the future depends only on observed values;
* a read matching the register, or an unobserved write over an unobserved
  value, goes next without branching; of finite candidates with the same
  effect only the one completing soonest is tried;
* an info write/cas is dropped when nothing observes its value, offered only
  right before an operation that observes it, and no longer once every such
  operation must have taken effect; of interchangeable ones only the earliest
  is offered;
* the memo treats a state reached with fewer info operations used as
  covering the same state with more used.

Limits: the problem is NP-complete.  Many concurrent info operations whose
values were observed, especially with few distinct values (every write
observed by some read), can make the search exponential; so can very many
clients all concurrent.  `max_steps` bounds the work and yields the verdict
``None`` (unknown) instead of running forever.  Unique written values keep
the search near linear.  Values are compared with ``==`` (so ``1 == 1.0``);
the register starts at `initial` (None = the item is absent).
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from chaos.history import FAIL, INFO, OK, Event, Operation, format_value, freeze, operations

READ, WRITE, CAS = 0, 1, 2
_KINDS = {"read": READ, "write": WRITE, "cas": CAS}
_INF = float("inf")


class _Dead:
    """Stands for every value no operation observes (see `_prepare`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unobserved>"


_DEAD = _Dead()


def _h(v: Any) -> Any:
    """A hashable stand-in for a value: model states are memoised."""
    v = freeze(v)
    try:
        hash(v)
        return v
    except TypeError:
        return ("<unhashable>", json.dumps(v, sort_keys=True, default=repr))

DEFAULT_MAX_STEPS = 20_000_000


def _ORDER(o: "_Op") -> float:
    """Try candidates that must complete soonest first (optional ones last)."""
    return o.ret


class _Op:
    """An operation as the search sees it (slots: it is touched millions of times)."""

    __slots__ = ("op", "id", "kind", "a", "b", "info", "call", "ret", "deadline", "node", "cls")

    def __init__(self, op: Operation, kind: int, a: Any, b: Any, info: bool):
        self.op = op
        self.kind = kind
        self.a = a  # read: value returned; write: value written; cas: expected
        self.b = b  # cas: new value
        self.info = info
        self.call = op.invoke_time
        self.ret = _INF if info else op.complete_time
        self.deadline = _INF
        self.id = -1
        self.node: _Node | None = None
        self.cls = -1  # optional ops with equal cls are interchangeable


class _Node:
    """A call or return entry in the doubly linked list the search lifts from."""

    __slots__ = ("prev", "next", "op", "is_call", "match", "time")

    def __init__(self, op: _Op | None, is_call: bool, time: float):
        self.prev: _Node | None = None
        self.next: _Node | None = None
        self.op = op
        self.is_call = is_call
        self.match: _Node | None = None
        self.time = time


@dataclass
class KeyResult:
    """The verdict for one key.

    ``linearizable`` is True, False, or None when `max_steps` ran out.  For a
    linearizable key ``order`` is one witness order.  For a non-linearizable
    key, ``prefix`` is the longest order of operations found that respects
    real time and the register's rules, ``value_after_prefix`` the register
    value after it, and ``unplaced`` the operations that were candidates to go
    next yet none of which could (``blocking`` is the one whose completion
    forced the decision).  ``impossible`` lists operations rejected before
    any search: they saw a value that nothing invoked before they completed
    could have written (the clearest kind of violation, e.g. a phantom read).
    """

    key: Any
    linearizable: bool | None
    checked: int
    dropped_fail: int = 0
    dropped_info_reads: int = 0
    dropped_info_unobserved: int = 0
    steps: int = 0
    order: list[Operation] | None = None
    prefix: list[Operation] = field(default_factory=list)
    value_after_prefix: Any = None
    unplaced: list[Operation] = field(default_factory=list)
    blocking: Operation | None = None
    reasons: dict[int, str] = field(default_factory=dict)
    impossible: list[Operation] = field(default_factory=list)

    def explain(self, context: int = 8) -> str:
        """A readable account; only the last `context` placed operations are shown."""
        verdict = {True: "linearizable", False: "NOT linearizable",
                   None: "UNKNOWN (search budget exhausted)"}[self.linearizable]
        dropped = []
        if self.dropped_fail:
            dropped.append(f"{self.dropped_fail} failed")
        if self.dropped_info_reads:
            dropped.append(f"{self.dropped_info_reads} unknown-outcome reads")
        if self.dropped_info_unobserved:
            dropped.append(f"{self.dropped_info_unobserved} unknown-outcome writes nobody observed")
        head = (f"key {format_value(self.key)}: {verdict}; {self.checked} operations searched"
                + (f" (ignored: {', '.join(dropped)})" if dropped else "")
                + f"; {self.steps} search steps")
        if self.linearizable is not False:
            return head
        if self.impossible:
            lines = [head, "  These operations saw a value that no operation invoked before they "
                           "completed writes (nor is it the initial value):"]
            for op in self.impossible:
                lines.append(f"    - {op}")
            return "\n".join(lines)
        lines = [head,
                 f"  Longest order found that fits real time and the register's rules: "
                 f"{len(self.prefix)} operation(s).",]
        shown = self.prefix[-context:] if context else []
        if len(self.prefix) > len(shown):
            lines.append(f"    ... {len(self.prefix) - len(shown)} earlier operation(s)")
        first = len(self.prefix) - len(shown) + 1
        for n, op in enumerate(shown, first):
            lines.append(f"    {n:>5}. {op}")
        lines.append(f"  After them the register holds: {format_value(self.value_after_prefix)}.")
        if self.blocking is not None:
            end = self.blocking.complete_time
            lines.append(f"  Next, operation #{self.blocking.index} must take effect before it "
                         f"completed at {end:.6f}, but no candidate can go next:")
        for op in self.unplaced:
            lines.append(f"    - {op}")
            lines.append(f"        {self.reasons.get(op.index, '')}")
        return "\n".join(lines)


@dataclass
class LinearResult:
    """Per-key verdicts; ``valid`` is False if any key is not linearizable,
    None if none is but some key is undecided, else True."""

    keys: dict[Any, KeyResult]

    @property
    def valid(self) -> bool | None:
        verdicts = [r.linearizable for r in self.keys.values()]
        if False in verdicts:
            return False
        if None in verdicts:
            return None
        return True

    @property
    def failures(self) -> list[KeyResult]:
        return [r for r in self.keys.values() if r.linearizable is False]

    def explain(self, context: int = 8) -> str:
        verdict = {True: "linearizable", False: "NOT linearizable", None: "unknown"}[self.valid]
        bad = [r for r in self.keys.values() if r.linearizable is not True]
        total = sum(r.checked for r in self.keys.values())
        lines = [f"Register history: {verdict} ({len(self.keys)} key(s), "
                 f"{total} operations searched, {len(bad)} key(s) not proven linearizable)"]
        lines += [r.explain(context) for r in bad]
        return "\n".join(lines)

    __str__ = explain


def check_register(
    history: Sequence[Event] | Sequence[Operation],
    *,
    initial: Any = None,
    max_steps: int | None = DEFAULT_MAX_STEPS,
) -> LinearResult:
    """Check a register history (``read``/``write``/``cas`` ops) for linearizability.

    `history` is a list of events (paired here) or of operations.  Every key
    is an independent register starting at `initial`.  `max_steps` bounds
    the candidate tries per key (None: unbounded); a key that runs out gets
    the verdict None.  Raises ValueError on a function other than read,
    write or cas, since silently skipping it could hide a bug.
    """
    checker = RegisterChecker(initial=initial, max_steps=max_steps)
    for op in operations(history):
        checker.feed(op)
    return checker.result()


class RegisterChecker:
    """The register check, fed one operation at a time (in any order).

    The search needs every operation of a key at once, so the operations are
    kept (per key, without their events) until `result`.
    """

    def __init__(self, *, initial: Any = None, max_steps: int | None = DEFAULT_MAX_STEPS) -> None:
        self.initial = initial
        self.max_steps = max_steps
        self._per_key: dict[Any, list[Operation]] = {}

    def feed(self, op: Operation) -> None:
        if op.f not in _KINDS:
            raise ValueError(f"register checker: unsupported function {op.f!r} in {op}")
        self._per_key.setdefault(op.key, []).append(op)

    def result(self) -> LinearResult:
        # The memo holds millions of small tuples that are never garbage; the
        # cyclic collector would rescan them over and over (quadratic time).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return LinearResult({k: _check_key(k, sorted(ops, key=lambda o: o.index), self.initial, self.max_steps)
                                 for k, ops in self._per_key.items()})
        finally:
            if gc_was_enabled:
                gc.enable()


def _prepare(ops: list[Operation], res: KeyResult, initial: Any) -> tuple[list[_Op], list[_Op], Any]:
    """Drop what cannot matter, give optional (info) ops their deadlines, and
    replace every value nobody observes by `_DEAD`.

    Why `_DEAD`: the future of the search depends only on whether the register
    holds a value some read returns or some cas expects; all other values
    behave alike, so merging them shrinks the memo and lets a write of an
    unobserved value over an unobserved value go without branching.
    """
    finite: list[_Op] = []
    optional: list[_Op] = []
    for op in ops:
        kind = _KINDS[op.f]
        if op.status == FAIL:
            res.dropped_fail += 1
            continue
        is_info = op.status == INFO or op.complete_time is None
        if kind == READ:
            if is_info:
                res.dropped_info_reads += 1
                continue
            o = _Op(op, READ, _h(op.result), None, False)
        elif kind == WRITE:
            o = _Op(op, WRITE, _h(op.value), None, is_info)
        else:
            v = freeze(op.value)
            if not (isinstance(v, tuple) and len(v) == 2):
                raise ValueError(f"cas value must be (expected, new), got {op.value!r} in {op}")
            o = _Op(op, CAS, _h(v[0]), _h(v[1]), is_info)
        (optional if is_info else finite).append(o)

    # Observers of a value: ops whose success needs the register to hold it.
    # An optional op is useful only while one of its observers, directly or
    # through a chain of optional cas ops, has yet to take effect; its
    # deadline is the latest completion among those observers.
    finite_deadline: dict[Any, float] = {}
    for o in finite:
        if o.kind == READ or o.kind == CAS:
            v = o.a
            finite_deadline[v] = max(finite_deadline.get(v, -_INF), o.ret)
    for o in optional:
        o.deadline = finite_deadline.get(o.a if o.kind == WRITE else o.b, -_INF)
    optional_cas_by_expected: dict[Any, list[_Op]] = {}
    for o in optional:
        if o.kind == CAS:
            optional_cas_by_expected.setdefault(o.a, []).append(o)
    changed = True
    while changed:  # propagate through optional cas chains to a fixpoint
        changed = False
        for o in optional:
            out = o.a if o.kind == WRITE else o.b
            for c in optional_cas_by_expected.get(out, ()):
                if c is not o and c.deadline > o.deadline:
                    o.deadline = c.deadline
                    changed = True
    kept = []
    for o in optional:
        if o.deadline == -_INF or o.deadline < o.call:
            res.dropped_info_unobserved += 1
        else:
            kept.append(o)

    observed = {o.a for o in finite if o.kind != WRITE}
    observed.update(o.a for o in kept if o.kind == CAS)
    for o in finite + kept:
        if o.kind == WRITE and o.a not in observed:
            o.a = _DEAD
        elif o.kind == CAS and o.b not in observed:
            o.b = _DEAD
    return finite, kept, (_h(initial) if _h(initial) in observed else _DEAD)


def _impossible(ops: list[Operation], initial: Any) -> list[Operation]:
    """Ok reads and cas that observed a value nothing could have written by then.

    A cheap, certain verdict before any search, and the clearest explanation
    there is for phantom values.  A value can be installed by any write or
    cas that did not fail, from its invoke on.
    """
    initial = _h(initial)
    first_write: dict[Any, float] = {}
    for op in ops:
        if op.status == FAIL or op.f == "read":
            continue
        v = _h(op.value if op.f == "write" else freeze(op.value)[1])
        if op.invoke_time < first_write.get(v, _INF):
            first_write[v] = op.invoke_time
    out = []
    for op in ops:
        if op.status != OK or op.complete_time is None or op.f == "write":
            continue
        v = _h(op.result if op.f == "read" else freeze(op.value)[0])
        if v != initial and first_write.get(v, _INF) > op.complete_time:
            out.append(op)
    return out


def _check_key(key: Any, ops: list[Operation], initial: Any, max_steps: int | None) -> KeyResult:
    res = KeyResult(key=key, linearizable=None, checked=0)
    initial_value = initial
    finite, optional, initial = _prepare(ops, res, initial)
    impossible = _impossible(ops, initial_value)
    res.checked = len(finite) + len(optional)
    if impossible:
        res.linearizable = False
        res.impossible = impossible
        return res

    # Finite ops get ids in call order so that the placed set is mostly a
    # prefix: the memo key stores (prefix length, small window bitset).
    finite.sort(key=lambda o: (o.call, o.op.index))
    classes: dict[tuple, int] = {}
    for n, o in enumerate(finite):
        o.id = n
        o.cls = classes.setdefault((o.kind, o.a, o.b), len(classes))
    optional.sort(key=lambda o: (o.call, o.op.index))
    classes = {}
    for n, o in enumerate(optional):
        o.id = n
        o.cls = classes.setdefault((o.kind, o.a, o.b, o.deadline), len(classes))
    # Optional ops in blocks of call order, each with its latest deadline, so
    # that finding those eligible at a given instant skips expired blocks.
    blocks = [(chunk[0].call, max(o.deadline for o in chunk), chunk)
              for chunk in (optional[i:i + 32] for i in range(0, len(optional), 32))]

    # Time-ordered entry list; on equal times calls come first, so operations
    # that touch at an instant count as concurrent (the permissive reading).
    entries: list[tuple[float, int, int, _Node]] = []
    for o in finite:
        c = _Node(o, True, o.call)
        r = _Node(o, False, o.ret)
        c.match = r
        o.node = c
        entries.append((o.call, 0, o.id, c))
        entries.append((o.ret, 1, o.id, r))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Node(None, False, -_INF)
    prev = head
    for _, _, _, node in entries:
        prev.next = node
        node.prev = prev
        prev = node

    def lift(c: _Node) -> None:
        c.prev.next = c.next
        if c.next is not None:
            c.next.prev = c.prev
        r = c.match
        r.prev.next = r.next
        if r.next is not None:
            r.next.prev = r.prev

    def unlift(c: _Node) -> None:
        r = c.match
        r.prev.next = r
        if r.next is not None:
            r.next.prev = r
        c.prev.next = c
        if c.next is not None:
            c.next.prev = c

    def frontier() -> tuple[list[_Op], _Node | None]:
        """Finite ops invoked before the first pending completion, and that completion."""
        node = head.next
        calls: list[_Op] = []
        while node is not None and node.is_call:
            calls.append(node.op)
            node = node.next
        return calls, node

    def candidates(ibits: int, state: Any, restricted: bool) -> tuple[list[_Op], _Op | None]:
        """The ops worth trying next, best first, and the op that blocks the frontier.

        `restricted`: an optional op was just placed, so only an op that
        observes the value it installed may follow (otherwise placing it was
        pointless, and the search will also try not placing it).
        """
        calls, node = frontier()
        if node is None:
            return calls, None  # every finite op placed: success
        for o in calls:
            if o.kind == READ and o.a == state or (
                    o.kind == WRITE and o.a is _DEAD and state is _DEAD and not restricted):
                # A read that matches the register can go first without loss
                # of generality (it changes nothing, and everything that had
                # to precede it already has): no need to branch on the
                # others.  So can an unobserved write over an unobserved
                # value: whatever follows it in a valid order is a write.
                return [o], node.op
        # Of several finite ops with the same effect, only the one that must
        # complete soonest need be tried: any order using another can swap
        # them.  Reads that do not match cannot go next at all.
        cands = []
        kinds: set[int] = set()
        for o in sorted(calls, key=_ORDER):
            if o.kind == READ or o.cls in kinds or restricted and not (
                    o.kind == CAS and o.a == state):
                continue
            kinds.add(o.cls)
            cands.append(o)
        if not optional:
            return cands, node.op
        bound = node.time
        eligible = []
        for first_call, last_deadline, block in blocks:
            if first_call > bound:
                break
            if last_deadline < bound:
                continue
            for o in block:
                if o.call > bound:
                    break
                if o.deadline >= bound and not (ibits >> o.id) & 1:
                    eligible.append(o)
        if not eligible:
            return cands, node.op
        offered: set[int] = set()
        if restricted:
            for o in eligible:
                if o.kind == CAS and o.a == state and o.cls not in offered:
                    offered.add(o.cls)
                    cands.append(o)
            return cands, node.op
        # An optional op is only worth placing right before an op that
        # observes the value it installs; and of several interchangeable
        # optional ops (same effect, same deadline) only the earliest-invoked
        # need be offered.
        wanted = {o.a for o in calls if o.kind != WRITE}
        wanted.update(o.a for o in eligible if o.kind == CAS)
        for o in eligible:
            if (o.a if o.kind == WRITE else o.b) in wanted and o.cls not in offered:
                offered.add(o.cls)
                cands.append(o)
        return cands, node.op

    state = initial
    p = 0  # finite ops 0..p-1 are all placed
    w = 0  # bit i set: finite op p+i placed
    ib = 0  # bit i set: optional op i placed
    stack: list[tuple] = []
    plain: set[tuple] = set()  # explored (placed set, value), when there are no optional ops
    seen: dict[tuple, list[tuple[int, bool]]] = {}  # with optional ops: (placed, value) -> [(optional used, restricted)]
    steps = 0
    best_depth = -1
    best: tuple = (None, state, [], None)
    limit = max_steps if max_steps is not None else -1

    cands, blocking = candidates(ib, state, False)
    i = 0
    while True:
        if blocking is None:
            res.linearizable = True
            res.order = [f[0].op for f in stack]
            break
        advanced = False
        n = len(cands)
        while i < n:
            o = cands[i]
            i += 1
            steps += 1
            kind = o.kind
            if kind == READ:
                if state != o.a:
                    continue
                new = state
            elif kind == WRITE:
                new = o.a
            else:
                if state != o.a:
                    continue  # (for an info cas, missing is the same as never happening)
                new = o.b
            if o.info:
                if new == state:
                    continue  # an optional op that changes nothing might as well never happen
                nib = ib | (1 << o.id)
                np_, nw = p, w
            else:
                nib = ib
                nw = w | (1 << (o.id - p))
                np_ = p
                while nw & 1:
                    nw >>= 1
                    np_ += 1
            memo = (np_, nw, new)
            if not optional:
                if memo in plain:
                    continue
                plain.add(memo)
            else:
                # Memo with dominance: a state already explored with a subset
                # of the optional ops used (and no more restricted) had at
                # least the same futures available.
                tried = seen.get(memo)
                if tried is None:
                    seen[memo] = [(nib, o.info)]
                else:
                    restricted = o.info
                    steps += len(tried)  # the scan is work too: count it against the budget
                    for tib, trestricted in tried:
                        if not tib & ~nib and (restricted or not trestricted):
                            break
                    else:
                        tried.append((nib, restricted))
                        tried = None
                    if tried is not None:
                        continue
            # Each frame links its parent, so the deepest dead end can be
            # remembered in O(1) and its path rebuilt only if needed.
            stack.append((o, state, p, w, ib, cands, i, blocking, stack[-1] if stack else None))
            if not o.info:
                lift(o.node)
            state, p, w, ib = new, np_, nw, nib
            cands, blocking = candidates(ib, state, o.info)
            i = 0
            advanced = True
            break
        if advanced:
            if steps > limit >= 0:
                break
            continue
        if len(stack) > best_depth:
            best_depth = len(stack)
            best = (stack[-1] if stack else None, state, frontier()[0], blocking)
        if not stack:
            res.linearizable = False
            break
        if steps > limit >= 0:
            break
        o, state, p, w, ib, cands, i, blocking, _ = stack.pop()
        if not o.info:
            unlift(o.node)
    res.steps = steps
    if res.linearizable is False:
        top, state, calls, blocking = best
        path = []
        while top is not None:
            path.append(top[0].op)
            top = top[8]
        res.prefix = path[::-1]
        res.value_after_prefix = _replay(res.prefix, initial_value)
        res.unplaced = [c.op for c in calls]
        res.blocking = blocking.op
        res.reasons = {c.op.index: _reason(c, state, res.value_after_prefix) for c in calls}
    return res


def _replay(prefix: list[Operation], initial: Any) -> Any:
    """The real register value after the placed ops (the search may hold `_DEAD`)."""
    value = initial
    for op in prefix:
        if op.f == "write":
            value = op.value
        elif op.f == "cas":
            value = op.value[1]
    return value


def _reason(o: _Op, state: Any, shown: Any) -> str:
    """Why candidate `o` cannot go next when the register holds `state` (shown as `shown`)."""
    if o.kind == READ and state != o.a:
        return f"read returned {format_value(o.op.result)}, but the register holds {format_value(shown)}"
    if o.kind == CAS and state != o.a:
        expected = o.op.value[0]
        if o.info:
            return (f"(outcome unknown) expects {format_value(expected)}, but the register holds "
                    f"{format_value(shown)}: it cannot have applied here")
        return f"cas succeeded expecting {format_value(expected)}, but the register holds {format_value(shown)}"
    if o.info and (o.a if o.kind == WRITE else o.b) == state:
        return "(outcome unknown) would change nothing here"
    if o.info:
        return ("(outcome unknown) could take effect here, but no order of the "
                "remaining operations then works")
    return "fits here, but no order of the remaining operations then works"
