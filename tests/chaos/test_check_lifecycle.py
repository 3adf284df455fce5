"""`trireme check` around the run itself: a borrowed cluster is left healed
and without the check's table; an interrupted check stops the cluster it
started. Neither asserts a rate or a fault schedule, so they run in make
test's parallel phase (the runs under faults, tests/chaos/test_runs.py, run
alone)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chaos.faults import LocalChaos
from chaos.runner import TABLE, CheckConfig, run_check
from deploy.local import alive
from tests.integration.conftest import make_client, own_cluster, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def test_check_of_a_borrowed_cluster_heals_it_and_deletes_its_table(own_cluster, tmp_path):
    cluster = own_cluster(router_deadline_s=3.0)
    chaos = LocalChaos(cluster)
    report = run_check(chaos, CheckConfig(workload="register", nemesis=("kill",), duration=4, clients=2, seed=3,
                                          interval=1.5, out_dir=tmp_path / "check", progress_s=1,
                                          leave_clean=True))
    assert report.valid is True, report.explanation
    assert "kill x" in report.summary
    assert TABLE not in make_client(cluster.endpoint).list_tables()["TableNames"]
    assert all(chaos.process_state(n) == "up" for n in chaos.nodes())


def test_check_interrupted_by_sigterm_stops_the_cluster_it_started(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "client.cli", "check", "--workload", "set", "--duration", "120",
                             "--nemesis", "kill", "--progress", "1", "--out", str(tmp_path / "check")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    pids: list[int] = []
    try:
        # Progress shows while the load runs: operations, faults, time left.
        wait_until(lambda: any(re.search(r"check: \d+/120 s: [1-9]\d* operations .*faults: .* s left", line)
                               for line in lines), 120, "a progress line")
        data_dir = Path(next(line for line in lines if line.startswith("starting a temporary cluster in"))
                        .split(" in ", 1)[1].removesuffix(" ...\n"))
        pids = [p["pid"] for p in json.loads((data_dir / "cluster.json").read_text())["procs"].values()]
        assert pids and all(alive(pid) for pid in pids)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 130, "".join(lines)
        wait_until(lambda: not any(alive(pid) for pid in pids), 30, "the cluster's processes to exit")
        assert not data_dir.exists()
        reader.join(5)
        assert "interrupted" in "".join(lines)
        assert (tmp_path / "check" / "history.jsonl").stat().st_size > 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
