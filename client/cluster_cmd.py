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

from client.status import gather_cluster, gather_regions, render, render_regions, table
from deploy.link import DEFAULT_LATENCY_MS
from deploy.link import add_parser as link_add_parser
from deploy.local import LayoutConflict, LocalCluster, wait_exit
from deploy.regions import MultiRegion, is_multi_region, parse_regions


DATA_DIR_HELP = "the cluster's directory: cluster.json, logs and each node's data (default ./data)"
REGION_HELP = "with `trireme up --regions`: the region the process belongs to"


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
    up.add_argument("--router-workers", type=int, default=None, metavar="N",
                    help="router processes behind the DynamoDB port (default 1): `trireme up` makes the port's "
                         "listening socket and hands it to each, the kernel spreads connections over them, and "
                         "one that exits is started again; each has its own admin endpoint (`trireme status`). "
                         "A router is one process, so one core: more use more cores")
    up.add_argument("--node-base-port", type=int, default=None,
                    help="port of the first storage node; the others use the next ports (default 7101, "
                         "so 7101-7103), their peer (Raft) ports are 100 above (7201-7203) and their metrics ports "
                         "(GET /metrics) 2000 above (9101-9103); fixed once "
                         "the cluster exists. Give each cluster on one machine "
                         "its own --port and --node-base-port")
    up.add_argument("--dead-after", type=float, default=None,
                    help="seconds a node may be down before its replicas are rebuilt on other nodes "
                         "(default 30)")
    up.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                    type=str.upper, help="how much the nodes and routers write to their logs in --data-dir "
                                         "(default INFO)")
    up.add_argument("--log-format", default="text", choices=("text", "json"),
                    help="text (default) or json: the nodes' and routers' logs as one JSON object per line "
                         "(time, level, logger, process, message, request_id, ...)")
    up.add_argument("--access-log", action="store_true",
                    help="routers log one line per request (operation, table, status, latency, request id)")
    up.add_argument("--regions", default="",
                    help="REGION,REGION[,...]: one cluster per region (in DATA_DIR/REGION), joined by a "
                         "cross-region link; region i's router listens on --port + i (8000, 8001, ...), its "
                         "nodes from --node-base-port + 10*i (7101, 7111, ...); fixed once the regions exist")
    up.add_argument("--region-latency-ms", type=float, default=None,
                    help=f"with --regions: one-way latency of the cross-region link (default "
                         f"{DEFAULT_LATENCY_MS:g}; a request and its answer cost twice this)")
    up.add_argument("--tls", action="store_true",
                    help="HTTPS on the routers and mutual TLS between nodes and routers, with a local CA and "
                         "certificates made in DATA_DIR/tls (trust DATA_DIR/tls/ca.pem: AWS_CA_BUNDLE, boto3's "
                         "verify=); fixed once the cluster exists")
    up.add_argument("--auth", action="store_true",
                    help="enforce authentication: requests must be signed with a user's keys (`trireme users`); "
                         "creates the admin user and DATA_DIR/credentials (profile trireme). Once a cluster "
                         "runs with --auth it stays so. Default: open mode, any credentials pass")
    up.add_argument("--key-file", type=Path, default=None,
                    help="the cluster master key file (default DATA_DIR/kms/master.key, made on first start); "
                         "keep it out of the data directory you back up or share")
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
    k.add_argument("--region", default=None, help=REGION_HELP)
    k.set_defaults(func=cmd_kill)

    s = sub.add_parser("start", help="start a stopped node of the local cluster again",
                       description="Start one stopped process of the running local cluster again, with "
                                   "its data; it stops with the cluster's `trireme up`.")
    s.add_argument("node", help="the node or router to start (n1, n2, ... or router1)")
    s.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    s.add_argument("--region", default=None, help=REGION_HELP)
    s.set_defaults(func=cmd_start)
    link_add_parser(sub)


