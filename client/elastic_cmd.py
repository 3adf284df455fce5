"""Elastic partitions from the command line: `trireme split TABLE` splits a
partition now (the controller also splits by size and heat by itself;
node/partition/split.py); `trireme node add --az AZ` starts one more storage
node, which the controller moves replicas onto; `trireme node remove NODE`
drains a node (its replicas move away), then stops it (`--compose`: a node
of the compose deployment, whose container is then removed)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.rpc import CallError, Channels, meta_call
from deploy.containers import Compose, ContainerError, compose_meta_seeds, ensure_engine, remove_node_container
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


async def meta_at(cluster_id: str, addrs: list[str], op: str, body: dict, deadline_s: float = 15.0) -> Any:
    """A metadata call to the meta leader, found from ``addrs``."""
    channels = Channels(cluster_id)
    try:
        return await meta_call(channels, addrs, op, body, deadline_s=deadline_s)
    finally:
        await channels.close()


async def meta(cluster: LocalCluster, op: str, body: dict, deadline_s: float = 15.0) -> Any:
    """A metadata call to the local cluster's meta leader."""
    addrs = [p.addr for p in cluster.procs.values() if p.kind == "node"]
    return await meta_at(cluster.cluster_id, addrs, op, body, deadline_s)


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


def node_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trireme node", description="Add a storage node to the running local "
                                     "cluster, or drain one and remove it. (`trireme node --id ...` runs a node.)")
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="start one more storage node; the controller moves replicas onto it")
    add.add_argument("--az", required=True, help="its availability zone (see `trireme status`)")
    add.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    add.set_defaults(func=cmd_node_add)
    rm = sub.add_parser("remove", help="move a node's replicas to the others, then stop it")
    rm.add_argument("node", help="the node to remove (n1, n2, ...)")
    rm.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    rm.add_argument("--timeout", type=float, default=300.0, help="how long to wait for the drain (seconds)")
    rm.add_argument("--compose", action="store_true",
                    help="a node of the compose cluster (deploy/docker-compose.yml; TRIREME_NET and "
                         "TRIREME_CLUSTER_ID from the environment): drained, then its container and volume removed")
    rm.add_argument("--project", default="trireme", help="the compose project (with --compose; default trireme)")
    rm.set_defaults(func=cmd_node_remove)
    return parser


def node_main(argv: list[str]) -> int:
    args = node_parser().parse_args(argv)
    return args.func(args)


def _running_cluster(command: str, data_dir: Path) -> LocalCluster | None:
    try:
        cluster = LocalCluster.load(data_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"trireme {command}: {exc}", file=sys.stderr)
        return None
    if not cluster.owner_alive():
        print(f"trireme {command}: the cluster in {data_dir} is not running (start it with `trireme up`)",
              file=sys.stderr)
        return None
    return cluster


def cmd_node_add(args: argparse.Namespace) -> int:
    cluster = _running_cluster("node add", args.data_dir)
    if cluster is None:
        return 1
    try:
        p = cluster.add_node(args.az)
    except ValueError as exc:
        print(f"trireme node add: {exc}", file=sys.stderr)
        return 2
    cluster.start_proc(p.name)
    deadline = time.monotonic() + 60
    while p.name not in asyncio.run(meta(cluster, "nodes", {}))["nodes"]:
        if time.monotonic() > deadline:
            print(f"trireme node add: {p.name} did not join within 60 s; see {p.log}", file=sys.stderr)
            return 1
        time.sleep(0.3)
    print(f"added {p.name} in {args.az} at {p.addr} (log {p.log}); the controller moves replicas onto it: "
          "watch `trireme status`")
    return 0


def holds(state: dict, node: str) -> list[str]:
    """The partitions whose replica sets still name ``node``."""
    return sorted(p["id"] for p in state["partitions"].values() if node in p["voters"] + p.get("learners", []))


Meta = Callable[[str, dict], Any]


def drain(meta: Meta, node: str, timeout: float) -> bool:
    """Mark ``node`` draining and wait until no partition names it, printing
    each change (the controller moves a replica at a time). False, after
    saying why, when it still holds some at the deadline."""
    try:
        meta("drain_node", {"id": node})
    except CallError as exc:
        print(f"trireme node remove: {exc.message or exc}", file=sys.stderr)
        return False
    print(f"draining {node}: its replicas move to the other nodes", flush=True)
    deadline = time.monotonic() + timeout
    shown: list[str] = []
    while left := holds(meta("nodes", {}), node):
        if left != shown:
            print(f"  {node} still holds {len(left)} replica(s): {', '.join(left)}", flush=True)
            shown = left
        if time.monotonic() > deadline:
            print(f"trireme node remove: {node} still holds {', '.join(left)} after {timeout:.0f} s "
                  "(no other node in its AZ, or not enough nodes?); it stays, draining", file=sys.stderr)
            return False
        time.sleep(0.5)
    print(f"  {node} holds no replica any more", flush=True)
    return True


def cmd_node_remove(args: argparse.Namespace) -> int:
    if args.compose:
        return _remove_compose_node(args)
    cluster = _running_cluster("node remove", args.data_dir)
    if cluster is None:
        return 1
    if cluster.procs.get(args.node, None) is None or cluster.procs[args.node].kind != "node":
        print(f"trireme node remove: no node {args.node!r}; known: {', '.join(cluster.node_ids())}", file=sys.stderr)
        return 2
    if not drain(lambda op, body: asyncio.run(meta(cluster, op, body)), args.node, args.timeout):
        return 1
    cluster.kill(args.node, signal.SIGTERM)
    asyncio.run(meta(cluster, "forget_node", {"id": args.node}))
    cluster.forget(args.node)
    print(f"removed {args.node}: it held no replica any more and is stopped")
    return 0


def _remove_compose_node(args: argparse.Namespace) -> int:
    """The same drain against the compose cluster's metadata (the host reaches
    the nodes on their bridge addresses), then the container goes."""
    settings = {k: v for k, v in os.environ.items() if k.startswith("TRIREME_")}
    try:
        compose = Compose(ensure_engine(install=False), project=args.project, settings=settings)
    except ContainerError as exc:
        print(f"trireme node remove: {exc}", file=sys.stderr)
        return 1
    seeds = compose_meta_seeds(compose)

    def meta_of(op: str, body: dict) -> Any:
        return asyncio.run(meta_at(compose.cluster_id, seeds, op, body))

    try:
        known = meta_of("nodes", {})["nodes"]
    except CallError as exc:
        print(f"trireme node remove: cannot reach the compose cluster ({exc.message or exc}); "
              "is it up (make compose-up), with the same TRIREME_NET and TRIREME_CLUSTER_ID?", file=sys.stderr)
        return 1
    if args.node not in known:
        print(f"trireme node remove: no node {args.node!r}; known: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    if not drain(meta_of, args.node, args.timeout):
        return 1
    try:
        remove_node_container(compose, args.node)
    except ContainerError as exc:
        print(f"trireme node remove: {exc}", file=sys.stderr)
        return 1
    meta_of("forget_node", {"id": args.node})
    print(f"removed {args.node}: it held no replica any more; its container and volume are gone")
    return 0
