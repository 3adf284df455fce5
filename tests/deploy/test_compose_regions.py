"""Three regions in containers for real (deploy/docker-compose.regions.yml): one
endpoint per region answering with its own ARNs, the regions' networks kept
apart by Docker with the link container the only path between them, its
latency, isolation and heal, a whole region killed and started again, and a
strongly consistent (MRSC) table whose Raft groups span the regions through
the link's peer ports.

Runs in CI (``CI=true``) and wherever ``TRIREME_COMPOSE_TEST=1``, like
tests/deploy/test_compose.py; elsewhere it skips.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chaos.containers import ComposeRegionChaos
from deploy.containers import REGIONS_COMPOSE_FILE, Compose
from deploy.link import call
from deploy.local import free_port
from tests.deploy.compose_support import running
from tests.integration.conftest import make_client, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # containers restarting: alone, as in the serial phase

US, EU, AP = "us-east-1", "us-east-2", "us-west-2"  # one Region set (MRSC's rule); services us-, eu-, ap-
NET = {US: "10.213.21", EU: "10.213.22", AP: "10.213.23"}
SHORT = {US: "us", EU: "eu", AP: "ap"}
PAIR_PORT = {(US, EU): 8101, (EU, US): 8110}
PORT_SETTING = {US: "TRIREME_PORT_A", EU: "TRIREME_PORT_B", AP: "TRIREME_PORT_C"}

PROBE = """
import json, sys, time, urllib.request
req = urllib.request.Request(sys.argv[1], data=json.dumps({"TableName": "regional"}).encode(), method="POST",
    headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.DescribeTable"})
start = time.monotonic()
try:
    with urllib.request.urlopen(req, timeout=float(sys.argv[2])) as resp:
        print(json.dumps({"seconds": time.monotonic() - start, "table": json.loads(resp.read())["Table"]}))
except Exception as exc:
    print(json.dumps({"error": repr(exc)}))
"""


@pytest.fixture(scope="module")
def regions() -> Iterator[Compose]:
    yield from running("trireme-regions-test", lambda: {
        **{PORT_SETTING[r]: str(free_port()) for r in (US, EU, AP)}, "TRIREME_LINK_PORT": str(free_port()),
        **{f"TRIREME_ADMIN_PORT_{x}": str(free_port()) for x in "ABC"},
        "TRIREME_NET_A": NET[US], "TRIREME_NET_B": NET[EU], "TRIREME_NET_C": NET[AP], "TRIREME_LATENCY_MS": "40"},
        file=REGIONS_COMPOSE_FILE)


def client(compose: Compose, region: str):
    port = compose.settings[PORT_SETTING[region]]
    ddb = make_client(f"http://127.0.0.1:{port}", retries=3)
    ddb.meta.config.region_name = region
    return ddb


def probe(compose: Compose, src: str, url: str, timeout: float = 5.0) -> dict:
    """DescribeTable `regional` at `url`, asked from inside region `src`'s router container."""
    done = compose("exec", "-T", f"{SHORT[src]}-router", "python", "-c", PROBE, url, str(timeout), timeout=60)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def via_link(src: str, dst: str) -> str:
    return f"http://{NET[src]}.30:{PAIR_PORT[src, dst]}"


def test_two_regions_joined_only_by_the_link(regions):
    control = f"127.0.0.1:{regions.settings['TRIREME_LINK_PORT']}"
    for region in (US, EU):
        ddb = client(regions, region)
        wait_until(lambda: ddb.list_tables() is not None, 120, f"{region} to serve", interval=0.5)
        arn = ddb.create_table(TableName="regional", BillingMode="PAY_PER_REQUEST",
                               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                               )["TableDescription"]["TableArn"]
        assert arn.startswith(f"arn:aws:dynamodb:{region}:")
        wait_until(lambda: ddb.describe_table(TableName="regional")["Table"]["TableStatus"] == "ACTIVE", 60,
                   "ACTIVE", interval=0.2)
        ddb.put_item(TableName="regional", Item={"pk": {"S": region}})

    for src, dst in ((US, EU), (EU, US)):  # through the link: the other region, two one-way latencies
        got = probe(regions, src, via_link(src, dst))
        assert got["table"]["TableArn"].startswith(f"arn:aws:dynamodb:{dst}:") and got["seconds"] >= 0.08, got
        direct = probe(regions, src, f"http://{NET[dst]}.20:8000", timeout=3)  # no other path
        assert "error" in direct, direct

    chaos = ComposeRegionChaos(regions)  # what `trireme chaos ... --compose` drives
    chaos.region_latency(US, EU, 100)
    assert probe(regions, US, via_link(US, EU))["seconds"] >= 0.2
    chaos.isolate_region(EU)
    assert "timed out" in probe(regions, US, via_link(US, EU), timeout=2)["error"]
    assert client(regions, EU).get_item(TableName="regional", Key={"pk": {"S": EU}})["Item"]
    assert {p["cut"] for p in call(control)["pairs"] if EU in (p["src"], p["dst"])} == {True}
    assert {p["cut"] for p in call(control)["pairs"] if EU not in (p["src"], p["dst"])} == {False}
    chaos.heal_regions()
    assert "table" in probe(regions, US, via_link(US, EU))

    assert chaos.kill_region(EU).detail["processes"] == "eu-n1,eu-n2,eu-n3,eu-router"
    assert "error" in probe(regions, US, via_link(US, EU), timeout=3)
    assert client(regions, US).get_item(TableName="regional", Key={"pk": {"S": US}}, ConsistentRead=True)["Item"]
    chaos.start_region(EU, wait_s=120)
    eu = client(regions, EU)
    wait_until(lambda: eu.get_item(TableName="regional", Key={"pk": {"S": EU}}, ConsistentRead=True).get("Item"),
               120, f"{EU} to serve its data again", interval=0.5)
    wait_until(lambda: "table" in probe(regions, US, via_link(US, EU)), 60, f"the link to reach {EU} again")
    assert [e.action for e in chaos.events()][-5:] == [
        "region-latency", "isolate-region", "heal-regions", "kill-region", "start-region"]


def test_a_strongly_consistent_table_across_the_three_regions(regions):
    """The link's peer ports carry the shared Raft groups: a write in one
    region is read strongly in the others."""
    clients = {r: client(regions, r) for r in (US, EU, AP)}
    for c in clients.values():
        wait_until(lambda: c.list_tables() is not None, 120, "every region to serve", interval=0.5)
    us = clients[US]
    us.create_table(TableName="strong", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: us.describe_table(TableName="strong")["Table"]["TableStatus"] == "ACTIVE", 60, "ACTIVE",
               interval=0.2)
    out = us.update_table(TableName="strong", MultiRegionConsistency="STRONG",
                          ReplicaUpdates=[{"Create": {"RegionName": EU}}, {"Create": {"RegionName": AP}}])
    assert out["TableDescription"]["MultiRegionConsistency"] == "STRONG"
    for writer, reader in ((EU, AP), (AP, US), (US, EU)):
        wait_until(lambda: clients[writer].put_item(TableName="strong", Item={"pk": {"S": writer}}) is not None,
                   60, f"a write in {writer}", interval=0.5)
        assert clients[reader].get_item(TableName="strong", Key={"pk": {"S": writer}}, ConsistentRead=True)["Item"]
