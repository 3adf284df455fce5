"""The compose cluster for real: build the image, bring deploy/docker-compose.yml
up (enforcing auth, as by default; two router workers), use it with boto3 and the admin keys it
wrote, kill a router worker and a node container, restart the whole cluster, run
a Jepsen-style check under container faults, add a fourth node and remove it
again with `trireme node remove --compose`, take it down.

Runs in CI (``CI=true``) and wherever ``TRIREME_COMPOSE_TEST=1``; it may
install and start a Docker engine (root on Debian), so elsewhere it skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chaos.containers import ComposeChaos
from chaos.runner import CheckConfig, run_check
from client.elastic_cmd import holds
from deploy.containers import Compose, remove_node_container
from deploy.local import free_port, read_credentials
from tests.deploy.compose_support import running
from tests.integration.conftest import make_client, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # containers restarting: alone, as in the serial phase

@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> Iterator[Compose]:
    secrets = tmp_path_factory.mktemp("secrets")  # the admin service writes the admin user's keys here
    yield from running("trireme-test", lambda: {"TRIREME_PORT": str(free_port("127.0.0.1")),
                                                "TRIREME_ADMIN_PORT": str(free_port("127.0.0.1")),
                                                "TRIREME_NET": "10.213.9", "TRIREME_SECRETS": str(secrets),
                                                "TRIREME_ROUTER_WORKERS": "2"})


@pytest.fixture(scope="module")
def ddb(compose):
    """boto3 with the admin keys the compose deployment wrote (it enforces auth by default)."""
    wait_until(lambda: read_credentials(compose.credentials_file), 120, "the admin service to write the keys",
               interval=0.5)
    key_id, secret = read_credentials(compose.credentials_file)
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{compose.settings['TRIREME_PORT']}",
                          region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret,
                          config=Config(retries={"total_max_attempts": 4, "mode": "standard"}, read_timeout=30,
                                        connect_timeout=5))
    wait_until(lambda: client.list_tables() is not None, 90, "the compose cluster to serve", interval=0.5)
    return client


def test_compose_cluster_enforces_auth(compose, ddb, monkeypatch):
    """Other keys are refused; the admin's (ddb) pass, also as the README has
    users take them: the AWS CLI and a boto3 session with profile trireme."""
    endpoint = f"http://127.0.0.1:{compose.settings['TRIREME_PORT']}"
    stranger = make_client(endpoint)
    with pytest.raises(ClientError) as refused:
        stranger.list_tables()
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert "TableNames" in ddb.list_tables()
    for name, value in (("AWS_SHARED_CREDENTIALS_FILE", str(compose.credentials_file)), ("AWS_PROFILE", "trireme"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    aws = subprocess.run([str(Path(sys.executable).with_name("aws")), "dynamodb", "list-tables", "--endpoint-url",
                          endpoint], capture_output=True, text=True, timeout=120)
    assert aws.returncode == 0 and "TableNames" in aws.stdout, aws.stderr
    profile = boto3.Session(profile_name="trireme")
    assert "TableNames" in profile.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1").list_tables()
    temporary = profile.client("sts", endpoint_url=endpoint, region_name="us-east-1").get_session_token(
        DurationSeconds=900)["Credentials"]
    session = profile.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id=temporary["AccessKeyId"],
                             aws_secret_access_key=temporary["SecretAccessKey"],
                             aws_session_token=temporary["SessionToken"])

    def session_works() -> bool:
        try:
            return "TableNames" in session.list_tables()
        except ClientError:  # the router learns a new key from the metadata a moment later
            return False
    wait_until(session_works, 30, "the temporary keys to work", interval=0.3)


_WORKERS = """
import json, os, urllib.request
pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
def argv(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\\0")
    except OSError:
        return []
workers = sorted((pid, argv(pid)) for pid in pids if "--listen-fd" in argv(pid))
out = {}
for pid, args in workers:
    admin = args[args.index("--admin-listen") + 1].rpartition(":")[2]
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
    out[pid] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("trireme_router_requests_total{"))
