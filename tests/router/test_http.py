"""The router's HTTP layer: a real server on a free port, spoken to over raw
sockets (head caps, pipelining, content codings, health, CORS, headers and
the failure and access logs). The handler is a Dispatcher with a few test
operations; the cluster behind the real router is covered in tests/integration."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import random
import re
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import orjson
import pytest

from ddb.errors import InternalServerError
from cluster.nodes import NOTE
from router import codings
from router.http import MAX_HEADER_COUNT, MAX_HEADERS, render, request_id, serve
from router.protocol import Dispatcher

ID = re.compile(rb"[A-Z0-9]{52}")
MAX_BODY = 1 << 20


# --- rendering and ids -------------------------------------------------------------


def test_request_ids_look_like_dynamodb_ones_and_are_unique():
    ids = [request_id() for _ in range(20000)]
    assert all(ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_gets_ids_of_its_own():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"".join(request_id() for _ in range(3)))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(r, 1000)
    mine = b"".join(request_id() for _ in range(3))
    assert {child[i:i + 52] for i in range(0, 156, 52)}.isdisjoint({mine[i:i + 52] for i in range(0, 156, 52)})


def test_render():
    out = render(200, b'{"a":1}', keep_alive=True, date=b"Mon, 01 Jan 2024 00:00:00 GMT")
    head, body = out.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1].startswith(b"x-amzn-RequestId: ") and ID.fullmatch(lines[1][18:])
    assert lines[2:] == [b"x-amz-crc32: 1444654255", b"Content-Type: application/x-amz-json-1.0",
                         b"Content-Length: 7", b"Date: Mon, 01 Jan 2024 00:00:00 GMT"]
    assert body == b'{"a":1}'


def test_render_closing_and_unknown_status():
    out = render(418, b"", keep_alive=False, content_type=b"text/plain", date=b"D", extra=b"X: y\r\n")
    lines = out.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 418 Unknown"
    assert lines[3:] == [b"Content-Type: text/plain", b"Content-Length: 0", b"Date: D", b"X: y",
                         b"Connection: close", b"", b""]


# --- a server and a raw client --------------------------------------------------


class _Ops:
    """Test operations. `Put`/`Get` hold a store; `Put` takes a random while,
    so a `Get` running concurrently with the `Put` before it misses it."""

    def __init__(self) -> None:
        self.store: dict[str, str] = {}
        self.running = 0
        self.max_running = 0

    def operations(self) -> dict:
        async def echo(body: dict) -> dict:
            return body

        async def put(body: dict) -> dict:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            try:
                await asyncio.sleep(random.random() * 0.005)
                self.store[body["k"]] = body["v"]
            finally:
                self.running -= 1
            return {}

        async def get(body: dict) -> dict:
            return {"v": self.store.get(body["k"])}

        async def sleep(body: dict) -> dict:
            await asyncio.sleep(body["s"])
            return {}

        async def noted(body: dict) -> dict:
            """A data call (in a task of its own, as a batch's are) that a node logged under `body["tag"]`."""
            async def call() -> None:
                NOTE.get()[0] = (body["tag"], "n3")
            await asyncio.gather(call())
            await asyncio.sleep(body.get("s", 0))
            if body.get("fail"):
                raise InternalServerError("The outcome of this write is unknown: partition t7.p1 lost its leader.")
            return {}

        async def fail(body: dict) -> dict:
            raise InternalServerError("The outcome of this write is unknown: n2, leading partition t7.p1, "
                                      "stopped answering after the write was sent.")

        async def big(body: dict) -> bytes:
            return orjson.dumps({"Items": [{"k": {"S": "x" * 100}}] * body["n"]})

        return {"Echo": echo, "Put": put, "Get": get, "Sleep": sleep, "Fail": fail, "Big": big,
                "Noted": noted}


class Server:
    """`router.http.serve` on a free port, its loop in a thread of its own."""

    def __init__(self, **kwargs) -> None:
        self.ops = _Ops()
        self.loop = asyncio.new_event_loop()

        async def start() -> None:
            self.server = await serve(Dispatcher(self.ops.operations()), "127.0.0.1", 0,
                                      max_body=MAX_BODY, **kwargs)
            self.port = self.server.sockets[0].getsockname()[1]

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def connect(self) -> Client:
        return Client(socket.create_connection(("127.0.0.1", self.port), timeout=10))


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict:
        return orjson.loads(self.body)


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read(self, head_only: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("closed before an answer")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = 0 if head_only else int(headers["content-length"])
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed in the body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(int(status_line.split()[1]), headers, body)

    def closed(self) -> bool:
        """Whether the server closed the connection (after the answers read)."""
        try:
            return not self._fill() and not self.buf
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def request(op: str, body: bytes | dict = b"{}", *, headers: dict[str, str | None] | None = None,
            method: str = "POST", path: str = "/") -> bytes:
    if isinstance(body, dict):
        body = orjson.dumps(body)
    h = {"Host": "localhost", "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{op}",
         "Content-Length": str(len(body)), **(headers or {})}
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None)
            + "\r\n").encode("latin-1") + body


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    c = server.connect()
    yield c
    c.close()


