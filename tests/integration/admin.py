"""Synchronous helpers over the nodes' admin service, for tests."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from cluster.rpc import Channels, call_once, meta_call as _meta_call
from deploy.local import LocalCluster


def admin(addr: str, op: str, body: Any = None, timeout: float = 3.0) -> Any:
    async def go() -> Any:
        ch = Channels()
        try:
            return await call_once(ch, addr, "admin", op, body, timeout=timeout)
        finally:
            await ch.close()
    return asyncio.run(go())


def meta_call(cluster: LocalCluster, op: str, body: dict) -> dict:
    """A metadata call (the meta leader's `handle_meta_call`), as routers and the CLI make them."""
    async def go() -> dict:
        ch = Channels(cluster.cluster_id)
        try:
            return await _meta_call(ch, [p.addr for p in cluster.procs.values() if p.kind == "node"], op, body)
        finally:
            await ch.close()
    return asyncio.run(go())


def node_addr(cluster: LocalCluster, node: str) -> str:
    return cluster.procs[node].addr


def meta(cluster: LocalCluster, live: list[str] | None = None) -> dict:
    """The newest metadata any live node holds."""
    best: dict | None = None
    for name in live or cluster.node_ids():
        try:
            m = admin(node_addr(cluster, name), "meta")
        except Exception:  # noqa: BLE001 (down nodes are expected in these tests)
            continue
        if m and (best is None or m["version"] > best["version"]):
            best = m
    assert best is not None, "no node answered with metadata"
    return best


def replicas(cluster: LocalCluster, node: str) -> dict[str, dict]:
    return {r["group"]: r for r in admin(node_addr(cluster, node), "replicas")["replicas"]}


def raw_items(cluster: LocalCluster, node: str, group: str) -> dict[bytes, str]:
    r = admin(node_addr(cluster, node), "read_raw", {"group": group})
    return {base64.b64decode(k): v for k, v in r["items"]}


def leader_of(cluster: LocalCluster, group: str, live: list[str] | None = None) -> str | None:
    for name in live or cluster.node_ids():
        try:
            r = replicas(cluster, name).get(group)
        except Exception:  # noqa: BLE001
            continue
        if r and r["role"] == "LEADER":
            return name
    return None
