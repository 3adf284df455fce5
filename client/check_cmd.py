"""`trireme check`: a Jepsen-style run against a cluster, with a verdict."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from chaos.runner import FAULT_HELP, FAULTS, WORKLOADS
    p = sub.add_parser(
        "check", help="run concurrent clients under injected faults and check the history (Jepsen-style)",
        description="Run concurrent clients against a cluster while faults are injected on a schedule, "
                    "record every operation, and check the history: linearizability for `register`, "
                    "no lost or phantom elements for `set`, bounds for `counter`, for `ttl` that Time to Live "
                    "deleted every expired item nobody rescued and nothing else. By default a temporary "
                    "local cluster is started and stopped; --data-dir uses a running `trireme up` cluster, "
                    "--compose the compose cluster (`make compose-up`).",
        epilog=FAULT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=WORKLOADS, default="register")
    p.add_argument("--nemesis", default="kill,pause",
                   help=f"comma-separated faults from: {', '.join(FAULTS)}, or none (default kill,pause)")
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
    own = args.data_dir is None and not args.compose
    cfg = CheckConfig(workload=args.workload, nemesis=tuple(x for x in args.nemesis.split(",") if x),
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
        print(f"running {cfg.workload} for {cfg.duration:g} s under {args.nemesis} ...", flush=True)
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
