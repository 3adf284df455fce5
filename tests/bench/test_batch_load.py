"""bench/batch_load.py: a BatchWriteItem load's rate, memory, disk and CPU per item."""

from __future__ import annotations

import json
import random
import os

import orjson
import pytest

from bench import batch_load, ycsb


def test_stored_bytes_count_the_key_and_the_value_a_node_stores():
    blob = ycsb.values_blob(random.Random(3))
    item = orjson.loads(batch_load.item_body(7, blob))["PutRequest"]["Item"]
    assert set(item) == {"key"} | {f"field{i}" for i in range(ycsb.FIELDS)}
    key = ycsb.key_name(7)
    assert batch_load.stored_bytes(7, blob) == 12 + len(key) + 2 + len(orjson.dumps(item))


def test_status_and_dir_sizes(tmp_path):
    assert batch_load.status_bytes(os.getpid(), "VmRSS") > 1 << 20
    assert batch_load.status_bytes(2**22 + 12345, "VmRSS") == 0  # no such process
    (tmp_path / "a").write_bytes(os.urandom(10_000))
    assert batch_load.dir_bytes(tmp_path) >= 10_000


@pytest.mark.slow  # a cluster of its own (as bench.cpu's run): ~10 s idle, longer on a loaded machine
def test_a_small_load_reports_rate_memory_disk_and_cpu(tmp_path, capsys):
    out = tmp_path / "load.json"
    assert batch_load.main(["--items", "300", "--clients", "4", "--settle-s", "10", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    row = got["reps"]["this"][0]
    assert row["items/s"] > 0 and row["errors"] == {}
    assert {"n1", "n2", "n3", "router1", "nodes", "total"} <= set(row["cpu us/item"])
    assert row["cpu us/item"]["total"] >= row["cpu us/item"]["nodes"] > 0
    assert all(row["peak rss MB"][p] > 10 for p in ("n1", "n2", "n3", "router1"))
    storage = got["storage"]["this"]
    assert storage["logical MB"] * 2**20 == sum(batch_load.stored_bytes(n, b) for n, b in _blobs(300))
    for n in ("n1", "n2", "n3"):
        # Every node holds all 300 items (three replicas): at least the logical bytes.
        assert storage["db MB compacted"][n] >= storage["logical MB"] > 0
    assert "items/s" in capsys.readouterr().out


def _blobs(items: int):
    rng = random.Random(1)
    blobs = [ycsb.values_blob(rng) for _ in range(64)]
    return [(n, blobs[n % 64]) for n in range(items)]
