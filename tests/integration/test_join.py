"""`trireme node --join`: a node started on its own, with an empty data dir
and only DNS names of running members, learns the cluster id, registers
itself, takes replicas from the controller, and after a restart with the
same data dir comes back as itself (issue 20: how Kubernetes and Swarm
replicas find the cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploy.local import free_port
from tests.integration.admin import meta
from tests.integration.conftest import make_client, wait_until

TRIREME = [sys.executable, "-m", "client.cli"]
ROOT = str(Path(__file__).resolve().parents[2])


def by_name(addr: str) -> str:
    """The same member, named by DNS (localhost) instead of by address."""
    return "localhost:" + addr.rpartition(":")[2]


def start_joiner(cluster, data: Path, port: int, peer_port: int, log: Path) -> subprocess.Popen:
    seeds = ",".join(by_name(cluster.procs[n].addr) for n in ("n1", "n2"))
    with open(log, "ab") as out:
        return subprocess.Popen(TRIREME + ["node", "--id", "j1", "--az", cluster.procs["n1"].az,
                                           "--listen", f"localhost:{port}",
                                           "--peer-listen", f"localhost:{peer_port}",
                                           "--data-dir", str(data), "--join", seeds, "--dead-after", "600"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def probe(*args: str) -> subprocess.CompletedProcess:
    """`trireme probe`, the containers' health check."""
    return subprocess.run(TRIREME + ["probe", *args], capture_output=True, text=True, timeout=30, cwd=ROOT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_a_node_joins_by_dns_name_takes_replicas_and_rejoins_as_itself(own_cluster, tmp_path):
    cluster = own_cluster(dead_after_s=600)  # a restart is never long enough to move j1's replicas away
    ddb = make_client(cluster.endpoint, retries=3)
    for name in ("aaa", "bbb"):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        for i in range(20):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    data, log = tmp_path / "j1", tmp_path / "j1.log"
    port, peer_port = free_port(), free_port()

    def held() -> list[str]:
        return sorted(p["id"] for p in meta(cluster)["partitions"].values() if "j1" in p["voters"])

    proc = start_joiner(cluster, data, port, peer_port, log)
    try:
        wait_until(lambda: "j1" in meta(cluster)["nodes"], 60, "j1 to register")
        assert (data / "cluster-id").read_text().strip() == cluster.cluster_id
        assert meta(cluster)["nodes"]["j1"]["addr"] == f"localhost:{port}"
        ready = probe("--ready", f"localhost:{port}")
        assert ready.returncode == 0, ready.stderr
        assert f"node j1 ({cluster.procs['n1'].az}) of cluster {cluster.cluster_id}" in ready.stdout
        before = wait_until(held, 120, "the controller to move a replica onto j1", interval=0.5)
    finally:
        stop(proc)
    down = probe(f"localhost:{port}", "--timeout", "1")
    assert down.returncode == 1 and f"localhost:{port} does not answer" in down.stderr
    # Restarted with the same data dir (as a StatefulSet pod is), it is the same node with the same replicas.
    proc = start_joiner(cluster, data, port, peer_port, log)
    try:
        wait_until(lambda: log.read_text().count("serving gRPC") == 2, 60, "j1 to start again")
        wait_until(lambda: meta(cluster)["nodes"]["j1"]["state"] == "up", 30, "j1 to be seen up again")
        assert sorted(meta(cluster)["nodes"]) == ["j1", "n1", "n2", "n3"]  # itself, not a new member
        assert set(before) <= set(held())  # kept in its data dir, not copied anew
        since_restart = log.read_text().split("serving gRPC")[2]
        assert not [pid for pid in before if f"creating replica {pid}" in since_restart]
        for name in ("aaa", "bbb"):
            items = ddb.scan(TableName=name, ConsistentRead=True)["Items"]
            assert len(items) == 20
    finally:
        stop(proc)
    assert "j1" in meta(cluster)["nodes"]  # stopping is not leaving: only `trireme node remove` drains
