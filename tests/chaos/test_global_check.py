"""The global workload on two real regions (`MultiRegion`, the link between
them): writers in both regions under region faults check out; and the same
check fails once the system is broken on purpose, by a rogue replicator that
sends changes through the real `TriremeReplication_1.Replicate` operation:
an old acknowledged value with a future version to every region (a lost
write, the regions still identical), and a value nobody wrote to one region
only (a phantom, the regions never converging)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.faults import LocalRegionChaos
from chaos.global_check import TABLE, converge, make_global_table, run_global_check
from chaos.history import OK, read_jsonl
from chaos.runner import CheckConfig, _client
from cluster.versions import MAX_OFFSET_MS, make_ts, wall_ms
from deploy.local import post
from deploy.regions import MultiRegion
from tests.integration.conftest import make_client

pytestmark = [pytest.mark.slow, pytest.mark.serial]

US, EU = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    m = MultiRegion(tmp_path_factory.mktemp("regions") / "data", [US, EU], router_port=0, node_base_port=0,
                    latency_ms=5, cluster_args={"router_deadline_s": 3.0})
    try:
        m.start(wait_s=120)
        yield LocalRegionChaos(m)
    finally:
        m.stop()


def test_writers_in_both_regions_under_region_faults_check_out(regions, tmp_path):
    cfg = CheckConfig(workload="global", nemesis=("isolate-region", "region-latency", "kill-region", "kill"),
                      duration=24, clients=3, seed=5, keys=6, interval=2.5, out_dir=tmp_path / "check",
                      progress_s=5, leave_clean=True)  # as on a `trireme up --regions` layout (--data-dir)
    report = run_global_check(regions, cfg)
    print("\n" + report.summary + "\n" + report.explanation)
    assert report.valid is True, report.summary + "\n" + report.explanation
    assert "faults injected: none" not in report.summary and "regions converged" in report.summary
    assert "every applied change found in each region's stream" in report.explanation
    ops = [e for e in report.events() if e.type == OK and e.f in ("put", "update", "delete")]
    assert {e.process.split("/")[0] for e in ops} == {US, EU} and len(ops) > 500
    # Left clean: every process of both regions up, the link healed, the table gone everywhere.
    assert sorted(regions.regions.running()) == sorted(
        [f"{r}/{p}" for r, c in regions.regions.clusters.items() for p in c.procs] + ["link"])
    assert not any(p["cut"] for p in regions.link_state()["pairs"])
    for region, c in regions.regions.clusters.items():
        assert TABLE not in make_client(c.endpoint).list_tables()["TableNames"]


def _replicate(endpoint: str, source: str, key: str, image: dict | None, ts: int) -> None:
    status, body = post(endpoint, "Replicate", {
        "TableName": TABLE, "SourceRegion": source, "Changes": [{
            "Keys": {"pk": {"S": key}}, "NewImage": image, "Version": {"Ts": ts, "Region": source},
            "ByTtl": False}]}, prefix="TriremeReplication_1")
    assert status == 200 and json.loads(body)["Applied"] == 1, body


def _rogue_replicator(setup: dict, history: Path) -> None:
    """An acknowledged put that a later acknowledged write of its region replaced, sent again to every
    region with a version half a minute ahead (within the clock drift the receivers accept); and to us-east-1
    only, a value nobody wrote."""
    acked = [e for e in read_jsonl(history) if e.type == OK and e.f in ("put", "update", "delete")]
    old = next(e for e in acked if e.f == "put" and any(
        later.key == e.key and later.process.split("/")[0] == e.process.split("/")[0] and later.time > e.time + 0.2
        for later in acked))
    region = old.process.split("/")[0]
    future = make_ts(wall_ms() + MAX_OFFSET_MS // 2)
    image = {"pk": {"S": old.key}, "v": {"N": str(old.value)}, "r": {"S": region}, "o": {"S": "put"}}
    for client in setup.values():
        _replicate(client.meta.endpoint_url, region, old.key, image, future)
    _replicate(setup[US].meta.endpoint_url, EU, "phantom",
               {"pk": {"S": "phantom"}, "v": {"N": "999999999"}, "r": {"S": EU}, "o": {"S": "put"}}, future)


def test_the_check_fails_on_a_broken_system(regions, tmp_path):
    cfg = CheckConfig(workload="global", nemesis=("none",), duration=4, clients=2, seed=6, keys=3,
                      out_dir=tmp_path / "check", progress_s=0)
    report = run_global_check(regions, cfg, converge_s=5, tamper=_rogue_replicator)
    print("\n" + report.summary + "\n" + report.explanation)
    assert report.valid is False
    assert "regions did NOT converge" in report.summary
    for finding in ("LOST (1)", "PHANTOM (1)", "DIVERGED (1)"):
        assert finding in report.explanation, report.explanation


def test_a_delete_racing_a_put_from_another_region_converges(regions, tmp_path):
    """What `trireme check --regions 2` (its closing race) found: eu-west-1 puts an item, us-east-1
    deletes it before the put arrived there. Last writer wins: both must end without it."""
    setup = {r: _client(c.endpoint, attempts=5, region=r) for r, c in regions.regions.clusters.items()}
    make_global_table(setup, regions, TABLE)
    regions.region_latency(US, EU, 200)
    try:
        for i in range(3):
            setup[EU].put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}, "v": {"N": "1"}, "r": {"S": EU},
                                                              "o": {"S": "put"}})
            setup[US].delete_item(TableName=TABLE, Key={"pk": {"S": f"k{i}"}})  # before the put reaches us-east-1
    finally:
        regions.region_latency(US, EU, 5)
    converged, finals = converge(setup, TABLE, 15)
    assert converged[0], converged[1]
    assert finals[US] == finals[EU] == {}
