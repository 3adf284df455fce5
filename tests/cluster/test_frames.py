"""The frame codec without sockets: bytes in, frames out."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cluster.frames import FrameDecoder, FrameTooLarge, frame
from trireme_pb import node_pb2


def _encoded(n: int) -> tuple[list[bytes], bytes]:
    msgs = [node_pb2.RaftHello(frm=f"n{i}", cluster_id="c" * i) for i in range(n)]
    return [m.SerializeToString() for m in msgs], b"".join(frame(m) for m in msgs)


@given(st.integers(0, 8), st.lists(st.integers(1, 40), max_size=30))
def test_frames_come_out_whole_however_the_bytes_are_cut(n, cuts):
    bodies, wire = _encoded(n)
    decoder, out, at = FrameDecoder(), [], 0
    for cut in cuts:
        out += decoder.feed(wire[at:at + cut])
        at += cut
    out += decoder.feed(wire[at:])
    assert out == bodies
    assert decoder.buffered == 0


def test_a_partial_frame_waits_for_the_rest():
    bodies, wire = _encoded(2)
    decoder = FrameDecoder()
    assert decoder.feed(wire[:3]) == []  # not even the length
    assert decoder.feed(wire[3:len(wire) - 1]) == bodies[:1]
    assert decoder.buffered == len(frame(node_pb2.RaftHello(frm="n1", cluster_id="c"))) - 1
    assert decoder.feed(wire[-1:]) == bodies[1:]


def test_an_empty_message_is_a_frame_of_its_own():
    assert FrameDecoder().feed(frame(node_pb2.RaftHello()) * 2) == [b"", b""]


def test_an_oversize_frame_is_refused_before_its_body_arrives():
    decoder = FrameDecoder(max_frame=10)
    assert decoder.feed((10).to_bytes(4, "big") + b"x" * 10) == [b"x" * 10]
    with pytest.raises(FrameTooLarge, match="frame of 11 bytes"):
        decoder.feed((11).to_bytes(4, "big"))
