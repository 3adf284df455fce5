"""Process lifetime of the local cluster: nodes and routers die with their
`trireme up`, a cluster left behind is found and stopped, and `trireme up`
refuses flags that contradict the saved layout (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.lifetime import CHECK_S, HARD_EXIT_S
from deploy.local import LocalCluster, alive, free_port
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_identity import free_ports

TRIREME = [sys.executable, "-m", "client.cli"]
ROOT = str(Path(__file__).resolve().parents[2])


def trireme(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(TRIREME + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def pids(data_dir: Path) -> dict[str, int]:
    saved = json.loads((data_dir / "cluster.json").read_text())
    return {name: p["pid"] for name, p in saved["procs"].items() if p["pid"]}


def orphan(data_dir: Path) -> None:
    """Make the cluster's owner look gone, as after a SIGKILL of its `trireme up`
    (the nodes, watching this process, keep running: left behind)."""
    saved = json.loads((data_dir / "cluster.json").read_text())
    gone = subprocess.Popen(["true"])
    gone.wait()
    saved["owner_pid"], saved["owner_started"] = gone.pid, 1
    (data_dir / "cluster.json").write_text(json.dumps(saved))


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    yield d
    if (d / "cluster.json").exists():  # whatever a test left running
        LocalCluster.load(d).stop()


def start(data_dir: Path) -> LocalCluster:
    c = LocalCluster(data_dir, router_port=free_port(), node_base_port=free_ports(3))
    c.plan()
    c.start(wait_s=60)
    return c


def test_trireme_stop_stops_a_cluster_left_behind_and_up_refuses_conflicting_flags(data_dir):
    c = start(data_dir)
    orphan(data_dir)
    running = pids(data_dir)
    assert len(running) == 4
    out = trireme("stop", "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stderr
    assert "n1, n2, n3, router1" in out.stdout
    assert not any(alive(pid) for pid in running.values())
    assert pids(data_dir) == {}

    other = c.node_base_port + 10
    out = trireme("up", "--data-dir", str(data_dir), "--node-base-port", str(other))
    assert out.returncode == 2
    assert f"--node-base-port {other} conflicts with the cluster saved in {data_dir / 'cluster.json'}" in out.stderr
    assert f"listen from port {c.node_base_port}" in out.stderr and "new --data-dir" in out.stderr
    out = trireme("up", "--data-dir", str(data_dir), "--nodes-per-az", "2")
    assert out.returncode == 2 and "--nodes-per-az 2 conflicts" in out.stderr and "it has 1 node" in out.stderr


def run_up(*args: str) -> tuple[subprocess.Popen, str]:
    """`trireme up` in a session of its own, and what it printed until the cluster ran."""
    up = subprocess.Popen(TRIREME + ["up", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT, start_new_session=True)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Trireme is running" in line:
            return up, "".join(lines)
    os.killpg(up.pid, signal.SIGKILL)
    up.wait(10)
    raise AssertionError("trireme up did not start:\n" + "".join(lines))


def test_trireme_stop_stops_a_running_trireme_up(data_dir):
    up, _ = run_up("--data-dir", str(data_dir), "--port", str(free_port()), "--node-base-port", str(free_ports(3)))
    try:
        started = pids(data_dir)
        out = trireme("stop", "--data-dir", str(data_dir))
        assert out.returncode == 0, out.stderr
        assert up.wait(30) == 0
        assert not any(alive(pid) for pid in started.values())
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)


def test_killing_trireme_up_stops_its_cluster_and_up_stops_one_left_behind(data_dir):
    start(data_dir)
    orphan(data_dir)
    left = pids(data_dir)
    port = free_port()  # the router moves (safe); the nodes keep their saved ports
    up, text = run_up("--data-dir", str(data_dir), "--port", str(port), "--log-level", "debug")
    try:
        assert "left running by a `trireme up` that is gone: stopping them first" in text
        assert f"http://127.0.0.1:{port}" in text
        assert not any(alive(pid) for pid in left.values())
        assert make_client(f"http://127.0.0.1:{port}").list_tables()["TableNames"] == []
        started = pids(data_dir)
        assert set(started) == {"n1", "n2", "n3", "router1"}
        os.killpg(up.pid, signal.SIGKILL)
        up.wait(10)
        # They notice within CHECK_S and stop gracefully, or exit hard after HARD_EXIT_S.
        wait_until(lambda: not any(alive(pid) for pid in started.values()), CHECK_S + HARD_EXIT_S + 5,
                   "the nodes and router to exit after their `trireme up` was killed")
        assert "DEBUG" in Path(LocalCluster.load(data_dir).procs["n1"].log).read_text()
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