def assert_dynamodb_headers(r: Response) -> None:
    """Every answer carries a request id and the CRC32 of the body as sent."""
    assert ID.fullmatch(r.headers["x-amzn-requestid"].encode())
    assert int(r.headers["x-amz-crc32"]) == zlib.crc32(r.body)


# --- caps on the head --------------------------------------------------------------


def test_a_huge_header_is_refused_with_431_and_the_connection_closed(client):
    client.send(request("Echo", headers={"X-Big": "a" * (MAX_HEADERS + 10)}))
    r = client.read()
    assert r.status == 431 and r.headers["connection"] == "close"
    assert "exceed the maximum" in r.json()["Message"]
    assert_dynamodb_headers(r)
    assert client.closed()


def test_a_header_streamed_without_end_is_cut_off_early(client):
    """A 200 MB header once cost 315 MB and 98 s of CPU: the server now
    answers once the cap (plus one read) has arrived and closes, long before
    the client is done sending, holding little memory meanwhile."""
    tracemalloc.start()
    try:
        client.send(b"POST / HTTP/1.1\r\nX-Big: ")
        sent = 0
        with pytest.raises(OSError):
            for _ in range(2000):  # up to 200 MB
                client.send(b"a" * 100_000)
                sent += 100_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent < 20_000_000  # what the socket buffers took before the server closed
    assert peak < 3_000_000
    assert client.read().status == 431


def test_a_long_request_line_is_refused(client):
    client.send(request("Echo", path="/" + "a" * (MAX_HEADERS + 10)))
    assert client.read().status == 431
    assert client.closed()


def test_too_many_headers_are_refused(client):
    client.send(request("Echo", headers={f"X-H{i}": "1" for i in range(MAX_HEADER_COUNT + 1)}))
    assert client.read().status == 431


def test_a_head_just_under_the_caps_is_served(client):
    headers: dict[str, str | None] = {f"X-H{i}": "1" for i in range(MAX_HEADER_COUNT - 10)}
    headers["X-Big"] = "a" * (MAX_HEADERS - 4096)
    client.send(request("Echo", {"a": 1}, headers=headers))
    r = client.read()
    assert r.status == 200 and r.json() == {"a": 1}


def test_an_oversized_head_after_a_good_request_is_refused_after_its_answer(client):
    client.send(request("Echo", {"n": 1}) + request("Echo", headers={"X-Big": "a" * (2 * MAX_HEADERS)}))
    assert client.read().json() == {"n": 1}
    assert client.read().status == 431
    assert client.closed()


def test_a_body_over_the_limit_is_refused_with_413(client):
    client.send(request("Echo", b"x" * (MAX_BODY + 1)))
    r = client.read()
    assert r.status == 413
    assert_dynamodb_headers(r)


