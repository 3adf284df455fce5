"""Several router processes behind one DynamoDB port.

A router is one Python process, so one core; to use more, a parent makes
the listening socket once and hands it to N router processes (`trireme
router --listen-fd FD`), each accepting on it: the kernel gives each new
connection to one of them (router/http.py `SharedAccept`). Not SO_REUSEPORT:
with it, any process that sets the option too (another cluster's router, a
stray test) could bind the same port and take a share of the connections;
an inherited socket admits only the parent's children.

Two parents use this: `trireme up --router-workers N` (deploy/local.py: the
`trireme up` process holds the socket, names the workers router1..N and
restarts one that dies), and `trireme router --workers N` (`supervise`
below), the compose deployment's router container (TRIREME_ROUTER_WORKERS).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time

log = logging.getLogger(__name__)

BACKLOG = 1024
RESTART_DELAY_S = (0.2, 5.0)  # a worker that dies is started again after this, doubling while it keeps dying
STABLE_S = 10.0  # a worker that ran this long before it died starts again at once


def listen_socket(host: str, port: int) -> socket.socket:
    """The shared listening socket: bound, listening, inheritable. SO_REUSEADDR
    (as asyncio sets it) lets it bind over connections of a previous run in
    TIME_WAIT, never over another listener; no SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def inherited(fd: int) -> socket.socket:
    """The listening socket a parent handed over as `fd`, checked: a wrong fd
    number is a one-line error at start, not a worker that never accepts."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"--listen-fd {fd} is not an open socket ({exc.strerror or exc})") from None
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise ValueError(f"--listen-fd {fd} is not a listening TCP socket")
    return sock


def worker_argv(parser: argparse.ArgumentParser, args: argparse.Namespace, fd: int, index: int) -> list[str]:
    """Worker `index`'s (0-based) command line: the supervisor's own options
    as given, with --listen-fd, and an admin endpoint and functions
    directory of its own (the admin port + index, FUNCTIONS_DIR/workerN)."""
    out = [sys.executable, "-m", "client.cli", "router"]
    for action in parser._actions:  # noqa: SLF001 (the options as parsed, whatever they are)
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag is None or flag in ("--help", "--workers", "--listen-fd"):
            continue
        value = getattr(args, action.dest)
        if flag == "--admin-listen" and value:
            host, _, port = value.rpartition(":")
            value = f"{host}:{int(port) + index}"
        if flag == "--functions-dir" and value:
            value = os.path.join(value, f"worker{index + 1}")
        if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
            out += [flag] if value else []
        elif value not in (None, "") and (value != action.default or flag in ("--admin-listen", "--functions-dir")):
            out += [flag, str(value)]
    return out + ["--listen-fd", str(fd)]


def supervise(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`trireme router --workers N`: make the socket, run N workers on it,
    start again one that dies (after a pause that doubles while it keeps
    dying), and stop them all on SIGTERM or SIGINT (or when --parent-pid ends)."""
    from cluster.lifetime import start_time

    host, _, port = args.listen.rpartition(":")
    try:
        sock = listen_socket(host or "127.0.0.1", int(port))
    except OSError as exc:
        print(f"trireme router: cannot listen on {args.listen}: {exc.strerror or exc}; "
              "choose another port with --listen", file=sys.stderr, flush=True)
        return 1
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = start_time(args.parent_pid) if args.parent_pid else None
    argvs = [worker_argv(parser, args, sock.fileno(), i) for i in range(args.workers)]
    procs: list[subprocess.Popen | None] = [None] * args.workers
    started = [0.0] * args.workers
    delay = [RESTART_DELAY_S[0]] * args.workers
    due = [0.0] * args.workers
    log.info("router supervisor: %d workers on %s (pid %d)", args.workers, args.listen, os.getpid())
    while not stopping:
        if args.parent_pid and start_time(args.parent_pid) != parent:
            log.warning("the process that started this one (pid %d) is gone: stopping", args.parent_pid)
            break
        now = time.monotonic()
        for i, proc in enumerate(procs):
            if proc is not None and proc.poll() is not None:
                ran = now - started[i]
                delay[i] = RESTART_DELAY_S[0] if ran >= STABLE_S else min(delay[i] * 2, RESTART_DELAY_S[1])
                log.warning("router worker %d (pid %d) exited with %s after %.1f s: starting it again in %.1f s",
                            i + 1, proc.pid, proc.returncode, ran, delay[i])
                procs[i], due[i] = None, now + delay[i]
            if procs[i] is None and now >= due[i]:
                procs[i] = subprocess.Popen(argvs[i], pass_fds=(sock.fileno(),))
                started[i] = now
                log.info("router worker %d: pid %d", i + 1, procs[i].pid)
        time.sleep(0.2)
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    for proc in procs:
        if proc is None:
            continue
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    sock.close()
    return 0