def cmd_up(args: argparse.Namespace) -> int:
    if args.regions or is_multi_region(args.data_dir):
        if args.router_workers is not None:
            print("trireme up: --router-workers goes without --regions (each region has one router)",
                  file=sys.stderr)
            return 2
        return _up_regions(args)
    if args.region_latency_ms is not None:
        print("trireme up: --region-latency-ms goes with --regions", file=sys.stderr)
        return 2
    if args.router_workers is not None and args.router_workers < 1:
        print(f"trireme up: --router-workers wants 1 or more, not {args.router_workers}", file=sys.stderr)
        return 2
    cluster = LocalCluster(args.data_dir, nodes_per_az=args.nodes_per_az or 1,
                           router_port=8000 if args.port is None else args.port,
                           node_base_port=7101 if args.node_base_port is None else args.node_base_port,
                           dead_after_s=30.0 if args.dead_after is None else args.dead_after, tls=args.tls,
                           router_workers=args.router_workers or 1)
    saved = cluster.layout_file.resolve().exists()
    cluster.plan()
    if _still_running(cluster, args):
        return 1
    if args.tls and not cluster.tls:
        print(f"trireme up: --tls conflicts with the cluster saved in {cluster.layout_file} (started without "
              f"TLS; its processes' certificates would not match their data). Leave out --tls, or give a new "
              f"--data-dir for a new cluster", file=sys.stderr)
        return 2
    if saved:
        try:
            cluster.apply(router_port=args.port, node_base_port=args.node_base_port,
                          nodes_per_az=args.nodes_per_az, dead_after_s=args.dead_after,
                          router_workers=args.router_workers)
        except LayoutConflict as exc:
            print(f"trireme up: {exc}", file=sys.stderr)
            return 2
    cluster.log_level = args.log_level
    cluster.access_log = args.access_log
    cluster.log_format = args.log_format
    cluster.auth = cluster.auth or args.auth
    if args.key_file is not None:
        cluster.key_file = str(args.key_file.resolve())
    taken = _taken_port(cluster, saved)
    if taken:
        print(f"trireme up: {taken}", file=sys.stderr)
        return 1
    workers = f"{cluster.router_workers} router workers on one port" if cluster.router_workers > 1 else "a router"
    print(f"starting {len(cluster.node_ids())} nodes and {workers} (data in {cluster.data_dir}) ...", flush=True)

    def reload() -> LocalCluster:
        cluster.halt_supervision()  # stopping: no router worker is started again
        return LocalCluster.load(cluster.data_dir)
    return _serve(cluster, lambda: _banner(cluster), reload)


def _running(target: LocalCluster | MultiRegion) -> list[str]:
    if isinstance(target, MultiRegion):
        return target.running()
    return [p.name for p in target.procs.values() if target.running(p)]


def _still_running(target: LocalCluster | MultiRegion, args: argparse.Namespace) -> bool:
    """Whether its `trireme up` still runs it (said on stderr); processes a
    gone `trireme up` left behind are stopped."""
    running = _running(target)
    if running and target.owner_alive():
        print(f"trireme up: already running from {target.data_dir} ({', '.join(running)}; `trireme up` pid "
              f"{target.owner_pid}); stop it first: Ctrl-C in its terminal, or "
              f"`trireme stop --data-dir {args.data_dir}`", file=sys.stderr)
        return True
    if running:
        print(f"found {', '.join(running)} of {target.data_dir} left running by a `trireme up` that is gone: "
              "stopping them first", flush=True)
        target.stop()
    return False


def _serve(target: LocalCluster | MultiRegion, banner, reload) -> int:
    """Start `target`, print the banner, run until Ctrl-C or SIGTERM, then stop
    what is running then (`reload` picks up processes restarted meanwhile)."""
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        target.start(wait_s=90)
    except (TimeoutError, RuntimeError) as exc:
        hint = " (trireme up: --port moves the router, --node-base-port the nodes)" \
            if "cannot listen" in str(exc) else ""
        print(f"trireme up: {exc}{hint}", file=sys.stderr)
        target.stop()
        return 1
    print(banner(), flush=True)
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        print("stopping ...", flush=True)
        reload().stop()
        print("stopped", flush=True)
    return 0


def _auth_banner(cluster: LocalCluster) -> str:
    ep, region, creds = cluster.endpoint, cluster.region, cluster.credentials_file
    return f"""
Trireme is running: DynamoDB endpoint {ep} (region {region}), AUTHENTICATION ENFORCED

  The admin user's keys are in {creds} (profile trireme):
    export AWS_SHARED_CREDENTIALS_FILE={creds} AWS_PROFILE=trireme AWS_DEFAULT_REGION={region}
    {_ca_bundle(cluster)}aws dynamodb list-tables --endpoint-url {ep}
    python -c 'import boto3; print(boto3.client("dynamodb", endpoint_url="{ep}"{_verify_inline(cluster)}).list_tables())'
{_tls_note(cluster)}
  users of their own: trireme users add NAME; trireme users put-policy NAME POLICY FILE; trireme users list
  trireme status | trireme kill n2 | trireme start n2      Ctrl-C or `trireme stop` stops the cluster
  cluster id {cluster.cluster_id}; master key {cluster.master_key_file}; logs in {cluster.data_dir}
"""


