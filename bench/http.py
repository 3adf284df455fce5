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
import hashlib
import hmac
import time
from urllib.parse import urlsplit

from cluster import tls
from ddb.iam import sigv4

# A SigV4-shaped Authorization that the peers accept without checking the
# signature. Both need it: dynalite rejects a request without it (or without
# X-Amz-Date), and moto picks the service from its credential scope
# ("dynamodb"); without it moto answers ListTables as S3's ListBuckets.
AUTH_HEADERS: dict[str, str] = {
    "Authorization": ("AWS4-HMAC-SHA256 Credential=bench/20261125/us-east-1/dynamodb/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64),
    "X-Amz-Date": "20261125T000000Z",
}


_CREDENTIALS: dict[str, tuple[str, str, str]] = {}  # endpoint -> (access key, secret, region)


def sign_for(endpoint: str, access_key: str, secret: str, region: str) -> None:
    """Sign every request this process's Clients send to `endpoint` (a
    cluster started with --auth) with these keys, as boto3 would."""
    _CREDENTIALS[endpoint.rstrip("/")] = (access_key, secret, region)


class Signer:
    """SigV4 headers for one endpoint's requests, as an SDK makes them: the
    signing key derived once a day and cached, the timestamp once a second;
    per request the body's SHA-256, the canonical request's and one HMAC."""

    SIGNED = b"content-type;host;x-amz-date;x-amz-target"

    def __init__(self, access_key: str, secret: str, region: str, host: str) -> None:
        self.access_key, self.secret, self.region = access_key, secret, region
        self.host = host.encode()
        self._second = -1
        self._date = ""
        self._stamp = self._scope = self._key = b""

    def headers(self, target: bytes, body: bytes) -> bytes:
        """X-Amz-Date and Authorization header lines for a POST / of `body`
        with X-Amz-Target `target` and the Content-Type and Host the Client sends."""
        now = int(time.time())
        if now != self._second:
            self._second = now
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            if stamp[:8] != self._date:
                self._date = stamp[:8]
                self._key = sigv4.signing_key(self.secret, self._date, self.region, "dynamodb")
                self._scope = f"{self._date}/{self.region}/dynamodb/aws4_request".encode()
            self._stamp = stamp.encode()
        canonical = (b"POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:" + self.host + b"\nx-amz-date:"
                     + self._stamp + b"\nx-amz-target:" + target + b"\n\n" + self.SIGNED + b"\n"
                     + hashlib.sha256(body).hexdigest().encode())
        to_sign = (b"AWS4-HMAC-SHA256\n" + self._stamp + b"\n" + self._scope + b"\n"
                   + hashlib.sha256(canonical).hexdigest().encode())
        signature = hmac.digest(self._key, to_sign, "sha256").hex().encode()
        return (b"X-Amz-Date: " + self._stamp + b"\r\nAuthorization: AWS4-HMAC-SHA256 Credential="
                + self.access_key.encode() + b"/" + self._scope + b", SignedHeaders=" + self.SIGNED
                + b", Signature=" + signature + b"\r\n")


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
        keys = _CREDENTIALS.get(endpoint.rstrip("/"))
        self._signer = Signer(*keys, host=f"{self.host}:{self.port}") if keys else None
        self._prefix = (f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                        "Content-Type: application/x-amz-json-1.0\r\n"
                        + ("" if keys else "".join(f"{k}: {v}\r\n" for k, v in AUTH_HEADERS.items()))).encode()
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
        if self._signer is not None:
            head += self._signer.headers(b"DynamoDB_20120810." + op.encode(), body)
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
