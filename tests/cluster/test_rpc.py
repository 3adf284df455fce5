"""meta_call retries only what may pass later: no leader, unavailable,
unreachable. A failure that is a property of the request is raised at once."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from cluster.rpc import CallError, Channels, meta_call, reply
from trireme_pb import node_pb2, node_pb2_grpc


class _Meta(node_pb2_grpc.MetaServicer):
    def __init__(self, answer) -> None:
        self.answer, self.calls = answer, 0

    async def Call(self, request, context):  # noqa: N802
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


async def _call(answer, deadline_s: float = 3.0) -> tuple[CallError, int, float]:
    servicer = _Meta(answer)
    server = grpc.aio.server()
    node_pb2_grpc.add_MetaServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = Channels()
    start = time.monotonic()
    try:
        with pytest.raises(CallError) as exc:
            await meta_call(channels, [f"127.0.0.1:{port}"], "op", {}, deadline_s=deadline_s)
        return exc.value, servicer.calls, time.monotonic() - start
    finally:
        await channels.close()
        await server.stop(None)


@pytest.mark.parametrize("answer", [reply(status=node_pb2.INTERNAL, message="internal error: TypeError: x"),
                                    TypeError("a handler that raised")],
                         ids=["INTERNAL", "handler raised"])
def test_a_deterministic_failure_is_not_retried(answer) -> None:
    err, calls, took = asyncio.run(_call(answer))
    assert err.status == "INTERNAL" and calls == 1 and took < 1.0


def test_unavailable_is_retried_until_the_deadline() -> None:
    err, calls, took = asyncio.run(_call(reply(status=node_pb2.UNAVAILABLE, message="no quorum"), 1.0))
    assert err.status == "UNAVAILABLE" and calls > 1 and took >= 0.9
