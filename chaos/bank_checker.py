"""Checker for the ``bank`` workload: transfers between accounts by
TransactWriteItems, and reads of every balance. Pure: it sees only the history.

Each account is one item ``{balance: N, log: L}`` (items spread over several
tables and partitions). A transfer is one transaction of two Updates: the
source's balance minus the amount (condition: balance >= amount) and the
destination's balance plus it, each appending the transfer's id to the
item's log. The log makes every write to an account visible: its order is the
order in which the account's transfers were applied, so a read of an account
tells exactly which transfers it reflects.

Operations (key ``"bank"``):

* ``init`` (process ``"setup"``): value ``{account: balance}`` as created, logs empty;
* ``transfer``: value ``{"id", "from", "to", "amount"}``; ok (committed), fail
  (cancelled: TransactionCanceledException, nothing applied) or info (unknown);
* ``txn-read`` (TransactGetItems of every account), and the non-transactional
  strongly consistent reads ``scan`` / ``batch-read`` (Scan, BatchGetItem: every
  account) and ``read`` (GetItem; value: the account): result
  ``{account: [balance, log]}`` (``read``: ``[balance, log]``);
* ``final`` (process ``"final"``): every account read once the faults healed.

Checks, and why each must hold:

* every transactional read (``txn-read``): the total equals the initial
  total (a transfer moves money, it never makes or loses any, and a
  serializable read sees whole transfers); a transfer visible in one of its
  accounts is visible in the other (atomic visibility: ``half-visible``);
* every read, and the final state: a balance equals its initial balance plus
  the transfers in its log (the log and the balance change in one write:
  ``balance``); no log holds an id twice (``duplicated``), an id never
  attempted or of another account (``phantom``), or a cancelled transfer
  (``dirty-read``, ``cancelled-applied`` in the final state: read committed);
  every read's log is a prefix of the final log (logs only grow by appends,
  so anything else shows a transfer seen and then undone, or applied in
  another order: ``not-prefix``);
* final state: every acknowledged transfer is in both its accounts' logs
  exactly once (``lost``: in neither, ``half-applied``: in one), one of
  unknown outcome in both or neither; the running balance along each final
  log never goes negative (each transfer's condition held where it was
  applied: ``overdraft``);
* serializability (``cycle``): each account's final log orders its
  transfers, and these orders together form a precedence graph over the
  transfers, as Elle's list-append analysis does (Kingsbury and Alvaro,
  VLDB 2020) since the logs are appended lists. Each transactional read joins
  it as a node after the last transfer it saw and before the first it missed
  in every account. A serial order exists exactly when this graph is acyclic:
  a cycle of transfers alone means two accounts disagree on their order; one
  through a read means the read's cut is not downward closed (it saw a
  transfer but missed one that precedes it), or that reads saw independent
  transfers in opposite orders (a long fork). Elle itself runs on the JVM
  (Clojure) and checks generic histories; this is the same idea narrowed to
  one workload, in Python next to the other checkers, streaming the history;
* real time (``stale-read``): a strongly consistent read, transactional or not,
  sees every transfer of its accounts acknowledged before it began
  (a write of a transaction is visible once the call returned).

Memory: per account, each distinct log once (reads of an append-only log
share one list and keep its length), and per read a few numbers per account,
so a long run's reads never hold their logs.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from chaos.history import FAIL, OK, Event, Operation, format_value, operations

ANOMALIES = ("lost", "half-applied", "duplicated", "cancelled-applied", "phantom", "balance", "total",
             "overdraft", "half-visible", "not-prefix", "dirty-read", "stale-read", "cycle", "missing-account")
READS = ("txn-read", "scan", "batch-read", "read", "final")


@dataclass
class Transfer:
    id: int
    src: str
    dst: str
    amount: int
    statuses: list[str] = field(default_factory=list)
    acked: float | None = None  # the earliest acknowledgement

    @property
    def status(self) -> str:
        """ok if any attempt was acknowledged, fail if every one was cancelled, else unknown."""
        if OK in self.statuses:
            return OK
        return FAIL if self.statuses and all(s == FAIL for s in self.statuses) else "info"

    def delta(self, account: str) -> int:
        return -self.amount if account == self.src else self.amount if account == self.dst else 0


class _Logs:
    """Every log read of one account, each distinct one kept once: a read
    that is a prefix of (or extends) a kept log is its index and length."""

    def __init__(self) -> None:
        self.branches: list[list[int]] = []

    def add(self, log: Sequence[int]) -> tuple[int, int]:
        new, n = list(log), len(log)
        for i in range(len(self.branches) - 1, -1, -1):
            b = self.branches[i]
            m = min(n, len(b))
            if b[:m] == new[:m]:
                if n > len(b):
                    b.extend(new[m:])
                return i, n
        self.branches.append(new)
        return len(self.branches) - 1, n


@dataclass
class _Read:
    """One ok read, without its logs: account -> (branch, length, balance)."""

    what: str
    f: str
    invoked: float
    completed: float
    refs: dict[str, tuple[int, int, Any]]


@dataclass
class BankResult:
    valid: bool | None
    transfers: Counter = field(default_factory=Counter)  # by outcome
    reads: Counter = field(default_factory=Counter)  # by kind
    accounts: int = 0
    committed: int = 0  # transfers in the final state
    anomalies: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""

    def explain(self, limit: int = 10) -> str:
        verdict = {True: "valid", False: "INVALID", None: "unknown"}[self.valid]
        outcomes = ", ".join(f"{n} {s}" for s, n in sorted(self.transfers.items())) or "none"
        reads = ", ".join(f"{n} {k}" for k, n in sorted(self.reads.items())) or "none"
        lines = [f"bank history: {verdict}; {self.accounts} accounts; transfers: {outcomes}; "
                 f"{self.committed} in the final state; ok reads: {reads}"]
        if self.note:
            lines.append(f"  {self.note}")
        for kind, found in self.anomalies.items():
            lines.append(f"  {kind.upper()} ({len(found)}):")
            lines += [f"    {x}" for x in found[:limit]]
            if len(found) > limit:
                lines.append(f"    ... {len(found) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain()


class BankChecker:
    """The bank check, fed one operation at a time (in any order): reads keep
    references into each account's logs, everything else is judged in `result`."""

    def __init__(self) -> None:
        self.initial: dict[str, int] | None = None
        self.transfers: dict[int, Transfer] = {}
        self.logs: dict[str, _Logs] = defaultdict(_Logs)
        self.reads: list[_Read] = []
        self.final: dict[str, tuple[int, list[int]]] | None = None
        self.final_time = -1.0
        self.anomalies: dict[str, list[str]] = defaultdict(list)
        self.read_counts: Counter = Counter()

    def feed(self, op: Operation) -> None:
        if op.f == "init":
            if op.status == OK:
                self.initial = {a: int(b) for a, b in op.value.items()}
        elif op.f == "transfer":
            v = op.value
            t = self.transfers.get(v["id"])
            if t is None:
                t = self.transfers[v["id"]] = Transfer(v["id"], v["from"], v["to"], int(v["amount"]))
            t.statuses.append(op.status)
            if op.status == OK and (t.acked is None or op.complete_time < t.acked):
                t.acked = op.complete_time
        elif op.f in READS:
            if op.status == OK:
                self._read(op)
        else:
            raise ValueError(f"bank checker: unsupported function {op.f!r} in {op}")

    def _read(self, op: Operation) -> None:
        self.read_counts[op.f] += 1
        what = f"#{op.index} p{op.process} {op.f}{'' if op.f != 'read' else ' ' + str(op.value)} " \
               f"[{op.invoke_time:.3f} .. {op.complete_time:.3f}]"
        seen = {op.value: op.result} if op.f == "read" else dict(op.result or {})
        seen = {a: v for a, v in seen.items() if v is not None}
        if op.f == "final":
            if op.complete_time > self.final_time:
                self.final = {a: (int(b), list(log)) for a, (b, log) in seen.items()}
                self.final_time = op.complete_time
            return
        refs = {}
        for account, (balance, log) in seen.items():
            if len(set(log)) != len(log):
                dup = [t for t, n in Counter(log).items() if n > 1]
                self.anomalies["duplicated"].append(f"{what}: {account}'s log holds {format_value(tuple(dup))} twice")
            refs[account] = (*self.logs[account].add(log), balance)
        if op.f == "txn-read":
            self._whole(what, seen)
        self.reads.append(_Read(what, op.f, op.invoke_time, op.complete_time, refs))

    def _whole(self, what: str, seen: dict[str, Any]) -> None:
        """What one snapshot of every account must show at once (the total: in `_check_reads_alone`)."""
        where: dict[int, list[str]] = defaultdict(list)
        for account, (_, log) in seen.items():
            for t in set(log):
                where[t].append(account)
        for t, accounts in where.items():
            if len(accounts) == 1:
                self.anomalies["half-visible"].append(f"{what}: transfer {t} in {accounts[0]}'s log only")

    def result(self) -> BankResult:
        res = BankResult(None, Counter(t.status for t in self.transfers.values()), Counter(self.read_counts))
        a = self.anomalies
        if self.initial is None:
            res.note = "no init operation: nothing to check against"
        else:
            res.accounts = len(self.initial)
            self._check_reads_alone()
            if self.final is None:
                res.note = "no final read: the final state, prefixes, real time and the order were not checked"
            else:
                res.committed = len({t for _, log in self.final.values() for t in log})
                self._check_final()
                common = self._common_prefixes()
                self._check_reads_against_final(common)
                self._check_order(common)
        res.anomalies = {k: a[k] for k in ANOMALIES if a.get(k)}
        res.valid = False if res.anomalies else (True if self.final is not None else None)
        return res

    # ---------------------------------------------------------------- checks

    def _foreign(self, account: str, t: int) -> bool:
        tr = self.transfers.get(t)
        return tr is None or account not in (tr.src, tr.dst)

    def _check_reads_alone(self) -> None:
        """Balances against the logs read with them, ids against the transfers."""
        prefix: dict[tuple[str, int], list[int]] = {}  # (account, branch) -> running balance
        bad: dict[tuple[str, int], tuple[int, str, str] | None] = {}  # first phantom or cancelled id
        for account, logs in self.logs.items():
            for b, log in enumerate(logs.branches):
                run = [self.initial.get(account, 0)]
                first = None
                for i, t in enumerate(log):
                    tr = self.transfers.get(t)
                    run.append(run[-1] + (tr.delta(account) if tr else 0))
                    if first is None and self._foreign(account, t):
                        first = (i, "phantom", f"{t} is no transfer of {account}")
                    elif first is None and tr.status == FAIL:
                        first = (i, "dirty-read", f"cancelled transfer {t} in {account}'s log")
                prefix[account, b], bad[account, b] = run, first
        initial = sum(self.initial.values())
        for r in self.reads:
            if r.f == "txn-read":
                missing = sorted(set(self.initial) - set(r.refs))
                total = sum(int(balance) for _, _, balance in r.refs.values())
                if missing:
                    self.anomalies["missing-account"].append(f"{r.what}: {', '.join(missing)} absent")
                elif total != initial:
                    self.anomalies["total"].append(f"{r.what}: total {total}, initially {initial}")
            for account, (b, n, balance) in r.refs.items():
                expect = prefix[account, b][n]
                if int(balance) != expect:
                    self.anomalies["balance"].append(f"{r.what}: {account} balance {balance}, its log "
                                                     f"of {n} transfers makes {expect}")
                if int(balance) < 0:
                    self.anomalies["overdraft"].append(f"{r.what}: {account} balance {balance}")
                first = bad[account, b]
                if first is not None and first[0] < n:
                    self.anomalies[first[1]].append(f"{r.what}: {first[2]}")

    def _check_final(self) -> None:
        final = self.final
        for account in sorted(self.initial):
            if account not in final:
                self.anomalies["missing-account"].append(f"final read: {account} absent")
        where: dict[int, Counter] = defaultdict(Counter)
        for account, (balance, log) in final.items():
            run = self.initial.get(account, 0)
            for t in log:
                where[t][account] += 1
                tr = self.transfers.get(t)
                if self._foreign(account, t):
                    self.anomalies["phantom"].append(f"final: {t} in {account}'s log is no transfer of it")
                    continue
                run += tr.delta(account)
                if run < 0:
                    self.anomalies["overdraft"].append(f"final: {account} below zero ({run}) after transfer {t}")
            if balance != run:
                self.anomalies["balance"].append(f"final: {account} balance {balance}, its log makes {run}")
        total, initial = sum(b for b, _ in final.values()), sum(self.initial.values())
        if total != initial and set(final) == set(self.initial):
            self.anomalies["total"].append(f"final: total {total}, initially {initial}")
        for t, tr in sorted(self.transfers.items()):
            counts = where.get(t, Counter())
            here = [acc for acc in (tr.src, tr.dst) if counts[acc]]
            desc = f"transfer {t} {tr.src} -> {tr.dst} ({tr.status})"
            if any(counts[acc] > 1 for acc in here):
                self.anomalies["duplicated"].append(f"final: {desc} applied more than once")
            if tr.status == FAIL and here:
                self.anomalies["cancelled-applied"].append(f"final: {desc} in {', '.join(here)}")
            elif tr.status == OK and not here:
                self.anomalies["lost"].append(f"final: {desc} in neither log")
            elif len(here) == 1:
                self.anomalies["half-applied"].append(f"final: {desc} only in {here[0]}'s log")

    def _common_prefixes(self) -> dict[tuple[str, int], int]:
        """(account, branch) -> how many entries the kept log shares with the final log."""
        common: dict[tuple[str, int], int] = {}
        for account, logs in self.logs.items():
            end = self.final.get(account, (0, []))[1]
            for b, log in enumerate(logs.branches):
                n = 0
                for x, y in zip(log, end):
                    if x != y:
                        break
                    n += 1
                common[account, b] = n
        return common

    def _check_reads_against_final(self, common: dict[tuple[str, int], int]) -> None:
        """Each read's log a prefix of the final one, and no older than real time allows."""
        # Per account: acknowledgement times of its transfers, and how far into
        # the final log the ones acknowledged so far reach.
        needs: dict[str, tuple[list[float], list[int]]] = {}
        for account, (_, log) in self.final.items():
            pos = {t: i for i, t in enumerate(log)}
            acks = sorted((tr.acked, pos[t]) for t, tr in self.transfers.items()
                          if tr.status == OK and t in pos and account in (tr.src, tr.dst))
            reach, most = [], 0
            for _, i in acks:
                most = max(most, i + 1)
                reach.append(most)
            needs[account] = ([at for at, _ in acks], reach)
        for r in self.reads:
            for account, (b, n, _) in r.refs.items():
                log = self.logs[account].branches[b]
                c = common[account, b]
                if n > c:
                    end = self.final.get(account, (0, []))[1]
                    instead = f"the final log has {end[c]}" if c < len(end) else "the final log ends there"
                    self.anomalies["not-prefix"].append(f"{r.what}: {account}'s log has {log[c]} at position {c}, "
                                                        f"{instead}")
                    continue
                times, reach = needs.get(account, ([], []))
                k = bisect.bisect_left(times, r.invoked)
                if k and reach[k - 1] > n:
                    end = self.final[account][1]
                    self.anomalies["stale-read"].append(
                        f"{r.what}: {account}'s log misses transfer {end[n]}, acknowledged before the read began")

    def _check_order(self, common: dict[tuple[str, int], int]) -> None:
        """The precedence graph of the final logs and the transactional reads must be acyclic."""
        succ: dict[Any, set] = defaultdict(set)
        nodes: set = set()
        for _, log in self.final.values():
            nodes.update(log)
            for x, y in zip(log, log[1:]):
                succ[x].add(y)
        for r in self.reads:
            if r.f != "txn-read":
                continue
            node = ("read", r.what)
            nodes.add(node)
            for account, (b, n, _) in r.refs.items():
                end = self.final.get(account, (0, []))[1]
                if n > common[account, b]:
                    break  # not a cut of the final state: reported as not-prefix
                if n:
                    succ[end[n - 1]].add(node)
                if n < len(end):
                    succ[node].add(end[n])
            else:
                continue
            nodes.discard(node)
            for s in succ.values():
                s.discard(node)
            succ.pop(node, None)
        cycle = find_cycle(nodes, succ)
        if cycle:
            shown = " -> ".join(f"read {x[1]}" if isinstance(x, tuple) else f"transfer {x}" for x in cycle)
            self.anomalies["cycle"].append(f"no serial order: {shown}")


def find_cycle(nodes: set, succ: dict[Any, set]) -> list | None:
    """One cycle of the graph (its nodes in order, the first repeated at the end), or None.

    Kahn's algorithm removes every node with no path from a cycle to it; each
    node left has a predecessor left, so walking back along those must come
    round to a node it passed."""
    indeg: Counter = Counter()
    for x in nodes:
        for y in succ.get(x, ()):
            indeg[y] += 1
    ready = [x for x in nodes if not indeg[x]]
    left = set(nodes)
    while ready:
        x = ready.pop()
        left.discard(x)
        for y in succ.get(x, ()):
            indeg[y] -= 1
            if not indeg[y]:
                ready.append(y)
    if not left:
        return None
    pred = {y: x for x in left for y in succ.get(x, ()) if y in left}
    path, at = [], {}
    x = next(iter(left))
    while x not in at:
        at[x] = len(path)
        path.append(x)
        x = pred[x]
    cycle = path[at[x]:][::-1]
    return cycle + [cycle[0]]


def check_bank(history: Sequence[Event] | Sequence[Operation]) -> BankResult:
    """Check a whole bank history (see the module docstring)."""
    checker = BankChecker()
    for op in operations(history):
        checker.feed(op)
    return checker.result()
