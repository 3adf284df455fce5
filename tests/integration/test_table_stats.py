"""Table statistics are soft state: ItemCount follows the data without a
single entry in the metadata log, and a new meta leader relearns the counts
from the partition leaders' heartbeats."""

from __future__ import annotations

import pytest

from tests.integration.admin import leader_of, replicas
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_faults import create, live_nodes

pytestmark = pytest.mark.slow


def put_items(ddb, start: int, count: int) -> None:
    for i in range(start, start + count):
        ddb.put_item(TableName="tbl", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})


def item_count(ddb) -> int:
    return ddb.describe_table(TableName="tbl")["Table"]["ItemCount"]


def meta_log_end(cluster, live: list[str]) -> int:
    """The newest index of the meta group's log on any live node."""
    return max(replicas(cluster, n)["meta"]["last_index"] for n in live)


def test_counts_change_without_meta_log_entries_and_survive_failover(own_cluster):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint, retries=5)
    create(ddb)
    live = cluster.node_ids()
    put_items(ddb, 0, 5)
    wait_until(lambda: item_count(ddb) == 5, 30, "ItemCount 5", interval=0.2)
    grew = []
    for attempt in range(3):  # the controller may log a liveness flap on a loaded machine: retried
        before = meta_log_end(cluster, live)
        put_items(ddb, 5 + 5 * attempt, 5)
        wait_until(lambda: item_count(ddb) == 10 + 5 * attempt, 30, "ItemCount to follow", interval=0.2)
        grew.append(meta_log_end(cluster, live) - before)
        if grew[-1] == 0:
            break
    assert grew[-1] == 0, f"the meta log grew by {grew} entries while only the counts changed"
    total = 5 + 5 * len(grew)

    old = leader_of(cluster, "meta")
    cluster.kill(old)
    live = live_nodes(cluster, {old})
    wait_until(lambda: leader_of(cluster, "meta", live), 30, "a new meta leader", interval=0.2)
    put_items(ddb, total, 7)
    wait_until(lambda: item_count(ddb) == total + 7, 30, "the new meta leader to learn the counts", interval=0.2)
