"""Routers follow the metadata by a watch, each a moment behind the meta
leader: a table that one router answered ACTIVE is usable at once through
another, and a table that exists nowhere is still ResourceNotFound (the
router asks the leader's metadata version before saying so)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from cluster.rpc import Channels, meta_call
from tests.integration.conftest import discard, make_client, start_cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("router-lag"), routers=2)
    yield c
    discard(c)


def _client(cluster, n: int):
    return make_client(f"http://{cluster.procs[f'router{n}'].addr}")


def test_a_table_made_active_through_one_router_is_usable_through_the_other_at_once(cluster):
    first, second = _client(cluster, 1), _client(cluster, 2)
    for i in range(6):
        name = f"lag-{i}"
        first.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        wait_until(lambda: first.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 30, name)
        second.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": {"pk": {"S": "a"}}}}])
        second.put_item(TableName=name, Item={"pk": {"S": "b"}})
    with pytest.raises(ClientError) as err:
        second.put_item(TableName="lag-never", Item={"pk": {"S": "a"}})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_meta_leader_answers_its_metadata_version(cluster):
    import asyncio

    async def ask() -> dict:
        ch = Channels(cluster.cluster_id)
        try:
            return await meta_call(ch, [p.addr for p in cluster.procs.values() if p.kind == "node"], "version", {},
                                   deadline_s=10)
        finally:
            await ch.close()

    answer = asyncio.run(ask())
    assert isinstance(answer["version"], int) and answer["version"] > 0, answer
