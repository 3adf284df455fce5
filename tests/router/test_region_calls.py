"""Calls to another region's router: answers, relayed errors, and no answer."""

from __future__ import annotations

import asyncio

import pytest

from ddb.errors import ReplicaNotFoundException
from deploy.local import free_port
from router.region_calls import RegionUnreachable, call


async def _serving(answer: bytes | None, requests: list[bytes]):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _http(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (status, len(body), body)


def _run(answer: bytes | None) -> tuple[object, list[bytes]]:
    async def go():
        requests: list[bytes] = []
        server = await _serving(answer, requests)
        port = server.sockets[0].getsockname()[1]
        try:
            return await call("eu-west-1", f"http://127.0.0.1:{port}", "TriremeReplication_1.X", {"a": 1}, 5.0), \
                requests
        except Exception as exc:  # noqa: BLE001 (the outcome under test)
            return exc, requests
        finally:
            server.close()
    return asyncio.run(go())


def test_an_answer_and_the_request_sent():
    out, requests = _run(_http(200, b'{"ok": 1}'))
    assert out == {"ok": 1}
    assert b"X-Amz-Target: TriremeReplication_1.X" in requests[0]


def test_a_dynamodb_error_is_raised_as_itself():
    out, _ = _run(_http(400, b'{"__type": "com.amazonaws.dynamodb.v20120810#ReplicaNotFoundException", '
                             b'"message": "gone"}'))
    assert isinstance(out, ReplicaNotFoundException) and out.message == "gone"


@pytest.mark.parametrize("answer", [None, b"garbage", _http(502, b"<html/>")])
def test_no_usable_answer_is_unreachable_after_sending(answer):
    out, _ = _run(answer)
    assert isinstance(out, RegionUnreachable) and out.sent and out.region == "eu-west-1"


def test_a_refused_connection_was_not_sent():
    async def go():
        with pytest.raises(RegionUnreachable) as e:
            await call("eu-west-1", f"http://127.0.0.1:{free_port()}", "T", {}, 5.0)
        return e.value
    assert asyncio.run(go()).sent is False


def test_calls_reuse_a_kept_alive_connection_and_not_one_the_router_closed():
    async def go():
        connections: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            while True:  # keep-alive: answers until the caller asks for "close"
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                close = b'"close"' in await reader.readexactly(length)
                body = b'{"n": %d}' % len(connections)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (
                    len(body), b"Connection: close\r\n" if close else b"", body))
                await writer.drain()
                if close:
                    break
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            answers = [await call("eu-west-1", url, "T", {"i": i}, 5.0) for i in range(3)]
            assert answers == [{"n": 1}] * 3 and len(connections) == 1  # one connection for every call
            await call("eu-west-1", url, "T", {"x": "close"}, 5.0)  # the router closes after this answer
            assert await call("eu-west-1", url, "T", {}, 5.0) == {"n": 2}  # so the next call opens another
        finally:
            server.close()
    asyncio.run(go())
