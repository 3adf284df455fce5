"""TTL under a leader kill: the sweeper keeps no cursor, so the partition's
next leader sweeps again and every expired item still goes; items that are
not expired stay."""

from __future__ import annotations

import time

from tests.integration.admin import leader_of, meta
from tests.integration.conftest import make_client, wait_until

ITEMS = 60


def test_a_leader_killed_mid_sweep_leaves_nothing_expired(own_cluster):
    # A slow pace (5 deletes a second per partition) so the kill lands mid-sweep.
    cluster = own_cluster(extra_env={"TRIREME_TTL_SWEEP_S": "0.3", "TRIREME_TTL_DELETES_PER_S": "5"})
    ddb = make_client(cluster.endpoint, retries=5)
    ddb.create_table(TableName="sessions", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName="sessions")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    now = int(time.time())
    for i in range(ITEMS):
        ddb.put_item(TableName="sessions", Item={"id": {"S": f"old{i}"}, "ttl": {"N": str(now - 30)}})
    for i in range(5):
        ddb.put_item(TableName="sessions", Item={"id": {"S": f"new{i}"}, "ttl": {"N": str(now + 3600)}})

    def remaining() -> set[str]:
        items = ddb.scan(TableName="sessions", ConsistentRead=True)["Items"]
        return {i["id"]["S"] for i in items}

    ddb.update_time_to_live(TableName="sessions", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    wait_until(lambda: len(remaining()) < ITEMS + 5 - 4, 30, "the sweep to start")
    assert len(remaining()) > 5 + 10, "the sweep finished before the kill: slow it down"
    table_id = meta(cluster)["tables"]["sessions"]["id"]
    victim = wait_until(lambda: leader_of(cluster, f"t{table_id}.p0"), 10, "a leader")
    cluster.kill(victim)
    wait_until(lambda: remaining() == {f"new{i}" for i in range(5)}, 60, "every expired item to be deleted")
