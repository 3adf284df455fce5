"""The bank checker on hand-built histories: each anomaly is caught, valid
histories pass (hand-built, and random serializable ones with overlapping
operations)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.bank_checker import check_bank, find_cycle
from chaos.history import FAIL, INFO, OK, Event, fail, info, invoke, ok

KEY = "bank"


class Bank:
    """A history under construction: every operation by its own process."""

    def __init__(self, **balances: int) -> None:
        self.events: list[Event] = []
        self.n = 0
        self._op("init", balances, None, OK, 0.0, 0.0, process="setup")

    def _op(self, f: str, value: Any, result: Any, status: str, start: float, end: float | None,
            process: Any = None) -> None:
        self.n += 1
        p = self.n if process is None else process
        self.events.append(invoke(p, f, KEY, value, start))
        if end is not None:
            make = {OK: ok, FAIL: fail, INFO: info}[status]
            self.events.append(make(p, f, KEY, result, end))

    def transfer(self, tid: int, src: str, dst: str, amount: int, start: float, end: float | None,
                 status: str = OK) -> None:
        self._op("transfer", {"id": tid, "from": src, "to": dst, "amount": amount}, None, status, start, end)

    def read(self, f: str, start: float, end: float, **state: tuple[int, list[int]]) -> None:
        """A read of the accounts named; `read` (GetItem) takes exactly one."""
        if f == "read":
            (account, seen), = state.items()
            self._op(f, account, list(seen), OK, start, end)
        else:
            self._op(f, None, {a: [b, log] for a, (b, log) in state.items()}, OK, start, end,
                     process="final" if f == "final" else None)

    def check(self) -> Any:
        return check_bank(sorted(self.events, key=lambda e: e.time))


def base() -> Bank:
    """Three accounts of 10; a committed transfer, one after it, one cancelled, one of unknown outcome."""
    b = Bank(a=10, b=10, c=10)
    b.transfer(1, "a", "b", 3, 1, 2)
    b.transfer(2, "b", "c", 5, 3, 4)
    b.transfer(3, "c", "a", 20, 5, 6, status=FAIL)
    b.transfer(4, "a", "c", 1, 7, None)
    b.read("read", 2.5, 2.6, b=(13, [1]))
    b.read("txn-read", 4.5, 5, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    b.read("scan", 5, 6, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    return b


def kinds(b: Bank) -> set[str]:
    res = b.check()
    return set(res.anomalies)


def test_a_valid_history_passes_whatever_the_unknown_transfer_did():
    for applied in (False, True):
        b = base()
        if applied:
            b.read("final", 10, 11, a=(6, [1, 4]), b=(8, [1, 2]), c=(16, [2, 4]))
        else:
            b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
        res = b.check()
        assert res.valid is True, res.explain()
        assert res.committed == 2 + applied and res.accounts == 3
        assert "valid" in res.explain()


def test_without_a_final_read_the_verdict_is_unknown():
    res = base().check()
    assert res.valid is None and "no final read" in res.explain()


def test_a_lost_transfer_is_caught():
    b = base()
    b.read("final", 10, 11, a=(7, [1]), b=(13, [1]), c=(10, []))
    res = b.check()
    assert res.valid is False and "lost" in res.anomalies, res.explain()
    assert "transfer 2 b -> c (ok) in neither log" in res.explain()


def test_a_duplicated_transfer_is_caught():
    b = base()
    b.read("final", 10, 11, a=(7, [1]), b=(3, [1, 2, 2]), c=(20, [2, 2]))
    assert "duplicated" in kinds(b)


def test_a_transfer_applied_to_one_account_only_is_caught():
    b = base()
    b.read("final", 10, 11, a=(6, [1, 4]), b=(8, [1, 2]), c=(15, [2]))
    assert kinds(b) == {"half-applied", "total"}


def test_a_cancelled_transfer_in_the_final_state_is_caught():
    b = base()
    b.read("final", 10, 11, a=(27, [1, 3]), b=(8, [1, 2]), c=(-5, [2, 3]))
    assert {"cancelled-applied", "overdraft"} <= kinds(b)


def test_a_half_visible_transactional_read_is_caught():
    b = base()
    b.read("txn-read", 3.5, 5, a=(7, [1]), b=(8, [1, 2]), c=(10, []))  # t2 left b, not yet in c
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    res = b.check()
    # It also saw t2 at b and not at c: before and after t2 at once.
    assert set(res.anomalies) == {"half-visible", "total", "cycle"}, res.explain()
    assert "transfer 2 in b's log only" in res.explain()


def test_a_balance_that_does_not_match_its_log_is_caught():
    b = base()
    b.read("read", 4.5, 4.6, c=(14, [2]))
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    res = b.check()
    assert set(res.anomalies) == {"balance"} and "c balance 14" in res.explain()


def test_a_dirty_read_of_a_cancelled_transfer_is_caught():
    b = base()
    b.read("read", 5.5, 5.6, a=(27, [1, 3]))  # t3 seen while prepared, then cancelled
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    res = b.check()
    assert {"dirty-read", "not-prefix"} == set(res.anomalies), res.explain()


def test_a_read_that_misses_an_acknowledged_transfer_is_caught():
    b = base()
    b.read("read", 2.5, 2.6, b=(10, []))  # t1 was acknowledged at 2
    b.read("txn-read", 0.5, 3.5, a=(10, []), b=(10, []), c=(10, []))  # began before: fine
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    res = b.check()
    assert set(res.anomalies) == {"stale-read"}, res.explain()
    assert len(res.anomalies["stale-read"]) == 1


def test_a_read_undone_later_is_caught():
    b = base()
    b.read("final", 10, 11, a=(10, []), b=(10, []), c=(10, []))
    assert {"not-prefix", "lost"} <= kinds(b)


def test_two_accounts_that_disagree_on_the_order_form_a_cycle():
    b = Bank(a=10, b=10)
    b.transfer(1, "a", "b", 1, 1, 3)
    b.transfer(2, "b", "a", 2, 1, 3)
    b.read("final", 10, 11, a=(11, [1, 2]), b=(9, [2, 1]))
    res = b.check()
    assert set(res.anomalies) == {"cycle"}, res.explain()
    assert res.anomalies["cycle"][0] in ("no serial order: transfer 1 -> transfer 2 -> transfer 1",
                                         "no serial order: transfer 2 -> transfer 1 -> transfer 2")


def test_reads_that_see_independent_transfers_in_opposite_orders_form_a_cycle():
    b = Bank(a=10, b=10, c=10, d=10)
    b.transfer(1, "a", "b", 1, 1, 9)
    b.transfer(2, "c", "d", 1, 1, 9)
    b.read("txn-read", 2, 3, a=(9, [1]), b=(11, [1]), c=(10, []), d=(10, []))
    b.read("txn-read", 2, 3, a=(10, []), b=(10, []), c=(9, [2]), d=(11, [2]))
    b.read("final", 10, 11, a=(9, [1]), b=(11, [1]), c=(9, [2]), d=(11, [2]))
    res = b.check()
    assert set(res.anomalies) == {"cycle"}, res.explain()
    cycle = res.anomalies["cycle"][0]
    assert all(f"read #{i} " in cycle for i in (4, 5)) and all(f"transfer {t}" in cycle for t in (1, 2))


def test_phantom_and_foreign_ids_are_caught():
    b = base()
    b.read("read", 4.5, 4.6, c=(15, [2, 99]))
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2, 1]))
    assert {"phantom", "not-prefix"} <= kinds(b)


def test_a_missing_account_is_caught():
    b = base()
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]))
    assert "missing-account" in kinds(b)


def test_find_cycle_ignores_nodes_behind_a_cycle():
    assert find_cycle({1, 2, 3}, {1: {2}, 2: {3}}) is None
    cycle = find_cycle({1, 2, 3, 4}, {1: {2}, 2: {1, 3}, 3: {4}})
    assert cycle in ([1, 2, 1], [2, 1, 2])


@st.composite
def serial_histories(draw: Any) -> list[Event]:
    """A serial execution (each operation takes effect at its position), with
    invoke and completion times spread around that instant so that operations overlap."""
    n = draw(st.integers(2, 5))
    accounts = [f"t{i % 2}/a{i}" for i in range(n)]
    balance = {a: draw(st.integers(0, 20)) for a in accounts}
    logs: dict[str, list[int]] = {a: [] for a in accounts}
    events = [invoke("setup", "init", KEY, dict(balance), -10.0), ok("setup", "init", KEY, None, -10.0)]
    for i in range(draw(st.integers(0, 30))):
        at = float(i)
        start, end = at - draw(st.floats(0, 3)), at + draw(st.floats(0, 3))
        kind = draw(st.sampled_from(["transfer", "transfer", "txn-read", "read", "scan"]))
        if kind == "transfer":
            src, dst = draw(st.permutations(accounts))[:2]
            amount = draw(st.integers(1, 10))
            applied = balance[src] >= amount and draw(st.booleans() | st.just(True))
            outcome = (OK if draw(st.integers(0, 3)) else INFO) if applied else FAIL
            if applied:
                balance[src] -= amount
                balance[dst] += amount
                logs[src].append(i)
                logs[dst].append(i)
            elif balance[src] >= amount:
                outcome = INFO  # not applied though it could have been: an unknown outcome
            events.append(invoke(i, "transfer", KEY, {"id": i, "from": src, "to": dst, "amount": amount}, start))
            events.append({OK: ok, INFO: info, FAIL: fail}[outcome](i, "transfer", KEY, None, end))
        else:
            state = {a: [balance[a], list(logs[a])] for a in accounts}
            if kind == "read":
                a = draw(st.sampled_from(accounts))
                events += [invoke(i, "read", KEY, a, start), ok(i, "read", KEY, state[a], end)]
            else:
                events += [invoke(i, kind, KEY, None, start), ok(i, kind, KEY, state, end)]
    final = {a: [balance[a], list(logs[a])] for a in accounts}
    events += [invoke("final", "final", KEY, None, 100.0), ok("final", "final", KEY, final, 101.0)]
    return sorted(events, key=lambda e: e.time)


@settings(max_examples=200, deadline=None)
@given(serial_histories())
def test_random_serializable_histories_pass(history):
    res = check_bank(history)
    assert res.valid is True, res.explain()


@settings(max_examples=100, deadline=None)
@given(serial_histories(), st.randoms(use_true_random=False))
def test_an_acknowledged_transfer_taken_out_of_the_final_state_is_caught(history, rnd):
    final = history[-1]
    acked = [e.value for e in history if e.f == "transfer" and e.type == "invoke"
             and any(c.process == e.process and c.type == OK for c in history if c.f == "transfer")]
    if not acked:
        return
    gone = rnd.choice(acked)
    state = {a: [b - (0 if gone["id"] not in log else gone["amount"] * (1 if a == gone["to"] else -1)),
                 [t for t in log if t != gone["id"]]] for a, (b, log) in final.value.items()}
    tampered = history[:-1] + [ok("final", "final", KEY, state, final.time)]
    res = check_bank(tampered)
    assert res.valid is False and "lost" in res.anomalies, res.explain()


def test_the_verdict_does_not_depend_on_the_order_operations_are_fed():
    from chaos.bank_checker import BankChecker
    from chaos.history import pair_operations
    b = base()
    b.read("txn-read", 3.5, 5, a=(7, [1]), b=(8, [1, 2]), c=(10, []))
    b.read("final", 10, 11, a=(7, [1]), b=(8, [1, 2]), c=(15, [2]))
    forward = b.check()
    checker = BankChecker()
    for op in reversed(pair_operations(sorted(b.events, key=lambda e: e.time))):
        checker.feed(op)
    backward = checker.result()
    assert {k: len(v) for k, v in backward.anomalies.items()} == {k: len(v) for k, v in forward.anomalies.items()}
    assert set(forward.anomalies) == {"half-visible", "total", "cycle"}
