"""The cross-region link: the only path between regions (`trireme link`).

For each ordered pair of regions (SRC, DST) the link listens on one loopback
port and forwards TCP to DST's router, so SRC's routers and nodes reach DST at
`http://127.0.0.1:PORT` (their `--remote-regions`). Every byte waits the pair's
one-way latency in each direction (a request and its answer: twice), in order
per connection. A cut pair behaves as a partition, not as a refusal: new
connections are accepted by the kernel but carry nothing, and existing ones
stall (nothing is read or delivered) until the pair is healed, when the held
bytes go on in order, as TCP's retransmissions would deliver them. The caller
sees its own timeout, never a clean error.

Faults are set at run time through a small JSON-over-HTTP control endpoint on
loopback (`GET /` the state, `POST /` a command; `call` below is its client),
used by `trireme chaos` and `trireme status`. `LinkState` (the pairs and their
faults) and `carry` (one direction of one connection, over asyncio streams)
hold the logic; `serve` only wires them to sockets.

A pair may also carry Raft traffic between nodes (the groups of strongly
consistent global tables span regions): on its `peer_port` each connection
starts with a header naming the destination node (`cluster/regions.py`
`peer_header`), which the link maps to that node's peer port (`peers`) and
then carries like any other connection, with the same latency and cuts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cluster.regions import parse_peer_header
from cluster.tasks import within

log = logging.getLogger(__name__)

DEFAULT_LATENCY_MS = 30.0  # one way: a request and its answer cost twice this
CHUNK = 64 * 1024
QUEUED_CHUNKS = 64  # per direction in flight: bounds the memory of a fast sender


@dataclass
class Pair:
    """Connections from region `src` to region `dst`'s router (`target`, host:port)."""

    src: str
    dst: str
    port: int
    target: str
    latency_ms: float = DEFAULT_LATENCY_MS
    cut: bool = False
    peer_port: int = 0  # Raft connections to `dst`'s nodes (0: none)
    peers: dict[str, str] = field(default_factory=dict)  # dst's node id -> its peer port, host:port


@dataclass
class LinkState:
    """Every pair and its faults; `apply` runs one control command."""

    pairs: list[Pair]
    changed: Callable[[Pair], None] = field(default=lambda p: None, repr=False)

    def regions(self) -> list[str]:
        return sorted({p.src for p in self.pairs} | {p.dst for p in self.pairs})

    def _region(self, name: Any) -> str:
        if name not in self.regions():
            raise ValueError(f"no region {name!r} on the link; regions: {', '.join(self.regions())}")
        return name

    def _between(self, a: str, b: str) -> list[Pair]:
        return [p for p in self.pairs if {p.src, p.dst} == {a, b}]

    def apply(self, cmd: dict) -> dict:
        """`{"op": "latency", "regions": [A, B], "ms": N}` (both directions),
        `{"op": "isolate", "region": R}` (cut every pair involving R),
        `{"op": "cut", "regions": [A, B]}` (both directions), `{"op": "heal"}`
        (every cut healed; latencies stay)."""
        op = cmd.get("op")
        if op in ("latency", "cut"):
            regions = cmd.get("regions")
            if not isinstance(regions, list) or len(regions) != 2 or regions[0] == regions[1]:
                raise ValueError(f"{op} needs two different regions")
            touched = self._between(self._region(regions[0]), self._region(regions[1]))
            if op == "cut":
                changes: dict[str, Any] = {"cut": True}
            else:
                ms = cmd.get("ms")
                if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not 0 <= ms <= 60_000:
                    raise ValueError("latency needs ms between 0 and 60000 (one way)")
                changes = {"latency_ms": float(ms)}
        elif op == "isolate":
            region = self._region(cmd.get("region"))
            touched, changes = [p for p in self.pairs if region in (p.src, p.dst)], {"cut": True}
        elif op == "heal":
            touched, changes = list(self.pairs), {"cut": False}
        else:
            raise ValueError(f"unknown link command {op!r}: latency, cut, isolate or heal")
        for p in touched:
            for key, value in changes.items():
                setattr(p, key, value)
            self.changed(p)
        return self.view()

    def view(self) -> dict:
        return {"pairs": [asdict(p) for p in self.pairs]}