def test_a_malformed_request_is_answered_400_and_closed(client):
    client.send(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    r = client.read()
    assert r.status == 400
    assert_dynamodb_headers(r)
    assert client.closed()


# --- pipelining ------------------------------------------------------------------


def test_pipelined_requests_run_in_order_and_see_each_others_effects(server, client):
    puts = b"".join(request("Put", {"k": f"k{i}", "v": f"v{i}"}) for i in range(50))
    gets = b"".join(request("Get", {"k": f"k{i}"}) for i in range(50))
    client.send(puts + gets)
    assert [client.read().json() for _ in range(50)] == [{}] * 50
    assert [client.read().json()["v"] for _ in range(50)] == [f"v{i}" for i in range(50)]
    assert server.ops.max_running == 1


def test_answers_keep_request_order_when_later_ones_are_ready_first(client):
    client.send(request("Sleep", {"s": 0.2}) + request("Echo", {"n": 2})
                + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + request("Echo", {"n": 3}))
    assert client.read().json() == {}
    assert client.read().json() == {"n": 2}
    assert client.read().body.startswith(b"healthy")
    assert client.read().json() == {"n": 3}


def test_connections_run_concurrently(server):
    slow, fast = server.connect(), server.connect()
    try:
        slow.send(request("Sleep", {"s": 5.0}))
        start = time.monotonic()
        fast.send(request("Echo", {"n": 1}))
        assert fast.read().json() == {"n": 1}
        assert time.monotonic() - start < 2.0
    finally:
        slow.close()
        fast.close()


def test_connection_close_answers_the_pending_requests_then_closes(client):
    client.send(request("Sleep", {"s": 0.05}) + request("Echo", {"n": 1}, headers={"Connection": "close"})
                + request("Echo", {"n": 2}))
    assert client.read().status == 200
    last = client.read()
    assert last.json() == {"n": 1} and last.headers["connection"] == "close"
    assert client.closed()


def test_nothing_after_connection_close_is_parsed(client):
    too_large = request("Echo", headers={"Content-Length": str(MAX_BODY + 1)})  # (its body never sent)
    client.send(request("Echo", {"n": 1}, headers={"Connection": "close"}) + too_large)
    assert client.read().json() == {"n": 1}
    assert client.closed()


def test_many_pipelined_requests_are_all_answered(client):
    """Reading pauses while many requests wait, and resumes."""
    client.send(b"".join(request("Echo", {"n": i}) for i in range(500)))
    assert [client.read().json()["n"] for _ in range(500)] == list(range(500))


def test_expect_100_continue(client):
    body = b'{"a":1}'
    client.send(request("Echo", b"", headers={"Expect": "100-continue", "Content-Length": str(len(body))}))
    interim = client.read(head_only=True)
    assert interim.status == 100
    client.send(body)
    assert client.read().json() == {"a": 1}


# --- request bodies: chunked and compressed -------------------------------------------


def _chunked(body: bytes, size: int = 7) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                    for i in range(0, len(body), size)) + b"0\r\n\r\n"


def test_chunked_request_bodies(client):
    body = orjson.dumps({"a": "b" * 100})
    client.send(request("Echo", _chunked(body), headers={"Transfer-Encoding": "chunked", "Content-Length": None}))
    assert client.read().json() == {"a": "b" * 100}


def test_a_chunked_body_over_the_limit_is_refused(client):
    client.send(request("Echo", _chunked(b"x" * (MAX_BODY + 1), 65536),
                        headers={"Transfer-Encoding": "chunked", "Content-Length": None}))
    assert client.read().status == 413


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("GZip", gzip.compress),
    ("identity", lambda b: b),
    ("gzip, deflate", lambda b: zlib.compress(gzip.compress(b))),
])
def test_compressed_request_bodies(client, encoding, compress):
    body = orjson.dumps({"a": "b" * 5000})
    client.send(request("Echo", compress(body), headers={"Content-Encoding": encoding}))
    r = client.read()
    assert r.status == 200 and r.json() == {"a": "b" * 5000}


def test_gzip_members_may_follow_each_other(client):
    body = orjson.dumps({"a": "b" * 50})
    client.send(request("Echo", gzip.compress(body[:10]) + gzip.compress(body[10:]),
                        headers={"Content-Encoding": "gzip"}))
    assert client.read().json() == {"a": "b" * 50}


def test_compressed_and_chunked(client):
    body = orjson.dumps({"a": "b" * 5000})
    client.send(request("Echo", _chunked(gzip.compress(body), 100),
                        headers={"Content-Encoding": "gzip", "Transfer-Encoding": "chunked", "Content-Length": None}))
    assert client.read().json() == {"a": "b" * 5000}


@pytest.mark.parametrize("encoding, body", [
    ("br", b"{}"),  # an encoding DynamoDB does not take
    ("gzip", b'{"a":1}'),  # not gzip data
    ("deflate", b'{"a":1}'),
    ("gzip", b""),
    ("deflate", b""),
    ("gzip", gzip.compress(b'{"a":1}', mtime=0)[:-1]),  # truncated
    ("gzip", gzip.compress(b'{"a":1}', mtime=0) + b"junk"),
    ("deflate", zlib.compress(b'{"a":1}') + zlib.compress(b"{}")),  # one zlib stream only
])
def test_unknown_or_corrupt_encodings_answer_500_as_dynamodb(server, client, encoding, body):
    client.send(request("Put", body, headers={"Content-Encoding": encoding}))
    r = client.read()
    assert r.status == 500
    assert r.json()["__type"] == "com.amazonaws.dynamodb.v20120810#InternalServerError"
    assert r.json()["message"]
    assert_dynamodb_headers(r)
    assert server.ops.store == {}
    client.send(request("Echo", {"still": "open"}))
    assert client.read().json() == {"still": "open"}