def _banner(cluster: LocalCluster) -> str:
    if cluster.auth:
        return _auth_banner(cluster)
    ep, region = cluster.endpoint, cluster.region
    return f"""
Trireme is running: DynamoDB endpoint {ep} (region {region}, OPEN MODE: any credentials; --auth enforces them)

  nodes: {', '.join(f'{p.name} {p.az} {p.addr}' for p in cluster.procs.values() if p.kind == 'node')}{_workers(cluster)}

  boto3:
    import boto3
    ddb = boto3.client("dynamodb", endpoint_url="{ep}", region_name="{region}",
                       aws_access_key_id="x", aws_secret_access_key="x"{_verify(cluster)})
    ddb.list_tables()

  AWS CLI:
    {_ca_bundle(cluster)}aws dynamodb list-tables --endpoint-url {ep} --region {region}
{_tls_note(cluster)}
  trireme status | trireme kill n2 | trireme start n2      Ctrl-C or `trireme stop` stops the cluster
  cluster id {cluster.cluster_id}; logs: --log-level {cluster.log_level} in {cluster.data_dir}
"""


def _workers(cluster: LocalCluster) -> str:
    """The banner's line about router workers (none with one router)."""
    workers = [p for p in cluster.procs.values() if p.shared]
    if not workers:
        return ""
    return (f"\n  router workers on port {cluster.router_port}: "
            + ", ".join(f"{p.name} pid {p.pid}" for p in workers))


def _verify(cluster: LocalCluster) -> str:
    return f',\n                       verify="{cluster.ca_file}"' if cluster.tls else ""


def _verify_inline(cluster: LocalCluster) -> str:
    return f', verify="{cluster.ca_file}"' if cluster.tls else ""


def _ca_bundle(cluster: LocalCluster) -> str:
    return f"AWS_CA_BUNDLE={cluster.ca_file} " if cluster.tls else ""


def _tls_note(cluster: LocalCluster) -> str:
    """How to trust a TLS cluster's routers (its CA made by `trireme up --tls`)."""
    if not cluster.tls:
        return ""
    return f"""
  TLS: the routers serve HTTPS with certificates of the cluster's own CA, {cluster.ca_file};
  trust it with AWS_CA_BUNDLE={cluster.ca_file} (AWS CLI, SDKs) or boto3's verify=.
  Nodes and routers talk mutual TLS; a node of another cluster is refused.
"""


def _up_regions(args: argparse.Namespace) -> int:
    """`trireme up --regions A,B,...` (or `trireme up` on a data dir that holds regions)."""
    try:
        regions = parse_regions(args.regions) if args.regions else []
    except ValueError as exc:
        print(f"trireme up: {exc}", file=sys.stderr)
        return 2
    if (args.data_dir / "cluster.json").exists():
        print(f"trireme up: {args.data_dir} holds a one-region cluster; give a new --data-dir for --regions",
              file=sys.stderr)
        return 2
    m = MultiRegion(args.data_dir, regions, nodes_per_az=args.nodes_per_az or 1,
                    router_port=8000 if args.port is None else args.port,
                    node_base_port=7101 if args.node_base_port is None else args.node_base_port,
                    latency_ms=DEFAULT_LATENCY_MS if args.region_latency_ms is None else args.region_latency_ms,
                    cluster_args={"dead_after_s": 30.0 if args.dead_after is None else args.dead_after,
                                  # One master key for every region: their routers accept each other's calls.
                                  "key_file": str((args.key_file or args.data_dir / "kms" / "master.key").resolve()),
                                  "auth": args.auth, "tls": args.tls})
    saved = m.layout_file.resolve().exists()
    try:
        m.plan()
        if _still_running(m, args):
            return 1
        if args.tls and not all(c.tls for c in m.clusters.values()):
            raise LayoutConflict(f"--tls conflicts with the regions saved in {m.layout_file} (started without "
                                 f"TLS). Leave out --tls, or give a new --data-dir")
        if saved:
            m.apply(router_port=args.port, node_base_port=args.node_base_port, nodes_per_az=args.nodes_per_az,
                    dead_after_s=args.dead_after, latency_ms=args.region_latency_ms)
    except LayoutConflict as exc:
        print(f"trireme up: {exc}", file=sys.stderr)
        return 2
    for c in m.clusters.values():
        c.log_level, c.access_log, c.log_format = args.log_level, args.access_log, args.log_format
        c.auth = c.auth or args.auth
        taken = _taken_port(c, saved)
        if taken:
            print(f"trireme up: {c.region}: {taken}", file=sys.stderr)
            return 1
    for what, addr in [("the link's control endpoint", m.control)] + [
            (f"the link's pair {p.src}->{p.dst}", f"127.0.0.1:{p.port}") for p in m.link_pairs()]:
        why = _in_use(addr)
        if why:
            print(f"trireme up: port {addr.rpartition(':')[2]} of {what} is taken ({why}), perhaps by another "
                  f"cluster; the link's ports follow --port (--port + 99 and up)", file=sys.stderr)
            return 1
    nodes = sum(len(c.node_ids()) for c in m.clusters.values())
    print(f"starting {len(m.regions)} regions ({nodes} nodes, a router each) and the cross-region link "
          f"(data in {m.data_dir}) ...", flush=True)
    return _serve(m, lambda: _regions_banner(m), lambda: MultiRegion.load(m.data_dir))


