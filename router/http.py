"""A lean HTTP/1.1 server for the DynamoDB JSON protocol.

An asyncio Protocol with httptools (the C parser uvicorn uses) instead of a
framework: per request it allocates the body and one task, nothing else.
Keep-alive and pipelining, `Expect: 100-continue`, chunked bodies, caps on
the head and the body enforced while reading, compressed bodies both ways
(`router.codings`), the health answer and CORS as DynamoDB's endpoint gives
them, and DynamoDB's response headers (`x-amzn-RequestId`, `x-amz-crc32`)
on every answer.

The requests of one connection run one after the other, each after the
previous one finished: a client that pipelines expects each request to see
the effects of those before it (HTTP/1.1 answers in order anyway).
Different connections run concurrently.

A REST API may share the port (the Lambda API, `router/lambda_api.py`, and
the console, `router/console/`): a request whose path starts with one of its
prefixes goes to its handler, and its answer is sent with the status and
headers it gives; DynamoDB's requests, all to `/`, pay one comparison for it.
An answer with a `stream` (the console's server-sent events) keeps the
connection: its chunks are written as they come, and the connection closes
when the stream ends.
Authentication (router/auth/authenticate.py) needs more of a request than
its headers: they come in the headers dict under pseudo-header names no
client can send (a header name cannot hold ':'): `:peer`, `:secure`,
`:method` and `:path` (unless `POST /`), `:body-sha256` (of a body as sent,
before its Content-Encoding was undone).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import math
import os
import re
import socket
import ssl as ssl_
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from time import perf_counter
from typing import Any

import httptools
import orjson

from cluster.nodes import NOTE, SLOW_MS, id_prefix
from router import codings

log = logging.getLogger(__name__)
access_log = logging.getLogger("router.access")

Handler = Callable[[str | None, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]
# A REST API beside DynamoDB's (the Lambda API, router/lambda_api.py): requests
# whose path starts with one of its prefixes go to it as (method, url, headers,
# body) and it answers an object with status, body, headers and request_id.
RestHandler = Callable[[str, str, dict[str, str], bytes], Awaitable[Any]]
# Told of each DynamoDB request answered (router/metrics.py): target, request
# body, status, answer, seconds the handler took.
Observer = Callable[[str | None, bytes, int, bytes, float], None]

MAX_BODY = 16 * 1024 * 1024
REST_MAX_BODY = 72 * 1024 * 1024  # a CreateFunction's 50 MB zip, in base64 in JSON
MAX_HEADERS = 64 * 1024  # bytes of request line and headers
MAX_HEADER_COUNT = 100
MAX_QUEUED = 16  # requests parsed ahead of the running one: reading pauses beyond
IDLE_TIMEOUT_S = 300.0
_REASONS = {100: b"Continue", 200: b"OK", 201: b"Created", 202: b"Accepted", 204: b"No Content",
            400: b"Bad Request", 404: b"Not Found", 409: b"Conflict", 412: b"Precondition Failed",
            413: b"Request Entity Too Large", 429: b"Too Many Requests", 431: b"Request Header Fields Too Large",
            500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable"}
_STATUS_LINES = {status: b"HTTP/1.1 %d %s\r\n" % (status, reason) for status, reason in _REASONS.items()}
_RESPONSE = (b"%sx-amzn-RequestId: %s\r\nx-amz-crc32: %d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
             b"Date: %s\r\n%s%s\r\n%s")
_JSON = b"application/x-amz-json-1.0"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# What DynamoDB answers to other methods, and to a body that is not JSON.
_UNKNOWN_OPERATION = b"<UnknownOperationException/>\n"
# Browsers let a page read only the response headers named here.
_CORS = (b"Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: "
         b"x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,x-amz-crc32,Date\r\n")
_PREFLIGHT_MAX_AGE = b"172800"  # seconds, as DynamoDB
_SERIALIZATION = "com.amazon.coral.service#SerializationException"
_COMPRESS_MIN = codings.COMPRESS_MIN
_INTERNAL = "com.amazonaws.dynamodb.v20120810#InternalServerError"
# Function URLs by host, URL_ID.lambda-url.REGION.localhost[:PORT]: served as /trireme/url/URL_ID/...
_URL_HOST = ".lambda-url."
_URL_PATH = b"/trireme/url/"
# Header names as sent -> lowercased text: clients send the same few names on every request.
_HEADER_NAMES: dict[bytes, str] = {}
_HEADER_NAMES_MAX = 512


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix = id_prefix()
    _id_counter = itertools.count(1)


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def request_id() -> bytes:
    """52 characters like DynamoDB's request ids (uppercase letters and
    digits), unique: a random prefix per process and a counter (random bytes
    per id cost several microseconds)."""
    return _id_prefix + b"%012X" % next(_id_counter)


def health_body(region: str) -> bytes:
    """What DynamoDB's endpoint answers to `GET /` (trailing space included)."""
    return b"healthy: dynamodb.%s.amazonaws.com " % region.encode()


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


