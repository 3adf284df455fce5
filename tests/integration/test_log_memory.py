"""Raft logs keep only a short tail in memory (here 4 entries per group):
a restarted node, a lagging follower and a replacement replica all catch up
from entries read back from disk, and a whole-cluster restart loads only the
tail."""

from __future__ import annotations

import pytest

from tests.integration.admin import replicas
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_faults import busiest_node, create, live_nodes, put, strong, wait_replaced

pytestmark = pytest.mark.slow

KEEP = 4


def test_catch_up_restart_and_replacement_from_evicted_entries(own_cluster):
    cluster = own_cluster(nodes_per_az=2, dead_after_s=3.0,
                          extra_env={"TRIREME_RAFT_MEMORY_ENTRIES": str(KEEP)})
    ddb = make_client(cluster.endpoint, retries=3)
    create(ddb)
    for i in range(60):
        put(ddb, f"k{i}", i)
    tid, _, victim = busiest_node(cluster)
    cluster.kill(victim)
    for i in range(60, 120):
        put(ddb, f"k{i}", i)
    live = live_nodes(cluster, {victim})

    # The newcomers start from index 1, long evicted from the leaders' memory.
    wait_replaced(cluster, tid, victim, live, 20)
    assert [strong(ddb, f"k{i}") for i in range(120)] == list(range(120))

    # A whole-cluster crash: every replica restarts from the tail plus the disk.
    for name in live:
        cluster.kill(name)
    for name in live:
        cluster.start_proc(name)
    wait_until(lambda: strong(ddb, "k0") == 0, 30, "the restarted cluster to serve")
    assert [strong(ddb, f"k{i}") for i in range(120)] == list(range(120))
    put(ddb, "after", 1)
    assert strong(ddb, "after") == 1

    def bounded() -> bool:
        return all(r["in_memory"] <= 2 * KEEP for n in live for r in replicas(cluster, n).values())
    wait_until(bounded, 10, "every replica to keep at most a short tail in memory")
