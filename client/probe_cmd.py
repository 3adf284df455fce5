"""`trireme probe`: is a storage node alive, or ready? One Admin `health`
call, for container health checks (Kubernetes exec probes, Swarm
healthcheck), which cannot speak our gRPC themselves."""

from __future__ import annotations

import argparse
import asyncio
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="check that a storage node answers (exit 0) or not (exit 1)",
                       description="Ask a storage node for its health. Exit 0 when it answers (with --ready: "
                                   "and holds the cluster's metadata, i.e. it has founded or joined), else 1.")
    p.add_argument("addr", nargs="?", default="127.0.0.1:7101",
                   help="HOST:PORT of the node's gRPC (its --listen; default 127.0.0.1:7101)")
    p.add_argument("--ready", action="store_true",
                   help="also require the cluster's metadata (readiness, not just liveness)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import grpc
    try:
        health = asyncio.run(_health(args.addr, args.timeout))
    except Exception as exc:  # noqa: BLE001 (any failure to answer is "not alive")
        why = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)  # not gRPC's whole debug text
        print(f"trireme probe: {args.addr} does not answer: {why}", file=sys.stderr)
        return 1
    if args.ready and not health.get("meta_version"):
        print(f"trireme probe: node {health.get('id')} has no cluster metadata yet", file=sys.stderr)
        return 1
    print(f"node {health.get('id')} ({health.get('az')}) of cluster {health.get('cluster_id')}: "
          f"{health.get('replicas')} replicas, metadata version {health.get('meta_version')}")
    return 0


async def _health(addr: str, timeout: float) -> dict:
    from cluster.rpc import Channels, call_once
    channels = Channels()
    try:
        return await call_once(channels, addr, "admin", "health", timeout=timeout) or {}
    finally:
        await channels.close()
