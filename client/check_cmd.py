"""`trireme check`: a Jepsen-style run against a cluster, with a verdict."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from chaos.global_check import GLOBAL_FAULT_HELP
    from chaos.runner import FAULT_HELP, FAULTS, WORKLOADS
    p = sub.add_parser(
        "check", help="run concurrent clients under injected faults and check the history (Jepsen-style)",
        description="Run concurrent clients against a cluster while faults are injected on a schedule, "
                    "record every operation, and check the history: linearizability for `register`, "
                    "no lost or phantom elements for `set`, bounds for `counter`, for `ttl` that Time to Live "
                    "deleted every expired item nobody rescued and nothing else; `global` (with --regions) writes one global "
                    "table from every region under region faults and checks that the regions converge to identical "
                    "items with no phantom and no write lost under last writer wins. By default a temporary "
                    "local cluster is started and stopped; --data-dir uses a running `trireme up` cluster, "
                    "--compose the compose cluster (`make compose-up`).",
        epilog=FAULT_HELP + "\n\n" + GLOBAL_FAULT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=WORKLOADS + ("global",), default=None,
                   help="default register (global with --regions)")
    p.add_argument("--regions", default=None, metavar="N|R1,R2",
                   help="the global workload across N (2 to 5) temporary regions, or the regions named; "
                        "with --data-dir, the regions of that `trireme up --regions` layout")
    p.add_argument("--nemesis", default=None,
                   help=f"comma-separated faults from: {', '.join(FAULTS)}, or none (default kill,pause; "
                        f"for global: isolate-region,region-latency,kill-region,kill)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--keys", type=int, default=4, help="register keys (default 4)")
    p.add_argument("--interval", type=float, default=4.0, help="seconds each fault lasts and between faults")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("check"), help="where history and timeline go")
    p.add_argument("--data-dir", type=Path, default=None, help="check a running local cluster instead")
    p.add_argument("--compose", action="store_true", help="check the running compose cluster instead")
    p.add_argument("--progress", type=float, default=5.0, metavar="SECONDS",
                   help="print a progress line to stderr every SECONDS while the load runs (default 5; 0: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chaos.faults import LocalChaos
    from chaos.runner import CheckConfig, run_check
    from deploy.local import LocalCluster
    from deploy.regions import is_multi_region
    if args.regions is not None or args.workload == "global" or (
            args.data_dir is not None and is_multi_region(args.data_dir)):
        return run_regions(args)
    own = args.data_dir is None and not args.compose
    cfg = CheckConfig(workload=args.workload or "register", nemesis=_nemesis(args.nemesis or "kill,pause"),
                      duration=args.duration, clients=args.clients, seed=args.seed, keys=args.keys,
                      interval=args.interval, out_dir=args.out, progress_s=args.progress, leave_clean=not own)
    cluster = None
    interrupted = False
    # SIGTERM and SIGHUP (a closed terminal) end the check as Ctrl-C does, so
    # that the `finally` blocks stop the cluster it started (or heal the one
    # it borrowed and delete its table) instead of leaving them behind.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        if args.compose:
            from chaos.containers import reach_compose
            chaos = reach_compose("trireme check")
            if chaos is None:
                return 2
        elif own:
            cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="trireme-check-")), router_port=0,
                                   node_base_port=0, router_deadline_s=3.0,
                                   extra_env={"TRIREME_TTL_SWEEP_S": "1"} if args.workload == "ttl" else {})
            cluster.plan()
            print(f"starting a temporary cluster in {cluster.data_dir} ...", flush=True)
            cluster.start(wait_s=90)
            chaos = LocalChaos(cluster)
        else:
            chaos = LocalChaos.load(args.data_dir)
        print(f"running {cfg.workload} for {cfg.duration:g} s under {','.join(cfg.nemesis)} ...", flush=True)
        report = run_check(chaos, cfg)
    except ValueError as exc:
        print(f"trireme check: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        interrupted = True
        print(f"trireme check: interrupted; the history so far is in {cfg.out_dir}/history.jsonl",
              file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
            cluster.stop()
            if interrupted:
                shutil.rmtree(cluster.data_dir, ignore_errors=True)
    if cluster is not None and report.valid:
        shutil.rmtree(cluster.data_dir, ignore_errors=True)  # kept (with the node logs) when something is wrong
    print(report.summary)
    print(report.explanation)
    print(f"history, timeline and summary in {cfg.out_dir}/")
    return {True: 0, False: 1, None: 3}[report.valid]


def _nemesis(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def run_regions(args: argparse.Namespace) -> int:
    """The global workload: on temporary regions (--regions), or on a running
    `trireme up --regions` layout (--data-dir)."""
    from chaos.faults import LocalRegionChaos
    from chaos.global_check import DEFAULT_NEMESIS, REGIONS, run_global_check
    from chaos.runner import CheckConfig
    from deploy.regions import MultiRegion, parse_regions
    if args.workload not in (None, "global") or args.compose:
        print("trireme check: --regions runs the global workload (on local regions only)", file=sys.stderr)
        return 2
    own = args.data_dir is None
    regions = None
    try:
        if own:
            text = args.regions or "2"
            regions = list(REGIONS[:int(text)]) if text.isdigit() else parse_regions(text)
            parse_regions(",".join(regions))  # 2 to 10 regions
    except ValueError as exc:
        print(f"trireme check: --regions: {exc}", file=sys.stderr)
        return 2
    cfg = CheckConfig(workload="global", nemesis=_nemesis(args.nemesis or ",".join(DEFAULT_NEMESIS)),
                      duration=args.duration, clients=args.clients, seed=args.seed, keys=args.keys,
                      interval=args.interval, out_dir=args.out, progress_s=args.progress, leave_clean=not own)
    multi = None
    interrupted = False
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        if own:
            multi = MultiRegion(Path(tempfile.mkdtemp(prefix="trireme-check-")), regions, router_port=0,
                                node_base_port=0, cluster_args={"router_deadline_s": 3.0})
            multi.plan()
            print(f"starting {len(regions)} temporary regions ({', '.join(regions)}) in {multi.data_dir} ...",
                  flush=True)
            multi.start(wait_s=120)
            chaos = LocalRegionChaos(multi)
        else:
            chaos = LocalRegionChaos.load(args.data_dir)
        print(f"running global across {', '.join(chaos.region_names())} for {cfg.duration:g} s under "
              f"{','.join(cfg.nemesis)} ...", flush=True)
        report = run_global_check(chaos, cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"trireme check: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        interrupted = True
        print(f"trireme check: interrupted; the history so far is in {cfg.out_dir}/history.jsonl",
              file=sys.stderr)
        return 130
    finally:
        if multi is not None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            multi.stop()
            if interrupted:
                shutil.rmtree(multi.data_dir, ignore_errors=True)
    if multi is not None and report.valid:
        shutil.rmtree(multi.data_dir, ignore_errors=True)  # kept (with the logs) when something is wrong
    print(report.summary)
    print(report.explanation)
    print(f"history, timeline and summary in {cfg.out_dir}/")
    return {True: 0, False: 1, None: 3}[report.valid]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
