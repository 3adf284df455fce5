"""What `trireme bench` runs by default: the runs the issue's targets are set for."""

from bench.main import run_plan


def test_default_plan_covers_the_targets():
    assert run_plan(["C", "B", "A", "Q"], "", "") == [
        ("C", 64, False), ("C", 64, True), ("B", 16, False), ("A", 64, False), ("Q", 64, False)]


def test_explicit_levels_and_modes_apply_to_every_read_workload():
    assert run_plan(["C", "W"], "16,64", "yes") == [("C", 16, True), ("C", 64, True), ("W", 16, False),
                                                    ("W", 64, False)]


def test_transactions_run_on_trireme_only():
    from bench.main import System, _runs_on
    systems = [System(name, "", [], {}, None) for name in ("trivial", "trireme", "dynalite-mem", "moto")]
    assert [s.name for s in _runs_on(systems, "T")] == ["trireme"]
    assert [s.name for s in _runs_on(systems, "C")] == ["trivial", "trireme", "dynalite-mem", "moto"]


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
