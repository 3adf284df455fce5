"""`make soak`: long `trireme check` runs of every workload under every fault,
with the peak RSS and runtime of each.

Why a separate driver: the checker must stay within a memory bound however
long it runs, and that is only seen by watching the real process from
outside.  Each run is a `trireme check` child; its RSS is sampled from
/proc, and a run that grows past `--rss-cap-mb` is stopped (SIGTERM, so it
stops its cluster; SIGKILL after a grace period) instead of taking the
machine down.  Results go to a table on stdout and to ``results.json``
(rewritten after every run, so an interrupted soak keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos.runner import FAULTS, WORKLOADS

#: Faults a local cluster supports (``disconnect`` needs the compose one).
LOCAL_FAULTS = tuple(f for f in FAULTS if f != "disconnect")
_VERDICTS = {0: "valid", 1: "INVALID", 2: "error", 3: "unknown"}


@dataclass
class SoakRun:
    workload: str
    nemesis: str
    duration: float
    seed: int
    peak_rss_mb: float = 0.0
    runtime_s: float = 0.0
    verdict: str = ""
    capped: bool = False
    out_dir: str = ""


def rss_kb(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of `pid` in KiB, from /proc; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def kb(name: str) -> int:
        return int(fields.get(name, "0 kB").split()[0])
    return kb("VmRSS"), kb("VmHWM")


def run_one(run: SoakRun, out: Path, cap_mb: float, sample_s: float = 0.5) -> SoakRun:
    """Run one check as a child process, sampling its RSS until it exits."""
    run.out_dir = str(out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "client.cli", "check", "--workload", run.workload, "--nemesis", run.nemesis,
           "--duration", f"{run.duration:g}", "--seed", str(run.seed), "--out", str(out)]
    t0 = time.monotonic()
    with open(out / "check.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        peak = 0
        stopping_since = None
        while proc.poll() is None:
            now_kb, hwm_kb = rss_kb(proc.pid)
            peak = max(peak, now_kb, hwm_kb)
            if peak > cap_mb * 1024 and not run.capped:
                run.capped = True
                stopping_since = time.monotonic()
                proc.send_signal(signal.SIGTERM)  # lets it stop the cluster it started
            if stopping_since is not None and time.monotonic() - stopping_since > 30:
                proc.kill()
            time.sleep(sample_s)
    run.runtime_s = round(time.monotonic() - t0, 1)
    run.peak_rss_mb = round(peak / 1024, 1)
    run.verdict = "stopped at RSS cap" if run.capped else _VERDICTS.get(proc.returncode, f"exit {proc.returncode}")
    return run


def table(runs: list[SoakRun]) -> str:
    """The results as a plain-text table."""
    head = ("workload", "nemesis", "duration s", "peak RSS MB", "runtime s", "verdict")
    rows = [(r.workload, r.nemesis, f"{r.duration:g}", f"{r.peak_rss_mb:.1f}", f"{r.runtime_s:.1f}", r.verdict)
            for r in runs]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chaos.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--durations", default="60,300", help="comma-separated seconds of load (default 60,300)")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--nemeses", default=",".join(LOCAL_FAULTS),
                   help="comma-separated; each entry is one run's --nemesis, '+' joins faults (kill+partition)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--rss-cap-mb", type=float, default=3000.0, help="stop a check whose RSS exceeds this")
    p.add_argument("--out", type=Path, default=Path("soak"))
    args = p.parse_args(argv)
    runs: list[SoakRun] = []
    plan = [(float(d), w, n.replace("+", ",")) for d in args.durations.split(",")
            for w in args.workloads.split(",") for n in args.nemeses.split(",")]
    for i, (duration, workload, nemesis) in enumerate(plan, 1):
        run = SoakRun(workload, nemesis, duration, args.seed)
        name = f"{workload}-{nemesis.replace(',', '+')}-{duration:g}s"
        print(f"[{i}/{len(plan)}] {name} ...", flush=True)
        runs.append(run_one(run, args.out / name, args.rss_cap_mb))
        r = runs[-1]
        print(f"[{i}/{len(plan)}] {name}: peak RSS {r.peak_rss_mb:.1f} MB, {r.runtime_s:.1f} s, {r.verdict}",
              flush=True)
        (args.out / "results.json").write_text(json.dumps([asdict(x) for x in runs], indent=2) + "\n")
    print()
    print(table(runs))
    print(f"\nresults in {args.out / 'results.json'}; each run's history and log under {args.out}/")
    return 0 if all(r.verdict == "valid" for r in runs) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
