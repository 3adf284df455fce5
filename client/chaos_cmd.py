"""`trireme chaos`: break the local cluster on purpose, see what is broken, heal it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.status import table

ACTIONS = """actions:
  list                          what is in effect on each node (the default)
  log                           every fault and heal so far, with timestamps
  kill NODE | restart NODE      SIGKILL a node / start it again
  pause NODE | resume NODE      SIGSTOP / SIGCONT a node (a paused leader wakes up deposed)
  isolate AZ                    cut every link between the AZ and the rest
  split A,B C                   two sides that cannot talk to each other
  cut FROM TO [--both]          drop the Raft messages on one link (one way unless --both)
  latency --ms N [--jitter N] [NODE ...]   add delay to outgoing messages (all nodes if none given)
  loss --percent P [NODE ...]   drop that share of messages
  heal                          resume paused nodes and clear every link fault"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chaos", help="inject faults into the local cluster (kill, pause, partitions, latency)",
                       description="Inject faults into the local cluster started by `trireme up`.",
                       epilog=ACTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", default="list")
    p.add_argument("args", nargs="*")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--both", action="store_true", help="cut: both directions")
    p.add_argument("--ms", type=float, default=None, help="latency: added delay in milliseconds")
    p.add_argument("--jitter", type=float, default=0.0, help="latency: random extra delay up to this many ms")
    p.add_argument("--percent", type=float, default=None, help="loss: share of messages dropped")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chaos.faults import LocalChaos
    try:
        chaos = LocalChaos.load(args.data_dir)
    except (FileNotFoundError, OSError):
        print(f"trireme chaos: no local cluster in {args.data_dir} (start one with `trireme up`)", file=sys.stderr)
        return 2
    a, rest = args.action, args.args
    try:
        if a == "list":
            print(_render(chaos.in_effect()))
            return 0
        if a == "log":
            events = chaos.events()
            print("\n".join(e.line() for e in events) if events else "no faults injected yet")
            return 0
        nodes = rest or sorted(chaos.nodes())
        if a in ("kill", "restart", "pause", "resume"):
            _need(rest, 1, f"{a} NODE")
            event = getattr(chaos, a)(rest[0])
        elif a == "isolate":
            _need(rest, 1, "isolate AZ")
            event = chaos.isolate_az(rest[0])
        elif a == "split":
            _need(rest, 2, "split A,B C")
            event = chaos.split(rest[0].split(","), rest[1].split(","))
        elif a == "cut":
            _need(rest, 2, "cut FROM TO [--both]")
            event = chaos.cut(rest[0], rest[1], both=args.both)
        elif a == "latency":
            if args.ms is None:
                raise ValueError("latency needs --ms N")
            event = chaos.latency(nodes, args.ms, args.jitter)
        elif a == "loss":
            if args.percent is None:
                raise ValueError("loss needs --percent P")
            event = chaos.loss(nodes, args.percent)
        elif a == "heal":
            event = chaos.heal()
        else:
            raise ValueError(f"unknown action {a!r}\n{ACTIONS}")
    except ValueError as exc:
        print(f"trireme chaos: {exc}", file=sys.stderr)
        return 2
    print(event.line())
    return 0


def _need(rest: list[str], count: int, usage: str) -> None:
    if len(rest) != count:
        raise ValueError(f"usage: trireme chaos {usage}")


def _render(state: list[dict]) -> str:
    rows = []
    for s in state:
        f = s["faults"]
        parts = []
        if f.get("drop_to"):
            parts.append("drops to " + ",".join(f["drop_to"]))
        if f.get("drop_from"):
            parts.append("drops from " + ",".join(f["drop_from"]))
        if f.get("delay_ms") or f.get("jitter_ms"):
            parts.append(f"+{f.get('delay_ms', 0):g}ms (jitter {f.get('jitter_ms', 0):g}ms)")
        if f.get("loss"):
            parts.append(f"loses {f['loss'] * 100:g}%")
        rows.append([s["node"], s["az"], s["state"], "; ".join(parts) or "-"])
    return table(["NODE", "AZ", "PROCESS", "LINK FAULTS"], rows)
