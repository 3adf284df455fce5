"""The router's connection to a node, against a fake node speaking the frames."""

from __future__ import annotations

import asyncio
import time

import pytest

from cluster.frames import DATA, frame, read_frame
from cluster.nodes import SWEEP_S, NodeClient, NodeDown
from trireme_pb import node_pb2


class _Node:
    """Answers at once, except requests to group `hang` (never) and `bye` (closes the connection)."""

    def __init__(self) -> None:
        self.seen: list[node_pb2.DataRequest] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            assert await reader.readexactly(1) == DATA
            assert node_pb2.DataHello.FromString(await read_frame(reader)).cluster_id == "c1"
            while True:
                batch = node_pb2.DataRequests.FromString(await read_frame(reader))
                out = []
                for r in batch.requests:
                    self.seen.append(r)
                    if r.group == "bye":
                        return
                    if r.group != "hang":
                        out.append(node_pb2.DataResponse(id=r.id, item=r.key))
                if out:
                    writer.write(frame(node_pb2.DataResponses(responses=out)))
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


async def _serve(node: _Node) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(node.serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _client(port: int) -> NodeClient:
    async def endpoint() -> tuple[str, int]:
        return "127.0.0.1", port
    return NodeClient(f"127.0.0.1:{port}", endpoint, cluster_id="c1")


def _run(fn):
    async def go():
        node = _Node()
        server, port = await _serve(node)
        client = _client(port)
        try:
            return await fn(node, client)
        finally:
            await client.close()
            server.close()
    return asyncio.run(go())


def test_answers_come_back_to_their_callers():
    async def go(node, client):
        reqs = [node_pb2.DataRequest(op="GET", key=b"k%d" % i) for i in range(50)]
        resps = await asyncio.gather(*(client.call(r, 2.0) for r in reqs))
        assert [r.item for r in resps] == [r.key for r in reqs]
        assert not client._pending and not client._queue
    _run(go)


def test_a_call_times_out_and_leaves_nothing_pending():
    async def go(node, client):
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.call(node_pb2.DataRequest(group="hang"), 0.2)
        assert 0.2 <= time.monotonic() - t < 0.2 + SWEEP_S + 0.5
        assert not client._pending
        # The stream still serves.
        assert (await client.call(node_pb2.DataRequest(op="GET", key=b"x"), 2.0)).item == b"x"
    _run(go)


def test_a_cancelled_call_leaves_nothing_pending():
    async def go(node, client):
        task = asyncio.create_task(client.call(node_pb2.DataRequest(group="hang"), 5.0))
        await asyncio.sleep(0.2)
        assert len(client._pending) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client._pending
    _run(go)


def test_a_closed_stream_fails_the_calls_it_carried():
    async def go(node, client):
        hung = asyncio.create_task(client.call(node_pb2.DataRequest(group="hang"), 5.0))
        await asyncio.sleep(0.2)
        with pytest.raises(NodeDown) as bye:
            await client.call(node_pb2.DataRequest(group="bye"), 5.0)
        assert bye.value.sent
        with pytest.raises(NodeDown) as exc:
            await hung
        assert exc.value.sent
        assert not client._pending
    _run(go)


def test_an_unreachable_node_fails_fast_and_says_nothing_was_sent():
    async def go():
        server, port = await _serve(_Node())
        server.close()  # a free port, most likely
        await server.wait_closed()
        client = _client(port)
        try:
            with pytest.raises(NodeDown) as exc:
                await client.call(node_pb2.DataRequest(op="GET"), 5.0)
            assert not exc.value.sent
        finally:
            await client.close()
    asyncio.run(go())
