"""router/workers.py and router/http.py's SharedAccept, without a cluster:
the shared socket, the checks on an inherited one, the workers' command
lines, and TLS wrapped per connection on a socket two servers accept on."""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import tls
from router import main as router_main
from router.http import SharedAccept, serve
from router.protocol import Dispatcher
from router.workers import inherited, listen_socket, worker_argv

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_refuses_a_descriptor_that_is_not_a_listening_socket(tmp_path):
    with open(tmp_path / "f", "w") as f:
        with pytest.raises(ValueError, match="not an open socket"):
            inherited(f.fileno())
    with socket.socket() as s:
        with pytest.raises(ValueError, match="not a listening TCP socket"):
            inherited(s.fileno())
        assert s.fileno() >= 0  # left to its owner
    router = subprocess.run([sys.executable, "-m", "client.cli", "router", "--listen-fd", "97", "--az", "us-east-1a",
                             "--seeds", "127.0.0.1:9", "--cluster-id", "x"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert router.returncode == 1 and "--listen-fd 97 is not an open socket" in router.stderr, router.stderr




def test_the_shared_socket_is_inheritable_and_listening():
    sock = listen_socket("127.0.0.1", 0)
    try:
        assert sock.get_inheritable() and inherited(sock.fileno()).detach() == sock.fileno()
    finally:
        sock.close()


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser()
    router_main.add_parser(top.add_subparsers())
    return router_main._PARSER


def test_each_worker_gets_the_options_with_an_admin_port_and_functions_directory_of_its_own():
    parser = _parser()
    args = parser.parse_args(["--workers", "3", "--listen", "0.0.0.0:8000", "--admin-listen", "0.0.0.0:8100",
                              "--az", "us-east-1a", "--seeds", "n1:7101", "--auth", "--functions-dir", "/f",
                              "--deadline", "5"])
    argv = worker_argv(parser, args, 7, 2)
    assert argv[:4] == [sys.executable, "-m", "client.cli", "router"]
    pairs = dict(zip(argv[4::2], argv[5::2]))
    opts = argv[4:]
    assert opts[opts.index("--admin-listen") + 1] == "0.0.0.0:8102"
    assert opts[opts.index("--functions-dir") + 1] == "/f/worker3"
    assert opts[opts.index("--listen") + 1] == "0.0.0.0:8000" and opts[-2:] == ["--listen-fd", "7"]
    assert opts[opts.index("--deadline") + 1] == "5.0" and "--auth" in opts and "--workers" not in opts
    assert "--access-log" not in opts and pairs  # options left at their defaults are not repeated


def test_tls_is_wrapped_per_connection_on_a_socket_two_servers_accept_on(tmp_path):
    ident = tls.Authority.ensure(tmp_path).issue_files(tmp_path, tls.Member("c1", "router", "router1"), ["127.0.0.1"])
    client_ctx = ssl.create_default_context(cafile=str(ident.ca_file))
    shared = listen_socket("127.0.0.1", 0)
    port = shared.getsockname()[1]

    async def main() -> list[bytes]:
        servers = [await serve(Dispatcher({}), "127.0.0.1", 0, sock=shared.dup(), ssl=ident.server_context())
                   for _ in range(2)]
        assert all(isinstance(s, SharedAccept) for s in servers)

        async def health() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            return answer
        try:
            answers = await asyncio.wait_for(asyncio.gather(*(health() for _ in range(8))), 20)
            plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", port)  # no TLS: refused
            plain_writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await asyncio.wait_for(plain_reader.read(), 20) == b""
            plain_writer.close()
            return answers
        finally:
            for s in servers:
                s.close()
    try:
        answers = asyncio.run(main())
    finally:
        shared.close()
    assert all(a.startswith(b"HTTP/1.1 200") and b"healthy: dynamodb.us-east-1.amazonaws.com" in a for a in answers)