def render(status: int, body: bytes, *, keep_alive: bool, content_type: bytes = _JSON, date: bytes = b"",
           extra: bytes = b"", rid: bytes | None = None) -> bytes:
    """The response; `extra` holds further header lines (each ending in CRLF).
    One formatting: cheaper than joining a list of pieces."""
    return _RESPONSE % (_STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status, rid or request_id(),
                        zlib.crc32(body), content_type, len(body), date, extra,
                        b"" if keep_alive else b"Connection: close\r\n", body)


def _error_body(type_name: str, message: str, key: str = "message") -> bytes:
    return orjson.dumps({"__type": type_name, key: message})


# --- logging of failures and of every request (--access-log) -----------------

_TABLE_NAME = re.compile(rb'"TableName"\s*:\s*"((?:[^"\\]|\\.){0,1024})"')
_PARTITION = re.compile(r"\b[Pp]artition (t\d+\.p\d+|meta)\b")  # cluster.meta.partition_id


def _operation(target: str | None) -> str:
    return (target or "-").rpartition(".")[2] or "-"


def _tables(request: bytes) -> str:
    """The table(s) a request names, cheaply: a pattern, JSON only for batches."""
    m = _TABLE_NAME.search(request)
    if m is not None:
        return m.group(1).decode(errors="replace")
    if b'"RequestItems"' in request:
        try:
            return ",".join(orjson.loads(request)["RequestItems"]) or "-"
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
    return "-"


def _log_failure(rid: bytes, target: str | None, request: bytes, status: int, answer: bytes, node: str) -> None:
    """One line per 5xx: request id (as sent to the client), operation, table,
    the partition when the error names one, the node whose log has the same
    request id (`-`: none), and the cause."""
    try:
        err = orjson.loads(answer)
        cause = f"{err.get('__type', '').rpartition('#')[2]}: {err.get('message') or err.get('Message') or ''}"
    except (orjson.JSONDecodeError, AttributeError):
        cause = answer[:500].decode(errors="replace")
    m = _PARTITION.search(cause)
    log.error("%d request_id=%s operation=%s table=%s partition=%s node=%s cause=%s", status, rid.decode(),
              _operation(target), _tables(request), m.group(1) if m else "-", node, cause)


class _Stop(Exception):
    """Raised from a parser callback after a failure was answered: stops parsing."""


class _Config:
    __slots__ = ("handler", "max_body", "max_body_digits", "health", "access_log", "rest", "rest_prefixes",
                 "rest_max_body", "slow_s", "timed", "observe")

    def __init__(self, handler: Handler, max_body: int, region: str, access_log: bool,
                 rest: RestHandler | None = None, rest_prefixes: tuple[bytes, ...] = (),
                 rest_max_body: int = REST_MAX_BODY, slow_ms: float = SLOW_MS,
                 observe: Observer | None = None) -> None:
        self.handler = handler
        self.observe = observe
        self.slow_s = slow_ms / 1000 if slow_ms > 0 else math.inf
        self.timed = access_log or slow_ms > 0  # requests note their start
        self.max_body = max_body
        self.max_body_digits = len(str(max_body))
        self.health = health_body(region)
        self.access_log = access_log
        self.rest = rest
        self.rest_prefixes = rest_prefixes if rest is not None else ()
        self.rest_max_body = rest_max_body


