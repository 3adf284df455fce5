"""The data contract of node.proto: every field of the data requests and
responses is typed, except values in the two documented encodings (items in
DynamoDB JSON, expressions as the JSON of ddb/expressions.py's trees) and
storage keys; and what a router builds for each operation survives the wire.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from google.protobuf.descriptor import FieldDescriptor

from cluster.meta import MetaState, TableInfo
from cluster.partitions import Cluster
from node.feed.index_shipper import index_write
from router.api import Api
from trireme_pb import node_pb2

Req = node_pb2.DataRequest

# Every bytes field of the data messages (and the messages inside them), with its encoding.
BYTES_FIELDS = {
    "trireme.node.DataRequest.key": "storage key",
    "trireme.node.DataRequest.item": "item",
    "trireme.node.DataRequest.start": "storage key",
    "trireme.node.DataRequest.end": "storage key",
    "trireme.node.DataRequest.exclusive": "storage key",
    "trireme.node.DataRequest.filter": "expression",
    "trireme.node.DataRequest.condition": "expression",
    "trireme.node.DataRequest.update": "expression",
    "trireme.node.DataRequest.projection": "expression",
    "trireme.node.DataResponse.item": "item",
    "trireme.node.DataResponse.last_key": "storage key",
    "trireme.node.GsiChange.key": "storage key",
    "trireme.node.GsiChange.value": "item",
    "trireme.node.StreamRecord.keys": "item",
    "trireme.node.StreamRecord.old_image": "item",
    "trireme.node.StreamRecord.new_image": "item",
}


def _messages(desc, seen=None) -> list:
    seen = {} if seen is None else seen
    if desc.full_name not in seen:
        seen[desc.full_name] = desc
        for f in desc.fields:
            if f.message_type is not None:
                _messages(f.message_type, seen)
    return list(seen.values())


def test_every_bytes_field_of_the_data_messages_has_a_documented_encoding():
    found = {f.full_name for m in _messages(node_pb2.DataRequests.DESCRIPTOR) + _messages(
        node_pb2.DataResponses.DESCRIPTOR) for f in m.fields if f.type == FieldDescriptor.TYPE_BYTES}
    assert found == set(BYTES_FIELDS)
    proto = (Path(__file__).resolve().parent.parent / "proto/trireme_pb/node.proto").read_text()
    for kind in ("an item: DynamoDB JSON", "an expression: the JSON of the tree ddb/expressions.py", "a storage key"):
        assert kind in proto


def test_the_data_messages_carry_no_untyped_fields():
    for name in ("DataRequest", "DataResponse"):
        desc = getattr(node_pb2, name).DESCRIPTOR
        assert "args" not in desc.fields_by_name and "body" not in desc.fields_by_name


SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "l", "g")],
        "LocalSecondaryIndexes": [{"IndexName": "by_l", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                 {"AttributeName": "l", "KeyType": "RANGE"}]}],
        "GlobalSecondaryIndexes": [{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}]}
KEY = {"pk": {"S": "p"}, "sk": {"S": "s"}}
CAP = {"ReturnConsumedCapacity": "INDEXES"}


class _Recording(Cluster):
    """The partition client, recording what it would send (through the wire
    format) instead of sending it."""

    def __init__(self) -> None:
        super().__init__([], "az-a", cluster_id="c1")
        self.sent: list[node_pb2.DataRequest] = []
        state = MetaState(version=1)
        state.tables["things"] = TableInfo("things", 7, "u", "ACTIVE", 0.0, SPEC)
        self.install(state)

    async def send(self, table, hash64, req, *, to_leader, idempotent=True, ranged=False):
        wire = req.SerializeToString()
        back = node_pb2.DataRequest.FromString(wire)
        assert back == req and back.SerializeToString() == wire
        self.sent.append(back)
        resp = node_pb2.DataResponse()
        if req.op == Req.BATCH_WRITE:
            resp.parts.extend(node_pb2.DataResponse() for _ in req.parts)
        return resp


def _sent(op: str, body: dict) -> list[node_pb2.DataRequest]:
    cluster = _Recording()
    if "RequestItems" not in body:
        body = {"TableName": "things", **body}
    asyncio.run(Api(cluster, region="us-east-1").operations()[op](body))
    return cluster.sent


def test_put_item():
    [r] = _sent("PutItem", {"Item": {**KEY, "l": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD", **CAP})
    assert r.op == Req.PUT and orjson.loads(r.item) == {**KEY, "l": {"S": "x"}}
    assert orjson.loads(r.condition) == {"fn": "attribute_not_exists", "args": [{"path": ["pk"]}]}
    assert r.return_values == Req.ALL_OLD and r.return_old_on_condition_failure
    assert r.partition_key_length == 4 and r.key[12:16] == b"Sp\x00\x01"  # the encoded "p" in the key
    [lsi] = r.local_indexes
    assert (lsi.name, lsi.local, lsi.number, lsi.sort_key, lsi.sort_key_type) == ("by_l", True, 1, "l", "S")
    assert not lsi.projects_all and list(lsi.projected) == ["l", "pk", "sk"]
    assert r.measure_capacity
    assert [(i.name, i.local, list(i.key_attributes), i.projects_all) for i in r.capacity_indexes] == [
        ("by_l", True, ["pk", "l"], False), ("by_g", False, ["g"], True)]


def test_get_item():
    [r] = _sent("GetItem", {"Key": KEY, "ProjectionExpression": "#a, b[1]", "ExpressionAttributeNames": {"#a": "a"},
                            "ConsistentRead": True, **CAP})
    assert r.op == Req.GET and r.consistent and r.measure_capacity
    assert orjson.loads(r.projection) == [["a"], ["b", 1]]
    assert not r.capacity_indexes and not r.local_indexes  # a read prices no index writes


def test_a_plain_get_sets_nothing_but_its_key():
    [r] = _sent("GetItem", {"Key": KEY})
    assert [f.name for f, _ in r.ListFields()] == ["op", "key"]


def test_delete_item():
    [r] = _sent("DeleteItem", {"Key": KEY, "ConditionExpression": "a = :v",
                               "ExpressionAttributeValues": {":v": {"N": "1"}}})
    assert r.op == Req.DELETE and not r.item and r.return_values == Req.NONE
    assert orjson.loads(r.condition) == {"cmp": "=", "l": {"path": ["a"]}, "r": {"value": {"N": "1"}}}
    assert r.local_indexes and not r.measure_capacity


def test_update_item():
    [r] = _sent("UpdateItem", {"Key": KEY, "UpdateExpression": "SET n = :v REMOVE o",
                               "ExpressionAttributeValues": {":v": {"N": "2"}}, "ReturnValues": "UPDATED_NEW"})
    assert r.op == Req.UPDATE and orjson.loads(r.item) == KEY
    assert orjson.loads(r.update) == {"set": [[["n"], {"value": {"N": "2"}}]], "remove": [["o"]]}
    assert list(r.key_names) == ["pk", "sk"] and r.return_values == Req.UPDATED_NEW


def test_query_of_a_local_index_fetches_from_the_table():
    [r] = _sent("Query", {"IndexName": "by_l", "KeyConditionExpression": "pk = :p",
                          "FilterExpression": "attribute_exists(z)", "ExpressionAttributeValues": {":p": {"S": "p"}},
                          **CAP})
    assert r.op == Req.RANGE and r.start < r.end and r.max_bytes == 1 << 20
    assert orjson.loads(r.filter) == {"fn": "attribute_exists", "args": [{"path": ["z"]}]}
    assert r.fetch_table == 7 and r.measure_capacity and not r.count_only


def test_scan_count():
    [r] = _sent("Scan", {"Select": "COUNT", "Limit": 5})
    assert r.op == Req.RANGE and r.count_only and r.limit == 5 and not r.fetch_table


def test_batches():
    [g] = _sent("BatchGetItem", {"RequestItems": {"things": {"Keys": [KEY], "ProjectionExpression": "a"}}})
    assert g.op == Req.GET and orjson.loads(g.projection) == [["a"]]
    [batch] = _sent("BatchWriteItem", {"RequestItems": {"things": [
        {"PutRequest": {"Item": {**KEY, "v": {"S": "1"}}}}, {"DeleteRequest": {"Key": {**KEY, "sk": {"S": "t"}}}}]},
        **CAP})  # one partition's items (one partition key here): one request
    assert batch.op == Req.BATCH_WRITE
    put, delete = batch.parts
    assert put.op == Req.PUT and delete.op == Req.DELETE and not put.group and not put.id
    assert put.local_indexes and put.measure_capacity and len(delete.capacity_indexes) == 2


def test_index_write():
    change = node_pb2.GsiChange(table="t.by_g", hash=9, key=b"k", value=b"{}")
    r = Req.FromString(index_write([change], "t-1", 4).SerializeToString())
    assert r.op == Req.INDEX_WRITE and list(r.index_changes.changes) == [change]
    assert (r.fence_source, r.fence_term) == ("t-1", 4)
