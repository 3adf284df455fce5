"""The router's stream to a node (cluster/nodes.py), against a fake node
serving the `Data` gRPC service."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from cluster.frames import GRPC_OPTIONS
from cluster.identity import METADATA_KEY
from cluster.nodes import DEEP, HOLD_S, SWEEP_S, NodeClient, NodeDown
from trireme_pb import node_pb2, node_pb2_grpc


class _Node(node_pb2_grpc.DataServicer):
    """Answers at once, except requests to group `hang` (never) and `bye` (ends the stream);
    refuses streams that state another cluster than c1."""

    def __init__(self) -> None:
        self.seen: list[node_pb2.DataRequest] = []
        self.messages = 0

    async def Stream(self, request_iterator, context):  # noqa: N802
        if dict(context.invocation_metadata()).get(METADATA_KEY) != "c1":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "cluster id mismatch: not c1")
        await context.send_initial_metadata(())
        while True:
            batch = await context.read()
            if batch is grpc.aio.EOF:
                return
            self.messages += 1
            out = []
            for r in batch.requests:
                self.seen.append(r)
                if r.group == "bye":
                    return
                if r.group != "hang":
                    out.append(node_pb2.DataResponse(id=r.id, item=r.key))
            if out:
                await context.write(node_pb2.DataResponses(responses=out))


async def _serve(node: _Node) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=GRPC_OPTIONS)
    node_pb2_grpc.add_DataServicer_to_server(node, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def _run(fn, cluster_id: str = "c1"):
    async def go():
        node = _Node()
        server, port = await _serve(node)
        client = NodeClient(f"127.0.0.1:{port}", cluster_id=cluster_id)
        try:
            return await fn(node, client)
        finally:
            await client.close()
            await server.stop(0)
    return asyncio.run(go())


def test_answers_come_back_to_their_callers_in_batches():
    async def go(node, client):
        reqs = [node_pb2.DataRequest(op="GET", key=b"k%d" % i) for i in range(200)]
        resps = await asyncio.gather(*(client.call(r, 5.0) for r in reqs))
        assert [r.item for r in resps] == [r.key for r in reqs]
        assert not client._pending and not client._queue
        assert node.messages < 20  # requests queued meanwhile share a message
    _run(go)


def test_requests_wait_for_an_answer_to_the_previous_message_but_not_long():
    async def go(node, client):
        # Requests that arrive while a message is unanswered ride together in the next one.
        await client.call(node_pb2.DataRequest(op="GET", key=b"open"), 5.0)
        node.messages = 0
        first = asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", key=b"first"), 5.0))
        await asyncio.sleep(0)
        rest = []
        for i in range(30):
            rest.append(asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", key=b"%d" % i), 5.0)))
            await asyncio.sleep(0)
        await asyncio.gather(first, *rest)
        assert node.messages <= 12  # sent as soon as written, they took about 22 messages
        # A message nobody answers holds the next one back for HOLD_S at most.
        hung = asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", group="hang"), 5.0))
        await asyncio.sleep(0.05)
        t = time.monotonic()
        assert (await client.call(node_pb2.DataRequest(op="GET", key=b"x"), 2.0)).item == b"x"
        assert time.monotonic() - t < HOLD_S + 0.2
        hung.cancel()
    _run(go)


def test_after_a_deep_message_the_next_waits_for_all_its_answers_after_a_thin_one_for_the_first():
    async def go(node, client):
        await client.call(node_pb2.DataRequest(op="GET", key=b"open"), 5.0)
        for n in (DEEP - 1, DEEP):  # thin, then deep: one request of each never answered
            calls = [asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", key=b"%d" % i), 5.0))
                     for i in range(n - 1)]
            hung = asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", group="hang"), 5.0))
            await asyncio.gather(*calls)
            assert node.messages == (2 if n < DEEP else 3)  # each batch went in one message
            if n < DEEP:
                assert client._sent_at is None  # released by the first answer
            else:
                assert client._sent_at is not None  # held for the unanswered one (DEEP_HOLD_S at most)
                t = time.monotonic()
                assert (await client.call(node_pb2.DataRequest(op="GET", key=b"x"), 2.0)).item == b"x"
                assert time.monotonic() - t < 0.2
            hung.cancel()
    _run(go)


def test_after_a_message_of_several_requests_the_next_waits_two_loop_turns_for_more():
    async def go(node, client):
        def get(key: bytes) -> asyncio.Task:
            return asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", key=key), 5.0))

        async def a_then_b_one_turn_later() -> int:
            node.messages = 0
            a = get(b"a")
            await asyncio.sleep(0)  # a reaches call() in the next turn, b in the one after
            b = get(b"b")
            assert [r.item for r in await asyncio.gather(a, b)] == [b"a", b"b"]
            return node.messages

        await client.call(node_pb2.DataRequest(op="GET", key=b"open"), 5.0)  # alone: the next goes at once
        # (a and b then go in two messages on an idle machine; under load the stream's write of a may still be
        # in flight when b comes, and they share one: not asserted, the rule below is)
        await a_then_b_one_turn_later()
        await asyncio.gather(*(get(b"%d" % i) for i in range(3)))  # several: the next waits for more
        assert client._last_size == 3
        assert await a_then_b_one_turn_later() == 1
        assert client.requests == 8  # open, a, b, the three, a and b
    _run(go)


def test_a_call_times_out_and_leaves_nothing_pending():
    async def go(node, client):
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.call(node_pb2.DataRequest(op="GET", group="hang"), 0.2)
        assert 0.2 <= time.monotonic() - t < 0.2 + SWEEP_S + 0.5
        assert not client._pending
        # The stream still serves.
        assert (await client.call(node_pb2.DataRequest(op="GET", key=b"x"), 2.0)).item == b"x"
    _run(go)


def test_a_short_call_times_out_on_time_behind_longer_ones():
    """The sweep looks only once the earliest deadline passed: a later call
    with a shorter timeout moves that deadline forward."""
    async def go(node, client):
        long = asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", group="hang"), 5.0))
        await asyncio.sleep(SWEEP_S * 3)  # swept meanwhile: nothing due
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.call(node_pb2.DataRequest(op="GET", group="hang"), 0.2)
        assert 0.2 <= time.monotonic() - t < 0.2 + SWEEP_S + 0.5
        assert not long.done() and len(client._pending) == 1
        long.cancel()
        await asyncio.gather(long, return_exceptions=True)
    _run(go)


def test_a_cancelled_call_leaves_nothing_pending():
    async def go(node, client):
        task = asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", group="hang"), 5.0))
        await asyncio.sleep(0.2)
        assert len(client._pending) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client._pending
    _run(go)


def test_a_closed_stream_fails_the_calls_it_carried_and_the_next_call_reconnects():
    async def go(node, client):
        hung = asyncio.create_task(client.call(node_pb2.DataRequest(op="GET", group="hang"), 5.0))
        await asyncio.sleep(0.2)
        with pytest.raises(NodeDown) as bye:
            await client.call(node_pb2.DataRequest(op="GET", group="bye"), 5.0)
        assert bye.value.sent
        with pytest.raises(NodeDown) as exc:
            await hung
        assert exc.value.sent
        assert not client._pending
        assert (await client.call(node_pb2.DataRequest(op="GET", key=b"y"), 2.0)).item == b"y"
    _run(go)


def test_a_refused_stream_sends_nothing():
    async def go(node, client):
        with pytest.raises(NodeDown) as exc:
            await client.call(node_pb2.DataRequest(op="GET", key=b"x"), 5.0)
        assert not exc.value.sent and "cluster id mismatch" in str(exc.value)
        assert not node.seen
    _run(go, cluster_id="other")


def test_an_unreachable_node_fails_fast_and_says_nothing_was_sent():
    async def go():
        server, port = await _serve(_Node())
        await server.stop(0)  # a free port, most likely
        client = NodeClient(f"127.0.0.1:{port}", cluster_id="c1")
        try:
            t = time.monotonic()
            with pytest.raises(NodeDown) as exc:
                await client.call(node_pb2.DataRequest(op="GET"), 5.0)
            assert not exc.value.sent
            assert time.monotonic() - t < 2.0
        finally:
            await client.close()
    asyncio.run(go())
