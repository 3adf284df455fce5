"""bench/cpu.py: CPU per operation of a fresh cluster, and py-spy summaries."""

from __future__ import annotations

import json

import pytest

from bench import cpu


def test_summarize_counts_self_and_inclusive_samples_per_function(tmp_path):
    raw = tmp_path / "p.txt"
    raw.write_text("main (/a/run.py:1);handle (/a/api.py:10);write (/a/_call.py:5) 6\n"
                   "main (/a/run.py:1);handle (/a/api.py:12) 3\n"
                   "main (/a/run.py:2);select (/a/selectors.py:9) 1\n")
    out = cpu.summarize(raw)
    assert "10 samples" in out
    self_part, incl = out.split("inclusive:")
    assert "60.0%  write (_call.py)" in self_part and "30.0%  handle (api.py)" in self_part
    assert "100.0%  main (run.py)" in incl and "90.0%  handle (api.py)" in incl  # lines 10 and 12 counted together


@pytest.mark.slow
def test_a_run_reports_every_process_per_operation(tmp_path, capsys):
    out = tmp_path / "cpu.json"
    assert cpu.main(["--ops", "1000", "--reps", "2", "--warmup-ops", "100", "--records", "200", "--clients", "8",
                     "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["reps"]["this"]
    assert len(rows) == 2
    for row in rows:
        assert {"n1", "n2", "n3", "router1", "router1.loop", "nodes", "total", "ops/s", "p50 ms", "p99 ms"} <= set(row)
        assert row["total"] > 0 and row["router1"] >= row["router1.loop"] > 0
        assert 0 < row["p50 ms"] <= row["p99 ms"]
    # --leader n1 (the default) made n1 lead every partition: it works hardest.
    assert sum(r["n1"] for r in rows) > max(sum(r["n2"] for r in rows), sum(r["n3"] for r in rows))
    assert "CPU us per operation" in capsys.readouterr().out
