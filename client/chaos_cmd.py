"""`trireme chaos`: break the local cluster on purpose, see what is broken, heal it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.status import render_link, table
from deploy.regions import is_multi_region

ACTIONS = """actions:
  list                          what is in effect on each node (the default)
  log                           every fault and heal so far, with timestamps
  kill NODE | restart NODE      SIGKILL a node / start it again
  stop NODE                     stop a node gracefully (SIGTERM); restart brings it back
  crashloop NODE [--times N] [--every S]   kill and restart it N times (default 5), S s apart (default 2)
  pause NODE | resume NODE      SIGSTOP / SIGCONT a node (a paused leader wakes up deposed)
  isolate AZ                    cut every link between the AZ and the rest
  split A,B C                   two sides that cannot talk to each other
  cut FROM TO [--both]          drop the messages on one link (one way unless --both);
                                FROM may be a router: its requests to node TO fail
  latency --ms N [--jitter N] [NODE ...]   add delay to outgoing messages (all nodes if none given)
  loss --percent P [NODE ...]   drop that share of messages
  clock --rate R [NODE ...]     run the nodes' Raft clocks at R times real time (leases are
                                safe while rates differ by at most the drift bound, 5%)
  disconnect NODE               (--compose) take the node's container off the network
  heal                          resume paused nodes, clear every link and clock fault

between regions (`trireme up --regions`; node actions above then need --region R):
  isolate-region R              cut every link pair between R and the other regions (both ways)
  heal-regions                  heal every cut pair of the cross-region link (latencies stay)
  region-latency R1 R2 MS       one-way latency between two regions, both directions
  kill-region R | start-region R   SIGKILL every node and router of R / start them again
  list, log, heal               without --region: the link and every region
  (with --compose: the two regions of deploy/docker-compose.regions.yml)

With --compose the faults hit the compose cluster (make compose-up): docker
kill/stop/pause, and kernel-level partitions (iptables DROP rules in the
DOCKER-USER chain) for isolate, split and cut."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chaos", help="inject faults into the cluster (kill, pause, partitions, latency, clocks)",
                       description="Inject faults into the local cluster started by `trireme up` "
                                   "(or the compose cluster with --compose).",
                       epilog=ACTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", default="list")
    p.add_argument("args", nargs="*")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--compose", action="store_true", help="the compose cluster instead of the local one")
    p.add_argument("--both", action="store_true", help="cut: both directions")
    p.add_argument("--ms", type=float, default=None, help="latency: added delay in milliseconds")
    p.add_argument("--jitter", type=float, default=0.0, help="latency: random extra delay up to this many ms")
    p.add_argument("--percent", type=float, default=None, help="loss: share of messages dropped")
    p.add_argument("--times", type=int, default=5, help="crashloop: how many crashes")
    p.add_argument("--every", type=float, default=2.0, help="crashloop: seconds between a crash and the restart")
    p.add_argument("--rate", type=float, default=None, help="clock: rate of the nodes' Raft clocks (1 = real time)")
    p.add_argument("--region", default=None, help="with `trireme up --regions`: the region whose nodes to break")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chaos.faults import DRIFT_BOUND, LocalChaos, LocalRegionChaos
    multi = not args.compose and is_multi_region(args.data_dir)
    if args.action in REGION_ACTIONS or (multi and not args.region):
        return _run_regions(args)
    if args.compose:
        from chaos.containers import reach_compose
        chaos = reach_compose("trireme chaos")
        if chaos is None:
            return 2
    else:
        try:
            chaos = LocalRegionChaos.load(args.data_dir).region(args.region) if multi \
                else LocalChaos.load(args.data_dir)
        except (FileNotFoundError, OSError):
            print(f"trireme chaos: no local cluster in {args.data_dir} (start one with `trireme up`)",
                  file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"trireme chaos: {exc}", file=sys.stderr)
            return 2
    a, rest = args.action, args.args
    try:
        if a == "list":
            print(_render(chaos.in_effect()))
            blocked = chaos.blocked() if hasattr(chaos, "blocked") else []
            if blocked:
                print("kernel DROP rules (iptables DOCKER-USER): " + "; ".join(blocked))
            return 0
        if a == "log":
            events = chaos.events()
            print("\n".join(e.line() for e in events) if events else "no faults injected yet")
            return 0
        nodes = rest or sorted(chaos.nodes())
        if a in ("kill", "restart", "stop", "pause", "resume"):
            _need(rest, 1, f"{a} NODE")
            event = getattr(chaos, a)(rest[0])
        elif a == "crashloop":
            _need(rest, 1, "crashloop NODE [--times N] [--every S]")
            chaos.crash_loop(rest[0], args.times, args.every, lambda e: print(e.line(), flush=True))
            return 0
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
        elif a == "clock":
            if args.rate is None:
                raise ValueError("clock needs --rate R (1 = real time)")
            event = chaos.clock(nodes, args.rate)
            rates = [s["faults"].get("clock_rate", 1.0) for s in chaos.in_effect() if s["faults"]]
            spread = max(rates) / min(rates) - 1 if rates else 0.0
            if spread > DRIFT_BOUND:
                print(f"note: clock rates now differ by {spread:.0%}, beyond the {DRIFT_BOUND:.0%} drift bound "
                      "the leases assume: a deposed leader may serve stale strongly consistent reads")
        elif a == "disconnect":
            _need(rest, 1, "disconnect NODE")
            if not hasattr(chaos, "disconnect"):
                raise ValueError("disconnect works on the compose cluster (--compose)")
            event = chaos.disconnect(rest[0])
        elif a == "heal":
            event = chaos.heal()
        else:
            raise ValueError(f"unknown action {a!r}\n{ACTIONS}")
    except ValueError as exc:
        print(f"trireme chaos: {exc}", file=sys.stderr)
        return 2
    print(event.line())
    return 0


