"""The peer port's handshake without sockets (node/net/hello.py)."""

from __future__ import annotations

from cluster.frames import FrameDecoder, frame
from node.net.hello import Admitted, Closed, PeerHandshake, Refused, hello, opening, refusal
from trireme_pb import node_pb2, raft_pb2


def _batch(term: int) -> bytes:
    return frame(node_pb2.RaftFrame(batch=raft_pb2.MessageBatch(messages=[raft_pb2.Message(term=term)])))


def test_a_peer_of_the_cluster_is_admitted_and_its_frames_follow_byte_by_byte():
    shake = PeerHandshake("n1", "c1")
    wire = opening("n2", "c1") + _batch(7) + _batch(8)
    events = []
    for i in range(len(wire)):
        events += shake.feed(wire[i:i + 1])
    assert events[0] == Admitted("n2")
    assert [node_pb2.RaftFrame.FromString(b).batch.messages[0].term for b in events[1:]] == [7, 8]
    assert shake.state == "open" and shake.frm == "n2"


def test_a_hello_and_frames_in_one_read():
    shake = PeerHandshake("n1", "c1")
    events = shake.feed(opening("n2", "c1") + _batch(3))
    assert events[0] == Admitted("n2") and len(events) == 2


def test_another_cluster_is_refused_with_our_hello_and_nothing_after_it_is_read():
    shake = PeerHandshake("n1", "c1")
    events = shake.feed(opening("n9", "c2") + _batch(3))
    assert events == [Refused("n9", "c2", hello("n1", "c1"))]
    # The dialler reads who refused it from the answer.
    answer = refusal(events[0].answer)
    assert (answer.frm, answer.cluster_id) == ("n1", "c1")
    assert shake.state == "closed" and shake.feed(_batch(4)) == []


def test_a_hello_without_cluster_or_garbage_is_refused():
    assert isinstance(PeerHandshake("n1", "c1").feed(opening("n2", ""))[0], Refused)
    garbage = b"R" + (3).to_bytes(4, "big") + b"\xff\xff\xff"
    assert PeerHandshake("n1", "c1").feed(garbage)[0].stated == ""
    # A node without a cluster id admits nobody.
    assert isinstance(PeerHandshake("n1", "").feed(opening("n2", ""))[0], Refused)


def test_a_connection_that_is_not_a_peer_is_closed_without_answer():
    shake = PeerHandshake("n1", "c1")
    assert shake.feed(b"GET / HTTP/1.1\r\n") == [Closed("first byte b'G': not a peer connection")]
    assert shake.feed(opening("n2", "c1")) == []


def test_an_oversize_frame_closes_the_connection():
    shake = PeerHandshake("n1", "c1", max_frame=1024)
    assert shake.feed(opening("n2", "c1")) == [Admitted("n2")]
    events = shake.feed((1025).to_bytes(4, "big"))
    assert len(events) == 1 and isinstance(events[0], Closed) and "1025 bytes" in events[0].reason
    assert shake.state == "closed"


def test_refusal_of_bytes_that_are_no_hello_is_none():
    assert refusal(b"") is None
    assert refusal(b"\x00\x00\x00\x05ab") is None  # partial
    assert FrameDecoder().feed(hello("n1", "c1"))  # a hello is one frame


def test_the_other_regions_clusters_are_admitted_strangers_still_refused():
    shake = PeerHandshake("n1", "c1", peer_clusters=frozenset({"c-eu", "c-ap"}))
    assert shake.feed(opening("eu-west-1/n2", "c-eu")) == [Admitted("eu-west-1/n2")]
    assert isinstance(PeerHandshake("n1", "c1", peer_clusters=frozenset({"c-eu"})).feed(opening("n9", "c2"))[0],
                      Refused)