class _Rest:
    """A request for the REST handler (DynamoDB's requests are plain tuples, `_Job`)."""

    __slots__ = ("method", "url", "headers", "body", "keep_alive", "started")

    def __init__(self, method: bytes, url: bytes, headers: dict[str, str], body: bytes, keep_alive: bool,
                 started: float) -> None:
        self.method = method.decode("latin-1")
        self.url = url.decode("latin-1")
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.started = started


# A request waiting to run (or running: the first in the queue):
# (target, body, headers, keep_alive, start time or 0.0)
_Job = tuple


class _Conn(asyncio.Protocol):
    __slots__ = ("cfg", "handler", "loop", "transport", "parser", "headers", "body", "body_len", "url", "peer",
                 "secure", "_queue", "_task", "_closing", "_idle", "_last_data", "_in_head", "_chunk", "_recv",
                 "_slack", "_read_paused", "_write_paused", "_stream", "_note")

    def __init__(self, cfg: _Config) -> None:
        self.cfg = cfg
        self.handler = cfg.handler
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_len = 0
        self.url = b""
        self.peer = ""  # the client's HOST:PORT, for authentication (aws:SourceIp)
        self.secure = False  # came over TLS
        # Answers not yet written, in request order: rendered bytes, or a job;
        # the first job in the queue is the one running (`_task`, held: the loop keeps only weak references).
        self._queue: deque[bytes | _Job] = deque()
        self._task: asyncio.Task | None = None
        self._note: list = [None]  # the running job's NOTE (cluster/nodes.py)
        self._closing = False
        self._idle: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        # The head cap, checked per chunk of data rather than per header (the
        # hot path): `_recv` counts the bytes received since the chunk in which
        # the previous request ended, and `_slack` the part of that chunk that
        # may not belong to the current head.
        self._in_head = True  # parsing a request line or headers (or waiting for one)
        self._chunk = 0  # length of the data being parsed
        self._recv = 0
        self._slack = 0
        self._read_paused = False
        self._write_paused = False
        self._stream: asyncio.Task | None = None  # writing a streamed answer (server-sent events)

    # --- connection -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        self.secure = transport.get_extra_info("sslcontext") is not None
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._idle is not None:
            self._idle.cancel()
        # The running request finishes (a write may be under way: cancelling it
        # would only make its outcome harder to know); those not started are dropped.
        self._queue.clear()
        if self._stream is not None:  # nobody reads a stream any more: stop it now
            self._stream.cancel()

    def pause_writing(self) -> None:
        # A client that sends without reading answers: stop reading its requests.
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._flow()

    def _flow(self) -> None:
        pause = self._write_paused or len(self._queue) > MAX_QUEUED
        if pause != self._read_paused and self.transport is not None:
            self._read_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _arm_idle(self) -> None:
        # Data only notes the time (a new timer per request would cost more);
        # the timer, when due, looks whether data came since.
        self._last_data = self.loop.time()
        if self._idle is None:
            self._idle = self.loop.call_at(self._last_data + IDLE_TIMEOUT_S, self._on_idle)

    def _on_idle(self) -> None:
        due = self._last_data + IDLE_TIMEOUT_S
        if due > self.loop.time() + 0.001:  # uvloop's timers count whole milliseconds: none shorter
            self._idle = self.loop.call_at(due, self._on_idle)
            return
        self._idle = None  # busy: the next data arms it again
        if self.transport is not None and not self._queue:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._arm_idle()
        self._chunk = n = len(data)
        self._recv += n
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            # Closing already: a callback stopped the parser after answering, or
            # data followed a request with `Connection: close` (llhttp refuses it).
            if not self._closing:
                self._fail(400, f"malformed HTTP request: {exc}")
        else:
            # httptools keeps a header that has not ended yet to itself: stop
            # a head that keeps growing after each chunk (memory and CPU stay
            # bounded by the cap plus one chunk).
            if self._in_head and self._recv - self._slack > MAX_HEADERS:
                self._head_too_large()

    def _fail(self, status: int, message: str) -> None:
        """Answer (after what is already pending) and close the connection."""
        self._closing = True
        self._push(render(status, _error_body(_SERIALIZATION, message, "Message"), keep_alive=False,
                          date=_Date.get(self.loop)))

    def _head_too_large(self) -> None:
        self._fail(431, f"The request line and headers exceed the maximum of {MAX_HEADERS} bytes "
                        f"or {MAX_HEADER_COUNT} header fields")

    # --- httptools callbacks -----------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = {}
        self.body = []
        self.body_len = 0
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = _HEADER_NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < _HEADER_NAMES_MAX:
                _HEADER_NAMES[name] = key
        self.headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._recv > MAX_HEADERS or len(self.headers) > MAX_HEADER_COUNT:
            self._check_head()
        headers = self.headers
        length = headers.get("content-length")
        # Parsed only when it has as many digits as the cap: a length with fewer is below it.
        if length is not None and len(length) >= self.cfg.max_body_digits and length.isdigit() \
                and int(length) > self.cfg.max_body and int(length) > self._max_body():
            self._body_too_large()
        if "expect" in headers and headers["expect"].lower() == "100-continue" and self.transport is not None:
            if self._queue:
                self._queue.append(_CONTINUE)
            else:
                self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.body_len += len(body)
        if self.body_len > self.cfg.max_body and self.body_len > self._max_body():
            self._body_too_large()
        self.body.append(body)

    def _check_head(self) -> None:
        """The exact size of a head that may be too large (rarely computed: only
        when more than the cap arrived since the previous request)."""
        size = len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_HEADERS or len(self.headers) > MAX_HEADER_COUNT:
            self._head_too_large()
            raise _Stop

    def _max_body(self) -> int:
        """The body cap of this request (asked only past DynamoDB's): a REST API's is larger."""
        url = self.url
        return self.cfg.rest_max_body if url != b"/" and url.startswith(self.cfg.rest_prefixes) else self.cfg.max_body

    def _body_too_large(self) -> None:
        self._fail(413, f"Request body exceeds the maximum of {self._max_body()} bytes")
        raise _Stop

    def on_message_complete(self) -> None:
        self._in_head = True
        self._recv = self._slack = self._chunk
        keep_alive = self.parser.should_keep_alive()
        if not keep_alive:
            self._closing = True
        body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        headers = self.headers
        method = self.parser.get_method()
        url = self.url
        # What a signature covers beyond the headers, under names no client can
        # send (router/auth/authenticate.py): the method and path unless POST /.
        headers[":peer"] = self.peer
        if self.secure:
            headers[":secure"] = "1"
        if url != b"/" or method != b"POST":
            headers[":method"] = method.decode("latin-1")
            headers[":path"] = url.decode("latin-1")
        if url != b"/" and url.startswith(self.cfg.rest_prefixes):  # DynamoDB's requests all go to "/"
            self._push(_Rest(method, url, headers, body, keep_alive, self._started()))
            return
        if (method != b"POST" or "x-amz-target" not in headers) and _URL_HOST in headers.get("host", "") \
                and self.cfg.rest_prefixes:
            # A function URL by its host name (router/function_urls.py): never a DynamoDB request.
            url_id = headers["host"].partition(".")[0].encode("latin-1")
            self._push(_Rest(method, _URL_PATH + url_id + url, headers, body, keep_alive, self._started()))
            return
        if method != b"POST":
            self._push(self._other(method, headers, keep_alive))
            return
        encoding = headers.get("content-encoding")
        if encoding is not None:
            headers[":body-sha256"] = hashlib.sha256(body).hexdigest()  # a signature covers the body as sent
            body = self._decode(body, encoding, headers, keep_alive)
            if body is None:
                return
        self._push((headers.get("x-amz-target"), body, headers, keep_alive, self._started()))

    def _started(self) -> float:
        """The start time the access and slow logs measure latency from (0.0: neither is on)."""
        return self.loop.time() if self.cfg.timed else 0.0

    def _decode(self, body: bytes, encoding: str, headers: dict[str, str], keep_alive: bool) -> bytes | None:
        """The body without its Content-Encoding, or None when an error was
        answered instead. DynamoDB answers an unknown or corrupt coding with a
        500 InternalServerError."""
        try:
            return codings.decode(body, encoding, self.cfg.max_body)
        except codings.BodyTooLarge:
            status, message = 413, f"Decompressed request body exceeds the maximum of {self.cfg.max_body} bytes"
        except codings.UnsupportedEncoding as exc:
            status, message = 500, (f"Content-Encoding {str(exc)!r} is not supported; "
                                    "send gzip, deflate or identity")
        except codings.CorruptBody as exc:
            status, message = 500, f"The request body is not valid {encoding.strip()} data: {exc}"
        job = (headers.get("x-amz-target"), body, headers, keep_alive, self._started())
        self._push(self._answer(job, status, _error_body(
            _INTERNAL if status == 500 else _SERIALIZATION, message, "message" if status == 500 else "Message")))
        return None

    def _other(self, method: bytes, headers: dict[str, str], keep_alive: bool) -> bytes:
        """Answers to methods other than POST, as DynamoDB's endpoint gives them:
        the health text to `GET /`, CORS preflights, 404 to anything else."""
        date = _Date.get(self.loop)
        origin = "origin" in headers
        path = self.url.partition(b"?")[0]
        if method == b"OPTIONS" and origin:
            extra = b"Access-Control-Allow-Origin: *\r\nAccess-Control-Max-Age: %s\r\n" % _PREFLIGHT_MAX_AGE
            for asked, allowed in (("access-control-request-headers", b"Headers"),
                                   ("access-control-request-method", b"Methods")):
                if asked in headers:
                    extra += b"Access-Control-Allow-%s: %s\r\n" % (allowed, headers[asked].encode("latin-1"))
            return render(200, b"", keep_alive=keep_alive, date=date, extra=extra)
        if method in (b"GET", b"HEAD") and path == b"/":
            status, body, ctype = 200, self.cfg.health, b"text/plain"
        else:
            status, body, ctype = 404, _UNKNOWN_OPERATION, b"text/xml"
        out = render(status, body, keep_alive=keep_alive, content_type=ctype, date=date,
                     extra=_CORS if origin else b"")
        return out[:len(out) - len(body)] if method == b"HEAD" else out

    # --- running requests in order ---------------------------------------------

    def _push(self, item: bytes | _Job) -> None:
        """Queue an answer (bytes) or a request (a job) behind the ones before it."""
        queue = self._queue
        if queue:
            queue.append(item)
            if len(queue) > MAX_QUEUED:
                self._flow()
        elif type(item) is bytes:
            self._write(item)
        else:
            queue.append(item)
            self._start(item)

    def _start(self, job: _Job | _Rest) -> None:
        if type(job) is _Rest:
            self._task = self.loop.create_task(self.cfg.rest(job.method, job.url, job.headers, job.body))
            self._task.add_done_callback(self._done)
        else:
            note = self._note = [None]
            self._task = self.loop.create_task(self._serve(job, note))

    async def _serve(self, job: _Job, note: list) -> None:
        """Run a DynamoDB request and write its answer as soon as the handler
        returns (no done callback: one turn of the loop less per request)."""
        # In the task's own context (create_task copied one): a node's log
        # names a failed or slow data call by the request's NOTE.
        NOTE.set(note)
        observe = self.cfg.observe
        start = perf_counter()
        try:
            status, body = await self.handler(job[0], job[1], job[2])
        except asyncio.CancelledError:  # the router is shutting down
            self._finish(job, 503, _error_body("com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
                                               "The router is shutting down; retry the request."))
            raise
        except Exception:  # noqa: BLE001 (a handler bug becomes a 500, never a dropped connection)
            log.exception("request handler failed")
            status, body = 500, _error_body(_INTERNAL, "Internal server error")
        took = perf_counter() - start
        self._finish(job, status, body)  # answered first: a failing observer cannot hold the answer back
        if observe is not None:  # here, not in a wrapper around the handler: a coroutine frame less per request
            try:
                observe(job[0], job[1], status, body, took)
            except Exception:  # noqa: BLE001
                log.exception("observing a request failed")

    def _finish(self, job: _Job, status: int, body: bytes) -> None:
        self._task = None
        if self.transport is None:  # connection lost: the queue is gone
            return
        self._queue.popleft()  # `job`, the first
        self._write(self._answer(job, status, body, self._note[0]))
        self._next()

    def _done(self, task: asyncio.Task) -> None:
        """A REST request finished."""
        self._task = None
        if self.transport is None:  # connection lost: the queue is gone
            return
        job = self._queue.popleft()
        stream = _stream_of(task)
        if stream is not None:
            self._open_stream(job, stream)
            return
        self._write(self._rest_answer(job, task))
        self._next()

    def _next(self) -> None:
        """Write the answers queued behind the finished request, up to the next request, and start it."""
        queue = self._queue
        while queue:
            item = queue[0]
            if type(item) is not bytes:
                self._start(item)
                break
            queue.popleft()
            self._write(item)
        if self._read_paused:
            self._flow()

    def _rest_answer(self, job: _Rest, task: asyncio.Task) -> bytes:
        """The REST handler's answer: its status, headers and body as they are."""
        out = None
        try:
            out = task.result()
            status, body, headers, rid = out.status, out.body, dict(out.headers), out.request_id
        except asyncio.CancelledError:
            status, body, headers, rid = 503, b'{"Type":"Service","Message":"The router is shutting down"}', {
                "x-amzn-ErrorType": "ServiceException"}, None
        except Exception:  # noqa: BLE001 (a handler bug becomes a 500, never a dropped connection)
            log.exception("REST handler failed on %s %s", job.method, job.url)
            status, body, headers, rid = 500, b'{"Type":"Service","Message":"Internal server error"}', {
                "x-amzn-ErrorType": "ServiceException"}, None
        ctype = headers.pop("Content-Type", "application/json").encode("latin-1")
        rid_bytes = rid.encode("latin-1") if rid else request_id()
        extra = b"".join(b"%s: %s\r\n" % (k.encode("latin-1"), v.encode("latin-1"))
                         for k, v in [*headers.items(), *getattr(out, "lines", ())])
        if "origin" in job.headers and getattr(out, "cors", True):
            extra += _CORS
        if status >= 500:
            log.error("%d %s %s: %s", status, job.method, job.url, body[:500].decode(errors="replace"))
        if self.cfg.access_log and job.started:
            access_log.info("operation=%s %s status=%d latency_ms=%.1f request_id=%s", job.method,
                            job.url.partition("?")[0], status, (self.loop.time() - job.started) * 1000, rid_bytes.decode())
        return render(status, body, keep_alive=job.keep_alive, content_type=ctype, date=_Date.get(self.loop),
                      extra=extra, rid=rid_bytes)

    def _open_stream(self, job: _Rest, answer: Any) -> None:
        """Send the head of a streamed answer and keep writing its chunks; the
        connection serves nothing else and closes when the stream ends (the
        job stays queued meanwhile, so the idle timeout leaves it open)."""
        self._closing = True
        self._queue.clear()
        self._queue.append(job)
        head = [_STATUS_LINES.get(answer.status) or b"HTTP/1.1 %d Unknown\r\n" % answer.status,
                b"x-amzn-RequestId: %s\r\n" % request_id(),
                b"Date: %s\r\n" % _Date.get(self.loop), b"Cache-Control: no-cache\r\n",
                b"Connection: close\r\n"]
        head += [b"%s: %s\r\n" % (k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
        if "origin" in job.headers and answer.cors:
            head.append(_CORS)
        self.transport.write(b"".join(head) + b"\r\n")
        self._stream = self.loop.create_task(self._pump(answer.stream))

    async def _pump(self, stream: Any) -> None:
        try:
            async for chunk in stream:
                if self.transport is None:
                    break
                self.transport.write(chunk)
        except Exception:  # noqa: BLE001 (a failing stream ends its connection, never the router)
            log.exception("streamed answer failed")
        finally:
            await stream.aclose()
            self._stream = None
            if self.transport is not None:
                self.transport.close()

    def _answer(self, job: _Job, status: int, body: bytes, note: tuple[str, str] | None = None) -> bytes:
        """The rendered answer. A 5xx or slow one is logged, with the id of the
        data call a node logged when there was one (`note`: its id and node),
        which the client gets as its request id: one grep finds both lines."""
        started = job[4]
        took = self.loop.time() - started if started else 0.0
        if status >= 500 or took >= self.cfg.slow_s:
            rid = note[0].encode() if note else request_id()
            node = note[1] if note else "-"
            if status >= 500:
                _log_failure(rid, job[0], job[1], status, body, node)
            else:
                log.warning("slow request_id=%s operation=%s table=%s status=%d latency_ms=%.1f node=%s",
                            rid.decode(), _operation(job[0]), _tables(job[1]), status, took * 1000, node)
        else:
            rid = request_id()
        headers = job[2]
        extra = b""
        if len(body) >= _COMPRESS_MIN:
            accept = headers.get("accept-encoding")
            coding = codings.choose(accept) if accept else None
            if coding is not None:
                # x-amz-crc32 is then of the compressed bytes, as DynamoDB sends
                # it and as the SDKs check it (before decompressing).
                body = codings.compress(body, coding)
                extra = b"Content-Encoding: %s\r\n" % coding.encode()
        if "origin" in headers:
            extra += _CORS
        if self.cfg.access_log:
            access_log.info("operation=%s table=%s status=%d latency_ms=%.1f request_id=%s", _operation(job[0]),
                            _tables(job[1]), status, took * 1000, rid.decode())
        return render(status, body, keep_alive=job[3], date=_Date.get(self.loop), extra=extra, rid=rid)

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is None:
            return
        t.write(data)
        if self._closing and not self._queue:
            t.close()


def _stream_of(task: asyncio.Task) -> Any:
    """The REST handler's answer when it is a stream, else None."""
    if task.cancelled() or task.exception() is not None:
        return None
    answer = task.result()
    return answer if getattr(answer, "stream", None) is not None else None


class SharedAccept:
    """Accepting on a listening socket other processes accept on too (the
    router workers of `trireme up --router-workers`, router/workers.py): one
    connection per readiness, not asyncio's up to a backlog's worth, so that
    a burst of connections (a benchmark's clients opening at once) spreads
    over the workers that are free to accept instead of going to whichever
    woke first. `close` stops accepting here; the socket stays open in the
    other processes."""

    def __init__(self, sock: socket.socket, cfg: _Config, ssl: ssl_.SSLContext | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.sock, self.cfg, self.ssl = sock, cfg, ssl
        self.sockets = [sock]
        self._tasks: set[asyncio.Task] = set()
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it
        except OSError as exc:  # out of descriptors or memory: pause, as asyncio does
            log.error("accepting a connection failed: %s; trying again in 1 s", exc)
            self.loop.remove_reader(self.sock.fileno())
            self.loop.call_later(1.0, self.loop.add_reader, self.sock.fileno(), self._accept)
            return
        conn.setblocking(False)
        task = self.loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        cfg = self.cfg
        try:
            await self.loop.connect_accepted_socket(lambda: _Conn(cfg), conn, ssl=self.ssl)
        except (OSError, ssl_.SSLError, asyncio.TimeoutError) as exc:  # a failed TLS handshake, a reset
            log.debug("a connection failed before its first request: %s", exc)
            conn.close()

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


async def serve(handler: Handler, host: str, port: int, *, max_body: int = MAX_BODY,
                region: str = "us-east-1", access_log: bool = False, rest: RestHandler | None = None,
                rest_prefixes: tuple[bytes, ...] = (), rest_max_body: int = REST_MAX_BODY,
                ssl: ssl_.SSLContext | None = None, slow_ms: float = SLOW_MS,
                sock: socket.socket | None = None, observe: Observer | None = None) -> asyncio.Server | SharedAccept:
    """Serve `handler` on host:port (HTTPS with `ssl`). `access_log`: one line per request to the
    `router.access` logger (operation, table, status, latency, request id); `slow_ms`: a request
    that took this long or longer is logged (0: none).
    The port is never shared through SO_REUSEPORT (any process setting it too could join): a second
    router on it fails. Router workers share it another way: `sock` is a listening socket their
    parent made and handed to each (router/workers.py), accepted on here.
    `rest` serves the requests whose path starts with one of `rest_prefixes`; `observe` is told of
    each DynamoDB request answered (router/metrics.py)."""
    loop = asyncio.get_running_loop()
    cfg = _Config(handler, max_body, region, access_log, rest, rest_prefixes, rest_max_body, slow_ms, observe)
    if sock is not None:
        return SharedAccept(sock, cfg, ssl)
    return await loop.create_server(lambda: _Conn(cfg), host, port, reuse_port=False, backlog=1024, ssl=ssl)