def test_a_compression_bomb_is_refused_without_allocating_its_size(client):
    bomb = gzip.compress(b" " * (64 * MAX_BODY), 9)
    assert len(bomb) < MAX_BODY // 10
    tracemalloc.start()
    try:
        client.send(request("Echo", bomb, headers={"Content-Encoding": "gzip"}))
        r = client.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status == 413 and "Decompressed request body" in r.json()["Message"]
    assert peak < 4 * MAX_BODY


# --- compressed answers ------------------------------------------------------------


@pytest.mark.parametrize("coding, decompress", [("gzip", gzip.decompress), ("deflate", zlib.decompress)])
def test_large_answers_are_compressed_when_accepted(client, coding, decompress):
    client.send(request("Big", {"n": 100}, headers={"Accept-Encoding": coding}))
    r = client.read()
    assert r.headers["content-encoding"] == coding
    assert_dynamodb_headers(r)  # the CRC of the compressed bytes, as DynamoDB and the SDKs
    assert len(decompress(r.body)) > 10 * len(r.body)
    assert orjson.loads(decompress(r.body))["Items"][0] == {"k": {"S": "x" * 100}}


def test_small_or_unaccepted_answers_are_not_compressed(client):
    for n, accept in ((1, "gzip"), (100, "identity"), (100, None), (100, "br")):
        client.send(request("Big", {"n": n}, headers={"Accept-Encoding": accept}))
        r = client.read()
        assert "content-encoding" not in r.headers
        assert len(r.json()["Items"]) == n


# DynamoDB's choices, as recorded by ScyllaDB Alternator's test_compressed_response.py.
@pytest.mark.parametrize("header, expected", [
    ("gzip", "gzip"), ("deflate", "deflate"), ("identity", None), ("", None), ("br", None), ("zstd", None),
    ("x-gzip", None), ("gzip, deflate", "gzip"), ("br, identity, deflate, gzip", "deflate"),
    ("GZIP, identity", "gzip"), ("dog, gzip ,, cat", "gzip"), ("gzip;q=0.8, deflate;q=0.5", "gzip"),
    ("br, gzip;q=0, deflate; q = 0.5 , identity;q=0", "deflate"), ("*", "gzip"), ("*, deflate;q=0.5", "gzip"),
    ("*, deflate", "deflate"), ("*, identity", "gzip"), ("*, gzip;q=0.5", "deflate"), ("gzip ;q=0", None),
    ("identity;q=0", None), ("*;q=0", None), ("*;q=0.5,identity", "gzip"), ("gzip;q=0.5,identity;q=0.8", "gzip"),
    ("br;q=0.8,identity;q=0.5,*;q=0", None), ('"gzip"', None), ("gzip br", None), ("gzip:q=1", None),
    ("deflate;q=0.5, gzip;q=31", "gzip"), ("gzip;q=31,deflate;q=51", "gzip"), ("deflate;q=0.5, gzip;q=0.2", "deflate"),
    ("deflate;q=0.5, gzip;q=1;q=0.2", "gzip"), ("deflate;q=0.5,gzip;q=0.", "deflate"),
    ("deflate;q=0.5,gzip;q=0.x", "gzip"), ("deflate;q=-0.5,gzip;q=0.2", "gzip"), ("gzip;nq=1;q=0 ", None),
    ("gzip;q=0, gzip;q=1, gzip;q=0", "gzip"), ("br,identity;q=0.5,gzip;q=0.0001", "gzip"),
])
def test_accept_encoding_choice_matches_dynamodb(header, expected):
    assert codings.choose(header) == expected


# --- health, other methods, CORS --------------------------------------------------------


def test_health_answer_on_the_root_path():
    s = Server(region="eu-west-2")
    c = s.connect()
    try:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(2):
            r = c.read()
            assert r.status == 200 and r.body == b"healthy: dynamodb.eu-west-2.amazonaws.com "
            assert_dynamodb_headers(r)
    finally:
        c.close()
        s.close()


