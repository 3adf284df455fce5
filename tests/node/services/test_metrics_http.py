"""The node's metrics port: `GET /metrics` answers the registry in
Prometheus' text format, other paths and methods 404, a client that sends
a head too large or none at all is dropped, never the server."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from node.services.metrics_http import serve


async def ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def test_get_metrics_and_nothing_else():
    async def go() -> None:
        registry = CollectorRegistry()
        Counter("probe", "a probe", registry=registry).inc(3)
        server = await serve(registry, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            ok = await ask(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _, body = ok.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Type: text/plain" in head
            samples = {s.name: s.value for f in text_string_to_metric_families(body.decode()) for s in f.samples}
            assert samples["probe_total"] == 3
            assert (await ask(port, b"GET /other HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
            assert (await ask(port, b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
            assert await ask(port, b"GET /" + b"x" * 70000) == b""  # no end of head within the limit
            assert (await ask(port, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")
        finally:
            server.close()
            await server.wait_closed()
    asyncio.run(go())
