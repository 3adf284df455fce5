"""Two regions from `trireme up --regions`: one endpoint per region answering
with its own ARNs, the cross-region link between them (latency, isolation,
heal), whole-region kills, status and stop, all through the command line."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from client.cli import main
from deploy.local import alive, post
from deploy.regions import MultiRegion
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_lifetime import run_up, trireme

pytestmark = pytest.mark.slow

US, EU = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("regions") / "data"
    up, banner = run_up("--regions", f"{US},{EU}", "--data-dir", str(data_dir), "--port", "0",
                        "--node-base-port", "0", "--region-latency-ms", "20")
    while "Ctrl-C" not in banner:  # the rest of the banner, printed at once
        banner += up.stdout.readline()
    try:
        yield MultiRegion.load(data_dir), banner, data_dir
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGTERM)
            try:
                up.wait(30)
            except Exception:  # noqa: BLE001
                os.killpg(up.pid, signal.SIGKILL)
        m = MultiRegion.load(data_dir)
        m.stop()


def client(m: MultiRegion, region: str, via: str | None = None):
    """A boto3 client of `region`: its endpoint, or the link's port from region `via`."""
    url = m.clusters[via].remote_regions[region] if via else m.clusters[region].endpoint
    c = make_client(url, read_timeout=5)
    c.meta.config.region_name = region
    return c


def through_link(m: MultiRegion, src: str, dst: str, timeout: float = 5.0) -> tuple[float, dict]:
    """DescribeTable of region `dst` as region `src` reaches it: (seconds, answer)."""
    start = time.monotonic()
    status, body = post(m.clusters[src].remote_regions[dst], "DescribeTable", {"TableName": "tbl"}, timeout=timeout)
    assert status == 200, body
    return time.monotonic() - start, json.loads(body)


def chaos(m: MultiRegion, capsys, *args: str, code: int = 0) -> str:
    capsys.readouterr()
    assert main(["chaos", *args, "--data-dir", str(m.data_dir)]) == code
    out = capsys.readouterr()
    return out.out + out.err


def test_each_region_has_its_endpoint_arns_and_link(regions):
    m, banner, _ = regions
    for region in (US, EU):
        assert m.clusters[region].endpoint in banner and f'region_name="{region}"' in banner
        ddb = make_client(m.clusters[region].endpoint)
        ddb.meta.config.region_name = region
        arn = ddb.create_table(TableName="tbl", BillingMode="PAY_PER_REQUEST",
                               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                               )["TableDescription"]["TableArn"]
        assert arn.startswith(f"arn:aws:dynamodb:{region}:")
        ddb.put_item(TableName="tbl", Item={"pk": {"S": f"written in {region}"}})
    # Each region's link port reaches the other region's router (and only it), a round trip costing
    # at least the two one-way latencies.
    for src, dst in ((US, EU), (EU, US)):
        seconds, answer = through_link(m, src, dst)
        assert answer["Table"]["TableArn"].startswith(f"arn:aws:dynamodb:{dst}:") and seconds >= 0.04
        assert client(m, dst, via=src).scan(TableName="tbl")["Items"] == [{"pk": {"S": f"written in {dst}"}}]
    assert client(m, US).scan(TableName="tbl")["Items"] == [{"pk": {"S": f"written in {US}"}}]


