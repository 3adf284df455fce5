"""What `trireme bench` runs by default: the runs the issue's targets are set for."""

from bench.main import run_plan


def test_default_plan_covers_the_targets():
    assert run_plan(["C", "B", "A", "Q"], "", "") == [
        ("C", 64, False), ("C", 64, True), ("B", 16, False), ("A", 64, False), ("Q", 64, False)]


def test_explicit_levels_and_modes_apply_to_every_read_workload():
    assert run_plan(["C", "W"], "16,64", "yes") == [("C", 16, True), ("C", 64, True), ("W", 16, False),
                                                    ("W", 64, False)]
