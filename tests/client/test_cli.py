"""The `trireme` command line, run as users run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from client.cli import main
from node.raft import log as raft_log

TRIREME = [str(Path(sys.executable).with_name("trireme"))]


def test_help_lists_the_subcommands():
    out = subprocess.run(TRIREME + ["--help"], capture_output=True, text=True, check=True).stdout
    assert "sim" in out


def test_sim_reports_invariants_and_speed():
    p = subprocess.run(TRIREME + ["sim", "--seeds", "6", "--jobs", "2"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "no violations in 6 seeds" in p.stdout
    assert "seeds/s" in p.stdout and "leader completeness" in p.stdout


def test_sim_single_seed_trace():
    p = subprocess.run(TRIREME + ["sim", "--seed", "2", "--trace"], capture_output=True, text=True)
    assert p.returncode == 0 and "=== seed 2: ok ===" in p.stdout and "is LEADER" in p.stdout


def test_sim_prints_seed_trace_and_reproducer_on_violation(monkeypatch, capsys):
    monkeypatch.setattr(raft_log.RaftLog, "is_up_to_date", lambda self, i, t: True)
    code = main(["sim", "--seeds", "30", "--jobs", "1", "--trace-lines", "15"])
    out = capsys.readouterr().out
    assert code == 1
    assert "violated an invariant" in out and "reproduce: trireme sim --seed" in out
    assert "VIOLATION" in out  # the trace ends at the violating step


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_every_flag_of_the_cluster_commands_is_explained():
    from client.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in ("up", "stop", "status", "kill", "start", "node", "router", "bench"):
        for action in sub.choices[name]._actions:
            assert action.help and len(action.help) > 10, f"trireme {name} {action.option_strings or action.dest}"
    bench_help = sub.choices["bench"].format_help()
    assert "issue" not in bench_help
