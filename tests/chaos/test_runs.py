"""Bounded Jepsen-style runs against a real cluster: concurrent clients under
scheduled faults; every history must check out (registers linearizable, no
lost or phantom set element, counter reads within their bounds)."""

from __future__ import annotations

import pytest

from chaos.faults import LocalChaos
from chaos.runner import CheckConfig, run_check
from tests.integration.conftest import own_cluster  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workload,nemesis,seed", [
    ("register", ("kill", "pause", "leader-kill"), 11),
    ("register", ("isolate", "partition"), 12),
    ("set", ("kill", "pause", "isolate"), 13),
    ("counter", ("partition", "leader-kill", "pause"), 14),
    ("register", ("minority",), 15),
    ("register", ("majority", "bridge", "router-cut"), 16),
    ("register", ("pause-leader",), 17),
    ("set", ("rolling-restart",), 18),
    ("register", ("clock",), 19),
])
def test_histories_check_out_under_faults(own_cluster, tmp_path, workload, nemesis, seed):
    cluster = own_cluster(router_deadline_s=3.0)
    report = run_check(LocalChaos(cluster), CheckConfig(workload=workload, nemesis=nemesis, duration=20, clients=5,
                                            seed=seed, interval=2.5, out_dir=tmp_path / "check"))
    print("\n" + report.summary)
    assert report.valid is True, report.explanation
    assert "faults injected: none" not in report.summary
    assert len(report.history) > 2000
    assert (tmp_path / "check" / "timeline.txt").stat().st_size > 0
