"""Where each failover's time went, read off a local cluster's logs.

For every kill and pause in the cluster's `chaos.log` (`trireme chaos`, or a
`trireme check --data-dir`), the seconds after the fault at which the other
nodes saw the leader's connection close, one of them became candidate, then
leader, then writable, and a router knew the new leader (its log line when
it found the leader of a partition whose leader failed a request or went
silent), for the partition that took longest; then each step's
distribution over the faults. A `trireme check` stall far above "router"
is the workload's (a key not written for a while), not the failover's.

    python -m chaos.failover_steps DATA_DIR [--after UNIX_TIME]

The fault's time is when `chaos.log` recorded it: a kill is recorded once
the process has exited, so a closed connection may come slightly before.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

STEPS = ("closed", "candidate", "leader", "writable", "router")
WINDOW_S = (-0.3, 5.0)  # the log lines that belong to a fault: this long before and after it
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\S+) \w+ \S+ (\S+): (.*)$")


@dataclass(frozen=True)
class Step:
    at: float  # unix time
    who: str  # the node or router that logged it
    group: str
    step: str  # one of STEPS
    gone: str = ""  # closed, router: the leader lost; leader: the new one


@dataclass
class Failover:
    fault: str  # kill, pause
    target: str
    at: float
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds after the fault (worst partition)


def parse(line: str) -> Step | None:
    """The failover step a node's or router's log line records, if any."""
    m = _LINE.match(line)
    if m is None:
        return None
    stamp, who, group, rest = m.groups()
    at = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    if (c := re.match(r"connection to leader (\S+) closed", rest)) is not None:
        return Step(at, who, group, "closed", c.group(1))
    if rest.startswith("candidate at term"):
        return Step(at, who, group, "candidate")
    if (c := re.match(r"leader at term \d+ \(leader (\S+)\)", rest)) is not None:
        return Step(at, who, group, "leader", c.group(1))
    if rest.startswith("writable at term"):
        return Step(at, who, group, "writable")
    if (c := re.match(r"leader \S+, \d+ ms after (\S+) (?:failed a request|went silent)", rest)) is not None:
        return Step(at, who, group, "router", c.group(1))
    return None


def attribute(faults: list[Failover], steps: Iterable[Step]) -> list[Failover]:
    """Fill each fault's steps: per partition a new leader took over from
    the fault's target in, the first time of each step; the worst partition's."""
    steps = sorted(steps, key=lambda s: s.at)
    for f in faults:
        lo, hi = f.at + WINDOW_S[0], f.at + WINDOW_S[1]
        near = [s for s in steps if lo <= s.at <= hi and s.who != f.target]
        taken = {s.group for s in near if s.step == "leader" and s.gone != f.target}
        first: dict[tuple[str, str], float] = {}
        for s in near:
            if s.group not in taken or (s.step in ("closed", "router") and s.gone != f.target):
                continue
            first.setdefault((s.group, s.step), s.at - f.at)
        for step in STEPS:
            times = [t for (_, st), t in first.items() if st == step]
            if times:
                f.steps[step] = max(times)
    return faults


def read(data_dir: Path, after: float = 0.0) -> list[Failover]:
    """The kills and pauses of `data_dir`'s chaos log (after `after`), with their steps."""
    faults = []
    for line in (data_dir / "chaos.log").read_text().splitlines():
        ev = json.loads(line)
        if ev["action"] in ("kill", "pause") and ev["at"] > after:
            faults.append(Failover(ev["action"], ev["target"], ev["at"]))
    logs = [*data_dir.glob("*/node.log"), *data_dir.glob("router*.log")]
    steps = (s for p in logs for line in p.read_text(errors="replace").splitlines() if (s := parse(line)))
    return attribute(faults, steps)


def quantile(xs: list[float], q: float) -> float:
    """By nearest rank, as `trireme check` reports its stalls."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def report(faults: list[Failover]) -> str:
    out = []
    for f in faults:
        at = datetime.datetime.fromtimestamp(f.at, datetime.timezone.utc).strftime("%H:%M:%S")
        out.append(f"{at} {f.fault} {f.target}: " + " ".join(f"{s} {f.steps[s]:.2f}s" for s in STEPS
                                                             if s in f.steps))
    for kind in sorted({f.fault for f in faults}):
        for s in STEPS:
            xs = [f.steps[s] for f in faults if f.fault == kind and s in f.steps]
            if xs:
                out.append(f"{kind} {s}: p50 {quantile(xs, 0.5):.2f}s p90 {quantile(xs, 0.9):.2f}s "
                           f"p99 {quantile(xs, 0.99):.2f}s max {max(xs):.2f}s (n={len(xs)})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m chaos.failover_steps", description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--after", type=float, default=0.0, help="only faults after this unix time")
    args = ap.parse_args(argv)
    print(report(read(args.data_dir, args.after)))


if __name__ == "__main__":
    main()