REGION_ACTIONS = ("isolate-region", "heal-regions", "region-latency", "kill-region", "start-region")


def _run_regions(args: argparse.Namespace) -> int:
    """Faults between regions, and list/log/heal of the link and every region."""
    from chaos.faults import LocalRegionChaos
    a, rest = args.action, args.args
    if args.compose:
        from chaos.containers import reach_compose_regions
        chaos = reach_compose_regions("trireme chaos")
        if chaos is None:
            return 2
    elif is_multi_region(args.data_dir):
        chaos = LocalRegionChaos.load(args.data_dir)
    else:
        print(f"trireme chaos: {a} needs regions, and {args.data_dir} has none: start some with "
              f"`trireme up --regions us-east-1,eu-west-1 --data-dir DIR`", file=sys.stderr)
        return 2
    regions = chaos.region_chaos()
    try:
        if a == "list":
            print(render_link(chaos.link_state()))
            for region, nemesis in regions.items():
                print(f"\nregion {region}:\n" + _render(nemesis.in_effect()))
            return 0
        if a == "log":
            events = sorted([*chaos.events(), *(e for n in regions.values() for e in n.events())],
                            key=lambda e: e.at)
            print("\n".join(e.line() for e in events) if events else "no faults injected yet")
            return 0
        if a == "heal":
            events = [chaos.heal_regions()] + [n.heal() for n in regions.values()]
        elif a == "isolate-region":
            _need(rest, 1, "isolate-region REGION")
            events = [chaos.isolate_region(rest[0])]
        elif a == "heal-regions":
            _need(rest, 0, "heal-regions")
            events = [chaos.heal_regions()]
        elif a == "region-latency":
            _need(rest, 3, "region-latency REGION1 REGION2 MS")
            try:
                ms = float(rest[2])
            except ValueError:
                raise ValueError(f"region-latency: MS is a number of milliseconds, not {rest[2]!r}") from None
            events = [chaos.region_latency(rest[0], rest[1], ms)]
        elif a in ("kill-region", "start-region"):
            _need(rest, 1, f"{a} REGION")
            if a == "start-region":
                print(f"starting every process of {rest[0]} ...", flush=True)
            events = [getattr(chaos, a.replace("-", "_"))(rest[0])]
        else:
            names = chaos.region_names()
            raise ValueError(f"{args.data_dir} holds regions {', '.join(names)}: say whose "
                             f"nodes with --region (e.g. trireme chaos {a} ... --region {names[0]})")
    except (ValueError, RuntimeError, TimeoutError) as exc:
        print(f"trireme chaos: {exc}", file=sys.stderr)
        return 2
    print("\n".join(e.line() for e in events))
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
        if f.get("clock_rate", 1.0) != 1.0:
            parts.append(f"clock x{f['clock_rate']:g}")
        rows.append([s["node"], s["az"], s["state"], "; ".join(parts) or "-"])
    return table(["NODE / ROUTER", "AZ", "PROCESS", "FAULTS"], rows)
