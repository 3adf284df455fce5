"""`trireme split TABLE`: split a partition of a running cluster now (the
controller also splits by size and heat by itself; node/partition/split.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from cluster.rpc import CallError, Channels, meta_call
from deploy.local import LocalCluster

DATA_DIR_HELP = "the local cluster's directory (default: data)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("split", help="split a table's partition in two now",
                        description="Split one partition of TABLE at its median item (the largest partition "
                                    "unless --partition names one): its replicas divide it in place, the "
                                    "metadata records the two halves, routers follow. `trireme status` shows it.")
    sp.add_argument("table")
    sp.add_argument("--partition", default=None, help="the partition to split (see `trireme status`)")
    sp.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    sp.set_defaults(func=cmd_split)


async def meta(cluster: LocalCluster, op: str, body: dict, deadline_s: float = 15.0) -> Any:
    """A metadata call to the cluster's meta leader."""
    channels = Channels(cluster.cluster_id)
    try:
        addrs = [p.addr for p in cluster.procs.values() if p.kind == "node"]
        return await meta_call(channels, addrs, op, body, deadline_s=deadline_s)
    finally:
        await channels.close()


def cmd_split(args: argparse.Namespace) -> int:
    try:
        cluster = LocalCluster.load(args.data_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"trireme split: {exc}", file=sys.stderr)
        return 2
    try:
        done = asyncio.run(meta(cluster, "split_table", {"name": args.table, "partition": args.partition}))
    except CallError as exc:
        print(f"trireme split: {exc.message or exc}", file=sys.stderr)
        return 1
    print(f"split {done['parent']} at hash {done['mid']:016x}: {done['parent']} keeps the lower half, "
          f"{done['child']} (replicas {', '.join(done['voters'])}) takes the upper half")
    return 0
