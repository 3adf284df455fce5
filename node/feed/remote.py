"""Calls to another region's router: one JSON POST over HTTP/1.1 (asyncio,
bounded by a timeout), as the replicator sends a batch of changes.

Regions reach each other only through their routers' HTTP endpoints (through
the cross-region link), never node to node. One connection per call keeps
this small: a call carries a whole batch, so its setup is a small share.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson

from cluster import tls
from cluster.kms import signature


class RemoteError(Exception):
    """The remote router answered, but not 200 (its DynamoDB-style error body in the message)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status


async def post_json(url: str, target: str, body: bytes, timeout_s: float, region: str) -> dict:
    """POST ``body`` with ``X-Amz-Target: target``; the answer's JSON. Raises
    OSError, TimeoutError or RemoteError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"cannot reach {url}: only http(s)://HOST:PORT endpoints are supported")
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(host, port, ssl=tls.https_context(url))
        try:
            writer.write(b"".join((
                b"POST / HTTP/1.1\r\nHost: ", f"{host}:{port}".encode(),
                b"\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: ", target.encode(),
                b"\r\n", signature(host, port, target, body, region).encode(),
                b"Connection: close\r\nContent-Length: ", str(len(body)).encode(), b"\r\n\r\n", body)))
            await writer.drain()
            status_line = await reader.readline()
            length = None
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            data = await (reader.readexactly(length) if length is not None else reader.read())
        finally:
            writer.close()
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        raise OSError(f"{url} answered no HTTP status line: {status_line[:100]!r}") from None
    if status != 200:
        raise RemoteError(status, data)
    return orjson.loads(data)
