"""`trireme node`: run a storage node until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run a storage node",
                       description="Run a storage node: raft replicas of partitions, the data, raft, "
                                   "meta and admin gRPC services.")
    p.add_argument("--id", required=True, help="node id, unique in the cluster (e.g. n1)")
    p.add_argument("--az", required=True, help="availability zone (e.g. us-east-1a)")
    p.add_argument("--listen", required=True, help="HOST:PORT for gRPC (e.g. 127.0.0.1:7101)")
    p.add_argument("--advertise", default="", help="HOST:PORT peers dial (default: --listen)")
    p.add_argument("--data-dir", required=True, type=Path, help="directory for this node's data")
    p.add_argument("--initial-cluster", default="",
                   help="founding members of the metadata group: ID=HOST:PORT@AZ,... "
                        "(the same on each founding node)")
    p.add_argument("--join", default="", help="HOST:PORT,... of existing nodes, to join a running cluster")
    p.add_argument("--dead-after", type=float, default=30.0,
                   help="seconds a node may be down before its replicas move elsewhere (default 30)")
    p.add_argument("--partitions-per-table", type=int, default=2,
                   help="partitions a new table starts with (default 2)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from node.server import NodeConfig, parse_initial_cluster

    logging.basicConfig(level=args.log_level.upper(),
                        format=f"%(asctime)s {args.id} %(levelname)s %(name)s: %(message)s")
    try:
        initial = parse_initial_cluster(args.initial_cluster)
    except ValueError as exc:
        print(f"trireme node: {exc}")
        return 2
    if not initial and not args.join:
        print("trireme node: give --initial-cluster (to found a cluster) or --join (to join one)")
        return 2
    args.data_dir.mkdir(parents=True, exist_ok=True)
    cfg = NodeConfig(id=args.id, az=args.az, listen=args.listen, advertise=args.advertise,
                     data_dir=args.data_dir, initial_cluster=initial,
                     join=[a for a in args.join.split(",") if a], dead_after_s=args.dead_after,
                     partitions_per_table=args.partitions_per_table)
    return asyncio.run(_serve(cfg))


async def _serve(cfg) -> int:
    from node.server import Node

    node = Node(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    await stop.wait()
    await node.stop()
    return 0
