"""`trireme up`, `stop`, `status`, `kill`, `start`: the local cluster from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

from deploy.local import LayoutConflict, LocalCluster, wait_exit


DATA_DIR_HELP = "the cluster's directory: cluster.json, logs and each node's data (default ./data)"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="start the local cluster (3 AZs, nodes and a router)",
                        description="Start storage nodes in three AZs and a router on loopback; "
                                    "Ctrl-C (or `trireme stop`) stops them, and they stop by themselves "
                                    "if this command is killed. Data and layout survive a restart: "
                                    "run `trireme up` with the same --data-dir to start the cluster again.")
    up.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    up.add_argument("--nodes-per-az", type=int, default=None,
                    help="storage nodes in each of the three AZs (default 1: three nodes); fixed once "
                         "the cluster exists")
    up.add_argument("--port", type=int, default=None,
                    help="port of the DynamoDB endpoint (the router) on 127.0.0.1 (default 8000; "
                         "may change between runs)")
    up.add_argument("--node-base-port", type=int, default=None,
                    help="port of the first storage node; the others use the next ports (default 7101, "
                         "so 7101-7103), and their peer (Raft) ports are 100 above (7201-7203); fixed once "
                         "the cluster exists. Give each cluster on one machine "
                         "its own --port and --node-base-port")
    up.add_argument("--dead-after", type=float, default=None,
                    help="seconds a node may be down before its replicas are rebuilt on other nodes "
                         "(default 30)")
    up.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                    type=str.upper, help="how much the nodes and routers write to their logs in --data-dir "
                                         "(default INFO)")
    up.add_argument("--access-log", action="store_true",
                    help="routers log one line per request (operation, table, status, latency, request id)")
    up.set_defaults(func=cmd_up)

    stop = sub.add_parser("stop", help="stop the local cluster (also one left behind by a killed `trireme up`)",
                          description="Stop the nodes and routers of the cluster in --data-dir: ask its "
                                      "`trireme up` to stop them, or stop them directly when it is gone.")
    stop.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    stop.set_defaults(func=cmd_stop)

    st = sub.add_parser("status", help="nodes, tables and partitions of a running cluster",
                        description="Show the cluster's nodes, tables and every partition's replicas "
                                    "(leader, applied log index), as the nodes report them.")
    st.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    st.add_argument("--json", action="store_true", help="print the report as JSON, for scripts")
    st.set_defaults(func=cmd_status)

    k = sub.add_parser("kill", help="stop a node of the local cluster hard (SIGKILL)",
                       description="Kill one process of the local cluster at once (SIGKILL), as a crash "
                                   "would; `trireme start NODE` brings it back with its data.")
    k.add_argument("node", help="the node or router to kill (n1, n2, ... or router1; see `trireme status`)")
    k.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    k.set_defaults(func=cmd_kill)

    s = sub.add_parser("start", help="start a stopped node of the local cluster again",
                       description="Start one stopped process of the running local cluster again, with "
                                   "its data; it stops with the cluster's `trireme up`.")
    s.add_argument("node", help="the node or router to start (n1, n2, ... or router1)")
    s.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    s.set_defaults(func=cmd_start)


def cmd_up(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.data_dir, nodes_per_az=args.nodes_per_az or 1,
                           router_port=8000 if args.port is None else args.port,
                           node_base_port=7101 if args.node_base_port is None else args.node_base_port,
                           dead_after_s=30.0 if args.dead_after is None else args.dead_after)
    saved = cluster.layout_file.resolve().exists()
    cluster.plan()
    running = [p.name for p in cluster.procs.values() if cluster.running(p)]
    if running and cluster.owner_alive():
        print(f"trireme up: a cluster is already running from {cluster.data_dir} ({', '.join(running)}; "
              f"`trireme up` pid {cluster.owner_pid}); stop it first: Ctrl-C in its terminal, or "
              f"`trireme stop --data-dir {args.data_dir}`", file=sys.stderr)
        return 1
    if running:
        print(f"found {', '.join(running)} of {cluster.data_dir} left running by a `trireme up` that is gone: "
              "stopping them first", flush=True)
        cluster.stop()
    if saved:
        try:
            cluster.apply(router_port=args.port, node_base_port=args.node_base_port,
                          nodes_per_az=args.nodes_per_az, dead_after_s=args.dead_after)
        except LayoutConflict as exc:
            print(f"trireme up: {exc}", file=sys.stderr)
            return 2
    cluster.log_level = args.log_level
    cluster.access_log = args.access_log
    taken = _taken_port(cluster, saved)
    if taken:
        print(f"trireme up: {taken}", file=sys.stderr)
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
        hint = " (trireme up: --port moves the router, --node-base-port the nodes)" \
            if "cannot listen" in str(exc) else ""
        print(f"trireme up: {exc}{hint}", file=sys.stderr)
        cluster.stop()
        return 1
    ep, region = cluster.endpoint, cluster.region
    print(f"""