def _regions_banner(m: MultiRegion) -> str:
    latency = sorted({p.latency_ms for p in m.link_pairs()})
    rows = [[r, c.endpoint, ", ".join(f"{p.name} {p.az} {p.addr}" for p in c.procs.values() if p.kind == "node")]
            for r, c in m.clusters.items()]
    clients = "\n".join(
        f'    {r.replace("-", "_")} = boto3.client("dynamodb", endpoint_url="{ep}", region_name="{r}",\n'
        f'    {" " * len(r)}{" " * len(" = boto3.client(")}aws_access_key_id="x", aws_secret_access_key="x")'
        for r, ep in m.endpoints().items())
    first, second = m.regions[0], m.regions[1]
    usage = _regions_auth(m) if any(c.auth for c in m.clusters.values()) else (
        "  boto3 (one client per region; the endpoint picks the region, region_name must match it):\n"
        f"    import boto3\n{clients}\n")
    return f"""
Trireme is running {len(m.regions)} regions, joined by a cross-region link \
({"/".join(f"{x:g}" for x in latency)} ms one way):

{_indent(table(["REGION", "DYNAMODB ENDPOINT", "NODES"], rows))}

{usage}{_tls_note(next(iter(m.clusters.values())))}
  trireme status                              every region, the link, replica tables
  trireme chaos isolate-region {second:<14} cut it off (then: trireme chaos heal-regions)
  trireme chaos region-latency {first} {second} 100   one-way ms between two regions
  trireme chaos kill-region {second:<17} every process of it (then: start-region {second})
  trireme kill n2 --region {second:<18} one process of a region (trireme start n2 --region ...)
  Ctrl-C or `trireme stop` stops everything; logs in {m.data_dir}/REGION/ and {m.link_log}
"""


def _regions_auth(m: MultiRegion) -> str:
    """How to use the admin keys of each region (AUTHENTICATION ENFORCED)."""
    lines = "\n".join(f"    {r}: AWS_SHARED_CREDENTIALS_FILE={c.credentials_file} AWS_PROFILE=trireme "
                       f"AWS_DEFAULT_REGION={r} aws dynamodb list-tables --endpoint-url {c.endpoint}"
                       for r, c in m.clusters.items())
    return f"""  AUTHENTICATION ENFORCED: each region's admin keys are in DATA_DIR/REGION/credentials (profile trireme):
{lines}
"""


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _cluster_of(command: str, args: argparse.Namespace) -> LocalCluster | None:
    """The cluster a per-process command acts on: the one in --data-dir, or
    with regions the one of --region. Prints what to do when there is none."""
    try:
        if is_multi_region(args.data_dir):
            m = MultiRegion.load(args.data_dir)
            if not getattr(args, "region", None):
                raise ValueError(f"{args.data_dir} holds regions {', '.join(m.regions)}: say which with --region")
            return m.cluster(args.region)
        cluster = LocalCluster.load(args.data_dir)
        if getattr(args, "region", None) not in (None, cluster.region):
            raise ValueError(f"the cluster in {args.data_dir} is region {cluster.region}, not {args.region}")
        return cluster
    except (FileNotFoundError, ValueError) as exc:
        print(f"trireme {command}: {exc}", file=sys.stderr)
        return None


def _where(args: argparse.Namespace) -> str:
    return f" --region {args.region}" if getattr(args, "region", None) else ""


