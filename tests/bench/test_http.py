"""The load generator's HTTP client against the trivial server, in process."""

from __future__ import annotations

import asyncio

import orjson

from bench.http import Client
from bench.trivial import RESPONSE, _Proto


async def _with_server(fn):
    server = await asyncio.get_running_loop().create_server(_Proto, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await fn(f"http://127.0.0.1:{port}", server)
    finally:
        server.close()


def test_keep_alive_requests_and_reconnect():
    async def go(endpoint, server):
        c = Client(endpoint)
        answers = [await c.call("GetItem", b'{"TableName":"t"}') for _ in range(200)]
        assert {status for status, _ in answers} == {200}
        assert orjson.loads(answers[0][1])["Item"]["key"] == {"S": "user1"}
        conn = c._conn
        assert conn is not None
        conn.transport.close()  # the server side would do the same on restart
        await asyncio.sleep(0.01)
        status, body = await c.call("GetItem", b"{}")
        assert status == 200 and body == RESPONSE.split(b"\r\n\r\n", 1)[1]
        c.close()
    asyncio.run(_with_server(go))


def test_many_clients_at_once():
    async def go(endpoint, server):
        clients = [Client(endpoint) for _ in range(32)]
        results = await asyncio.gather(*(c.call("GetItem", b"{}") for c in clients for _ in range(1)))
        assert len(results) == 32 and all(s == 200 for s, _ in results)
        for c in clients:
            c.close()
    asyncio.run(_with_server(go))


class _Requests(asyncio.Protocol):
    """A server's side: each whole request (head, body) goes to `answer`."""

    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(rest) < length:
            return
        self.buf = rest[length:]
        self.answer(head, rest[:length])

    def answer(self, head: bytes, body: bytes) -> None:
        raise NotImplementedError


class _ClosingProto(_Requests):
    """Answers one request with `Connection: close` and closes, as moto's server does."""

    def answer(self, head, request):
        body = b'{"n":%d}' % len(request)
        self.transport.write(b"HTTP/1.1 400 BAD REQUEST\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
        self.transport.close()


def test_a_server_that_closes_after_each_answer():
    async def go():
        server = await asyncio.get_running_loop().create_server(_ClosingProto, "127.0.0.1", 0)
        c = Client(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        try:
            answers = [await asyncio.wait_for(c.call("DeleteTable", b"x" * i), 5) for i in range(1, 6)]
            assert answers == [(400, b'{"n":%d}' % i) for i in range(1, 6)]
        finally:
            c.close()
            server.close()
    asyncio.run(go())


class _CaptureProto(_Requests):
    """Keeps each request's head and body and answers 200 {}."""

    seen: list[tuple[bytes, bytes]] = []

    def answer(self, head, body):
        self.seen.append((head, body))
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


def _verify(head: bytes, body: bytes, secret: str) -> str:
    """What the router does with a request's signature; the access key it names."""
    import time

    from ddb.iam import sigv4
    lines = head.decode().split("\r\n")
    method, url, _ = lines[0].split(" ")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    signed = sigv4.parse(method, url, headers, body)
    sigv4.check_scope(signed, "eu-west-1", ("dynamodb",))
    sigv4.check_time(signed, time.time())
    sigv4.verify(signed, sigv4.signing_key(secret, signed.date, signed.region, signed.service))
    return signed.access_key


def test_requests_to_an_auth_endpoint_carry_a_signature_the_router_accepts():
    import pytest

    from bench.http import sign_for
    from ddb.errors import InvalidSignatureException

    async def go():
        _CaptureProto.seen = []
        server = await asyncio.get_running_loop().create_server(_CaptureProto, "127.0.0.1", 0)
        endpoint = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        sign_for(endpoint, "AKIDBENCH", "s3cret", "eu-west-1")
        c = Client(endpoint)
        try:
            for op, body in (("GetItem", b'{"TableName":"t"}'), ("UpdateItem", b'{"a":"\xc3\xa9"}'), ("Query", b"")):
                assert await c.call(op, body) == (200, b"{}")
        finally:
            c.close()
            server.close()
    asyncio.run(go())
    assert len(_CaptureProto.seen) == 3
    for head, body in _CaptureProto.seen:
        assert _verify(head, body, "s3cret") == "AKIDBENCH"
        with pytest.raises(InvalidSignatureException):
            _verify(head, body, "another secret")
    assert all(b"Signature=" + b"0" * 64 not in head for head, _ in _CaptureProto.seen)  # not the peers' fake one
