"""The HTTP layer's response rendering and request ids."""

from __future__ import annotations

import os
import re

from router.http import render, request_id

ID = re.compile(rb"[A-Z0-9]{52}")


def test_request_ids_look_like_dynamodb_ones_and_are_unique():
    ids = [request_id() for _ in range(20000)]
    assert all(ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_gets_ids_of_its_own():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"".join(request_id() for _ in range(3)))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(r, 1000)
    mine = b"".join(request_id() for _ in range(3))
    assert {child[i:i + 52] for i in range(0, 156, 52)}.isdisjoint({mine[i:i + 52] for i in range(0, 156, 52)})


def test_render():
    out = render(200, b'{"a":1}', keep_alive=True, date=b"Mon, 01 Jan 2024 00:00:00 GMT")
    head, body = out.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1].startswith(b"x-amzn-RequestId: ") and ID.fullmatch(lines[1][18:])
    assert lines[2:] == [b"x-amz-crc32: 1444654255", b"Content-Type: application/x-amz-json-1.0",
                         b"Content-Length: 7", b"Date: Mon, 01 Jan 2024 00:00:00 GMT"]
    assert body == b'{"a":1}'


def test_render_closing_and_unknown_status():
    out = render(418, b"", keep_alive=False, content_type=b"text/plain", date=b"D")
    lines = out.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 418 Unknown"
    assert lines[3:] == [b"Content-Type: text/plain", b"Content-Length: 0", b"Date: D",
                         b"Connection: close", b"", b""]
