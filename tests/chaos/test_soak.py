"""The soak driver's measurements and report (the runs themselves are `make soak`)."""

from __future__ import annotations

import os
import subprocess
import sys

from chaos.soak import SoakRun, rss_kb, run_one, table


def test_rss_of_a_live_process_and_of_a_gone_one():
    now, peak = rss_kb(os.getpid())
    assert 0 < now <= peak
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert rss_kb(proc.pid) == (0, 0)


def test_a_failing_check_is_reported_with_its_runtime(tmp_path):
    run = run_one(SoakRun("no-such-workload", "kill", 1, 0), tmp_path / "run", cap_mb=3000)
    assert run.verdict == "error" and run.runtime_s > 0 and not run.capped
    assert "invalid choice" in (tmp_path / "run" / "check.log").read_text()


def test_table_lines_up_columns():
    out = table([SoakRun("set", "kill,partition", 60, 11, 81.6, 71.5, "valid"),
                 SoakRun("register", "pause", 300, 11, 109.3, 332.8, "valid")]).splitlines()
    assert out[0].split() == ["workload", "nemesis", "duration", "s", "peak", "RSS", "MB", "runtime", "s", "verdict"]
    assert out[2].split() == ["set", "kill,partition", "60", "81.6", "71.5", "valid"]
    assert len({line.index("valid") for line in out[2:]}) == 1
