"""Bounded Jepsen-style runs against a real cluster: concurrent clients under
scheduled faults; every history must check linearizable."""

from __future__ import annotations

import pytest

from chaos.runner import CheckConfig, run_check
from tests.integration.conftest import own_cluster  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("nemesis,seed", [
    (("kill", "pause", "leader-kill"), 11),
    (("isolate", "partition"), 12),
])
def test_register_stays_linearizable_under_faults(own_cluster, tmp_path, nemesis, seed):
    cluster = own_cluster(router_deadline_s=3.0)
    report = run_check(cluster, CheckConfig(workload="register", nemesis=nemesis, duration=20, clients=5,
                                            seed=seed, interval=2.5, out_dir=tmp_path / "check"))
    print("\n" + report.summary)
    assert report.valid is True, report.explanation
    assert "faults injected: none" not in report.summary
    assert len(report.history) > 2000
    assert (tmp_path / "check" / "timeline.txt").stat().st_size > 0
