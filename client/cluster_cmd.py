"""`trireme up`, `status`, `kill`, `start`: the local cluster from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from deploy.local import REGION, LocalCluster, alive


def add_parsers(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="start the local cluster (3 AZs, nodes and a router)",
                        description="Start storage nodes in three AZs and a router on loopback; "
                                    "Ctrl-C stops them. Data survives a restart.")
    up.add_argument("--data-dir", type=Path, default=Path("data"))
    up.add_argument("--nodes-per-az", type=int, default=1)
    up.add_argument("--port", type=int, default=8000, help="router port (default 8000)")
    up.add_argument("--node-base-port", type=int, default=7101)
    up.add_argument("--dead-after", type=float, default=30.0,
                    help="seconds before a down node's replicas are rebuilt elsewhere")
    up.set_defaults(func=cmd_up)

    st = sub.add_parser("status", help="nodes, tables and partitions of a running cluster")
    st.add_argument("--data-dir", type=Path, default=Path("data"))
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)

    k = sub.add_parser("kill", help="stop a node of the local cluster hard (SIGKILL)")
    k.add_argument("node")
    k.add_argument("--data-dir", type=Path, default=Path("data"))
    k.set_defaults(func=cmd_kill)

    s = sub.add_parser("start", help="start a stopped node of the local cluster again")
    s.add_argument("node")
    s.add_argument("--data-dir", type=Path, default=Path("data"))
    s.set_defaults(func=cmd_start)


def cmd_up(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.data_dir, nodes_per_az=args.nodes_per_az, router_port=args.port,
                           node_base_port=args.node_base_port, dead_after_s=args.dead_after)
    cluster.plan()
    running = [p.name for p in cluster.procs.values() if p.pid and alive(p.pid)]
    if running:
        print(f"trireme up: a cluster is already running from {cluster.data_dir} ({', '.join(running)}); "
              "stop it first (Ctrl-C in its terminal)", file=sys.stderr)
        return 1
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"starting {len(cluster.node_ids())} nodes and a router (data in {cluster.data_dir}) ...",
          flush=True)
    try:
        cluster.start(wait_s=90)
    except (TimeoutError, RuntimeError) as exc:
        print(f"trireme up: {exc}", file=sys.stderr)
        cluster.stop()
        return 1
    ep = cluster.endpoint
    print(f"""
Trireme is running: DynamoDB endpoint {ep} (region {REGION}, any credentials)

  nodes: {', '.join(f'{p.name} {p.az} {p.addr}' for p in cluster.procs.values() if p.kind == 'node')}

  boto3:
    import boto3
    ddb = boto3.client("dynamodb", endpoint_url="{ep}", region_name="{REGION}",
                       aws_access_key_id="x", aws_secret_access_key="x")
    ddb.list_tables()

  AWS CLI:
    aws dynamodb list-tables --endpoint-url {ep} --region {REGION}

  trireme status | trireme kill n2 | trireme start n2      Ctrl-C stops the cluster
""", flush=True)
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        print("stopping ...", flush=True)
        cluster = LocalCluster.load(cluster.data_dir)  # pick up nodes restarted by `trireme start`
        cluster.stop()
        print("stopped", flush=True)
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    cluster = LocalCluster.load(args.data_dir)
    if args.node not in cluster.procs:
        print(f"trireme kill: no process {args.node!r}; known: {', '.join(cluster.procs)}", file=sys.stderr)
        return 2
    p = cluster.procs[args.node]
    if not p.pid or not alive(p.pid):
        print(f"{args.node} is not running")
        return 0
    cluster.kill(args.node)
    print(f"killed {args.node} (pid {p.pid}); `trireme start {args.node}` brings it back")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    cluster = LocalCluster.load(args.data_dir)
    if args.node not in cluster.procs:
        print(f"trireme start: no process {args.node!r}; known: {', '.join(cluster.procs)}", file=sys.stderr)
        return 2
    p = cluster.start_proc(args.node)
    print(f"started {args.node} (pid {p.pid}), log in {p.log}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        cluster = LocalCluster.load(args.data_dir)
    except FileNotFoundError as exc:
        print(f"trireme status: {exc}", file=sys.stderr)
        return 1
    from client.status import gather, render
    report = asyncio.run(gather([p.addr for p in cluster.procs.values() if p.kind == "node"],
                                {p.name: p for p in cluster.procs.values()}))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render(report))
    return 0 if report.get("meta") else 1
