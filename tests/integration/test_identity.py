"""Two clusters on one machine never mix: a taken port fails the second at
start-up with a one-line error, and a node, router or tool of another
cluster is refused and logged on both sides (issue 13)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.nodes import NodeClient, NodeDown
from cluster.rpc import CallError, Channels, call_once
from deploy.local import PEER_PORT_OFFSET, LocalCluster, free_port, post
from node.net.hello import opening, refusal
from tests.integration.admin import admin, meta
from tests.integration.conftest import make_client, wait_until
from trireme_pb import node_pb2

TRIREME = [sys.executable, "-m", "client.cli"]
ROOT = str(Path(__file__).resolve().parents[2])


def free_ports(count: int) -> int:
    """A base port with `count` free ports from it, and as many from its
    peer ports (for --node-base-port)."""
    for _ in range(50):
        base = free_port()
        if base + PEER_PORT_OFFSET + count > 65535:
            continue
        try:
            socks = []
            peers = base + PEER_PORT_OFFSET
            for port in [*range(base, base + count), *range(peers, peers + count)]:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def log_text(path: str | Path) -> str:
    return Path(path).read_text(errors="replace")


def start_fails(data_dir: Path, **ports: int) -> str:
    """Start a cluster that must fail; what its start-up error says."""
    c = LocalCluster(data_dir, **ports)
    c.plan()
    try:
        with pytest.raises(RuntimeError) as err:
            c.start(wait_s=30)
    finally:
        c.stop()
    return str(err.value)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A cluster on a known node port range, with a table (the tests leave it intact)."""
    c = LocalCluster(tmp_path_factory.mktemp("first") / "a", router_port=0, node_base_port=free_ports(3))
    c.plan()
    try:
        c.start(wait_s=60)
        make_client(c.endpoint).create_table(
            TableName="only_in_a", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        yield c
    finally:
        c.stop()


def test_a_second_cluster_on_taken_node_ports_fails_at_start_and_the_first_is_unaffected(first, tmp_path):
    base = first.node_base_port
    # `trireme up` checks its ports first: one line naming the port and the flag.
    up = subprocess.run(TRIREME + ["up", "--data-dir", str(tmp_path / "b"), "--port", str(free_port()),
                                   "--node-base-port", str(base)],
                        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert up.returncode == 1
    assert up.stderr.count("\n") == 1, up.stderr
    assert f"port {base} of n1 is taken" in up.stderr and "--node-base-port" in up.stderr, up.stderr
    # Started without that check (as a test or a script would), the node itself
    # fails at once with its own one-line error, which the starter shows.
    err = start_fails(tmp_path / "c", router_port=0, node_base_port=base)
    assert "exited during start-up: cannot listen on 127.0.0.1:" in err
    assert "Address already in use; choose another port with --listen" in err
    ddb = make_client(first.endpoint)
    assert ddb.list_tables()["TableNames"] == ["only_in_a"]
    assert set(meta(first)["nodes"]) == {"n1", "n2", "n3"}


def test_a_taken_peer_port_is_a_one_line_error_naming_its_flag(first, tmp_path):
    taken = first.procs["n1"].peer_addr
    assert taken == f"127.0.0.1:{first.node_base_port + PEER_PORT_OFFSET}"
    me = f"127.0.0.1:{free_port()}"
    out = subprocess.run(TRIREME + ["node", "--id", "n9", "--az", "us-east-1a", "--listen", me, "--peer-listen", taken,
                                    "--data-dir", str(tmp_path / "n9"), "--cluster-id", "c9",
                                    "--initial-cluster", f"n9={me}@us-east-1a"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1
    assert out.stderr == (f"trireme node: cannot listen on {taken}: Address already in use; "
                          f"choose another port with --peer-listen\n"), out.stderr
    # `trireme up` checks peer ports too, before it starts anything: these
    # nodes' peer ports would be the first cluster's gRPC ports.
    base = first.node_base_port
    up = subprocess.run(TRIREME + ["up", "--data-dir", str(tmp_path / "b"), "--port", str(free_port()),
                                   "--node-base-port", str(base - PEER_PORT_OFFSET)],
                        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert up.returncode == 1 and up.stderr.count("\n") == 1, up.stderr
    assert f"port {base} of n1 is taken" in up.stderr and "--node-base-port" in up.stderr, up.stderr
    assert make_client(first.endpoint).list_tables()["TableNames"] == ["only_in_a"]


def test_a_taken_router_port_names_the_cause(first, tmp_path):
    err = start_fails(tmp_path / "b", router_port=first.router_port, node_base_port=0)
    assert f"router1 exited during start-up: cannot listen on 127.0.0.1:{first.router_port}" in err
    assert "choose another port with --listen" in err
    assert make_client(first.endpoint).list_tables()["TableNames"] == ["only_in_a"]


def test_a_node_of_another_cluster_is_refused_and_logged_on_both_sides(first, tmp_path):
    target = first.procs["n1"]
    me = f"127.0.0.1:{free_port()}"
    mine = tmp_path / "stranger.log"
    with open(mine, "wb") as out:
        proc = subprocess.Popen(TRIREME + ["node", "--id", "n9", "--az", "us-east-1a", "--listen", me,
                                           "--peer-listen", f"127.0.0.1:{free_port()}",
                                           "--data-dir", str(tmp_path / "n9"), "--cluster-id", "someone-else",
                                           "--join", target.addr], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: "cluster id mismatch" in log_text(mine), 20, "the stranger to log its refusal")
        wait_until(lambda: "states cluster someone-else: refused" in log_text(target.log), 20,
                   "the cluster's node to log the refusal")
        assert f"belongs to cluster {first.cluster_id}" in log_text(mine)
        assert proc.poll() is None  # it keeps trying, and keeps being refused
    finally:
        proc.terminate()
        proc.wait(10)
    assert set(meta(first)["nodes"]) == {"n1", "n2", "n3"}
    assert make_client(first.endpoint).list_tables()["TableNames"] == ["only_in_a"]


def test_frames_and_calls_stating_another_cluster_are_refused(first):
    node = first.procs["n1"]
    assert admin(node.addr, "health")["peer_addr"] == node.peer_addr
    host, _, port = node.peer_addr.rpartition(":")

    async def raft_hello() -> bytes:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(opening("n1", "x"))
            return await asyncio.wait_for(reader.read(), 5)  # the node answers, then closes
        finally:
            writer.close()

    answer = refusal(asyncio.run(raft_hello()))
    assert answer is not None and (answer.frm, answer.cluster_id) == ("n1", first.cluster_id)

    async def data(cluster_id: str) -> NodeDown:
        client = NodeClient(node.addr, cluster_id=cluster_id)
        try:
            with pytest.raises(NodeDown) as refusal:
                await client.call(node_pb2.DataRequest(op="GET", group="nope"), 5)
            return refusal.value
        finally:
            await client.close()

    down = asyncio.run(data("x"))
    assert "cluster id mismatch" in str(down) and not down.sent
    wait_until(lambda: "the raft connection from n1" in log_text(node.log)
               and re.search(r"the caller at \S+ states cluster x: refused", log_text(node.log)), 10,
               "the node to log both refusals")

    async def call(cluster_id: str, service: str, op: str):
        ch = Channels(cluster_id)
        try:
            return await call_once(ch, node.addr, service, op, {}, timeout=3)
        finally:
            await ch.close()

    for service, op in (("admin", "meta"), ("meta", "heartbeat"), ("admin", "fault")):
        with pytest.raises(CallError) as err:
            asyncio.run(call("x", service, op))
        assert err.value.error_type == "WrongCluster" and "cluster id mismatch" in err.value.message
    with pytest.raises(CallError, match="cluster id mismatch"):
        asyncio.run(call("", "admin", "fault"))  # changing anything needs the id
    assert asyncio.run(call("", "admin", "health"))["cluster_id"] == first.cluster_id
    assert asyncio.run(call(first.cluster_id, "admin", "faults"))["loss"] == 0


@pytest.mark.parametrize("body, field", [
    ({"loss": "lots"}, "loss"), ({"loss": 2}, "loss"), ({"delay_ms": -1}, "delay_ms"),
    ({"drop_to": "n1"}, "drop_to"), ({"drop_from": [1]}, "drop_from"), ({"clock_rate": 0}, "clock_rate"),
    ({"heal": "yes"}, "heal"), ({"jitter": 5}, "jitter"), ({"jitter_ms": None}, "jitter_ms"),
])
def test_set_faults_with_a_malformed_body_is_a_400_naming_the_field(first, body, field):
    router = first.admin_endpoint("router1")
    status, answer = post(router, "SetFaults", dict(body, ClusterId=first.cluster_id), prefix="TriremeAdmin_1")
    error = json.loads(answer)
    assert status == 400 and error["__type"].endswith("#ValidationException"), answer
    assert field in error["message"]
    with pytest.raises(CallError) as err:  # a node's admin op "fault" checks the same way
        asyncio.run(_admin_call(first, "fault", body))
    assert err.value.error_type == "ValidationException" and field in err.value.message
    status, answer = post(router, "Faults", {}, prefix="TriremeAdmin_1")
    assert status == 200 and json.loads(answer)["loss"] == 0  # nothing half-applied


def test_set_faults_states_the_cluster(first):
    router = first.admin_endpoint("router1")
    for stated in ({}, {"ClusterId": "x"}):
        status, answer = post(router, "SetFaults", dict(stated, loss=0.5), prefix="TriremeAdmin_1")
        assert status == 400 and b"cluster id mismatch" in answer
    status, answer = post(router, "SetFaults", {"heal": True, "ClusterId": first.cluster_id},
                          prefix="TriremeAdmin_1")
    assert status == 200, answer


async def _admin_call(cluster: LocalCluster, op: str, body):
    ch = Channels(cluster.cluster_id)
    try:
        return await call_once(ch, cluster.procs["n1"].addr, "admin", op, body, timeout=3)
    finally:
        await ch.close()


def test_a_router_without_cluster_id_learns_it_from_its_seeds(first, tmp_path):
    addr = f"127.0.0.1:{free_port()}"
    log = tmp_path / "router.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(TRIREME + ["router", "--listen", addr, "--az", "us-east-1b",
                                           "--seeds", first.procs["n2"].addr],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        ddb = make_client(f"http://{addr}", retries=3)
        assert wait_until(lambda: ddb.list_tables()["TableNames"], 20, "the router to serve") == ["only_in_a"]
        assert f"router of cluster {first.cluster_id}" in log_text(log)
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_node_joining_without_cluster_id_learns_and_stores_it(tmp_path):
    c = LocalCluster(tmp_path / "data", router_port=0, node_base_port=0, routers=0)
    c.plan()
    try:
        c.start(wait_s=60)
        me = f"127.0.0.1:{free_port()}"
        data = tmp_path / "n4"
        with open(tmp_path / "n4.log", "wb") as out:
            proc = subprocess.Popen(TRIREME + ["node", "--id", "n4", "--az", "us-east-1a", "--listen", me,
                                               "--peer-listen", f"127.0.0.1:{free_port()}",
                                               "--data-dir", str(data), "--join", c.procs["n1"].addr],
                                    stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_until(lambda: "n4" in meta(c)["nodes"], 30, "n4 to join")
            assert (data / "cluster-id").read_text().strip() == c.cluster_id
        finally:
            proc.terminate()
            proc.wait(10)
        # Its data now belongs to that cluster: another id is refused at start.
        bad = subprocess.run(TRIREME + ["node", "--id", "n4", "--az", "us-east-1a", "--listen", me,
                                        "--peer-listen", f"127.0.0.1:{free_port()}",
                                        "--data-dir", str(data), "--cluster-id", "other", "--join", me],
                             capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert bad.returncode == 2
        assert f"holds data of cluster {c.cluster_id}, but --cluster-id says other" in bad.stderr
    finally:
        c.stop()
