"""`trireme logs` finds the cluster whose routers and nodes hold a function's
log: the one cluster of a data dir, or one region's in a multi-region layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import main
from client.logs_cmd import _cluster_dir
from deploy.regions import MultiRegion


@pytest.fixture
def regions_dir(tmp_path: Path) -> Path:
    m = MultiRegion(tmp_path / "regions", ["us-east-1", "eu-west-1"], router_port=0, node_base_port=0)
    m.plan()
    for c in m.clusters.values():
        c.save()
    m.save()
    return m.data_dir


def test_a_region_of_a_multi_region_layout(regions_dir):
    assert _cluster_dir(regions_dir, "eu-west-1") == regions_dir / "eu-west-1"
    assert _cluster_dir(regions_dir, None) == regions_dir / "us-east-1"  # the first region, by default
    with pytest.raises(ValueError, match="no region 'ap-south-1'.*us-east-1, eu-west-1"):
        _cluster_dir(regions_dir, "ap-south-1")


def test_one_region_layout_refuses_region(tmp_path, capsys):
    assert _cluster_dir(tmp_path, None) == tmp_path
    assert main(["logs", "f", "--data-dir", str(tmp_path), "--region", "eu-west-1"]) == 1
    assert "one-region cluster; leave out --region" in capsys.readouterr().err


def test_unknown_region_is_one_line(regions_dir, capsys):
    assert main(["logs", "f", "--data-dir", str(regions_dir), "--region", "nowhere-1"]) == 1
    assert "no region 'nowhere-1'" in capsys.readouterr().err