print(json.dumps(out))
"""


def _router_workers(compose) -> dict[int, float]:
    """The router container's workers (pid -> DynamoDB requests it answered), from inside the container."""
    import json
    out = compose("exec", "-T", "router", "python", "-c", _WORKERS, timeout=60).stdout
    return {int(pid): n for pid, n in json.loads(out).items()}


def test_two_router_workers_share_the_router_port(compose, ddb):
    """TRIREME_ROUTER_WORKERS=2: both workers answer on the published port;
    a worker killed in the container leaves the port serving and comes back."""
    endpoint = f"http://127.0.0.1:{compose.settings['TRIREME_PORT']}"
    key_id, secret = read_credentials(compose.credentials_file)

    def fresh_calls(n: int) -> None:  # a client each: a new connection, which the kernel gives to one worker
        for _ in range(n):
            client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                  aws_access_key_id=key_id, aws_secret_access_key=secret)
            assert "TableNames" in client.list_tables()

    workers = wait_until(lambda: len(_router_workers(compose)) == 2 and _router_workers(compose), 60,
                         "two router workers in the router container", interval=0.5)
    wait_until(lambda: fresh_calls(4) or all(n > 0 for n in _router_workers(compose).values()), 60,
               "both workers to answer requests", interval=0)
    victim = max(workers)
    compose("exec", "-T", "router", "python", "-c", f"import os; os.kill({victim}, 9)")
    fresh_calls(10)  # the other worker takes every connection meanwhile
    wait_until(lambda: len(_router_workers(compose)) == 2 and victim not in _router_workers(compose), 60,
               "the supervisor to start the killed worker again", interval=0.5)
    fresh_calls(2)


def _put_all(ddb, start: int, count: int) -> None:
    for i in range(start, start + count):
        ddb.put_item(TableName="compose", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})


