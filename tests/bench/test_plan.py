"""What `trireme bench` runs by default: the runs the issue's targets are set for."""

from bench.main import run_plan


def test_default_plan_covers_the_targets():
    assert run_plan(["C", "B", "A", "Q"], "", "") == [
        ("C", 64, False), ("C", 64, True), ("B", 16, False), ("A", 64, False), ("Q", 64, False)]


def test_the_default_workloads_run_everything_the_targets_read():
    from bench.main import DEFAULT_WORKLOADS
    from bench.targets import TARGETS
    plan = run_plan(DEFAULT_WORKLOADS.split(","), "", "")
    for t in TARGETS:
        if hasattr(t, "workload"):
            assert (t.workload, t.clients, getattr(t, "consistent", False)) in plan, t
    assert ("K", 64, False) in plan  # the hot key


def test_explicit_levels_and_modes_apply_to_every_read_workload():
    assert run_plan(["C", "W"], "16,64", "yes") == [("C", 16, True), ("C", 64, True), ("W", 16, False),
                                                    ("W", 64, False)]


def test_transactions_run_on_trireme_only():
    from bench.main import System, _runs_on
    systems = [System(name, "", [], {}, None) for name in ("trivial", "trireme", "dynalite-mem", "moto")]
    assert [s.name for s in _runs_on(systems, "T")] == ["trireme"]
    assert [s.name for s in _runs_on(systems, "C")] == ["trivial", "trireme", "dynalite-mem", "moto"]


def test_the_secured_clusters_run_eventually_consistent_c_and_a_only():
    from bench.main import System, _runs_on
    systems = [System(name, "", [], {}, None) for name in ("trireme", "trireme-auth", "trireme-tls", "moto")]
    everyone = ["trireme", "trireme-auth", "trireme-tls", "moto"]
    assert [s.name for s in _runs_on(systems, "C", False)] == everyone
    assert [s.name for s in _runs_on(systems, "A", False)] == everyone
    assert [s.name for s in _runs_on(systems, "C", True)] == ["trireme", "moto"]
    assert [s.name for s in _runs_on(systems, "B", False)] == ["trireme", "moto"]
    assert [s.name for s in _runs_on(systems, "T", False)] == ["trireme"]


def test_the_cost_table_sets_each_secured_cluster_beside_the_plain_one():
    from bench.main import render_security
    from bench.run import Result

    def result(system, ops, cpu, rep):
        return Result(system, "C", 64, False, 10.0, int(ops * 10), ops, 0, 2.0 + rep, 3.0, 4.0, 5.0,
                      {"n1": cpu / 2, "router1": cpu / 2})
    results = [result(name, ops, cpu, rep) for rep in range(3)
               for name, ops, cpu in (("trireme", 1000, 1.0), ("trireme-auth", 800, 1.0), ("trireme-tls", 500, 1.0))]
    out = render_security(results)
    auth = next(line for line in out.splitlines() if "--auth" in line)
    tls = next(line for line in out.splitlines() if "--tls" in line)
    assert "0.80" in auth and "1,000 -> 1,250 (+250)" in auth  # CPU us per request: 1e6 * 1.0 / ops
    assert "0.50" in tls and "1,000 -> 2,000 (+1,000)" in tls


def test_a_transfer_moves_an_amount_between_two_accounts_with_the_funds_condition_on_the_source():
    import json
    import random

    from bench import transfers, ycsb
    keys = [ycsb.key_name(k).encode() for k in range(20)]
    for seed in range(50):
        src, dst = json.loads(transfers.body(keys, transfers.accounts("H", 20), random.Random(seed)))["TransactItems"]
        src, dst = src["Update"], dst["Update"]
        assert src["Key"] != dst["Key"] and {src["Key"]["key"]["S"], dst["Key"]["key"]["S"]} <= {
            k.decode() for k in keys[:10]}
        assert src["ExpressionAttributeValues"][":a"] == dst["ExpressionAttributeValues"][":a"]
        assert " - :a" in src["UpdateExpression"] and " + :a" in dst["UpdateExpression"]
        assert "balance >= :a" in src["ConditionExpression"] and "ConditionExpression" not in dst
    assert transfers.accounts("T", 20_000) == 10_000 and transfers.accounts("T", 300) == 300