Trireme is running: DynamoDB endpoint {ep} (region {region}, any credentials)

  nodes: {', '.join(f'{p.name} {p.az} {p.addr}' for p in cluster.procs.values() if p.kind == 'node')}

  boto3:
    import boto3
    ddb = boto3.client("dynamodb", endpoint_url="{ep}", region_name="{region}",
                       aws_access_key_id="x", aws_secret_access_key="x")
    ddb.list_tables()

  AWS CLI:
    aws dynamodb list-tables --endpoint-url {ep} --region {region}

  trireme status | trireme kill n2 | trireme start n2      Ctrl-C or `trireme stop` stops the cluster
  cluster id {cluster.cluster_id}; logs: --log-level {cluster.log_level} in {cluster.data_dir}
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
    if not cluster.running(p):
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
    if not cluster.owner_alive():
        print(f"trireme start: the cluster in {cluster.data_dir} is not running (its `trireme up` is gone); "
              f"start it with `trireme up --data-dir {args.data_dir}`", file=sys.stderr)
        return 1
    p = cluster.start_proc(args.node)
    print(f"started {args.node} (pid {p.pid}), log in {p.log}")
    return 0


def _load(command: str, data_dir: Path) -> LocalCluster | None:
    try:
        return LocalCluster.load(data_dir)
    except FileNotFoundError as exc:
        print(f"trireme {command}: {exc}", file=sys.stderr)
        return None


def cmd_stop(args: argparse.Namespace) -> int:
    cluster = _load("stop", args.data_dir)
    if cluster is None:
        return 1
    owner = cluster.owner_pid
    if cluster.owner_alive() and owner != os.getpid():
        os.kill(owner, signal.SIGTERM)  # it stops its cluster in order, then exits
        if not wait_exit(owner, 30.0):
            print(f"trireme stop: `trireme up` (pid {owner}) did not stop within 30 s; stopping its processes",
                  file=sys.stderr)
        cluster = LocalCluster.load(args.data_dir)
    running = [p.name for p in cluster.procs.values() if cluster.running(p)]
    cluster.stop()
    print(f"stopped the cluster in {cluster.data_dir}" + (f" ({', '.join(running)})" if running else ""))
    return 0


def _taken_port(cluster: LocalCluster, saved: bool) -> str:
    """Why a port of the cluster cannot be used (in use), or ""."""
    for p, addr in [(p, a) for p in cluster.procs.values() for a in (p.addr, p.peer_addr) if a]:
        host, _, port = addr.rpartition(":")
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, int(port)))
        except OSError as exc:
            if p.kind == "router":
                flag = "choose another with --port"
            elif saved:
                flag = ("node ports are fixed once the cluster exists: stop what holds it, or give a new "
                        "--data-dir and --node-base-port for a new cluster")
            else:
                flag = "choose other node ports with --node-base-port"
            return f"port {port} of {p.name} is taken ({exc.strerror}), perhaps by another cluster; {flag}"
    return ""


def cmd_status(args: argparse.Namespace) -> int:
    cluster = _load("status", args.data_dir)
    if cluster is None:
        return 1
    from client.status import gather, render
    report = asyncio.run(gather([p.addr for p in cluster.procs.values() if p.kind == "node"],
                                {p.name: p for p in cluster.procs.values()}, cluster_id=cluster.cluster_id))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render(report))
    return 0 if report.get("meta") else 1
