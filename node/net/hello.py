"""The peer port's handshake as a state machine without I/O (in the manner
of h11): node/net/peers.py feeds it the bytes a connection brings and acts
on the events it returns; tests drive it without sockets.

A peer connection opens with the byte `R`, then a RaftFrame holding only a
hello (the sender's node id and cluster id), then RaftFrames of messages.
A node admits a hello that states its own cluster or one of its peer
clusters (the other regions', whose nodes share Raft groups of strongly
consistent global tables with it); otherwise it answers with its own hello
(so the dialler can say whom it reached) and closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.frames import RAFT, FrameDecoder, FrameTooLarge, frame
from trireme_pb import node_pb2


@dataclass(frozen=True)
class Admitted:
    frm: str  # the peer's node id


@dataclass(frozen=True)
class Refused:
    frm: str
    stated: str  # the cluster id the peer stated ("" if none or garbage)
    answer: bytes  # send this, then close


@dataclass(frozen=True)
class Closed:
    reason: str  # not a peer connection, or a broken stream: close without answering


Event = Admitted | Refused | Closed | bytes  # bytes: the body of a RaftFrame after the hello


def hello(node_id: str, cluster_id: str) -> bytes:
    """What a dialler sends first (and what a refusing node answers, minus the first byte)."""
    return frame(node_pb2.RaftFrame(hello=node_pb2.RaftHello(frm=node_id, cluster_id=cluster_id)))


def opening(node_id: str, cluster_id: str) -> bytes:
    """The first bytes of a Raft connection."""
    return RAFT + hello(node_id, cluster_id)


def refusal(answer: bytes) -> node_pb2.RaftHello | None:
    """The hello a node answered before closing our connection (it refused
    us), or None when the bytes are not one."""
    try:
        bodies = FrameDecoder().feed(answer)
        return node_pb2.RaftFrame.FromString(bodies[0]).hello if bodies else None
    except Exception:  # noqa: BLE001 (not a refusal: nothing to say)
        return None


class PeerHandshake:
    """The accepting side of one peer connection."""

    def __init__(self, node_id: str, cluster_id: str, max_frame: int | None = None,
                 peer_clusters: frozenset[str] = frozenset()) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.peer_clusters = peer_clusters
        self.decoder = FrameDecoder(max_frame) if max_frame is not None else FrameDecoder()
        self.state = "kind"  # kind -> hello -> open, or closed
        self.frm = ""

    def feed(self, data: bytes) -> list[Event]:
        if self.state == "closed" or not data:
            return []
        if self.state == "kind":
            if data[:1] != RAFT:
                return self._close(f"first byte {data[:1]!r}: not a peer connection")
            self.state = "hello"
            data = data[1:]
        try:
            bodies = self.decoder.feed(data)
        except FrameTooLarge as exc:
            return self._close(str(exc))
        events: list[Event] = []
        for body in bodies:
            if self.state == "open":
                events.append(body)
                continue
            events.append(self._hello(body))
            if self.state == "closed":
                break
        return events

    def _hello(self, body: bytes) -> Admitted | Refused:
        try:
            h = node_pb2.RaftFrame.FromString(body).hello
            self.frm, stated = h.frm, h.cluster_id
        except Exception:  # noqa: BLE001 (garbage is refused like a stranger)
            stated = ""
        if stated and (stated == self.cluster_id or stated in self.peer_clusters):
            self.state = "open"
            return Admitted(self.frm)
        self.state = "closed"
        return Refused(self.frm, stated, hello(self.node_id, self.cluster_id))

    def _close(self, reason: str) -> list[Event]:
        self.state = "closed"
        return [Closed(reason)]
