"""`trireme bench --routers R1,R2 --nodes-per-az N1,N2`: the grid, the
layout read back from a cluster, the table; and one tiny curve end to end."""

from __future__ import annotations

import json

import pytest

from bench import curve
from bench.run import Result
from client.cli import main


def test_counts_and_the_grid_vary_nodes_per_az_fastest():
    assert curve.counts("1,2", "--routers") == [1, 2]
    assert curve.counts("2", "--routers") == [2]
    assert curve.counts("1,1,3", "--routers") == [1, 3]
    assert curve.grid("1,2", "1,2") == [curve.Point(1, 1), curve.Point(1, 2), curve.Point(2, 1), curve.Point(2, 2)]
    for bad in ("", "0", "1,x", "-1", "1.5"):
        with pytest.raises(ValueError, match="--nodes-per-az takes positive integers"):
            curve.grid("1", bad)


def test_partitions_let_every_node_of_the_largest_point_lead():
    assert curve.partitions(0, [curve.Point(1, 1), curve.Point(2, 1)]) == 1  # trireme up's default
    assert curve.partitions(0, curve.grid("1", "1,2")) == 6
    assert curve.partitions(0, curve.grid("1", "3")) == 9
    assert curve.partitions(4, curve.grid("1", "1,2")) == 4  # --partitions wins


REPORT = {
    "meta": {"nodes": {n: {"id": n} for n in ("n10", "n2", "n1")},
             "tables": {"usertable": {"partitions": ["t3.p0", "t3.p1"]}, "other": {"partitions": ["t4.p0"]}},
             "partitions": {"t3.p0": {"id": "t3.p0", "voters": ["n1", "n2", "n10"]},
                            "t3.p1": {"id": "t3.p1", "voters": ["n2", "n1", "n10"]},
                            "t4.p0": {"id": "t4.p0", "voters": ["n1", "n2", "n10"]}}},
    "nodes": {"n1": {"replicas": [{"group": "t3.p0", "role": "LEADER"}, {"group": "t4.p0", "role": "LEADER"},
                                  {"group": "t3.p1", "role": "FOLLOWER"}]},
              "n2": {"replicas": [{"group": "t3.p1", "role": "LEADER"}]},
              "n10": {"error": "no answer"}},
}


def test_the_layout_counts_the_tables_leaders_and_replicas_per_node():
    spread = curve.layout(REPORT, "usertable")
    assert spread == {"n1": [1, 2], "n2": [1, 2], "n10": [0, 2]}  # other tables not counted; n10 silent: leads none
    assert curve.render_layout(spread) == "n1 1/2, n2 1/2, n10 0/2"
    assert curve.layout({"meta": None, "nodes": {}}, "usertable") == {}


def _result(point: curve.Point, ops: float, rep: int, workload: str = "C") -> Result:
    cpu = {f"router{i + 1}": 0.25 for i in range(point.routers)}
    cpu |= {f"n{i + 1}": 0.5 / point.nodes_per_az for i in range(3 * point.nodes_per_az)}
    r = Result("trireme", workload, 64, False, 8.0, int(ops * 8), ops, 0, 5.0, 9.0, 10.0 + rep, 30.0, cpu)
    r.routers, r.nodes_per_az = point.routers, point.nodes_per_az
    return r


def test_the_table_gives_each_point_its_ratio_to_the_first_and_each_process_its_cores():
    one, two = curve.Point(1, 1), curve.Point(1, 2)
    results = [_result(p, ops, rep) for rep, (a, b) in enumerate(((1000, 1500), (800, 1600))) for p, ops in
               ((one, a), (two, b))]
    rounds = [curve.Round(one, 1, {"n1": [2, 6], "n2": [2, 6], "n3": [2, 6]}, 900.0),
              curve.Round(two, 1, {f"n{i}": [1, 3] for i in range(1, 7)}, 800.0),
              curve.Round(two, 2, {f"n{i}": [1, 3] for i in range(1, 7)}, 800.0)]
    out = curve.render(results, rounds)
    rows = {line.split()[3]: line for line in out.splitlines() if line.startswith("C ")}
    assert "900 (800-1,000)" in rows["1"] and " 1.00 " in rows["1"]
    assert "1,550 (1,500-1,600)" in rows["2"] and " 1.75 " in rows["2"]  # median of 1.5 and 2.0
    assert "router1 0.25 n1 0.50 n2 0.50 n3 0.50" in rows["1"]
    assert " 1.75 " in rows["1"] and " 1,969 " in rows["1"]  # cores, then us/op: median of 1.75e6/1000 and /800
    assert "router1 0.25 n1 0.25 n2 0.25 n3 0.25 n4 0.25 n5 0.25 n6 0.25" in rows["2"]
    assert "n1 2/6, n2 2/6, n3 2/6" in out
    assert out.count("n1 1/3, n2 1/3, n3 1/3, n4 1/3, n5 1/3, n6 1/3") == 1  # the same layout twice: shown once
    assert Result.to_json(results[0])["nodes_per_az"] == 1


def test_bad_counts_and_a_curve_with_peers_are_refused_before_anything_starts(capsys):
    assert main(["bench", "--nodes-per-az", "0"]) == 2
    assert "--nodes-per-az takes positive integers" in capsys.readouterr().err
    assert main(["bench", "--routers", "1,2", "--peers", "moto"]) == 2
    assert "runs Trireme alone" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.serial
def test_a_curve_over_nodes_per_az_runs_one_cluster_per_point(tmp_path, capsys):
    out = tmp_path / "curve.json"
    assert main(["bench", "--workloads", "C", "--consistent", "no", "--routers", "2", "--nodes-per-az", "1,2",
                 "--clients", "4", "--records", "200", "--seconds", "0.4", "--warmup", "0.1", "--reps", "1",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "THROUGHPUT AGAINST ROUTERS AND NODES" in table and "LEADERS/REPLICAS BY NODE" in table
    data = json.loads(out.read_text())
    assert data["partitions"] == 6
    results = data["results"]
    assert [(r["routers"], r["nodes_per_az"]) for r in results] == [(2, 1), (2, 2)]
    for r in results:
        assert r["ops"] > 0 and r["errors"] == 0, r
        nodes = {f"n{i}" for i in range(1, 3 * r["nodes_per_az"] + 1)}
        assert set(r["cpu"]) == {"router1", "router2"} | nodes  # every process of the point, no other
    for rd in data["rounds"]:
        spread = rd["layout"]
        assert set(spread) == {f"n{i}" for i in range(1, 3 * rd["nodes_per_az"] + 1)}
        assert sum(reps for _, reps in spread.values()) == 6 * 3  # six partitions, three replicas each
        assert sum(lead for lead, _ in spread.values()) >= 1
