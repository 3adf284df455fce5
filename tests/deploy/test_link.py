"""The cross-region link: its state's commands, one direction of a connection
over in-memory streams, and the whole link over loopback sockets."""

from __future__ import annotations

import asyncio
import time

import pytest

from deploy.link import Link, LinkState, Pair, call, carry, parse_pair
from deploy.local import free_port


def pairs(*regions: str, latency_ms: float = 30.0) -> list[Pair]:
    return [Pair(a, b, 0, "127.0.0.1:1", latency_ms) for a in regions for b in regions if a != b]


def test_commands_change_the_pairs_they_name():
    state = LinkState(pairs("us-east-1", "eu-west-1", "ap-southeast-1"))
    state.apply({"op": "latency", "regions": ["us-east-1", "eu-west-1"], "ms": 80})
    lat = {(p.src, p.dst): p.latency_ms for p in state.pairs}
    assert lat[("us-east-1", "eu-west-1")] == lat[("eu-west-1", "us-east-1")] == 80
    assert lat[("us-east-1", "ap-southeast-1")] == 30
    view = state.apply({"op": "isolate", "region": "ap-southeast-1"})
    cut = {(p["src"], p["dst"]) for p in view["pairs"] if p["cut"]}
    assert cut == {("ap-southeast-1", "us-east-1"), ("us-east-1", "ap-southeast-1"),
                   ("ap-southeast-1", "eu-west-1"), ("eu-west-1", "ap-southeast-1")}
    state.apply({"op": "cut", "regions": ["eu-west-1", "us-east-1"]})
    assert all(p.cut for p in state.pairs)
    state.apply({"op": "heal"})
    assert not any(p.cut for p in state.pairs) and lat[("us-east-1", "eu-west-1")] == 80


@pytest.mark.parametrize("cmd, message", [
    ({"op": "isolate", "region": "mars-1"}, "no region 'mars-1' on the link; regions: eu-west-1, us-east-1"),
    ({"op": "latency", "regions": ["us-east-1", "us-east-1"], "ms": 5}, "two different regions"),
    ({"op": "latency", "regions": ["us-east-1", "eu-west-1"], "ms": -1}, "between 0 and 60000"),
    ({"op": "latency", "regions": ["us-east-1", "eu-west-1"], "ms": True}, "between 0 and 60000"),
    ({"op": "drop"}, "unknown link command 'drop'"),
])
def test_bad_commands_say_what_is_wrong(cmd, message):
    state = LinkState(pairs("us-east-1", "eu-west-1"))
    with pytest.raises(ValueError, match=message):
        state.apply(cmd)
    assert not any(p.cut for p in state.pairs)


class Recorder:
    """A stream writer that notes when each chunk arrived."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []
        self.eof = False

    def write(self, data: bytes) -> None:
        self.got.append((time.monotonic(), data))

    async def drain(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True


def test_carry_delays_each_chunk_in_order_and_a_cut_holds_them():
    async def run() -> None:
        pair = Pair("a-1", "b-1", 0, "", latency_ms=50)
        gate, reader, out = asyncio.Event(), asyncio.StreamReader(), Recorder()
        gate.set()
        task = asyncio.ensure_future(carry(reader, out, pair, gate))
        sent = time.monotonic()
        reader.feed_data(b"one")
        await asyncio.sleep(0.01)
        reader.feed_data(b"two")
        while len(out.got) < 2:
            await asyncio.sleep(0.005)
        assert [d for _, d in out.got] == [b"one", b"two"]
        assert out.got[0][0] - sent >= 0.05 and out.got[1][0] - sent >= 0.06
        gate.clear()  # cut: nothing more goes through, however long we wait
        reader.feed_data(b"three")
        await asyncio.sleep(0.2)
        assert len(out.got) == 2
        healed = time.monotonic()
        gate.set()
        reader.feed_eof()
        await asyncio.wait_for(task, 2)
        assert [d for _, d in out.got] == [b"one", b"two", b"three"] and out.eof
        assert out.got[2][0] - healed >= 0.05  # read only once healed, then the latency

    asyncio.run(run())


async def echo_server() -> tuple[asyncio.base_events.Server, int]:
    async def echo(reader, writer):
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_the_link_over_sockets_latency_cut_and_heal():
    """Round trips through the link cost at least twice the one-way latency;
    a cut stalls an open connection and holds a new one (a timeout, not an
    error), and the heal delivers what was held, in order."""
    async def run() -> None:
        server, port = await echo_server()
        ab, ba = free_port(), free_port()
        control = f"127.0.0.1:{free_port()}"
        link = Link([Pair("a-1", "b-1", ab, f"127.0.0.1:{port}", 40),
                     Pair("b-1", "a-1", ba, f"127.0.0.1:{port}", 40)], control)
        await link.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", ab)

            async def round_trip(msg: bytes) -> float:
                start = time.monotonic()
                writer.write(msg)
                assert await asyncio.wait_for(reader.readexactly(len(msg)), 2) == msg
                return time.monotonic() - start

            assert await round_trip(b"ping") >= 0.08
            view = await asyncio.to_thread(call, control, {"op": "latency", "regions": ["a-1", "b-1"], "ms": 100})
            assert {p["latency_ms"] for p in view["pairs"]} == {100}
            assert await round_trip(b"slow") >= 0.2

            await asyncio.to_thread(call, control, {"op": "isolate", "region": "b-1"})
            writer.write(b"held")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.readexactly(4), 0.5)
            r2, w2 = await asyncio.open_connection("127.0.0.1", ba)  # accepted, but carries nothing
            w2.write(b"new")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r2.readexactly(3), 0.5)
            state = await asyncio.to_thread(call, control)
            assert all(p["cut"] for p in state["pairs"])

            await asyncio.to_thread(call, control, {"op": "heal"})
            assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"
            assert await asyncio.wait_for(r2.readexactly(3), 2) == b"new"
            with pytest.raises(ValueError, match="unknown link command"):
                await asyncio.to_thread(call, control, {"op": "nope"})
            writer.close()
            w2.close()
        finally:
            await link.close()
            server.close()

    asyncio.run(run())


def test_pairs_from_the_command_line():
    assert parse_pair("us-east-1,eu-west-1,8101,10.213.12.20:8000", 40) == Pair(
        "us-east-1", "eu-west-1", 8101, "10.213.12.20:8000", 40)
    # With the Raft peer port and DST's nodes' peer ports (strongly consistent tables in containers).
    assert parse_pair("us-east-1,eu-west-1,8101,10.213.12.20:8000,8301,n1=10.213.12.11:7201,n2=10.213.12.12:7201",
                      40) == Pair("us-east-1", "eu-west-1", 8101, "10.213.12.20:8000", 40, peer_port=8301,
                                  peers={"n1": "10.213.12.11:7201", "n2": "10.213.12.12:7201"})
    for bad in ("us-east-1,eu-west-1,8101", "us-east-1,eu-west-1,port,10.0.0.1:8000", "a,b,1,nohost",
                "a,b,1,h:1,8301", "a,b,1,h:1,port,n1=h:2", "a,b,1,h:1,8301,n1", "a,b,1,h:1,8301,=h:2"):
        with pytest.raises(ValueError, match="expected SRC,DST,PORT,HOST:PORT"):
            parse_pair(bad)
