"""Reading a failover's steps off the logs (chaos/failover_steps.py)."""

from __future__ import annotations

import datetime
import json

from chaos.failover_steps import Failover, attribute, parse, read, report

T0 = datetime.datetime(2026, 12, 7, 1, 37, 45, tzinfo=datetime.timezone.utc).timestamp()


def _at(dt: float) -> str:
    t = datetime.datetime.fromtimestamp(T0 + dt, datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"


NODE = "INFO node.groups.engine:"
ROUTER = "INFO cluster.partitions:"
LOGS = {
    "n2/node.log": [
        f"{_at(-0.05)} n2 {NODE} t3.p0: connection to leader n1 closed; pre_candidate at term 3",
        f"{_at(0.15)} n2 {NODE} t3.p0: candidate at term 4 (leader None)",
        f"{_at(0.17)} n2 {NODE} t3.p0: leader at term 4 (leader n2)",
        f"{_at(0.18)} n2 {NODE} t3.p0: writable at term 4, 5 ms after its election",
        f"{_at(0.15)} n2 {NODE} t3.p1: candidate at term 3 (leader None)",
        f"{_at(0.30)} n2 {NODE} t3.p1: leader at term 3 (leader n2)",
        f"{_at(0.35)} n2 {NODE} t3.p1: writable at term 3, 50 ms after its election",
        f"{_at(0.40)} n2 {NODE} t3.p1: slow request_id=X partition=t3.p1 op=GET status=OK latency_ms=1200.0",
        f"{_at(9.00)} n2 {NODE} t3.p0: candidate at term 5 (leader None)",  # another fault's
    ],
    "n1/node.log": [f"{_at(0.01)} n1 {NODE} t3.p2: leader at term 9 (leader n1)"],  # the victim's own line
    "router1.log": [
        f"{_at(0.20)} router {ROUTER} t3.p0: leader n2, 181 ms after n1 failed a request",
        f"{_at(0.50)} router {ROUTER} t3.p1: leader n2, 505 ms after n1 went silent with requests waiting",
    ],
}


def test_each_step_of_the_worst_partition_after_the_fault(tmp_path):
    for path, lines in LOGS.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("\n".join(lines) + "\n")
    (tmp_path / "chaos.log").write_text("\n".join(json.dumps(e) for e in [
        {"at": T0 - 60, "action": "kill", "target": "n3", "detail": {}},
        {"at": T0, "action": "kill", "target": "n1", "detail": {"signal": "SIGKILL"}},
        {"at": T0 + 2, "action": "restart", "target": "n1", "detail": {}}]) + "\n")
    f, = read(tmp_path, after=T0 - 1)
    assert (f.fault, f.target) == ("kill", "n1")
    assert {k: round(v, 2) for k, v in f.steps.items()} == {
        "closed": -0.05, "candidate": 0.15, "leader": 0.30, "writable": 0.35, "router": 0.50}
    text = report([f])
    assert "01:37:45 kill n1: closed -0.05s candidate 0.15s leader 0.30s writable 0.35s router 0.50s" in text
    assert "kill writable: p50 0.35s p90 0.35s p99 0.35s max 0.35s (n=1)" in text


def test_lines_that_are_no_step_and_leaders_of_no_failover_are_left_out():
    assert parse(LOGS["n2/node.log"][7]) is None
    assert parse("not a log line") is None
    assert parse(LOGS["router1.log"][1]).gone == "n1"
    # A leader elected while the fault's target still led nothing there (its own re-election) is no failover.
    f = attribute([Failover("kill", "n1", T0)], [parse(LOGS["n1/node.log"][0])])[0]
    assert f.steps == {}