def test_head_of_the_health_answer_has_no_body(client):
    client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + request("Echo", {"n": 1}))
    r = client.read(head_only=True)
    assert r.status == 200 and int(r.headers["content-length"]) == 42
    assert client.read().json() == {"n": 1}


@pytest.mark.parametrize("head", [b"GET /other HTTP/1.1", b"PUT / HTTP/1.1", b"DELETE / HTTP/1.1",
                                  b"OPTIONS / HTTP/1.1", b"PATCH /x HTTP/1.1"])
def test_other_paths_and_methods_answer_unknown_operation_404(client, head):
    client.send(head + b"\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    r = client.read()
    assert r.status == 404 and r.body == b"<UnknownOperationException/>\n"
    assert_dynamodb_headers(r)


def test_cors_preflight(client):
    client.send(b"OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
                b"Access-Control-Request-Method: POST\r\n"
                b"Access-Control-Request-Headers: content-type, x-amz-target, x-amz-date, authorization\r\n\r\n")
    r = client.read()
    assert r.status == 200 and r.body == b""
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "POST"
    assert r.headers["access-control-allow-headers"] == "content-type, x-amz-target, x-amz-date, authorization"
    assert r.headers["access-control-max-age"] == "172800"
    assert_dynamodb_headers(r)


def test_cors_headers_on_answers_to_pages(client):
    origin = {"Origin": "http://app.example"}
    client.send(request("Echo", {"n": 1}, headers=origin) + request("Fail", headers=origin)
                + request("Echo", {"n": 2}))
    for _ in range(2):
        r = client.read()
        assert r.headers["access-control-allow-origin"] == "*"
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"x-amzn-requestid", "x-amz-crc32", "x-amzn-errortype"} <= exposed
    assert "access-control-allow-origin" not in client.read().headers  # no Origin: no CORS


# --- logs ------------------------------------------------------------------------------


def test_every_5xx_is_logged_with_its_request_id(client, caplog):
    caplog.set_level(logging.ERROR, logger="router.http")
    client.send(request("Fail", {"TableName": "orders", "Item": {}})
                + request("Put", b"x", headers={"Content-Encoding": "gzip"}) + request("Echo", {"TableName": "t"}))
    first, second, ok = client.read(), client.read(), client.read()
    assert (first.status, second.status, ok.status) == (500, 500, 200)
    lines = {m.group(1): r.getMessage() for r in caplog.records if r.name == "router.http"
             for m in [re.search(r"request_id=(\w+)", r.getMessage())] if m}
    assert len(lines) == 2
    assert lines[first.headers["x-amzn-requestid"]].startswith(
        "500 request_id=%s operation=Fail table=orders partition=t7.p1 node=- cause=InternalServerError: The outcome"
        % first.headers["x-amzn-requestid"])
    assert "operation=Put" in lines[second.headers["x-amzn-requestid"]]
    assert "not valid gzip data" in lines[second.headers["x-amzn-requestid"]]


def test_a_5xx_after_a_noted_data_call_answers_with_the_id_its_node_logged(client, caplog):
    """The node logged the failed call under its tag: the client gets that id, the router's line names the node."""
    caplog.set_level(logging.ERROR, logger="router.http")
    tag = "T" * 40 + "00000000002A"
    client.send(request("Noted", {"tag": tag, "fail": True}) + request("Fail"))
    noted, other = client.read(), client.read()
    assert (noted.status, other.status) == (500, 500)
    assert noted.headers["x-amzn-requestid"] == tag
    assert other.headers["x-amzn-requestid"] != tag  # the next request starts with no note
    line = next(r.getMessage() for r in caplog.records if tag in r.getMessage())
    assert line.startswith(f"500 request_id={tag} operation=Noted table=- partition=t7.p1 node=n3 cause=")