async def carry(reader: asyncio.StreamReader, writer: Any, pair: Pair, gate: asyncio.Event,
                clock: Callable[[], float] | None = None) -> None:
    """Copy one direction of a connection, each chunk delivered the pair's
    one-way latency after it was read, in order. While `gate` is clear (the
    pair is cut) nothing is read or delivered. Ends after passing on the
    end of the stream (half-close), or when either side fails."""
    clock = clock or asyncio.get_running_loop().time
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUED_CHUNKS)

    async def read() -> None:
        while True:
            await gate.wait()
            try:
                data = await reader.read(CHUNK)
            except OSError:
                data = b""
            await queue.put((clock() + pair.latency_ms / 1000, data))
            if not data:
                return

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - clock()))
            while not gate.is_set():  # held by a cut: goes on one latency after the heal
                await gate.wait()
                await asyncio.sleep(pair.latency_ms / 1000)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    reading = asyncio.ensure_future(read())
    try:
        await deliver()
    except OSError:
        pass  # the receiver went away: this direction is over
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


class Link:
    """The running link: a listener per pair, and the control endpoint."""

    def __init__(self, pairs: list[Pair], control: str, host: str = "127.0.0.1") -> None:
        self.gates = {(p.src, p.dst): asyncio.Event() for p in pairs}
        self.state = LinkState(pairs, changed=self._changed)
        for p in pairs:
            self._changed(p)
        self.control, self.host = control, host
        self.connections: set[asyncio.Task] = set()
        self.servers: list[asyncio.base_events.Server] = []

    def _changed(self, p: Pair) -> None:
        gate = self.gates[(p.src, p.dst)]
        gate.clear() if p.cut else gate.set()

    async def start(self) -> None:
        for p in self.state.pairs:
            self.servers.append(await asyncio.start_server(
                lambda r, w, p=p: self._track(self._forward(p, r, w)), self.host, p.port))
            if p.peer_port:
                self.servers.append(await asyncio.start_server(
                    lambda r, w, p=p: self._track(self._forward(p, r, w, peer=True)), self.host, p.peer_port))
        host, _, port = self.control.rpartition(":")
        self.servers.append(await asyncio.start_server(self._control, host, int(port)))
        log.info("link up: %s; control on %s", ", ".join(
            f"{p.src}->{p.dst} :{p.port} -> {p.target}" for p in self.state.pairs), self.control)

    def _track(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)

    async def _forward(self, p: Pair, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       peer: bool = False) -> None:
        gate = self.gates[(p.src, p.dst)]
        try:
            await gate.wait()  # a new connection over a cut pair waits for the heal
            target = p.target
            if peer:
                target = await _peer_target(p, reader)
                if target is None:
                    return
            host, _, port = target.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError as exc:  # the region's router is down: the caller learns one round trip later
                log.info("%s->%s: %s unreachable (%s)", p.src, p.dst, target, exc)
                await asyncio.sleep(2 * p.latency_ms / 1000)
                return
            try:
                await asyncio.gather(carry(reader, up_writer, p, gate), carry(up_reader, writer, p, gate))
            finally:
                up_writer.close()
        finally:
            writer.close()

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP/1.0 exchange: GET the state, or POST a command."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method = head.split(b" ", 1)[0]
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
            try:
                answer = self.state.apply(json.loads(body)) if method == b"POST" else self.state.view()
                status = "200 OK"
            except (ValueError, AttributeError) as exc:
                answer, status = {"error": str(exc)}, "400 Bad Request"
            out = json.dumps(answer).encode()
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(out)}\r\n\r\n".encode() + out)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        for s in self.servers:
            s.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)


