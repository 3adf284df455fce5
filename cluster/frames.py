"""Length-prefixed protobuf frames on a node's peer port, and the gRPC
channel options every process uses: the byte-level contract nodes share.
The codec does no I/O (feed it bytes, get frames), so it is tested without
sockets; node/net/peers.py drives it.

A connection's first byte says what it carries (`RAFT`: a peer's Raft
frames); its first frame, a hello, states the sender's cluster id. Each frame
is a 4-byte big-endian length and a protobuf.
"""

from __future__ import annotations

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

RAFT = b"R"  # a connection's first byte


class FrameTooLarge(ValueError):
    """A frame announced more than the decoder's limit: the stream is garbage or hostile."""


def frame(msg: Any) -> bytes:
    """A protobuf message, length-prefixed."""
    return prefixed(msg.SerializeToString())


def prefixed(body: bytes) -> bytes:
    """An encoded protobuf's frame: its 4-byte big-endian length, then it."""
    return len(body).to_bytes(4, "big") + body


class FrameDecoder:
    """Bytes in, whole frame bodies out: partial frames wait in the buffer
    for the rest; a frame longer than `max_frame` raises FrameTooLarge
    (before its body arrives)."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received that are not part of a returned frame yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        start = 0
        while len(buf) - start >= 4:
            n = int.from_bytes(buf[start:start + 4], "big")
            if n > self.max_frame:
                raise FrameTooLarge(f"frame of {n} bytes (at most {self.max_frame})")
            if len(buf) - start < 4 + n:
                break
            out.append(bytes(buf[start + 4:start + 4 + n]))
            start += 4 + n
        if start:
            del buf[:start]
        return out


def tune(writer: asyncio.StreamWriter) -> None:
    """Data unacknowledged for USER_TIMEOUT_MS breaks the connection (as gRPC's keepalive did)."""
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
