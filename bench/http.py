"""A lean keep-alive HTTP/1.1 client for the DynamoDB JSON protocol.

The load generator must not be the bottleneck on a 2-core machine that also
runs the servers, so each connection is a bare asyncio.Protocol: requests are
pre-built byte strings (only the body changes), responses are split on
Content-Length without a general HTTP parser (a `Connection: close` answer
makes the next call reconnect), and one request is in flight per
connection, as a YCSB client thread does.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from cluster import tls

# A SigV4-shaped Authorization that the peers accept without checking the
# signature. Both need it: dynalite rejects a request without it (or without
# X-Amz-Date), and moto picks the service from its credential scope
# ("dynamodb"); without it moto answers ListTables as S3's ListBuckets.
AUTH_HEADERS: dict[str, str] = {
    "Authorization": ("AWS4-HMAC-SHA256 Credential=bench/20261125/us-east-1/dynamodb/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64),
    "X-Amz-Date": "20261125T000000Z",
}


class HttpError(Exception):
    pass


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.need = -1  # total bytes of the response once its headers are in
        self.head = 0
        self.close_after = False  # the server said Connection: close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = end + 4
            i = buf.find(b"ontent-Length:", 0, end)  # matches Content-Length (what every server here sends)
            if i < 0:
                i = buf.find(b"ontent-length:", 0, end)
            if i < 0:
                self._fail(HttpError("response without Content-Length"))
                return
            j = buf.find(b"\r\n", i)
            self.need = self.head + int(buf[i + 14:j])
            # moto's server closes after each answer: the next call reconnects.
            self.close_after = buf.find(b"onnection: close", 0, end) >= 0 or buf.find(b"onnection: Close", 0, end) >= 0
        if len(buf) >= self.need:
            status = int(buf[9:12])
            body = bytes(buf[self.head:self.need])
            del buf[:self.need]
            self.need = -1
            if self.close_after and self.transport is not None:
                self.transport.close()
                self.transport = None
            w, self.waiter = self.waiter, None
            if w is not None and not w.done():
                w.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(HttpError(f"connection lost: {exc}"))
        self.transport = None

    def _fail(self, exc: Exception) -> None:
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_exception(exc)


class Client:
    """One keep-alive connection to a DynamoDB endpoint (reconnects when dropped)."""

    def __init__(self, endpoint: str) -> None:
        u = urlsplit(endpoint)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)
        self._ssl = tls.https_context(endpoint)  # https: the CA of the cluster this process started
        self._prefix = (f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                        "Content-Type: application/x-amz-json-1.0\r\n"
                        + "".join(f"{k}: {v}\r\n" for k, v in AUTH_HEADERS.items())).encode()
        self._targets: dict[str, bytes] = {}
        self._conn: _Conn | None = None

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Conn, self.host, self.port, ssl=self._ssl)
        return conn

    async def call(self, op: str, body: bytes) -> tuple[int, bytes]:
        """POST one operation; (HTTP status, response body)."""
        head = self._targets.get(op)
        if head is None:
            head = self._targets[op] = self._prefix + f"X-Amz-Target: DynamoDB_20120810.{op}\r\n".encode()
        conn = self._conn
        if conn is None or conn.transport is None:
            conn = self._conn = await self._connect()
        fut = conn.waiter = asyncio.get_running_loop().create_future()
        conn.transport.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)  # type: ignore[union-attr]
        try:
            return await fut
        except HttpError:
            self._conn = None
            raise

    def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None