async def _peer_target(p: Pair, reader: asyncio.StreamReader) -> str | None:
    """The peer port a Raft connection is for, read from its header (None: no
    header or an unknown node; the connection is dropped)."""
    try:
        head = await within(reader.readexactly(2), 10.0)
        head += await within(reader.readexactly(head[1]), 10.0)
        parsed = parse_peer_header(head)
    except (ValueError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        log.info("%s->%s peer connection without a header: %s", p.src, p.dst, exc)
        return None
    node = parsed[0] if parsed else ""
    target = p.peers.get(node)
    if target is None:
        log.info("%s->%s peer connection for unknown node %r", p.src, p.dst, node)
    return target


def call(control: str, command: dict | None = None, timeout: float = 3.0) -> dict:
    """Ask the link at `control` (host:port) for its state, or run a command;
    raises ValueError with the link's message for a bad command, OSError when
    the link does not answer."""
    req = urllib.request.Request(f"http://{control}/", method="POST" if command else "GET",
                                 data=json.dumps(command).encode() if command else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise ValueError(json.loads(exc.read()).get("error", str(exc))) from None


# --- the process ----------------------------------------------------------------


def write_config(path: Path, control: str, pairs: list[Pair]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"control": control, "pairs": [asdict(p) for p in pairs]}, indent=2))


def read_config(path: Path) -> tuple[str, list[Pair]]:
    config = json.loads(Path(path).read_text())
    return config["control"], [Pair(**p) for p in config["pairs"]]


def parse_pair(text: str, latency_ms: float = DEFAULT_LATENCY_MS) -> Pair:
    """``us-east-1,eu-west-1,8101,10.0.0.20:8000`` -> a Pair; with
    ``,8301,n1=10.0.0.11:7201,n2=...`` after it, also the Raft peer port and
    where DST's nodes take peer connections (strongly consistent tables)."""
    parts = text.split(",")
    peers = dict(p.partition("=")[::2] for p in parts[5:])
    if len(parts) < 4 or not parts[2].isdigit() or ":" not in parts[3] or len(parts) == 5 \
            or len(parts) > 5 and (not parts[4].isdigit() or not all(k and ":" in v for k, v in peers.items())):
        raise ValueError(f"bad --pair {text!r}: expected SRC,DST,PORT,HOST:PORT[,PEER_PORT,NODE=HOST:PORT,...]")
    return Pair(parts[0], parts[1], int(parts[2]), parts[3], latency_ms,
                peer_port=int(parts[4]) if len(parts) > 5 else 0, peers=peers)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("link", help="run the cross-region link (`trireme up --regions` starts it)",
                       description="Forward each ordered pair of regions to the other region's router, "
                                   "with latency, and cut pairs on command (`trireme chaos isolate-region`).")
    p.add_argument("--config", type=Path, default=None,
                   help="the link's JSON file (pairs, ports, control), as `trireme up --regions` writes it")
    p.add_argument("--pair", action="append", default=[], metavar="SRC,DST,PORT,HOST:PORT[,PEER_PORT,NODE=HOST:PORT,...]",
                   help="instead of --config (containers): listen on PORT for region SRC and forward to "
                        "region DST's router at HOST:PORT; with PEER_PORT, listen there for SRC's nodes' Raft "
                        "connections to DST's nodes (their peer ports NODE=HOST:PORT); once per ordered pair")
    p.add_argument("--control", default="127.0.0.1:8099",
                   help="with --pair: HOST:PORT of the control endpoint (default 127.0.0.1:8099)")
    p.add_argument("--listen-host", default="127.0.0.1",
                   help="address the pairs' ports listen on (default 127.0.0.1; 0.0.0.0 in a container)")
    p.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS,
                   help=f"with --pair: one-way latency of every pair to begin with (default {DEFAULT_LATENCY_MS:g})")
    p.add_argument("--parent-pid", type=int, default=0, help="stop when the process with this pid ends")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s link %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_run(args))
    except (OSError, ValueError, KeyError) as exc:
        print(f"trireme link: {exc}", file=sys.stderr, flush=True)
        return 1


async def _run(args: argparse.Namespace) -> int:
    from cluster.lifetime import watch_parent

    if args.config:
        control, pairs = read_config(args.config)
    elif args.pair:
        control, pairs = args.control, [parse_pair(text, args.latency_ms) for text in args.pair]
    else:
        raise ValueError("give --config FILE or --pair SRC,DST,PORT,HOST:PORT (once per ordered region pair)")
    link = Link(pairs, control, args.listen_host)
    await link.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.ensure_future(watch_parent(args.parent_pid, stop)) if args.parent_pid else None
    await stop.wait()
    if watcher:
        watcher.cancel()
    await link.close()
    return 0
