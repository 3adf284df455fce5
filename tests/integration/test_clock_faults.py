"""Clock skew against a real cluster: leader leases are safe while clock rates
stay within the drift bound. (What goes wrong beyond it is shown
deterministically by the Raft simulator: tests/node/raft/test_sim.py.)

The scenario: the leader L of a partition gets a slow clock, then is cut off
from its followers (node-to-node links only, so the test can still reach it).
The followers elect a new leader F, which takes a new write. A strongly
consistent read sent straight to L then must not return the old value.
Within the bound L's lease has run out before F could be elected, so L
cannot serve the read (it has no quorum for a ReadIndex either).
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from chaos.faults import DRIFT_BOUND, LocalChaos
from cluster.keys import item_key
from cluster.nodes import NodeClient
from ddb.encoding import encode_key, encode_partition_key, hash64
from ddb.keys import KeySchema
from deploy.local import LocalCluster
from tests.integration.admin import leader_of, meta, node_addr
from tests.integration.conftest import make_client, own_cluster, wait_until  # noqa: F401 (fixture)
from trireme_pb import node_pb2

pytestmark = pytest.mark.slow

KEY = {"pk": {"S": "k"}}


def _call(cluster: LocalCluster, node: str, req: node_pb2.DataRequest,
          timeout: float = 1.0) -> node_pb2.DataResponse | None:
    async def go() -> node_pb2.DataResponse | None:
        client = NodeClient(node_addr(cluster, node), cluster_id=cluster.cluster_id)
        try:
            return await client.call(req, timeout)
        except Exception:  # noqa: BLE001 (no answer in time: the node could not serve it)
            return None
        finally:
            await client.close()
    return asyncio.run(go())


def _skewed_leader_read(cluster, rate: float) -> tuple[str, str | None]:
    """Run the scenario with L's clock at `rate`; what L answered: the status
    and the value it returned, if any."""
    ddb = make_client(cluster.endpoint, retries=5)
    ddb.create_table(TableName="clock", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName="clock")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    ddb.put_item(TableName="clock", Item={**KEY, "v": {"S": "old"}})

    m = meta(cluster)
    table = m["tables"]["clock"]
    schema = KeySchema.from_wire(table["spec"]["KeySchema"], table["spec"]["AttributeDefinitions"])
    h = hash64(encode_partition_key(schema, KEY))
    group = next(g for g, p in m["partitions"].items() if p["table_id"] == table["id"] and p["lo"] <= h <= p["hi"])
    skey = item_key(table["id"], h, encode_key(schema, KEY))
    wait_until(lambda: leader_of(cluster, group), 10, f"{group} to have a leader")
    old = leader_of(cluster, group)
    others = [n for n in m["partitions"][group]["voters"] if n != old]

    chaos = LocalChaos(cluster)
    # Cut first, then slow the clock at once (inside the 0.4 s the lease
    # has left): slowed first, its sparse heartbeats would let the followers
    # elect someone else before the cut, deposing it.
    chaos.split([old], others)
    chaos.clock([old], rate)
    wait_until(lambda: leader_of(cluster, group, live=others), 15, f"a new leader of {group} among {others}")
    new = leader_of(cluster, group, live=others)

    def write_new() -> bool:
        r = _call(cluster, new, node_pb2.DataRequest(
            op="PUT", group=group, key=skey, item=orjson.dumps({**KEY, "v": {"S": "new"}})), timeout=2.0)
        return r is not None and r.status == node_pb2.OK
    wait_until(write_new, 10, f"the new leader {new} to take a write")

    r = _call(cluster, old, node_pb2.DataRequest(op="GET", group=group, key=skey, consistent=True),
              timeout=3.0)
    status = "no answer" if r is None else node_pb2.Status.Name(r.status)
    value = orjson.loads(r.item)["v"]["S"] if r is not None and r.status == node_pb2.OK and r.item else None

    chaos.heal()
    wait_until(lambda: ddb.get_item(TableName="clock", Key=KEY, ConsistentRead=True)["Item"]["v"]["S"] == "new",
               20, "the healed cluster to serve the new value")
    return status, value


def test_within_the_drift_bound_a_cut_off_leader_serves_no_stale_read(own_cluster):
    cluster = own_cluster()
    rate = 1 - DRIFT_BOUND * 0.8  # slow, but within the bound the leases assume
    status, value = _skewed_leader_read(cluster, rate)
    assert value != "old", "stale strongly consistent read within the drift bound"
    assert value is None and status != "OK"
