"""The storage nodes' side of transactions on a real cluster: TXN_PREPARE,
TXN_COMMIT and TXN_RELEASE sent through the partition client as a router's
coordinator sends them, with boto3 for everything a user sees (plain writes
refused on locked items, indexes and stream records after the commit), and
recovery settling what a coordinator left behind (node/feed/txn_recovery.py)."""

from __future__ import annotations

import asyncio
import itertools

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError

from cluster.index_defs import secondary_index
from cluster.keys import item_key
from cluster.partitions import Cluster
from cluster.txn_records import ABORTED, COMMITTED, PENDING, TxnRecords
from ddb.encoding import encode_key, encode_key_value, encode_partition_key, hash64
from ddb.indexes import indexes_of
from ddb.keys import KeySchema
from tests.integration.admin import leader_of
from tests.integration.conftest import discard, make_client, start_cluster, wait_until
from tests.integration.test_streams_faults import read_shards
from trireme_pb import node_pb2

TIMEOUT_S = 2.0  # the nodes' TRIREME_TXN_TIMEOUT_S
TABLE = "txn_t"
Req = node_pb2.DataRequest
Ref = node_pb2.TxnRef


@pytest.fixture(scope="module")
def tcluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("txn"), extra_env={"TRIREME_TXN_TIMEOUT_S": str(TIMEOUT_S)})
    ddb = make_client(c.endpoint, retries=3)
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "l", "g")],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    wait_until(lambda: ddb.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE", 60, "ACTIVE")
    yield c
    discard(c)


def item(pk: str, v: int) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": "s"}, "l": {"S": f"{pk}-l{v}"}, "g": {"S": f"{pk}-g{v}"},
            "v": {"N": str(v)}}


class Coordinator:
    """What a router's coordinator does, by hand: the record and the TXN_* requests."""

    def __init__(self, cluster) -> None:
        seeds = [p.addr for p in cluster.procs.values() if p.kind == "node"]
        self.c = Cluster(seeds, "az-a", cluster_id=cluster.cluster_id)
        self.records = TxnRecords(self.c)

    async def __aenter__(self) -> Coordinator:
        self.c.start()
        assert await self.c.wait_for(lambda s: TABLE in s.tables, 30)
        t = self.c.state.tables[TABLE]
        self.schema = KeySchema.from_wire(t.spec["KeySchema"], t.spec["AttributeDefinitions"], has_indexes=True)
        self.local = [secondary_index(ix, self.schema) for ix in indexes_of(t.spec) if ix.local]
        self.tid = t.id
        return self

    async def __aexit__(self, *exc) -> None:
        await self.c.close()

    def locate(self, pk: str) -> tuple[int, bytes]:
        key = {"pk": {"S": pk}, "sk": {"S": "s"}}
        h = hash64(encode_partition_key(self.schema, key))
        return h, item_key(self.tid, h, encode_key(self.schema, key))

    def group(self, pk: str) -> str:
        return self.c.group_for(TABLE, self.locate(pk)[0])

    async def send(self, op: int, pk: str, txn: str, new: dict | None = None) -> node_pb2.DataResponse:
        h, key = self.locate(pk)
        req = Req(op=op, key=key, txn=Ref(id=txn, attempt=1, kind=Ref.PUT))
        if new is not None:
            req.item = orjson.dumps(new)
            req.partition_key_length = len(encode_key_value({"S": pk}))
            req.local_indexes.extend(self.local)
        return await self.c.send(TABLE, h, req, to_leader=True)


def pks_in_two_partitions(co: Coordinator) -> tuple[str, str]:
    names = (f"k{i}" for i in itertools.count())
    first = next(names)
    return first, next(n for n in names if co.group(n) != co.group(first))


def conflict(call) -> str:
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == "TransactionConflictException"
    return err.value.response["Error"]["Message"]


def value(ddb, pk: str) -> int | None:
    got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "s"}}, ConsistentRead=True)
    return int(got["Item"]["v"]["N"]) if "Item" in got else None