def test_a_slow_request_is_logged_with_its_request_id_and_a_quick_one_is_not(caplog):
    caplog.set_level(logging.WARNING, logger="router.http")
    s = Server(slow_ms=100)
    c = s.connect()
    tag = "S" * 40 + "000000000007"
    try:
        answers = []
        for req in (request("Sleep", {"s": 0.15}), request("Echo", {"TableName": "orders"}),
                    request("Noted", {"tag": tag, "s": 0.15}), request("Noted", {"tag": "Q" * 52})):
            c.send(req)  # one at a time: a pipelined request's latency includes its wait behind the others
            answers.append(c.read())
        slow, quick, noted, quick_noted = answers
    finally:
        c.close()
        s.close()
    assert noted.headers["x-amzn-requestid"] == tag and quick_noted.headers["x-amzn-requestid"] != "Q" * 52
    lines = [r.getMessage() for r in caplog.records if r.name == "router.http"]
    assert len(lines) == 2, lines
    rid = slow.headers["x-amzn-requestid"]
    assert re.fullmatch(rf"slow request_id={rid} operation=Sleep table=- status=200 latency_ms=\d+\.\d node=-",
                        lines[0])
    assert re.fullmatch(rf"slow request_id={tag} operation=Noted table=- status=200 latency_ms=\d+\.\d node=n3",
                        lines[1])
    assert quick.headers["x-amzn-requestid"] not in " ".join(lines)


def test_access_log(caplog):
    caplog.set_level(logging.INFO, logger="router.access")
    s = Server(access_log=True)
    c = s.connect()
    try:
        c.send(request("Echo", {"TableName": "orders"}) + request("Echo", {"RequestItems": {"a": [], "b": []}}))
        ids = [c.read().headers["x-amzn-requestid"], c.read().headers["x-amzn-requestid"]]
    finally:
        c.close()
        s.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "router.access"]
    assert len(lines) == 2
    assert re.fullmatch(rf"operation=Echo table=orders status=200 latency_ms=\d+\.\d request_id={ids[0]}", lines[0])
    assert "table=a,b" in lines[1] and ids[1] in lines[1]


def test_no_access_log_unless_asked(client, caplog):
    caplog.set_level(logging.INFO, logger="router.access")
    client.send(request("Echo", {"TableName": "orders"}))
    client.read()
    assert not [r for r in caplog.records if r.name == "router.access"]


# --- the REST API beside DynamoDB's (the Lambda API) ---------------------------------


class _RestAnswer:
    def __init__(self, status: int, body: bytes, headers: dict[str, str], request_id: str | None = None) -> None:
        self.status, self.body, self.headers, self.request_id = status, body, headers, request_id


def test_paths_with_a_rest_prefix_go_to_the_rest_handler_in_order_with_dynamodb_requests():
    seen = []

    async def rest(method: str, url: str, headers: dict[str, str], body: bytes):
        seen.append((method, url, body))
        if url.endswith("/boom"):
            raise RuntimeError("a bug")
        return _RestAnswer(201, b'{"ok":1}', {"X-Amz-Function-Error": "Unhandled"}, request_id="rid-1")

    s = Server(rest=rest, rest_prefixes=(b"/2015-03-31/functions",))
    try:
        c = s.connect()
        c.send(request("Put", {"k": "a", "v": 1})
               + b"PUT /2015-03-31/functions/f/code?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
               + request("Get", {"k": "a"})
               + b"GET /2015-03-31/functions/boom HTTP/1.1\r\nHost: h\r\n\r\n"
               + b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
        put, rest_answer, get, boom, other = (c.read() for _ in range(5))
        assert put.status == 200 and get.json() == {"v": 1}
        assert (rest_answer.status, rest_answer.body) == (201, b'{"ok":1}')
        assert rest_answer.headers["x-amz-function-error"] == "Unhandled"
        assert rest_answer.headers["x-amzn-requestid"] == "rid-1"
        assert rest_answer.headers["content-type"] == "application/json"
        assert boom.status == 500 and boom.headers["x-amzn-errortype"] == "ServiceException"
        assert other.status == 404  # no REST prefix: DynamoDB's endpoint's answer
        assert seen == [("PUT", "/2015-03-31/functions/f/code?x=1", b"abc"),
                        ("GET", "/2015-03-31/functions/boom", b"")]
        c.close()
    finally:
        s.close()


def test_a_rest_request_may_carry_a_larger_body_than_a_dynamodb_one(caplog):
    sizes = []

    async def rest(method: str, url: str, headers: dict[str, str], body: bytes):
        sizes.append(len(body))
        return _RestAnswer(200, b"{}", {})

    big = b"x" * (MAX_BODY + 1000)
    s = Server(rest=rest, rest_prefixes=(b"/2015-03-31/functions",), rest_max_body=2 * MAX_BODY, access_log=True)
    try:
        c = s.connect()
        with caplog.at_level(logging.INFO, logger="router.access"):
            c.send(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big))
            assert c.read().status == 200 and sizes == [len(big)]
        assert any("operation=POST /2015-03-31/functions status=200" in r.getMessage() for r in caplog.records)
        # DynamoDB's cap stays: refused on its Content-Length (the body is not sent,
        # the server may close before a client could finish sending it)
        c.send(request("Put", headers={"Content-Length": str(len(big))}))
        assert c.read().status == 413
        c.close()
        c = s.connect()
        too_big = b"x" * (2 * MAX_BODY + 1)
        c.send(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(too_big))
        assert c.read().status == 413
        c.close()
    finally:
        s.close()


