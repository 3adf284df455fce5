"""`trireme up --regions` and the per-process commands on a multi-region
layout: misuse is refused with what to do instead (no processes started)."""

from __future__ import annotations

from client.cli import main
from deploy.local import LocalCluster
from deploy.regions import MultiRegion


def run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_up_refuses_bad_region_lists_and_a_one_region_data_dir(tmp_path, capsys):
    d = str(tmp_path / "one")
    code, out = run(capsys, "up", "--regions", "us-east-1,mars", "--data-dir", d)
    assert code == 2 and "'mars' is not a region name" in out
    code, out = run(capsys, "up", "--region-latency-ms", "50", "--data-dir", d)
    assert code == 2 and "--region-latency-ms goes with --regions" in out
    one = LocalCluster(tmp_path / "one", router_port=0, node_base_port=0)
    one.plan()
    one.save()
    code, out = run(capsys, "up", "--regions", "us-east-1,eu-west-1", "--data-dir", d)
    assert code == 2 and "holds a one-region cluster; give a new --data-dir" in out


def saved_regions(data_dir) -> MultiRegion:
    """A planned and saved two-region layout, nothing started."""
    m = MultiRegion(data_dir, ["us-east-1", "eu-west-1"], router_port=0, node_base_port=0)
    m.plan()
    for c in m.clusters.values():
        c.save()
    m.save()
    return m


def test_process_commands_need_the_region(tmp_path, capsys):
    saved_regions(tmp_path / "multi")
    d = str(tmp_path / "multi")
    code, out = run(capsys, "kill", "n1", "--data-dir", d)
    assert code == 2 and "holds regions us-east-1, eu-west-1: say which with --region" in out
    code, out = run(capsys, "kill", "n1", "--region", "eu-west-1", "--data-dir", d)
    assert code == 0 and "n1 is not running" in out
    code, out = run(capsys, "start", "n1", "--region", "ap-south-1", "--data-dir", d)
    assert code == 2 and "no region 'ap-south-1'" in out
    code, out = run(capsys, "chaos", "start-region", "eu-west-1", "--data-dir", d)
    assert code == 2 and "not running" in out and "trireme up --data-dir" in out
    code, out = run(capsys, "chaos", "isolate-region", "eu-west-1", "--data-dir", d)
    assert code == 2 and "the cross-region link does not answer" in out
    code, out = run(capsys, "up", "--regions", "us-east-1,ap-south-1", "--data-dir", d)
    assert code == 2 and "conflicts with the regions saved" in out


def test_up_names_a_taken_link_port_before_starting_anything(tmp_path, capsys):
    import socket

    m = saved_regions(tmp_path / "multi")
    port = int(m.control.rpartition(":")[2])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        code, out = run(capsys, "up", "--data-dir", str(tmp_path / "multi"))
    assert code == 1 and f"port {port} of the link's control endpoint is taken" in out
    assert MultiRegion.load(tmp_path / "multi").running() == []
