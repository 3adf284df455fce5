"""`trireme node`: run a storage node until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from cluster.regions import DEFAULT_REGION


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run a storage node",
                       description="Run a storage node: raft replicas of partitions, the data, raft, "
                                   "meta and admin services.")
    p.add_argument("--id", required=True, help="node id, unique in the cluster (e.g. n1)")
    p.add_argument("--az", required=True, help="availability zone (e.g. us-east-1a)")
    p.add_argument("--listen", required=True, help="HOST:PORT for gRPC (e.g. 127.0.0.1:7101)")
    p.add_argument("--peer-listen", required=True,
                   help="HOST:PORT for Raft between nodes, the peer port (e.g. 127.0.0.1:7201; `trireme up` "
                        "uses the --listen port + 100). Peers dial the host of --advertise at this port")
    p.add_argument("--metrics-listen", default="",
                   help="HOST:PORT to serve Prometheus metrics at GET /metrics (default: none; `trireme up` "
                        "picks a port)")
    p.add_argument("--advertise", default="", help="HOST:PORT routers and peers dial for gRPC (default: --listen)")
    p.add_argument("--data-dir", required=True, type=Path, help="directory for this node's data")
    p.add_argument("--cluster-id", default="",
                   help="the cluster this node belongs to: required to found a cluster (the same on every "
                        "founding node); a joining node learns it from --join. Stored in --data-dir; "
                        "nodes and routers of other clusters are refused")
    p.add_argument("--initial-cluster", default="",
                   help="founding members of the metadata group: ID=HOST:PORT@AZ,... "
                        "(the same on each founding node)")
    p.add_argument("--join", default="", help="HOST:PORT,... of existing nodes, to join a running cluster")
    p.add_argument("--dead-after", type=float, default=30.0,
                   help="seconds a node may be down before its replicas move elsewhere (default 30)")
    p.add_argument("--partitions-per-table", type=int, default=1,
                   help="partitions a new table starts with (default 1; they split as they grow)")
    p.add_argument("--router-endpoint", default="",
                   help="http://HOST:PORT of a router: AWS_ENDPOINT_URL for the handlers of event source "
                        "mappings run on this node (`trireme up` sets it)")
    p.add_argument("--region", default=DEFAULT_REGION, help=f"this cluster's region (default {DEFAULT_REGION})")
    p.add_argument("--remote-regions", default="",
                   help="REGION=URL,...: other regions' router endpoints, through the cross-region link "
                        "(global tables replicate there)")
    p.add_argument("--remote-peers", default="",
                   help="REGION=HOST:PORT,...: the cross-region link's peer port for each other region "
                        "(Raft of strongly consistent global tables)")
    p.add_argument("--peer-clusters", default="",
                   help="ID,...: the other regions' cluster ids, whose nodes this node admits on its peer port")
    p.add_argument("--tls-dir", type=Path, default=None,
                   help="mutual TLS on the gRPC and peer ports with DIR/ca.pem, DIR/ID.pem and DIR/ID.key "
                        "(`trireme up --tls` makes them); the certificate names the cluster")
    p.add_argument("--tls-ca", type=Path, default=None, help="the CA certificate (instead of --tls-dir)")
    p.add_argument("--tls-cert", type=Path, default=None, help="this node's certificate (instead of --tls-dir)")
    p.add_argument("--tls-key", type=Path, default=None, help="its private key (instead of --tls-dir)")
    p.add_argument("--parent-pid", type=int, default=0,
                   help="stop when the process with this pid ends (`trireme up` passes its own)")
    p.add_argument("--key-file", type=Path, default=None,
                   help="the cluster master key file (cluster/kms.py; `trireme up` makes DATA_DIR/kms/master.key): "
                        "tables' data are encrypted at rest under keys it wraps (without it they are not), users' "
                        "secrets are wrapped with it, and the node signs its calls to routers run with --auth")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.add_argument("--log-format", default="text", choices=("text", "json"),
                   help="text (default) or json: one JSON object per line (time, level, logger, message, "
                        "request_id, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cluster import tls
    from cluster.identity import IdentityError, settle
    from cluster.logs import configure
    from cluster.regions import parse_remote_peers, parse_remote_regions
    from node.config import NodeConfig, parse_initial_cluster

    configure(args.log_level, args.log_format, args.id)
    try:
        initial = parse_initial_cluster(args.initial_cluster)
        remote_regions = parse_remote_regions(args.remote_regions)
        remote_peers = parse_remote_peers(args.remote_peers)
        ident = tls.from_flags(args.tls_dir, args.tls_ca, args.tls_cert, args.tls_key, args.id, "node",
                               args.cluster_id)
    except ValueError as exc:
        return _fail(str(exc), 2)
    if ident is not None:  # the certificate names the cluster
        args.cluster_id = ident.member.cluster_id
        tls.use(ident, own=True)
    if not initial and not args.join:
        return _fail("give --initial-cluster (to found a cluster) or --join (to join one)", 2)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        cluster_id = settle(args.data_dir, args.cluster_id)
    except IdentityError as exc:
        return _fail(str(exc), 2)
    if not cluster_id and not args.join:
        return _fail("founding a cluster needs --cluster-id (any string, the same on every founding node; "
                     "`trireme up` makes one)", 2)
    if args.key_file is not None:
        from cluster.kms import KeyFileError, MasterKeys
        try:
            MasterKeys.load(args.key_file)
        except KeyFileError as exc:
            return _fail(str(exc), 2)
    cfg = NodeConfig(id=args.id, az=args.az, listen=args.listen, advertise=args.advertise,
                     peer_listen=args.peer_listen, metrics_listen=args.metrics_listen,
                     data_dir=args.data_dir, cluster_id=cluster_id, initial_cluster=initial,
                     join=[a for a in args.join.split(",") if a], dead_after_s=args.dead_after,
                     partitions_per_table=args.partitions_per_table, router_endpoint=args.router_endpoint,
                     region=args.region, remote_regions=remote_regions, remote_peers=remote_peers,
                     peer_clusters=[c for c in args.peer_clusters.split(",") if c], key_file=args.key_file,
                     tls=ident)
    from cluster.kms import use_key_file
    try:
        use_key_file(cfg.key_file)  # the node signs its calls to routers (replication, triggers) with it
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        return asyncio.run(_serve(cfg, args.parent_pid))
    except (OSError, TimeoutError) as exc:
        return _fail(str(exc), 1)


def _fail(message: str, code: int) -> int:
    """One line that says what is wrong (`trireme up` shows it)."""
    print(f"trireme node: {message}", file=sys.stderr, flush=True)
    return code


async def _serve(cfg, parent_pid: int) -> int:
    from cluster.identity import store
    from cluster.lifetime import watch_parent
    from cluster.rpc import learn_cluster_id
    from node.server import Node

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parent_pid:
        asyncio.create_task(watch_parent(parent_pid, stop))
    if not cfg.cluster_id:  # a joining node's first start: its cluster is the one it joins
        try:
            cfg.cluster_id = await learn_cluster_id(cfg.join)
        except TimeoutError as exc:
            raise TimeoutError(f"cannot learn the cluster id from --join: {exc}") from None
        store(cfg.data_dir, cfg.cluster_id)
    node = Node(cfg)
    await node.start()  # OSError: a port is taken (the message names the flag)
    await stop.wait()
    await node.stop()
    return 0
