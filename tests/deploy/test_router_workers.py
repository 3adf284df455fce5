"""Router workers: several router processes behind one DynamoDB port, whose
listening socket their parent made and handed to each (router/workers.py).

One cluster started as `trireme up --router-workers 2` starts it: both
workers serve the port, `trireme status` shows them, a worker killed by pid
leaves the port serving and is started again, and no other router can bind
the port. The compose router's supervisor (`trireme router --workers N`)
runs against the same cluster's nodes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deploy.containers import COMPOSE_FILE
from deploy.local import LocalCluster, alive, free_port, post
from router.workers import listen_socket
from tests.integration.conftest import make_client, start_cluster, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path_factory.mktemp("workers"), router_workers=2)
    yield c
    c.stop()


def served(admin_addr: str) -> float:
    """The DynamoDB requests a router answered, from GET /metrics on its admin endpoint (its own counts)."""
    with urllib.request.urlopen(f"http://{admin_addr}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(n) for n in re.findall(r"^trireme_router_requests_total\{[^}]*\} (\S+)$", text, re.M))


def list_tables_on_new_connections(endpoint: str, times: int) -> None:
    """`times` ListTables, each from a client of its own (a new connection: the kernel picks a worker per connection)."""
    for _ in range(times):
        assert "TableNames" in make_client(endpoint).list_tables()


def test_two_workers_serve_one_port_and_status_shows_them(cluster):
    workers = [p for p in cluster.procs.values() if p.kind == "router"]
    assert [p.name for p in workers] == ["router1", "router2"] and all(p.shared for p in workers)
    assert {p.addr for p in workers} == {f"127.0.0.1:{cluster.router_port}"}  # one port
    assert len({p.admin_addr for p in workers}) == 2 and len({p.pid for p in workers}) == 2

    def both_served() -> bool:
        list_tables_on_new_connections(cluster.endpoint, 4)
        return all(served(p.admin_addr) > 0 for p in workers)
    wait_until(both_served, 30, "both workers to answer requests on the shared port", interval=0)

    status = subprocess.run([sys.executable, "-m", "client.cli", "status", "--data-dir", str(cluster.data_dir),
                             "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert status.returncode == 0, status.stderr
    routers = json.loads(status.stdout)["routers"]
    assert [(r["name"], r["pid"], r["state"], r["shared"]) for r in routers] == [
        (p.name, p.pid, "running", True) for p in workers]
    metrics = json.loads(status.stdout)["metrics"]
    assert metrics["router2"] == f"http://{cluster.procs['router2'].admin_addr}/metrics"  # its own, not the port's


def test_a_killed_worker_leaves_the_port_serving_and_is_started_again(cluster):
    victim = cluster.procs["router2"]
    old = victim.pid
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not alive(old), 10, "the killed worker to be gone")
    list_tables_on_new_connections(cluster.endpoint, 10)  # router1 takes every connection meanwhile
    wait_until(lambda: victim.pid != old and cluster.running(victim), 30, "trireme up to start router2 again")
    assert "router2 (pid %d) exited; starting it again" % old in Path(victim.log).read_text()
    wait_until(lambda: list_tables_on_new_connections(cluster.endpoint, 4) or served(victim.admin_addr) > 0, 30,
               "the new router2 to take connections", interval=0)
    start = subprocess.run([sys.executable, "-m", "client.cli", "start", "router2", "--data-dir",
                            str(cluster.data_dir)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert start.returncode == 0 and f"router2 runs (pid {victim.pid})" in start.stdout, start.stderr


def test_no_other_router_can_bind_the_shared_port(cluster):
    port = cluster.router_port
    with socket.socket() as s:  # what another router would need: SO_REUSEPORT does not get in either
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError):
            s.bind(("127.0.0.1", port))
    with pytest.raises(OSError):
        listen_socket("127.0.0.1", port)
    other = subprocess.run([sys.executable, "-m", "client.cli", "router", "--listen", f"127.0.0.1:{port}", "--az",
                            "us-east-1a", "--seeds", "127.0.0.1:9", "--cluster-id", "another-cluster"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert other.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in other.stderr, other.stderr
    list_tables_on_new_connections(cluster.endpoint, 2)


def test_the_router_supervisor_runs_workers_on_its_own_socket(cluster, tmp_path):
    """`trireme router --workers 2` (the compose router container): it makes
    the socket, worker i gets the admin port + i, a killed worker comes
    back, and SIGTERM stops them all."""
    port, admin = free_port(), free_port()
    while not _bindable(admin + 1) or admin + 1 == port:  # worker 2's admin port
        admin = free_port()
    seeds = ",".join(p.addr for p in cluster.procs.values() if p.kind == "node")
    log = open(tmp_path / "supervisor.log", "wb")
    sup = subprocess.Popen([sys.executable, "-m", "client.cli", "router", "--workers", "2", "--listen",
                            f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}", "--az", "us-east-1b",
                            "--seeds", seeds, "--cluster-id", cluster.cluster_id, "--parent-pid", str(os.getpid())],
                           stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for a in (admin, admin + 1):
            wait_until(lambda a=a: post(f"http://127.0.0.1:{a}", "Faults", {}, prefix="TriremeAdmin_1")[0] == 200,
                       90, f"the worker with admin port {a}", interval=0.1)
        children = [int(x) for x in Path(f"/proc/{sup.pid}/task/{sup.pid}/children").read_text().split()]
        assert len(children) == 2
        os.kill(children[1], signal.SIGKILL)
        list_tables_on_new_connections(endpoint, 4)
        wait_until(lambda: len(Path(f"/proc/{sup.pid}/task/{sup.pid}/children").read_text().split()) == 2
                   and post(f"http://127.0.0.1:{admin + 1}", "Faults", {}, prefix="TriremeAdmin_1")[0] == 200,
                   90, "the supervisor to start the killed worker again", interval=0.1)
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(20) == 0
        assert not any(alive(pid) for pid in children)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait(10)
        log.close()
    assert "exited with -9" in (tmp_path / "supervisor.log").read_text()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_compose_router_runs_trireme_router_workers():
    """TRIREME_ROUTER_WORKERS (default 1) becomes the router's --workers."""
    router = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["router"]
    assert router["environment"]["TRIREME_ROUTER_WORKERS"] == "${TRIREME_ROUTER_WORKERS:-1}"
    script = router["entrypoint"][2].replace("$$", "$").replace("exec trireme router", "printf '%s\\n'")
    for workers, want in ((None, "1"), ("3", "3")):
        env = {"PATH": "/usr/bin:/bin", "TRIREME_AUTH": "on", **({"TRIREME_ROUTER_WORKERS": workers} if workers else {})}
        argv = subprocess.run(["sh", "-c", script, *router["entrypoint"][3:], *router["command"]], env=env,
                              capture_output=True, text=True, check=True).stdout.split()
        assert argv[argv.index("--workers") + 1] == want and argv[-1] == "--auth"


