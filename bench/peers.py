"""The peer DynamoDB emulators that `make bench` measures Trireme against.

dynalite (Node.js, in memory or on LevelDB) and moto's server (Python) are
installed on demand into a private cache, never into the project's venv, so the
benchmark's peers cannot clash with Trireme's own dependencies. Versions are
pinned so that numbers from different runs compare the same code.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.http import AUTH_HEADERS
from deploy.local import free_port

__all__ = ["AUTH_HEADERS", "CACHE", "PEERS", "Peer", "ensure_installed", "free_port", "start_peer"]

DYNALITE_VERSION = "4.0.0"
MOTO_VERSION = "5.2.5"
PEERS = ("dynalite-mem", "dynalite-leveldb", "moto")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trireme" / "bench"

Log = Callable[[str], None]


@dataclass
class Peer:
    """A running peer server; the benchmark reads its endpoint and its CPU time."""

    name: str
    endpoint: str
    proc: subprocess.Popen
    log_path: Path | None = None

    def pids(self) -> list[int]:
        """The server process whose CPU the benchmark charges: node or python itself
        (neither peer forks workers, and both are exec'd directly, not via a shell)."""
        return [self.proc.pid]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; reaps it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                return
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def _dynalite_dir() -> Path:
    return CACHE / "dynalite"


def _moto_dir() -> Path:
    return CACHE / "moto-venv"


def _marker(name: str) -> Path:
    # Written only after a successful install, so an interrupted one is redone.
    if name == "moto":
        return _moto_dir() / f".installed-moto-{MOTO_VERSION}"
    return _dynalite_dir() / f".installed-dynalite-{DYNALITE_VERSION}"


def _run(argv: list[str], log: Log) -> None:
    log("bench: $ " + " ".join(argv))
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({res.returncode}):\n{res.stdout[-4000:]}")


def ensure_installed(name: str, log: Log = print) -> None:
    """Install the peer `name` (one of PEERS) into CACHE unless the pinned version is there."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; expected one of {PEERS}")
    marker = _marker(name)
    if marker.exists():
        return
    t0 = time.monotonic()
    if name == "moto":
        venv = _moto_dir()
        log(f"bench: installing moto[server]=={MOTO_VERSION} into {venv}")
        _run([sys.executable, "-m", "venv", str(venv)], log)
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
              "--disable-pip-version-check", f"moto[server]=={MOTO_VERSION}"], log)
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("dynalite needs Node.js and npm on PATH")
        prefix = _dynalite_dir()
        prefix.mkdir(parents=True, exist_ok=True)
        log(f"bench: installing dynalite@{DYNALITE_VERSION} into {prefix}")
        _run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
              f"dynalite@{DYNALITE_VERSION}"], log)
    marker.write_text("")
    log(f"bench: installed {name} in {time.monotonic() - t0:.1f}s")


def _dynalite_cli() -> Path:
    """The package's own bin entry (cli.js in 4.x), read from its package.json."""
    pkg = _dynalite_dir() / "node_modules" / "dynalite"
    bin_ = json.loads((pkg / "package.json").read_text())["bin"]
    return pkg / (bin_ if isinstance(bin_, str) else bin_["dynalite"])


def _argv(name: str, port: int, data_dir: Path) -> list[str]:
    if name == "moto":
        return [str(_moto_dir() / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("dynalite needs Node.js (node) on PATH")
    # Tables are ACTIVE at once (default 500 ms in CREATING), as in Trireme and moto.
    argv = [node, str(_dynalite_cli()), "--host", "127.0.0.1", "--port", str(port),
            "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    if name == "dynalite-leveldb":
        store = data_dir / "leveldb"
        store.mkdir(parents=True, exist_ok=True)
        argv += ["--path", str(store)]
    return argv


def _answers(endpoint: str) -> bool:
    """True when the server answers a ListTables with 200."""
    req = urllib.request.Request(endpoint + "/", data=b"{}", method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        **AUTH_HEADERS,
    })
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_peer(name: str, port: int, data_dir: Path, log: Log = print, wait_s: float = 60.0) -> Peer:
    """Install `name` if needed, start it on 127.0.0.1:`port` and wait until it answers.

    Its output goes to `data_dir/NAME.log`; LevelDB data to `data_dir/leveldb`.
    """
    ensure_installed(name, log)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    argv = _argv(name, port, data_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=data_dir, env=env)
    peer = Peer(name, f"http://127.0.0.1:{port}", proc, log_path)
    t0 = time.monotonic()
    deadline = t0 + wait_s
    while not _answers(peer.endpoint):
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} at start; see {log_path}")
        if time.monotonic() > deadline:
            peer.stop()
            raise RuntimeError(f"{name} did not answer on {peer.endpoint} within {wait_s:.0f}s; see {log_path}")
        time.sleep(0.05)
    if proc.poll() is not None:  # something else answered on that port
        raise RuntimeError(f"{name} exited with {proc.returncode} at start; see {log_path}")
    log(f"bench: {name} up on {peer.endpoint} (pid {proc.pid}) in {time.monotonic() - t0:.2f}s")
    return peer