class _StreamAnswer(_RestAnswer):
    def __init__(self, stream) -> None:
        super().__init__(200, b"", {"Content-Type": "text/event-stream"})
        self.cors = True
        self.stream = stream


def test_a_streamed_rest_answer_is_written_as_it_comes_and_stopped_when_the_client_goes():
    """The console's server-sent events: the head at once, each chunk when the
    stream yields it, no Content-Length, the connection closed at the end; a
    client that goes away stops the stream (no writer left behind)."""
    step = threading.Event()
    stopped = threading.Event()

    async def events():
        try:
            yield b"data: 1\n\n"
            while not step.is_set():
                await asyncio.sleep(0.01)
            yield b"data: 2\n\n"
            await asyncio.sleep(3600)  # quiet: only the client going away ends it
        finally:
            stopped.set()

    async def rest(method: str, url: str, headers: dict[str, str], body: bytes):
        return _StreamAnswer(events())

    s = Server(rest=rest, rest_prefixes=(b"/console",))
    try:
        c = s.connect()
        c.send(b"GET /console/api/events HTTP/1.1\r\nHost: h\r\nOrigin: http://x\r\n\r\n")
        head = c.read(head_only=True)
        assert head.status == 200 and head.headers["content-type"] == "text/event-stream"
        assert "content-length" not in head.headers and head.headers["connection"] == "close"
        assert head.headers["access-control-allow-origin"] == "*"
        while b"data: 1\n\n" not in c.buf:
            assert c._fill()
        assert b"data: 2" not in c.buf  # not before the stream yields it
        step.set()
        while b"data: 2\n\n" not in c.buf:
            assert c._fill()
        c.close()  # the client goes away: the stream is stopped
        assert stopped.wait(10)
    finally:
        s.close()


def test_a_finished_stream_closes_its_connection():
    async def events():
        yield b"data: only\n\n"

    async def rest(method: str, url: str, headers: dict[str, str], body: bytes):
        return _StreamAnswer(events())

    s = Server(rest=rest, rest_prefixes=(b"/console",))
    try:
        c = s.connect()
        c.send(b"GET /console/api/events HTTP/1.1\r\nHost: h\r\n\r\n" + request("Echo", {"a": 1}))
        assert c.read(head_only=True).status == 200
        while c._fill():
            pass
        assert c.buf == b"data: only\n\n"  # the pipelined request after it is not served: the connection closed
    finally:
        s.close()


def test_a_failing_or_cancelled_handler_is_answered_and_the_connection_goes_on():
    """A handler bug answers 500, a request cancelled (the router stopping) 503,
    and the requests pipelined behind them still run, in order."""
    async def main() -> list[tuple[int, bytes]]:
        hanging: list[asyncio.Task] = []
        started = asyncio.Event()

        async def handler(target: str | None, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            if target.endswith(".Bug"):
                raise RuntimeError("a bug")
            if target.endswith(".Hang"):
                hanging.append(asyncio.current_task())
                started.set()
                await asyncio.sleep(60)
            return 200, b'{"op":"%s"}' % target.rpartition(".")[2].encode()

        server = await serve(handler, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(request("Bug") + request("Echo") + request("Hang") + request("After"))
        await asyncio.wait_for(started.wait(), 10)
        hanging[0].cancel()
        out = []
        for _ in range(4):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            out.append((int(head.split(b" ", 2)[1]), await reader.readexactly(length)))
        writer.close()
        server.close()
        return out

    answers = asyncio.run(main())
    assert [status for status, _ in answers] == [500, 200, 503, 200]
    assert orjson.loads(answers[0][1])["message"] == "Internal server error"
    assert orjson.loads(answers[2][1])["__type"].endswith("#ServiceUnavailable")
    assert answers[1][1] == b'{"op":"Echo"}' and answers[3][1] == b'{"op":"After"}'
