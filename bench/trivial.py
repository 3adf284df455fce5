"""A trivial DynamoDB-shaped server: reads each request, answers a fixed
1 KB GetItem response. Benchmarking it measures the load generator's own
ceiling (what it can drive when the server costs almost nothing)."""

from __future__ import annotations

import asyncio
import sys

import orjson

from bench import ycsb

_ITEM = orjson.dumps({"Item": {"key": {"S": "user1"}, **ycsb.fields(__import__("random").Random(1))}})
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n"
            % len(_ITEM) + _ITEM)


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            i = buf.lower().find(b"content-length:", 0, end)
            j = buf.find(b"\r\n", i)
            total = end + 4 + int(buf[i + 15:j])
            if len(buf) < total:
                return
            del buf[:total]
            self.transport.write(RESPONSE)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Proto, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