def test_prepared_items_refuse_writes_and_commit_with_indexes_and_one_stream_record(tcluster):
    ddb = make_client(tcluster.endpoint)  # no retries: the conflict is the answer

    async def go() -> tuple[str, str]:
        async with Coordinator(tcluster) as co:
            a, b = pks_in_two_partitions(co)
            for pk in (a, b):
                ddb.put_item(TableName=TABLE, Item=item(pk, 1))
            started, rec = await co.records.begin("tok-commit", "fp")
            assert started and rec.state == PENDING
            for pk in (a, b):
                await co.send(Req.TXN_PREPARE, pk, "tok-commit", item(pk, 2))
            assert conflict(lambda: ddb.put_item(TableName=TABLE, Item=item(a, 3))) == \
                "Transaction is ongoing for the item"
            conflict(lambda: ddb.delete_item(TableName=TABLE, Key={"pk": {"S": b}, "sk": {"S": "s"}}))
            try:  # refused by the node; the router may answer the conflict or leave the item unprocessed
                left = ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item(b, 4)}}]})
                assert left["UnprocessedItems"]
            except ClientError as err:
                assert err.response["Error"]["Code"] == "TransactionConflictException"
            assert value(ddb, a) == 1 and value(ddb, b) == 1  # reads see the committed items
            assert (await co.records.decide("tok-commit", 1, COMMITTED)).state == COMMITTED
            for pk in (a, b):
                assert not (await co.send(Req.TXN_COMMIT, pk, "tok-commit")).txn_absent
                assert (await co.send(Req.TXN_COMMIT, pk, "tok-commit")).txn_absent  # again: done already
            await co.records.finish("tok-commit", 1)
            return a, b
    a, b = asyncio.run(go())
    assert value(ddb, a) == 2 and value(ddb, b) == 2
    for pk in (a, b):
        lsi = ddb.query(TableName=TABLE, IndexName="by_l", KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": pk}}, ConsistentRead=True)["Items"]
        assert [i["l"]["S"] for i in lsi] == [f"{pk}-l2"]
        wait_until(lambda: [i["v"]["N"] for i in ddb.query(
            TableName=TABLE, IndexName="by_g", KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": f"{pk}-g2"}})["Items"]] == ["2"], 20, "the GSI entry")
        assert ddb.query(TableName=TABLE, IndexName="by_g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": f"{pk}-g1"}})["Items"] == []
    ddb.put_item(TableName=TABLE, Item=item(a, 5))  # unlocked
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", endpoint_url=tcluster.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    for pk in (a, b):
        mine = [r["dynamodb"] for r in read_shards(streams, arn) if r["dynamodb"]["Keys"]["pk"]["S"] == pk]
        committed = [r for r in mine if r.get("NewImage", {}).get("v") == {"N": "2"}]
        assert len(committed) == 1 and committed[0]["OldImage"]["v"] == {"N": "1"}


def test_an_abandoned_prepare_is_released_by_recovery(tcluster):
    ddb = make_client(tcluster.endpoint)

    async def go() -> None:
        async with Coordinator(tcluster) as co:
            ddb.put_item(TableName=TABLE, Item=item("abandoned", 1))
            await co.records.begin("tok-abandoned", "fp")
            await co.send(Req.TXN_PREPARE, "abandoned", "tok-abandoned", item("abandoned", 2))
            conflict(lambda: ddb.put_item(TableName=TABLE, Item=item("abandoned", 3)))
            # The coordinator "died": nobody decides. Recovery aborts the attempt and releases the item.
            wait_until(lambda: ddb.put_item(TableName=TABLE, Item=item("abandoned", 3)) is not None,
                       TIMEOUT_S + 20, "the lock released")
            assert (await co.records.read("tok-abandoned")).state == ABORTED
            assert (await co.send(Req.TXN_COMMIT, "abandoned", "tok-abandoned")).txn_absent  # too late
    asyncio.run(go())
    assert value(ddb, "abandoned") == 3


def test_a_committed_transaction_is_finished_by_recovery_after_the_lock_leader_dies(tcluster):
    ddb = make_client(tcluster.endpoint, retries=3)

    async def go() -> str:
        async with Coordinator(tcluster) as co:
            ddb.put_item(TableName=TABLE, Item=item("orphan", 1))
            await co.records.begin("tok-orphan", "fp")
            await co.send(Req.TXN_PREPARE, "orphan", "tok-orphan", item("orphan", 2))
            assert (await co.records.decide("tok-orphan", 1, COMMITTED)).state == COMMITTED
            return co.group("orphan")
    group = asyncio.run(go())
    leader = leader_of(tcluster, group)
    assert leader is not None
    tcluster.kill(leader)  # the lock's leader, before any commit reached it
    try:
        wait_until(lambda: value(ddb, "orphan") == 2, TIMEOUT_S + 40, "recovery to commit at the new leader")
        ddb.put_item(TableName=TABLE, Item=item("orphan", 3))  # and to unlock
    finally:
        tcluster.start_proc(leader)
