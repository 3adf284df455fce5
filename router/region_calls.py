"""Calls to another region's router: one JSON request over HTTP/1.1.

Regions reach each other only through their routers' endpoints (through the
cross-region link). Control calls are rare (replica changes), so each one
opens its own connection (`Connection: close`) and reads the whole answer.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson

from cluster.kms import signature
from ddb.errors import from_wire
from router.protocol import PREFIXES

DYNAMODB, REPLICATION = PREFIXES[0], PREFIXES[3]  # DynamoDB's operations; those regions call on each other


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
    host, port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)
    data = orjson.dumps(body)
    head = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            f"X-Amz-Target: {target}\r\n{signature(host, port, target, data, region)}"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=u.scheme == "https" or None)
    except (OSError, TimeoutError) as exc:
        raise RegionUnreachable(region, str(exc) or type(exc).__name__, sent=False) from None
    try:
        async with asyncio.timeout(timeout):
            writer.write(head + data)
            raw = await reader.read()  # to the end: the router closes after its answer
    except (OSError, TimeoutError) as exc:
        raise RegionUnreachable(region, str(exc) or type(exc).__name__) from None
    finally:
        writer.close()
    status, answer = _parse(region, raw)
    try:
        out = orjson.loads(answer) if answer else {}
    except orjson.JSONDecodeError:
        raise RegionUnreachable(region, f"HTTP {status} with a body that is not JSON") from None
    if status != 200:
        raise from_wire(out) if isinstance(out, dict) and "__type" in out else RegionUnreachable(
            region, f"HTTP {status}")
    return out


def _parse(region: str, raw: bytes) -> tuple[int, bytes]:
    end = raw.find(b"\r\n\r\n")
    if not raw.startswith(b"HTTP/1.") or end < 0:
        raise RegionUnreachable(region, "no complete HTTP answer")
    return int(raw[9:12]), raw[end + 4:]

