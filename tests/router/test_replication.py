"""TriremeReplication_1.Replicate at the router (router/replication.py): each
change becomes a REPLICATE request to its partition's leader, with the item's
storage key, new image, version and local indexes; the answers are counted;
malformed bodies are refused with a ValidationException, unknown tables as
DynamoDB refuses them."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from cluster.meta import MetaState, TableInfo
from cluster.partitions import Cluster
from ddb.errors import ResourceNotFoundException, ServiceUnavailable, ValidationException
from router import replication
from router.api import Api
from trireme_pb import node_pb2

SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "l")],
        "LocalSecondaryIndexes": [{"IndexName": "by_l", "Projection": {"ProjectionType": "ALL"},
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                 {"AttributeName": "l", "KeyType": "RANGE"}]}]}
KEYS = {"pk": {"S": "p"}, "sk": {"S": "s"}}
V = {"Ts": 123 << 16, "Region": "eu-west-1"}


class _Partitions(Cluster):
    """The partition client, answering REPLICATE requests as a leader whose
    items hold version ``stored`` (superseded unless newer)."""

    def __init__(self, status: str = "ACTIVE") -> None:
        super().__init__([], "az-a", cluster_id="c1")
        self.sent: list[tuple[int, node_pb2.DataRequest]] = []
        state = MetaState(version=1)
        state.tables["things"] = TableInfo("things", 7, "u", status, 0.0, SPEC)
        self.install(state)

    async def send(self, table, hash64, req, *, to_leader, idempotent=True):
        assert to_leader and idempotent and table == "things"
        back = node_pb2.DataRequest.FromString(req.SerializeToString())
        self.sent.append((hash64, back))
        return node_pb2.DataResponse(superseded=back.version.ts <= V["Ts"])


def _replicate(body: dict, status: str = "ACTIVE") -> tuple[dict, list]:
    cluster = _Partitions(status)
    api = Api(cluster, region="us-east-1")
    answer = asyncio.run(replication.operations(api)["Replicate"](body))
    return answer, cluster.sent


def test_each_change_goes_to_its_partition_leader_and_the_answers_are_counted():
    new = {**KEYS, "l": {"S": "x"}, "n": {"N": "1"}}
    answer, sent = _replicate({"TableName": "things", "SourceRegion": "eu-west-1", "Changes": [
        {"Keys": KEYS, "NewImage": new, "Version": {**V, "Ts": V["Ts"] + 1}, "ByTtl": False},
        {"Keys": {**KEYS, "sk": {"S": "t"}}, "NewImage": None, "Version": V, "ByTtl": True}]})
    assert answer == {"Applied": 1, "Superseded": 1}
    (h1, put), (h2, delete) = sent
    api = Api(_Partitions(), region="us-east-1")
    t = api.table("things")
    assert (h1, put.key) == api.locate(t, KEYS) and h1 == h2
    assert put.op == node_pb2.DataRequest.REPLICATE and orjson.loads(put.item) == new
    assert (put.version.ts, put.version.region) == (V["Ts"] + 1, "eu-west-1")
    assert [i.name for i in put.local_indexes] == ["by_l"] and put.partition_key_length > 0
    assert delete.item == b"" and not delete.ttl_delete  # a TTL delete is marked only where it happened


def test_a_replica_being_created_takes_changes():
    answer, sent = _replicate({"TableName": "things", "SourceRegion": "eu-west-1", "Changes": [
        {"Keys": KEYS, "NewImage": KEYS, "Version": {**V, "Ts": V["Ts"] + 1}, "ByTtl": False}]}, status="CREATING")
    assert answer == {"Applied": 1, "Superseded": 0} and len(sent) == 1


@pytest.mark.parametrize("body", [
    {"SourceRegion": "eu-west-1", "Changes": []},
    {"TableName": "things", "Changes": []},
    {"TableName": "things", "SourceRegion": "eu-west-1", "Changes": {}},
    {"TableName": "things", "SourceRegion": "eu-west-1", "Changes": [1]},
    {"TableName": "things", "SourceRegion": "eu-west-1", "Changes": [{"Keys": KEYS, "NewImage": None}]},
    {"TableName": "things", "SourceRegion": "eu-west-1",
     "Changes": [{"Keys": KEYS, "NewImage": None, "Version": {"Ts": -1, "Region": "x"}}]},
    {"TableName": "things", "SourceRegion": "eu-west-1",
     "Changes": [{"Keys": {"pk": {"S": "p"}}, "NewImage": None, "Version": V}]},
    {"TableName": "things", "SourceRegion": "eu-west-1",
     "Changes": [{"Keys": KEYS, "NewImage": {**KEYS, "sk": {"S": "other"}}, "Version": V}]},
    {"TableName": "things", "SourceRegion": "eu-west-1",
     "Changes": [{"Keys": KEYS, "NewImage": None, "Version": V}] * (replication.MAX_CHANGES + 1)},
])
def test_malformed_requests_are_refused_before_anything_is_sent(body):
    cluster = _Partitions()
    with pytest.raises(ValidationException):
        asyncio.run(replication.operations(Api(cluster, region="us-east-1"))["Replicate"](body))
    assert cluster.sent == []


@pytest.mark.parametrize("table,status", [("nope", "ACTIVE"), ("things", "DELETING")])
def test_a_missing_or_deleting_table_is_not_found(table, status):
    with pytest.raises(ResourceNotFoundException):
        _replicate({"TableName": table, "SourceRegion": "eu-west-1", "Changes": []}, status=status)


def test_a_change_from_a_clock_far_ahead_is_refused_until_the_clocks_meet():
    from cluster.versions import MAX_OFFSET_MS, make_ts, wall_ms
    cluster = _Partitions()
    far = {"Ts": make_ts(wall_ms() + MAX_OFFSET_MS + 5_000), "Region": "eu-west-1"}
    body = {"TableName": "things", "SourceRegion": "eu-west-1",
            "Changes": [{"Keys": KEYS, "NewImage": None, "Version": V}, {"Keys": KEYS, "NewImage": None, "Version": far}]}
    with pytest.raises(ServiceUnavailable, match="ms ahead of this region's clock.*Fix the clock of eu-west-1"):
        asyncio.run(replication.operations(Api(cluster, region="us-east-1"))["Replicate"](body))
    assert cluster.sent == []  # the whole batch, nothing half-applied
    near = {"Ts": make_ts(wall_ms() + MAX_OFFSET_MS - 5_000), "Region": "eu-west-1"}
    answer, _ = _replicate({**body, "Changes": [{"Keys": KEYS, "NewImage": None, "Version": near}]})
    assert answer == {"Applied": 1, "Superseded": 0}
