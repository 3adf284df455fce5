"""`trireme router`: serve the DynamoDB API until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

DEFAULT_REGION = "us-east-1"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("router", help="run a request router (the DynamoDB endpoint)",
                       description="Serve the DynamoDB JSON protocol over HTTP and route requests to "
                                   "the storage nodes.")
    p.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (default 127.0.0.1:8000)")
    p.add_argument("--az", required=True, help="the router's availability zone: eventually consistent "
                                                "reads prefer replicas there")
    p.add_argument("--seeds", required=True, help="HOST:PORT,... of storage nodes")
    p.add_argument("--region", default=DEFAULT_REGION)
    p.add_argument("--deadline", type=float, default=8.0,
                   help="seconds a request may spend retrying before it fails (default 8)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--access-log", action="store_true",
                   help="log one line per request: operation, table, status, latency and request id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s router %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from router.api import Api
    from router.cluster import Cluster
    from router.http import serve
    from router.protocol import Dispatcher

    host, _, port = args.listen.rpartition(":")
    cluster = Cluster([s for s in args.seeds.split(",") if s], args.az, deadline_s=args.deadline)
    cluster.start()
    api = Api(cluster, region=args.region)
    server = await serve(Dispatcher(api.operations(), admin=_admin_ops(cluster)), host or "127.0.0.1", int(port),
                         region=args.region, access_log=args.access_log)
    logging.getLogger(__name__).info("router serving DynamoDB on http://%s", args.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await cluster.close()
    return 0


def _admin_ops(cluster):
    """The chaos tooling's handle on this router (target prefix TriremeAdmin_1.)."""
    from node.transport import Faults

    async def faults(body: dict) -> dict:
        return cluster.faults.to_json()

    async def set_faults(body: dict) -> dict:
        cluster.faults = Faults() if body.get("heal") else Faults.from_json(body)
        return cluster.faults.to_json()
    return {"Faults": faults, "SetFaults": set_faults}
