"""One grep of the request id a client got finds the router's line and the
node's line about a request that failed or was slow, in text and in JSON
logs (README "Metrics and logs"): a write slowed by a latency fault on its
partition's leader, and a write whose leader was cut off from its followers
(a 500: the outcome is unknown). The routers run with TRIREME_SLOW_MS=300."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cluster.rpc import Channels, call_once
from tests.integration.admin import leader_of, meta
from tests.integration.conftest import discard, make_client, start_cluster, wait_until


@pytest.fixture(scope="module", params=["text", "json"])
def cluster(request, tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp(f"request-ids-{request.param}"), log_format=request.param,
                      partitions_per_table=1, extra_env={"TRIREME_SLOW_MS": "300"})
    yield c
    discard(c)


@pytest.fixture(scope="module")
def ddb(cluster):
    return make_client(cluster.endpoint)


def logged(cluster, name: str, rid: str) -> dict | None:
    """The first line of process `name`'s log about `rid`: its fields (a text line's `key=value` words)."""
    for line in Path(cluster.procs[name].log).read_text(errors="replace").splitlines():
        if rid not in line:
            continue
        if cluster.log_format == "json":
            record = json.loads(line)
        else:  # TIME PROCESS LEVEL LOGGER: MESSAGE (cluster/logs.py)
            process = "router" if name.startswith("router") else name
            level, _, message = line.partition(f" {process} ")[2].split(" ", 2)
            record = {"message": message, "level": level,
                      **dict(w.split("=", 1) for w in message.split() if "=" in w)}
        if record.get("request_id") == rid:
            return record
    return None


def set_faults(cluster, node: str, faults: dict) -> None:
    """A node's faults (changing them needs the cluster's id)."""
    async def go() -> None:
        ch = Channels(cluster.cluster_id)
        try:
            await call_once(ch, cluster.procs[node].addr, "admin", "fault", faults, timeout=3)
        finally:
            await ch.close()
    asyncio.run(go())


def _leader_of_new_table(cluster, ddb) -> tuple[str, str]:
    """A new one-partition table (with an item written: the router's streams are open) and its leader."""
    table = f"t{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=table, Item={"pk": {"S": "warm"}})
    group = meta(cluster)["tables"][table]["partitions"][0]
    return table, wait_until(lambda: leader_of(cluster, group), 30, f"a leader of {group}")


def _both_lines(cluster, rid: str, node: str) -> tuple[dict, dict]:
    router = wait_until(lambda: logged(cluster, "router1", rid), 10, f"the router's line about {rid}")
    assert router.get("node") == node, router
    return router, wait_until(lambda: logged(cluster, node, rid), 30, f"{node}'s line about {rid}")


def test_a_slow_write_is_logged_by_the_router_and_its_leader_under_the_clients_request_id(cluster, ddb):
    table, leader = _leader_of_new_table(cluster, ddb)
    set_faults(cluster, leader, {"delay_ms": 500})  # under the election timeout (1-2 s)
    try:
        rid = ddb.put_item(TableName=table, Item={"pk": {"S": "slow"}})["ResponseMetadata"]["RequestId"]
    finally:
        set_faults(cluster, leader, {"heal": True})
    router, node = _both_lines(cluster, rid, leader)
    assert router["message"].startswith("slow ") and (router["operation"], router["table"]) == ("PutItem", table)
    assert float(router["latency_ms"]) >= 500
    assert node["message"].startswith("slow ") and node["level"] == "INFO" and float(node["latency_ms"]) >= 300
    if cluster.log_format == "json":
        assert node["process"] == leader and router["process"] == "router"


def test_a_write_its_leader_could_not_commit_is_a_500_logged_by_the_router_and_the_node_under_one_id(cluster, ddb):
    table, leader = _leader_of_new_table(cluster, ddb)
    others = [n for n in cluster.node_ids() if n != leader]
    set_faults(cluster, leader, {"drop_to": others})  # its followers elect another leader
    try:
        with pytest.raises(ClientError) as err:
            ddb.put_item(TableName=table, Item={"pk": {"S": "lost"}})
        meta_ = err.value.response["ResponseMetadata"]
        assert meta_["HTTPStatusCode"] == 500
        assert "outcome of this write is unknown" in err.value.response["Error"]["Message"]
        # Still cut off: the router may answer first (it gives up a silent leader's writes once another leads);
        # the old leader answers its own 500 when it steps down for want of a quorum. Healed sooner, it would
        # learn from the new leader that the write was dropped, and that is no 5xx of its own.
        router, node = _both_lines(cluster, meta_["RequestId"], leader)
    finally:
        set_faults(cluster, leader, {"heal": True})
    assert router["message"].startswith("500 ") and router["level"] == "ERROR"
    assert node["message"].startswith("500 ") and "outcome unknown" in node["message"]
