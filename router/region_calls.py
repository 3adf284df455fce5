"""Calls to another region's router: one JSON request over HTTP/1.1.

Regions reach each other only through their routers' endpoints (through the
cross-region link). Calls reuse connections (HTTP keep-alive): a
strongly consistent global table forwards every write whose leader is in
another region (`TriremeReplication_1.Forward`), and a new connection each
time cost a connection setup through the link per write. Idle connections
are kept per destination for a while (below the router's idle timeout); one
the other end closed meanwhile is dropped before it is used.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from urllib.parse import urlsplit

import orjson

from cluster import tls
from cluster.kms import signature
from ddb.errors import from_wire
from router.protocol import PREFIXES

DYNAMODB, REPLICATION = PREFIXES[0], PREFIXES[3]  # DynamoDB's operations; those regions call on each other
IDLE_KEEP_S = 60.0  # an idle connection is closed after this (routers close theirs after 300 s)
MAX_IDLE = 16  # idle connections kept per destination
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]  # and when it was last used
# Per event loop (streams belong to one): destination -> idle connections, the newest last.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, list[Conn]]] = weakref.WeakKeyDictionary()


class RegionUnreachable(Exception):
    """No answer from the region (refused, cut, timed out). ``sent``: the
    request went out, so it may have been applied there; otherwise it was not."""

    def __init__(self, region: str, why: str, sent: bool = True) -> None:
        super().__init__(f"region {region} cannot be reached: {why}")
        self.region = region
        self.sent = sent


async def call(region: str, url: str, target: str, body: dict, timeout: float) -> dict:
    """POST ``body`` to ``target`` at ``url``; the answer's JSON, or its
    DynamoDB error raised, or RegionUnreachable."""
    u = urlsplit(url)
    host, port, secure = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80), u.scheme == "https"
    data = orjson.dumps(body)
    head = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            f"X-Amz-Target: {target}\r\n{signature(host, port, target, data, region)}"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    pool = _pools.setdefault(asyncio.get_running_loop(), {}).setdefault((host, port, secure), [])
    conn = _idle(pool)
    if conn is None:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, ssl=tls.https_context(url))
        except (OSError, TimeoutError) as exc:
            raise RegionUnreachable(region, str(exc) or type(exc).__name__, sent=False) from None
    else:
        reader, writer, _ = conn
    keep = False
    try:
        async with asyncio.timeout(timeout):
            writer.write(head + data)
            status, answer, keep = await _answer(region, reader)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise RegionUnreachable(region, str(exc) or type(exc).__name__) from None
    finally:
        if keep and len(pool) < MAX_IDLE:
            pool.append((reader, writer, time.monotonic()))
        else:
            writer.close()
    try:
        out = orjson.loads(answer) if answer else {}
    except orjson.JSONDecodeError:
        raise RegionUnreachable(region, f"HTTP {status} with a body that is not JSON") from None
    if status != 200:
        raise from_wire(out) if isinstance(out, dict) and "__type" in out else RegionUnreachable(
            region, f"HTTP {status}")
    return out


def _idle(pool: list[Conn]) -> Conn | None:
    """The newest idle connection still open and fresh; older or closed ones are closed."""
    while pool:
        conn = pool.pop()
        reader, writer, used = conn
        if not (reader.at_eof() or writer.is_closing()) and time.monotonic() - used < IDLE_KEEP_S:
            return conn
        writer.close()
    return None


async def _answer(region: str, reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP answer: its status, body, and whether the connection may carry another call."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise RegionUnreachable(region, "no complete HTTP answer")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    length = headers.get("content-length")
    if length is None or not length.isdigit():  # to the end: the router closes after its answer
        return int(lines[0][9:12]), await reader.read(), False
    return int(lines[0][9:12]), await reader.readexactly(int(length)), \
        headers.get("connection", "").lower() != "close" and lines[0].startswith("HTTP/1.1")
