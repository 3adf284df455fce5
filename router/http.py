"""A lean HTTP/1.1 server for the DynamoDB JSON protocol.

An asyncio Protocol with httptools (the C parser uvicorn uses) instead of a
framework: per request it allocates the body and one task, nothing else.
Keep-alive and pipelining (answers in request order), `Expect:
100-continue`, chunked bodies, a body size cap enforced while reading, and
DynamoDB's response headers (`x-amzn-RequestId`, `x-amz-crc32`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate

import httptools

log = logging.getLogger(__name__)

Handler = Callable[[str | None, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]

MAX_BODY = 16 * 1024 * 1024
MAX_HEADERS = 64 * 1024
IDLE_TIMEOUT_S = 300.0
_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
            413: b"Request Entity Too Large", 500: b"Internal Server Error", 503: b"Service Unavailable"}
_STATUS_LINES = {status: b"HTTP/1.1 %d %s\r\n" % (status, reason) for status, reason in _REASONS.items()}
_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_TO_ID_CHARS = bytes.maketrans(bytes(range(256)), bytes(_ID_CHARS[b % 36] for b in range(256)))
_RESPONSE = (b"%sx-amzn-RequestId: %s\r\nx-amz-crc32: %d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
             b"Date: %s\r\n%s\r\n%s")
HEALTH = b"healthy: dynamodb.us-east-1.amazonaws.com "


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(40).translate(_TO_ID_CHARS)
    _id_counter = itertools.count(1)


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def request_id() -> bytes:
    """52 characters like DynamoDB's request ids (uppercase letters and
    digits), unique: a random prefix per process and a counter (random bytes
    per id cost several microseconds)."""
    return b"%s%012X" % (_id_prefix, next(_id_counter))


class _Date:
    """The Date header, formatted at most once per second."""

    value = b""
    second = -1.0

    @classmethod
    def get(cls, loop: asyncio.AbstractEventLoop) -> bytes:
        now = loop.time()
        if int(now) != cls.second:
            cls.second = int(now)
            cls.value = formatdate(usegmt=True).encode()
        return cls.value


def render(status: int, body: bytes, *, keep_alive: bool, content_type: bytes = b"application/x-amz-json-1.0",
           date: bytes = b"") -> bytes:
    # One formatting: cheaper than joining a list of pieces.
    return _RESPONSE % (_STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status, request_id(),
                        zlib.crc32(body), content_type, len(body), date,
                        b"" if keep_alive else b"Connection: close\r\n", body)


def _error_body(type_name: str, message: str) -> bytes:
    import orjson
    return orjson.dumps({"__type": type_name, "message": message})


class _Conn(asyncio.Protocol):
    __slots__ = ("handler", "max_body", "loop", "transport", "parser", "headers", "body", "body_len",
                 "url", "_pending", "_closing", "_idle", "_last_data", "_hname", "_too_big", "_paused")

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_len = 0
        self.url = b""
        self._pending: deque[asyncio.Future] = deque()
        self._closing = False
        self._idle: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        self._too_big = False

    # --- connection -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._idle is not None:
            self._idle.cancel()
        for fut in self._pending:
            fut.cancel()

    def _arm_idle(self) -> None:
        # Data only notes the time (a new timer per request would cost more);
        # the timer, when due, looks whether data came since.
        self._last_data = self.loop.time()
        if self._idle is None:
            self._idle = self.loop.call_at(self._last_data + IDLE_TIMEOUT_S, self._on_idle)

    def _on_idle(self) -> None:
        due = self._last_data + IDLE_TIMEOUT_S
        if due > self.loop.time():
            self._idle = self.loop.call_at(due, self._on_idle)
            return
        self._idle = None  # busy: the next data arms it again
        if self.transport is not None and not self._pending:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._arm_idle()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if self._too_big:
                return
            self._fail(400, f"malformed HTTP request: {exc}")

    def _fail(self, status: int, message: str) -> None:
        """Answer (after what is already pending) and close the connection."""
        self._closing = True
        fut = self.loop.create_future()
        fut.set_result(render(status, _error_body("com.amazon.coral.service#SerializationException", message),
                              keep_alive=False, date=_Date.get(self.loop)))
        self._pending.append(fut)
        self._flush()

    # --- httptools callbacks -----------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = {}
        self.body = []
        self.body_len = 0
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            self._too_big_answer()
            return
        if self.headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._too_big:
            return
        self.body_len += len(body)
        if self.body_len > self.max_body:
            self._too_big_answer()
            return
        self.body.append(body)

    def _too_big_answer(self) -> None:
        self._too_big = True
        self._closing = True
        fut = self.loop.create_future()
        fut.set_result(render(413, _error_body(
            "com.amazon.coral.service#SerializationException",
            f"Request body exceeds the maximum of {self.max_body} bytes"), keep_alive=False,
            date=_Date.get(self.loop)))
        self._pending.append(fut)
        self._flush()
        # Stop parsing: raising from a callback makes httptools abort feed_data.
        raise httptools.HttpParserError("body too large")

    def on_message_complete(self) -> None:
        if self._closing:
            return
        keep_alive = self.parser.should_keep_alive()
        method = self.parser.get_method()
        body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        headers = self.headers
        fut = self.loop.create_future()
        self._pending.append(fut)
        if method == b"GET":
            fut.set_result(render(200, HEALTH, keep_alive=keep_alive, content_type=b"text/plain",
                                  date=_Date.get(self.loop)))
        elif method != b"POST":
            fut.set_result(render(405, _error_body("com.amazon.coral.service#UnknownOperationException",
                                                   "Only POST is supported"), keep_alive=keep_alive,
                                  date=_Date.get(self.loop)))
        else:
            task = self.loop.create_task(self.handler(headers.get("x-amz-target"), body, headers))
            task.add_done_callback(lambda t, f=fut, k=keep_alive: self._done(t, f, k))
        if not keep_alive:
            self._closing = True
        if fut.done():
            self._flush()

    def _done(self, task: asyncio.Task, fut: asyncio.Future, keep_alive: bool) -> None:
        if fut.done():
            return
        try:
            status, body = task.result()
        except Exception:  # noqa: BLE001 (a handler bug becomes a 500, never a dropped connection)
            log.exception("request handler failed")
            status, body = 500, _error_body("com.amazonaws.dynamodb.v20120810#InternalServerError",
                                            "Internal server error")
        fut.set_result(render(status, body, keep_alive=keep_alive, date=_Date.get(self.loop)))
        self._flush()

    def _flush(self) -> None:
        t = self.transport
        while self._pending and self._pending[0].done():
            fut = self._pending.popleft()
            if t is not None and not fut.cancelled():
                t.write(fut.result())
        if self._closing and not self._pending and t is not None:
            t.close()


async def serve(handler: Handler, host: str, port: int, *, reuse_port: bool = False,
                max_body: int = MAX_BODY) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Conn(handler, max_body), host, port, reuse_port=reuse_port,
                                    backlog=1024)
