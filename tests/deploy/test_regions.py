"""The multi-region layout (no processes): region names, the fixed port plan,
each region's --remote-regions pointing at the link, and a saved layout."""

from __future__ import annotations

import pytest

from cluster.regions import parse_remote_peers, parse_remote_regions
from deploy.link import read_config
from deploy.local import LayoutConflict
from deploy.regions import MultiRegion, parse_regions

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


def arg(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("text, message", [
    ("us-east-1", "2 to 10 regions"),
    ("us-east-1,us-east-1", "names a region twice"),
    ("us-east-1,Mars", "'Mars' is not a region name"),
    ("us-east-1,eu_west_1", "'eu_west_1' is not a region name"),
])
def test_bad_region_lists_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_regions(text)


def test_the_fixed_port_plan(tmp_path):
    assert parse_regions(" us-east-1, eu-west-1,ap-southeast-1 ") == REGIONS
    m = MultiRegion(tmp_path / "data", REGIONS)
    m.plan()
    assert m.endpoints() == {"us-east-1": "http://127.0.0.1:8000", "eu-west-1": "http://127.0.0.1:8001",
                             "ap-southeast-1": "http://127.0.0.1:8002"}
    eu = m.clusters["eu-west-1"]
    assert [p.addr for p in eu.procs.values() if p.kind == "node"] == [
        "127.0.0.1:7111", "127.0.0.1:7112", "127.0.0.1:7113"]
    assert [p.az for p in eu.procs.values() if p.kind == "node"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert eu.procs["n1"].peer_addr == "127.0.0.1:7211"
    assert eu.procs["n1"].metrics_addr == "127.0.0.1:9111" == arg(eu.procs["n1"].argv, "--metrics-listen")
    assert m.control == "127.0.0.1:8099"
    # Region 1 reaches region 0 on the link's port 8110 and region 2 on 8112; every process of it is told.
    assert eu.remote_regions == {"us-east-1": "http://127.0.0.1:8110", "ap-southeast-1": "http://127.0.0.1:8112"}
    for p in eu.procs.values():
        assert parse_remote_regions(arg(p.argv, "--remote-regions")) == eu.remote_regions
        assert arg(p.argv, "--region") == "eu-west-1"
    control, pairs = read_config(m.link_config)
    assert control == m.control and len(pairs) == 6
    by_pair = {(p.src, p.dst): p for p in pairs}
    assert (by_pair["eu-west-1", "us-east-1"].port, by_pair["eu-west-1", "us-east-1"].target) == (8110, "127.0.0.1:8000")
    assert by_pair["us-east-1", "ap-southeast-1"].port == 8102 and all(p.latency_ms == 30 for p in pairs)
    assert len({p.port for p in pairs} | {8000, 8001, 8002, 8099}) == 10
    # Cluster ids differ: a region's nodes refuse strangers, but admit the other regions' nodes on the peer port.
    assert len({c.cluster_id for c in m.clusters.values()}) == 3
    others = {c.cluster_id for r, c in m.clusters.items() if r != "eu-west-1"}
    for p in eu.procs.values():
        if p.kind == "node":
            assert set(arg(p.argv, "--peer-clusters").split(",")) == others
            assert parse_remote_peers(arg(p.argv, "--remote-peers")) == {
                "us-east-1": "127.0.0.1:8310", "ap-southeast-1": "127.0.0.1:8312"}
    # Raft to region 0's nodes: the link's peer port 8310 maps each node id to its peer port.
    assert by_pair["eu-west-1", "us-east-1"].peer_port == 8310
    assert by_pair["eu-west-1", "us-east-1"].peers == {"n1": "127.0.0.1:7201", "n2": "127.0.0.1:7202",
                                                       "n3": "127.0.0.1:7203"}


def test_free_ports_and_a_saved_layout(tmp_path):
    m = MultiRegion(tmp_path / "data", REGIONS[:2], router_port=0, node_base_port=0, latency_ms=12)
    m.plan()
    for c in m.clusters.values():
        c.save()
    m.save()
    again = MultiRegion.load(tmp_path / "data")
    assert again.regions == REGIONS[:2] and again.endpoints() == m.endpoints()
    assert {r: c.remote_regions for r, c in again.clusters.items()} == {
        r: c.remote_regions for r, c in m.clusters.items()}
    again.apply(router_port=9000, latency_ms=70)
    _, pairs = read_config(again.link_config)
    assert {(p.dst, p.target, p.latency_ms) for p in pairs} == {
        ("us-east-1", "127.0.0.1:9000", 70), ("eu-west-1", "127.0.0.1:9001", 70)}
    with pytest.raises(LayoutConflict, match="--regions us-east-1,ap-southeast-1 conflicts with the regions saved"):
        MultiRegion(tmp_path / "data", ["us-east-1", "ap-southeast-1"]).plan()
    with pytest.raises(ValueError, match="no region 'mars-1'"):
        again.cluster("mars-1")


def test_fixed_node_ports_leave_room_for_three_nodes_per_az(tmp_path):
    with pytest.raises(LayoutConflict, match="at most 3 nodes per AZ"):
        MultiRegion(tmp_path / "data", REGIONS, nodes_per_az=4).plan()


def test_free_ports_are_never_given_to_two_processes(tmp_path, monkeypatch):
    """free_port answers a port free now, so two picks may coincide: the plan picks again."""
    import itertools

    import deploy.local
    import deploy.regions

    picks = itertools.chain([20000] * 5, itertools.count(20001))
    monkeypatch.setattr(deploy.local, "free_port", lambda host="127.0.0.1": next(picks))
    monkeypatch.setattr(deploy.regions, "free_port", lambda host="127.0.0.1": next(picks))
    m = MultiRegion(tmp_path / "data", REGIONS[:2], router_port=0, node_base_port=0)
    m.plan()
    ports = [int(a.rpartition(":")[2]) for c in m.clusters.values() for p in c.procs.values()
             for a in (p.addr, p.peer_addr, p.metrics_addr) if a]
    ports += [n for p in read_config(m.link_config)[1] for n in (p.port, p.peer_port)]
    ports += [int(m.control.rpartition(":")[2])]
    assert len(ports) == 25 and len(set(ports)) == 25