def test_a_saved_layout_keeps_its_workers_on_one_port_and_takes_a_new_count(tmp_path):
    """Without processes: the count is saved with the cluster, a new --port
    moves every worker to it, and --router-workers replans the routers."""
    c = LocalCluster(tmp_path / "data", router_port=0, node_base_port=0, router_workers=3)
    c.plan()
    c.save()
    saved = LocalCluster.load(tmp_path / "data")
    assert saved.router_workers == 3 and [p.shared for p in saved.procs.values() if p.kind == "router"] == [True] * 3
    saved.apply(router_port=18123)
    assert {p.addr for p in saved.procs.values() if p.kind == "router"} == {"127.0.0.1:18123"}
    assert all("127.0.0.1:18123" in p.argv for p in saved.procs.values() if p.kind == "router")
    saved.apply(router_workers=1)
    routers = [p for p in saved.procs.values() if p.kind == "router"]
    assert [(p.name, p.shared, p.addr) for p in routers] == [("router1", False, "127.0.0.1:18123")]
    argv = routers[0].argv
    assert argv.count("--listen") == 1 and argv.count("--az") == 1 and "--seeds" in argv
    with pytest.raises(ValueError, match="share one port"):
        LocalCluster(tmp_path / "other", router_port=0, node_base_port=0, routers=2, router_workers=2).plan()