def _assert_all(ddb, count: int) -> None:
    for i in range(count):
        got = ddb.get_item(TableName="compose", Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
        assert got.get("Item", {}).get("v") == {"N": str(i)}, f"k{i} missing or wrong: {got.get('Item')}"


def test_compose_cluster_serves_survives_a_node_kill_and_a_restart(compose, ddb):
    ddb.create_table(TableName="compose", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    wait_until(lambda: ddb.describe_table(TableName="compose")["Table"]["TableStatus"] == "ACTIVE",
               60, "the table to become ACTIVE", interval=0.2)
    _put_all(ddb, 0, 30)
    _assert_all(ddb, 30)

    # One AZ down: writes and strongly consistent reads go on.
    compose("kill", "n2")
    t0 = time.monotonic()
    _put_all(ddb, 30, 30)
    _assert_all(ddb, 60)
    print(f"60 strongly consistent reads and 30 writes with n2 killed in {time.monotonic() - t0:.1f} s")
    compose("start", "n2")

    # n2 must have rejoined and caught up: with n3 down, n1 and n2 are the quorum.
    compose("kill", "n3")
    _put_all(ddb, 60, 10)
    _assert_all(ddb, 70)
    compose("start", "n3")

    # The whole cluster stops and starts again: the volumes keep every item, and the admin keys stay.
    keys = compose.credentials_file.read_text()
    compose("stop", timeout=120)
    compose("start", timeout=120)
    try:
        wait_until(lambda: ddb.describe_table(TableName="compose")["Table"]["TableStatus"] == "ACTIVE",
                   90, "the cluster to serve after a restart", interval=0.5)
    except AssertionError:
        print(compose("logs", "--no-color", "--tail", "60", check=False).stdout.decode(errors="replace"))
        raise
    wait_until(lambda: ddb.get_item(TableName="compose", Key={"pk": {"S": "k0"}}, ConsistentRead=True),
               60, "strongly consistent reads after a restart", interval=0.5)
    _assert_all(ddb, 70)
    wait_until(lambda: "holds the admin user's keys" in compose("logs", "admin").stdout.decode(), 60,
               "the admin service to find its keys known after the restart", interval=0.5)
    assert compose.credentials_file.read_text() == keys


def test_histories_check_out_under_container_faults(compose, ddb, tmp_path):
    """The Jepsen-style check against the containers: docker kill and pause,
    kernel-level partitions (iptables DROP between container addresses) and a
    container taken off the network."""
    chaos = ComposeChaos(compose)
    report = run_check(chaos, CheckConfig(workload="register", nemesis=("kill", "pause", "isolate", "disconnect"),
                                          duration=24, clients=4, seed=21, interval=2.5, out_dir=tmp_path / "check"))
    print("\n" + report.summary)
    assert report.valid is True, report.explanation
    assert sum(1 for e in report.history if e.is_nemesis and e.f in ("kill", "pause", "isolate", "disconnect")) >= 3
    assert chaos.blocked() == [], "heal must remove every DROP rule it added"
    assert all(s["state"] == "up" for s in chaos.in_effect())


def test_a_node_added_takes_replicas_and_is_drained_before_its_container_stops(compose, ddb):
    """`--profile elastic up -d n4`, then `trireme node remove n4 --compose`:
    every replica leaves n4 before its container stops, and no item is lost."""
    chaos = ComposeChaos(compose)
    chaos.nodes()  # n1-n3, the metadata group's nodes: asked after n4 is gone too
    for name in ("elastic_a", "elastic_b"):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        wait_until(lambda n=name: ddb.describe_table(TableName=n)["Table"]["TableStatus"] == "ACTIVE",
                   60, f"{name} to become ACTIVE", interval=0.2)
        for i in range(20):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    try:
        compose("--profile", "elastic", "up", "-d", "n4", timeout=120)
        wait_until(lambda: holds(chaos._meta("nodes", {}), "n4"), 90, "the controller to move a replica onto n4",
                   interval=0.5)

        samples: list[tuple[float, bool, bool]] = []  # (when, n4 still named by a partition, its container running)
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                running = chaos.process_state("n4") == "up"
                try:
                    named = bool(holds(chaos._meta("nodes", {}), "n4"))
                except Exception:  # noqa: BLE001 (a leader change: sample again)
                    continue
                samples.append((time.monotonic(), named, running))
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        env = dict(os.environ, **compose.settings)

        def remove(node: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "client.cli", "node", "remove", node, "--compose",
                                   "--project", compose.project, "--timeout", "75"],
                                  env=env, capture_output=True, text=True, timeout=100)
        unknown = remove("n9")
        assert unknown.returncode == 2 and "no node 'n9'; known: n1, n2, n3, n4" in unknown.stderr, unknown.stderr
        removed = remove("n4")
        done.set()
        watcher.join(30)
        print(removed.stdout)
        assert removed.returncode == 0, removed.stderr + removed.stdout
        # Progress ("n4 still holds ...") shows only while a drain outlasts a poll; a quick one goes straight to done.
        assert "n4 holds no replica any more" in removed.stdout and "removed n4" in removed.stdout, removed.stdout
        stopped_at = min((t for t, _, running in samples if not running), default=None)
        assert stopped_at is not None, "the watcher never saw n4's container stopped"
        assert not [t for t, named, _ in samples if named and t >= stopped_at], \
            "n4's container stopped while a partition still named it"
        assert chaos.process_state("n4") == "down"
        assert "n4" not in chaos._meta("nodes", {})["nodes"]
        for name in ("elastic_a", "elastic_b"):
            for i in range(20):
                got = ddb.get_item(TableName=name, Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
                assert got.get("Item", {}).get("v") == {"N": str(i)}, f"{name} k{i}: {got.get('Item')}"
    finally:
        remove_node_container(compose, "n4")  # also after a failure: the next run starts without n4 and its volume
