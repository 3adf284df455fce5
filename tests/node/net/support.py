"""What the transport tests share."""

from __future__ import annotations

import asyncio
import time


async def until(cond, timeout: float) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


async def serve_to(server, client) -> None:
    """Start `server`'s peer listener on a free loopback port and point
    `client` (both node.net.peers.Transport) at it, instead of asking the
    server's admin port where it listens."""
    from deploy.local import free_port
    port = free_port()
    await server.bind("127.0.0.1", port)
    await server.serve()

    async def endpoint(addr: str) -> tuple[str, int]:
        return "127.0.0.1", port
    client.raft_endpoint = endpoint