def test_region_latency_isolation_and_heal_through_the_cli(regions, capsys):
    m, _, data_dir = regions
    out = chaos(m, capsys, "region-latency", US, EU, "150")
    assert "region-latency" in out and f"{US}<->{EU}" in out and "ms=150" in out
    assert through_link(m, US, EU)[0] >= 0.3 and through_link(m, EU, US)[0] >= 0.3

    out = chaos(m, capsys, "isolate-region", EU)
    assert "isolate-region" in out and EU in out
    for src, dst in ((US, EU), (EU, US)):  # a partition: no answer and no error, the caller times out
        with pytest.raises(TimeoutError):
            post(m.clusters[src].remote_regions[dst], "ListTables", {}, timeout=1.0)
    for region in (US, EU):  # both sides keep serving their own clients
        assert client(m, region).get_item(TableName="tbl", Key={"pk": {"S": f"written in {region}"}})["Item"]
    listing = chaos(m, capsys, "list")
    assert listing.count("CUT") == 2 and f"region {EU}:" in listing
    capsys.readouterr()
    assert main(["status", "--json", "--data-dir", str(data_dir)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status["regions"]) == {US, EU} and all(r["meta"] for r in status["regions"].values())
    assert {(p["src"], p["dst"], p["cut"], p["latency_ms"]) for p in status["link"]["pairs"]} == {
        (US, EU, True, 150), (EU, US, True, 150)}
    assert status["replication"] == []

    assert "heal-regions" in chaos(m, capsys, "heal-regions")
    wait_until(lambda: through_link(m, US, EU, timeout=2.0), 10, "the link to carry requests after the heal")
    through_link(m, EU, US)
    assert chaos(m, capsys, "log").split().count("isolate-region") == 1

    assert "no region 'mars-1' on the link" in chaos(m, capsys, "region-latency", US, "mars-1", "5", code=2)
    assert "usage: trireme chaos isolate-region REGION" in chaos(m, capsys, "isolate-region", code=2)
    assert "say whose nodes with --region" in chaos(m, capsys, "kill", "n1", code=2)
    assert "kill" in chaos(m, capsys, "kill", "n3", "--region", EU)
    assert "restart" in chaos(m, capsys, "restart", "n3", "--region", EU)


def test_status_shows_the_replication_lag_growing_while_cut_and_gone_after_heal(regions, capsys):
    m, _, data_dir = regions
    us = client(m, US)
    us.create_table(TableName="lagged", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    us.get_waiter("table_exists").wait(TableName="lagged", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    us.update_table(TableName="lagged", ReplicaUpdates=[{"Create": {"RegionName": EU}}])
    us.get_waiter("table_exists").wait(TableName="lagged", WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    def status(*flags: str) -> str:
        capsys.readouterr()
        assert main(["status", *flags, "--data-dir", str(data_dir)]) == 0
        return capsys.readouterr().out

    def lag() -> float | None:  # us-east-1's replication to eu-west-1, as `trireme status --json` reports it
        rows = json.loads(status("--json"))["replication"]
        return next(r["lag_s"] for r in rows if (r["table"], r["region"], r["replica"]) == ("lagged", US, EU))
    wait_until(lambda: lag() is not None, 30, "the lag to be measured")
    assert chaos(m, capsys, "isolate-region", EU)
    try:
        for i in range(5):
            us.put_item(TableName="lagged", Item={"pk": {"S": f"cut{i}"}})
        wait_until(lambda: lag() > 1.0, 30, "the lag to show")
        first = lag()
        wait_until(lambda: lag() > first + 1.0, 30, "the lag to grow while the link is cut")
        text = status()
        row = next(line.rstrip() for line in text.splitlines() if line.startswith("lagged") and line.split()[1] == US)
        assert row.split()[2:4] == [EU, "ACTIVE"] and row.endswith(" ms") and int(row.split()[-2]) > 1000
    finally:
        chaos(m, capsys, "heal-regions")
    wait_until(lambda: lag() < 0.5, 60, "the lag to return near zero after the heal")
    assert client(m, EU).get_item(TableName="lagged", Key={"pk": {"S": "cut4"}}, ConsistentRead=True)["Item"]
    us.update_table(TableName="lagged", ReplicaUpdates=[{"Delete": {"RegionName": EU}}])


def test_kill_region_and_start_region(regions, capsys):
    m, _, _ = regions
    pids = {p.name: p.pid for p in MultiRegion.load(m.data_dir).clusters[EU].procs.values()}
    out = chaos(m, capsys, "kill-region", EU)
    assert "kill-region" in out and "router1" in out
    assert not any(alive(pid) for pid in pids.values())
    with pytest.raises(OSError):  # its endpoint is gone, and so is the link's destination
        post(m.clusters[EU].endpoint, "ListTables", {}, timeout=2.0)
    with pytest.raises(OSError):
        through_link(m, US, EU, timeout=2.0)
    assert client(m, US).get_item(TableName="tbl", Key={"pk": {"S": f"written in {US}"}})["Item"]

    assert "start-region" in chaos(m, capsys, "start-region", EU)
    assert through_link(m, US, EU)[1]["Table"]["TableStatus"] == "ACTIVE"
    assert client(m, EU).get_item(TableName="tbl", Key={"pk": {"S": f"written in {EU}"}},
                                  ConsistentRead=True)["Item"]


def test_stop_stops_every_region_and_the_link(regions):
    m, _, data_dir = regions
    m = MultiRegion.load(data_dir)
    pids = [p.pid for c in m.clusters.values() for p in c.procs.values()] + [m.link_pid]
    assert all(pids) and all(alive(pid) for pid in pids)
    out = trireme("stop", "--data-dir", str(data_dir))
    assert out.returncode == 0 and "stopped the regions" in out.stdout, out.stderr
    assert not any(alive(pid) for pid in pids)
    assert MultiRegion.load(data_dir).running() == []


def test_up_again_starts_the_saved_regions_with_their_data(regions):
    _, _, data_dir = regions
    up, banner = run_up("--data-dir", str(data_dir))  # no --regions: the saved ones
    try:
        assert "Trireme is running 2 regions" in banner
        m = MultiRegion.load(data_dir)
        for region in (US, EU):
            item = client(m, region).get_item(TableName="tbl", Key={"pk": {"S": f"written in {region}"}},
                                              ConsistentRead=True)
            assert "Item" in item
        assert through_link(m, US, EU)[1]["Table"]["TableArn"].startswith(f"arn:aws:dynamodb:{EU}:")
    finally:
        out = trireme("stop", "--data-dir", str(data_dir))
        assert out.returncode == 0, out.stderr
        assert up.wait(30) == 0
