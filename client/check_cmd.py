"""`trireme check`: a Jepsen-style run against a cluster, with a verdict."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.runner import CheckConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    from chaos.global_check import GLOBAL_FAULT_HELP
    from chaos.runner import FAULT_HELP, FAULTS, WORKLOADS
    p = sub.add_parser(
        "check", help="run concurrent clients under injected faults and check the history (Jepsen-style)",
        description="Run concurrent clients against a cluster while faults are injected on a schedule, "
                    "record every operation, and check the history: linearizability for `register`, "
                    "no lost or phantom elements for `set`, bounds for `counter`, for `ttl` that Time to Live "
                    "deleted every expired item nobody rescued and nothing else; `bank` moves money between accounts "
                    "with TransactWriteItems and reads every balance, transactionally and not, and checks "
                    "that every transfer is all or nothing and exactly once, no read sees money made or lost, "
                    "and the history is serializable; `global` (with --regions) "
                    "writes one global table from every region under region faults and checks that the regions "
                    "converge to identical items with no phantom and no write lost under last writer wins. "
                    "By default a temporary local cluster (or regions) is started and stopped; --data-dir uses "
                    "a running `trireme up` cluster (or `trireme up --regions` layout), --compose the compose "
                    "cluster (`make compose-up`).",
        epilog=FAULT_HELP + "\n\n" + GLOBAL_FAULT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=WORKLOADS + ("global",), default=None,
                   help="default register (global with --regions)")
    p.add_argument("--regions", default=None, metavar="N|R1,R2",
                   help="the global workload across N (2 to 5) temporary regions, or the regions named; "
                        "with --data-dir, the regions of that `trireme up --regions` layout")
    p.add_argument("--consistency", choices=("eventual", "strong"), default="eventual",
                   help="with --regions: eventual (the global workload on an MREC table, the default) or strong "
                        "(the register workload on an MRSC table, clients in all three regions, checked "
                        "linearizable; --regions 3: us-east-1,us-east-2,us-west-2, or three of one Region set)")
    p.add_argument("--nemesis", default=None,
                   help=f"comma-separated faults from: {', '.join(FAULTS)}, or none (default kill,pause; "
                        f"for global: isolate-region,region-latency,kill-region,kill)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--keys", type=int, default=4,
                   help="keys the register and global clients write (default 4; bank: twice as many accounts)")
    p.add_argument("--interval", type=float, default=4.0, help="seconds each fault lasts and between faults")
    p.add_argument("--settle", action="store_true",
                   help="after a kill's restart, wait until the node caught up before the next fault "
                        "(each kill then hits a whole cluster: the write stalls measure one failover)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("check"), help="where history and timeline go")
    p.add_argument("--data-dir", type=Path, default=None, help="check a running local cluster instead")
    p.add_argument("--compose", action="store_true", help="check the running compose cluster instead")
    p.add_argument("--progress", type=float, default=5.0, metavar="SECONDS",
                   help="print a progress line to stderr every SECONDS while the load runs (default 5; 0: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deploy.regions import is_multi_region
    regional = args.regions is not None or args.workload == "global" or args.consistency == "strong" or (
        args.data_dir is not None and is_multi_region(args.data_dir))
    try:
        cfg, start, check = (_regions if regional else _single)(args)
    except ValueError as exc:
        print(f"trireme check: {exc}", file=sys.stderr)
        return 2
    owned = None  # the temporary cluster or regions the check started
    interrupted = False
    # SIGTERM and SIGHUP (a closed terminal) end the check as Ctrl-C does, so
    # that the `finally` blocks stop the cluster it started (or heal the one
    # it borrowed and delete its table) instead of leaving them behind.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        chaos, owned = start()
        if chaos is None:
            return 2
        report = check(chaos, cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"trireme check: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        interrupted = True
        print(f"trireme check: interrupted; the history so far is in {cfg.out_dir}/history.jsonl",
              file=sys.stderr)
        return 130
    finally:
        if owned is not None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
            owned.stop()
            if interrupted:
                shutil.rmtree(owned.data_dir, ignore_errors=True)
    if owned is not None and report.valid:
        shutil.rmtree(owned.data_dir, ignore_errors=True)  # kept (with the node logs) when something is wrong
    print(report.summary)
    print(report.explanation)
    print(f"history, timeline and summary in {cfg.out_dir}/")
    return {True: 0, False: 1, None: 3}[report.valid]


def _config(args: argparse.Namespace, workload: str, nemesis: str, own: bool) -> CheckConfig:
    from chaos.runner import CheckConfig
    return CheckConfig(workload=workload, nemesis=tuple(x for x in (args.nemesis or nemesis).split(",") if x),
                       duration=args.duration, clients=args.clients, seed=args.seed, keys=args.keys,
                       interval=args.interval, out_dir=args.out, progress_s=args.progress, leave_clean=not own,
                       settle=args.settle)


def _single(args: argparse.Namespace) -> tuple[CheckConfig, Callable, Callable]:
    """One cluster: a temporary one, a running `trireme up` (--data-dir), or the compose cluster."""
    from chaos.faults import LocalChaos
    from chaos.runner import run_check
    from deploy.local import LocalCluster
    own = args.data_dir is None and not args.compose
    cfg = _config(args, args.workload or "register", "kill,pause", own)

    def start() -> tuple[Any, Any]:
        if args.compose:
            from chaos.containers import reach_compose
            return reach_compose("trireme check"), None
        if not own:
            return LocalChaos.load(args.data_dir), None
        cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="trireme-check-")), router_port=0,
                               node_base_port=0, router_deadline_s=3.0, partitions_per_table=2,  # (writes
                               # and transactions that cross partitions, moved leaders of more groups)
                               extra_env={"TRIREME_TTL_SWEEP_S": "1"} if cfg.workload == "ttl" else {})
        return LocalChaos(_launch(cluster, "a temporary cluster", 90)), cluster

    def check(chaos: Any, cfg: CheckConfig) -> Any:
        print(f"running {cfg.workload} for {cfg.duration:g} s under {','.join(cfg.nemesis)} ...", flush=True)
        if cfg.workload == "bank":
            from chaos.bank_check import run_bank_check
            return run_bank_check(chaos, cfg)
        return run_check(chaos, cfg)
    return cfg, start, check


def _regions(args: argparse.Namespace) -> tuple[CheckConfig, Callable, Callable]:
    """The global workload: on temporary regions (--regions N or R1,R2,...),
    or on a running `trireme up --regions` layout (--data-dir)."""
    from chaos.faults import LocalRegionChaos
    from chaos.global_check import DEFAULT_NEMESIS, GLOBAL_FAULTS, REGIONS, run_global_check
    from chaos.strong_check import run_strong_check
    from ddb.strong_tables import REGION_SETS, region_set
    from deploy.regions import MultiRegion, parse_regions
    strong = args.consistency == "strong"
    if args.workload not in ((None, "register") if strong else (None, "global")) or args.compose:
        raise ValueError("--regions runs the global workload (--workload global), or with --consistency strong "
                         "the register workload, on local regions")
    own = args.data_dir is None
    cfg = _config(args, "register" if strong else "global", ",".join(DEFAULT_NEMESIS), own)
    bad = [f for f in cfg.nemesis if f not in GLOBAL_FAULTS and f != "none"]
    if bad:
        raise ValueError(f"unknown fault {bad[0]!r} for the global workload; faults: {', '.join(GLOBAL_FAULTS)}")
    text = args.regions or ("3" if strong else "2")
    if text.isdigit():
        if not 2 <= int(text) <= len(REGIONS):
            raise ValueError(f"--regions takes 2 to {len(REGIONS)} (or the regions' names, like us-east-1,eu-west-1)")
        # MRSC: three regions of one Region set (ddb/strong_tables.py), as DynamoDB requires.
        regions = list(REGION_SETS["US"] if strong and text == "3" else REGIONS[:int(text)])
    else:
        regions = parse_regions(text)
    if strong and len(regions) != 3:
        raise ValueError("--consistency strong runs across exactly three regions (--regions 3)")
    if strong and (len({region_set(r) for r in regions}) != 1 or not region_set(regions[0])):
        raise ValueError("--consistency strong runs across three regions of one Region set, as DynamoDB's MRSC "
                         "(the default: us-east-1,us-east-2,us-west-2)")

    def start() -> tuple[Any, Any]:
        if not own:
            return LocalRegionChaos.load(args.data_dir), None
        multi = MultiRegion(Path(tempfile.mkdtemp(prefix="trireme-check-")), regions, router_port=0,
                            node_base_port=0, cluster_args={"router_deadline_s": 3.0})
        return LocalRegionChaos(_launch(multi, f"{len(regions)} temporary regions ({', '.join(regions)})", 120)), multi

    def check(chaos: Any, cfg: CheckConfig) -> Any:
        print(f"running {cfg.workload} across {', '.join(chaos.region_names())} for {cfg.duration:g} s under "
              f"{','.join(cfg.nemesis)} ...", flush=True)
        return (run_strong_check if strong else run_global_check)(chaos, cfg)
    return cfg, start, check


def _launch(owned: Any, what: str, wait_s: float) -> Any:
    """Start a temporary LocalCluster or MultiRegion; stopped again if it cannot start (or Ctrl-C)."""
    owned.plan()
    print(f"starting {what} in {owned.data_dir} ...", flush=True)
    try:
        owned.start(wait_s=wait_s)
    except BaseException:
        owned.stop()
        raise
    return owned


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
