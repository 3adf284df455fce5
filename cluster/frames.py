"""Length-prefixed protobuf frames on a node's TCP port, and the gRPC
channel options every process uses: the byte-level contract routers and
nodes share, with no I/O beyond reading one frame from a stream.

A connection's first byte says what it carries (`RAFT`: a peer's Raft frames;
`DATA`: a router's data requests); its first frame, a hello, states the
sender's cluster id. Each frame is a 4-byte big-endian length and a protobuf.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

MAX_FRAME = 64 << 20
USER_TIMEOUT_MS = 5_000  # unacknowledged data this long (a partition) breaks the connection
GRPC_OPTIONS = [
    ("grpc.so_reuseport", 0),  # a taken port is an error, never a port shared with another cluster
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 2_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1_000),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]

RAFT, DATA = b"R", b"D"  # a connection's first byte


def frame(msg: Any) -> bytes:
    """A protobuf message, length-prefixed."""
    body = msg.SerializeToString()
    return len(body).to_bytes(4, "big") + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    n = int.from_bytes(await reader.readexactly(4), "big")
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes")
    return await reader.readexactly(n)


def tune(writer: asyncio.StreamWriter) -> None:
    """Data unacknowledged for USER_TIMEOUT_MS breaks the connection (as gRPC's keepalive did)."""
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
