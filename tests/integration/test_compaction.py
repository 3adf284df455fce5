"""Raft logs are compacted: under sustained overwrites every node's data
directory and every group's stored log stay bounded, a restart after many
writes takes about as long as after few, and the meta group restarts from its
snapshot instead of replaying its log from index 1; a member the log was
compacted past catches up from a streamed snapshot while writes go on."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cluster.kms import MasterKeys
from node.storage import DATA, STREAMS, Storage
from tests.integration.admin import replicas
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_metrics import node_url, scrape, value
from tests.integration.test_faults import busiest_node, create, live_nodes, wait_replaced

pytestmark = pytest.mark.slow

COMPACT_EVERY = 100
META_COMPACT_EVERY = 10
KEYS = 1000
WRITES = int(os.environ.get("TRIREME_TEST_OVERWRITES", "30000"))  # compaction-bound: 299,000 (+ 1,000)
BODY_BYTES = 500  # hex: ~1 KB items that do not compress away
WAL_MB, WRITE_BUFFER_MB = 8, 4
# The README's bound: the WAL cap, a few memtable-sized files per family and
# the live data (1 MB here) -- against ~70 MB of log and items written.
DATA_DIR_BOUND = 40 << 20
# Uncompacted, each group's log would hold every batch it took (~1,200 each here).
LOG_BOUND = 3 * COMPACT_EVERY


def write_batches(ddb, start: int, count: int, keys: int) -> None:
    for lo in range(start, start + count, 25):
        items = [{"PutRequest": {"Item": {"pk": {"S": f"k{i % keys}"}, "n": {"N": str(i)},
                                          "b": {"S": os.urandom(BODY_BYTES).hex()}}}}
                 for i in range(lo, min(lo + 25, start + count))]
        while items:
            out = ddb.batch_write_item(RequestItems={"tbl": items})
            items = out.get("UnprocessedItems", {}).get("tbl", [])


def overwrite(endpoint: str, start: int, count: int, keys: int = KEYS, threads: int = 4) -> None:
    share = count // threads
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(write_batches, make_client(endpoint, retries=5), start + t * share, share, keys)
                   for t in range(threads)]
        for f in futures:
            f.result()


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def serving(cluster, node: str) -> bool:
    """Every replica on `node` has a leader and applied what it knows committed."""
    try:
        rs = replicas(cluster, node)
    except Exception:  # noqa: BLE001 (still starting)
        return False
    return bool(rs) and all(r["leader"] and r["applied"] >= r["commit"] for r in rs.values())


def restart_time(cluster, node: str) -> float:
    cluster.kill(node)
    t0 = time.monotonic()
    cluster.start_proc(node)
    wait_until(lambda: serving(cluster, node), 60, f"{node} to serve again", interval=0.02)
    return time.monotonic() - t0


def test_logs_stay_bounded_and_restarts_do_not_replay(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_RAFT_COMPACT_EVERY": str(COMPACT_EVERY),
                                     "TRIREME_META_COMPACT_EVERY": str(META_COMPACT_EVERY),
                                     "TRIREME_WAL_MB": str(WAL_MB), "TRIREME_WRITE_BUFFER_MB": str(WRITE_BUFFER_MB)})
    ddb = make_client(cluster.endpoint, retries=5)
    create(ddb)
    for name in ("tmp1", "tmp2", "tmp3"):  # meta log entries past its compaction point
        create(ddb, name)
        ddb.delete_table(TableName=name)
    overwrite(cluster.endpoint, 0, KEYS)
    node = "n1"
    few = restart_time(cluster, node)

    t0 = time.monotonic()
    overwrite(cluster.endpoint, KEYS, WRITES)
    took = time.monotonic() - t0
    sizes = {}

    def over_bound() -> list[str]:
        return [f"{name}/{group}: {r['last_index'] - r['snapshot_index']} entries stored ({r})"
                for name in cluster.node_ids() for group, r in replicas(cluster, name).items()
                if r["last_index"] - r["snapshot_index"] > LOG_BOUND]

    # A follower compacts to the point its leader's next heartbeat says every
    # member holds: right after the last write it may still keep a batch or two more.
    wait_until(lambda: not over_bound(), 15, "every group's stored log within the bound")
    for name in cluster.node_ids():
        rs = replicas(cluster, name)
        parts = [r for g, r in rs.items() if g != "meta"]
        assert sum(r["last_index"] for r in parts) >= WRITES // 25, "the writes went through the logs"
        assert all(r["snapshot_index"] > 0 for r in parts), f"{name}: every partition compacted"
        sizes[name] = dir_size(Path(cluster.data_dir) / name)
        assert sizes[name] < DATA_DIR_BOUND, f"{name}: data dir {sizes[name]} bytes"

    many = restart_time(cluster, node)
    assert many < 2 * few + 2.0, f"restart took {many:.2f}s after {WRITES} writes, {few:.2f}s after {KEYS}"

    meta = replicas(cluster, node)["meta"]
    assert meta["snapshot_index"] > 0, f"meta restarted from index 1: {meta}"
    got = ddb.get_item(TableName="tbl", Key={"pk": {"S": "k7"}}, ConsistentRead=True)["Item"]
    assert int(got["n"]["N"]) % KEYS == 7
    assert [t for t in ddb.list_tables()["TableNames"]] == ["tbl"]
    print(f"{WRITES} overwrites in {took:.0f}s; restart after {KEYS} writes {few:.2f}s, after {WRITES + KEYS} "
          f"{many:.2f}s; data dirs " + ", ".join(f"{n} {size / 2**20:.1f} MiB" for n, size in sizes.items()))


ITEMS = int(os.environ.get("TRIREME_TEST_SNAPSHOT_ITEMS", "20000"))  # `make snapshot-catch-up`: 200,000
SNAP_LAG = 300


def digests(cluster) -> dict[str, str]:
    """Each stopped node's items and stream records, hashed straight from its
    database (every node holds a replica of every partition in a three-node
    cluster). Opened with the master key: stored values are sealed with random nonces."""
    out = {}
    for name in cluster.node_ids():
        h = hashlib.sha256()
        with Storage.open(Path(cluster.data_dir) / name / "db", master=MasterKeys.load(cluster.master_key_file)) as db:
            for key, value in db.iter_range(DATA, b"", None):
                h.update(key + b"\0" + value)
            for key, value in db.iter_range(STREAMS, b"R", b"S"):  # stream records (cluster/keys.py)
                h.update(key + b"\0" + value)
        out[name] = h.hexdigest()
    return out


def test_member_behind_the_compacted_log_catches_up_from_a_snapshot(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_RAFT_COMPACT_EVERY": str(COMPACT_EVERY),
                                     "TRIREME_RAFT_COMPACT_LAG": str(SNAP_LAG)})
    ddb = make_client(cluster.endpoint, retries=5)
    create(ddb)
    # With a stream: the snapshot carries the stream records too.
    ddb.update_table(TableName="tbl", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    wait_until(lambda: ddb.describe_table(TableName="tbl")["Table"]["TableStatus"] == "ACTIVE", 30, "stream on")
    victim = "n3"
    before = {g: r["last_index"] for g, r in replicas(cluster, victim).items() if g != "meta"}
    cluster.kill(victim)
    overwrite(cluster.endpoint, 0, ITEMS, keys=ITEMS)  # ITEMS distinct items, far past the victim's log
    live = ["n1", "n2"]
    leaders = {g: next(n for n in live if replicas(cluster, n)[g]["role"] == "LEADER") for g in before}
    for g, n in leaders.items():
        assert replicas(cluster, n)[g]["snapshot_index"] > before[g], f"{g} compacted past {victim}"

    stop = threading.Event()
    written = [0]

    def background() -> None:
        client = make_client(cluster.endpoint, retries=5)
        i = 0
        while not stop.is_set():
            client.put_item(TableName="tbl", Item={"pk": {"S": f"bg{i % 50}"}, "n": {"N": str(i)}})
            i += 1
        written[0] = i

    writer = threading.Thread(target=background)
    writer.start()
    t0 = time.monotonic()
    try:
        cluster.start_proc(victim)

        def caught_up() -> bool:
            mine = replicas(cluster, victim)
            return all(g in mine and mine[g]["snapshot_index"] > before[g]
                       and mine[g]["applied"] >= replicas(cluster, leaders[g])[g]["commit"] - 50 for g in before)
        wait_until(caught_up, 50 + ITEMS / 1000, f"{victim} to catch up from snapshots", interval=0.2)
        caught = time.monotonic() - t0
    finally:
        stop.set()
        writer.join()
    assert written[0] > 0

    got = ddb.get_item(TableName="tbl", Key={"pk": {"S": "k12345"}}, ConsistentRead=True)["Item"]
    assert got["n"]["N"] == "12345"
    # The nodes' /metrics count the streams (the victim's counters started anew with it).
    assert value(scrape(node_url(cluster, victim)), "trireme_node_snapshots_received_total") >= len(before)
    assert sum(value(scrape(node_url(cluster, n)), "trireme_node_snapshots_sent_total") for n in live) >= len(before)

    def settled() -> bool:
        commits = [{g: r["applied"] for g, r in replicas(cluster, n).items()} for n in cluster.node_ids()]
        return all(c == commits[0] for c in commits)
    wait_until(settled, 30, "every replica to apply the same log")
    cluster.stop()
    d = digests(cluster)
    assert len(set(d.values())) == 1, f"replicas differ: {d}"
    print(f"{victim} caught up from snapshots of {ITEMS} items in {caught:.2f}s with {written[0]} writes going on")


def test_replacement_replicas_start_from_a_snapshot(own_cluster):
    """A node lost for good: its replicas are replaced on spare nodes, which
    start empty behind the compacted log and catch up from snapshots."""
    cluster = own_cluster(nodes_per_az=2, dead_after_s=3.0,
                          extra_env={"TRIREME_RAFT_COMPACT_EVERY": str(COMPACT_EVERY)})
    ddb = make_client(cluster.endpoint, retries=5)
    create(ddb)
    overwrite(cluster.endpoint, 0, 4000, keys=4000)
    tid, _, victim = busiest_node(cluster)
    live = live_nodes(cluster, {victim})
    assert all(r["snapshot_index"] > 0 for n in live for g, r in replicas(cluster, n).items()
               if g.startswith(f"t{tid}.")), "the logs were compacted"
    cluster.kill(victim)

    wait_replaced(cluster, tid, victim, live, 30)
    got = ddb.get_item(TableName="tbl", Key={"pk": {"S": "k3999"}}, ConsistentRead=True)["Item"]
    assert got["n"]["N"] == "3999"