def cmd_kill(args: argparse.Namespace) -> int:
    cluster = _cluster_of("kill", args)
    if cluster is None:
        return 2
    if args.node not in cluster.procs:
        print(f"trireme kill: no process {args.node!r}; known: {', '.join(cluster.procs)}", file=sys.stderr)
        return 2
    p = cluster.procs[args.node]
    if not cluster.running(p):
        print(f"{args.node} is not running")
        return 0
    cluster.kill(args.node)
    if p.shared:
        print(f"killed {args.node} (pid {p.pid}); the other router workers serve port {cluster.router_port}, and "
              f"`trireme up` starts {args.node} again by itself")
        return 0
    print(f"killed {args.node} (pid {p.pid}); `trireme start {args.node}{_where(args)}` brings it back")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    cluster = _cluster_of("start", args)
    if cluster is None:
        return 2
    if args.node not in cluster.procs:
        print(f"trireme start: no process {args.node!r}; known: {', '.join(cluster.procs)}", file=sys.stderr)
        return 2
    if not cluster.owner_alive():
        print(f"trireme start: the cluster in {cluster.data_dir} is not running (its `trireme up` is gone); "
              f"start it with `trireme up --data-dir {args.data_dir}`", file=sys.stderr)
        return 1
    try:
        p = cluster.start_proc(args.node)
    except RuntimeError as exc:  # a router worker its `trireme up` did not start again
        print(f"trireme start: {exc}", file=sys.stderr)
        return 1
    if p.shared:
        print(f"{args.node} runs (pid {p.pid}): `trireme up` starts a router worker again by itself; log in {p.log}")
        return 0
    print(f"started {args.node} (pid {p.pid}), log in {p.log}")
    return 0


def _load(command: str, data_dir: Path) -> LocalCluster | MultiRegion | None:
    try:
        return MultiRegion.load(data_dir) if is_multi_region(data_dir) else LocalCluster.load(data_dir)
    except FileNotFoundError as exc:
        print(f"trireme {command}: {exc}", file=sys.stderr)
        return None


def cmd_stop(args: argparse.Namespace) -> int:
    target = _load("stop", args.data_dir)
    if target is None:
        return 1
    owner = target.owner_pid
    if target.owner_alive() and owner != os.getpid():
        os.kill(owner, signal.SIGTERM)  # it stops its cluster in order, then exits
        if not wait_exit(owner, 30.0):
            print(f"trireme stop: `trireme up` (pid {owner}) did not stop within 30 s; stopping its processes",
                  file=sys.stderr)
        target = _load("stop", args.data_dir)
    running = _running(target)
    target.stop()
    what = "regions" if isinstance(target, MultiRegion) else "cluster"
    print(f"stopped the {what} in {target.data_dir}" + (f" ({', '.join(running)})" if running else ""))
    return 0


def _taken_port(cluster: LocalCluster, saved: bool) -> str:
    """Why a port of the cluster cannot be used (in use), or ""."""
    for p, addr in [(p, a) for p in cluster.procs.values() for a in (p.addr, p.peer_addr, p.metrics_addr) if a]:
        port = addr.rpartition(":")[2]
        why = _in_use(addr)
        if why:
            if p.kind == "router":
                flag = "choose another with --port"
            elif saved:
                flag = ("node ports are fixed once the cluster exists: stop what holds it, or give a new "
                        "--data-dir and --node-base-port for a new cluster")
            else:
                flag = "choose other node ports with --node-base-port"
            return f"port {port} of {p.name} is taken ({why}), perhaps by another cluster; {flag}"
    return ""


def _in_use(addr: str) -> str:
    """Why nothing can listen on `addr` (host:port) now, or ""."""
    host, _, port = addr.rpartition(":")
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, int(port)))
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def cmd_status(args: argparse.Namespace) -> int:
    target = _load("status", args.data_dir)
    if target is None:
        return 1
    if isinstance(target, MultiRegion):
        report = gather_regions(target)
        ok = all(r.get("meta") for r in report["regions"].values())
    else:
        report = asyncio.run(gather_cluster(target))
        report["routers"] = _routers(target)
        ok = bool(report.get("meta"))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    elif isinstance(target, MultiRegion):
        print(render_regions(report))
    else:
        print(render(report))
        print("\n" + table(["ROUTER", "PID", "STATE", "DYNAMODB PORT", "ADMIN ENDPOINT"], [
            [r["name"], r["pid"] or "-", r["state"], r["addr"] + (" (shared)" if r["shared"] else ""), r["admin"]]
            for r in report["routers"]]))
    return 0 if ok else 1


def _routers(cluster: LocalCluster) -> list[dict]:
    """The routers as `trireme status` shows them: router workers share one port."""
    return [{"name": p.name, "pid": p.pid if cluster.running(p) else 0,
             "state": "running" if cluster.running(p) else "stopped", "addr": p.addr, "admin": p.admin_addr,
             "shared": p.shared} for p in cluster.procs.values() if p.kind == "router"]
