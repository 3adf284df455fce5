"""Malformed requests get an immediate, clean answer (issue 13): the router
rejects wrong JSON types before anything reaches a node, and a request that a
node still fails to evaluate is answered once, never retried until the
deadline (which once meant 8 s of retries and thousands of tracebacks)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cluster.partitions import Cluster
from ddb.errors import EvaluationFailed
from router.api import Api
from tests.integration.conftest import wait_until
from trireme_pb import node_pb2

TABLE = "bad_requests"
TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture(scope="module")
def raw(cluster):
    """A client that sends what it is given (botocore's own checks off), once."""
    client = boto3.client("dynamodb", endpoint_url=cluster.endpoint, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x",
                          config=Config(parameter_validation=False, retries={"total_max_attempts": 1},
                                        read_timeout=20))
    client.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    wait_until(lambda: client.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE", 30, "table")
    client.put_item(TableName=TABLE, Item={"k": {"S": "a"}, "v": {"N": "1"}})
    return client


def tracebacks(cluster) -> int:
    logs = [Path(p.log) for p in cluster.procs.values()]
    return sum(p.read_text(errors="replace").count(TRACEBACK) for p in logs if p.exists())


KEY = {"k": {"S": "a"}}
REPRODUCERS = [
    ("put_item", dict(TableName=TABLE, Item=KEY, ConditionExpression="attribute_not_exists(#a)",
                      ExpressionAttributeNames={"#a": 5})),
    ("update_item", dict(TableName=TABLE, Key=KEY, UpdateExpression="SET #a = :v",
                         ExpressionAttributeNames={"#a": 5}, ExpressionAttributeValues={":v": {"N": "1"}})),
    ("get_item", dict(TableName=TABLE, Key=KEY, ProjectionExpression="#a", ExpressionAttributeNames={"#a": 5})),
    ("query", dict(TableName=TABLE, KeyConditionExpression="#a = :v", ExpressionAttributeNames={"#a": {"a": 1}},
                   ExpressionAttributeValues={":v": {"S": "a"}})),
    ("batch_get_item", dict(RequestItems={TABLE: {"Keys": [KEY], "ProjectionExpression": "#a",
                                                  "ExpressionAttributeNames": {"#a": 5}}})),
]


@pytest.mark.parametrize(("method", "kwargs"), REPRODUCERS, ids=[r[0] for r in REPRODUCERS])
def test_non_string_expression_attribute_names_are_answered_at_once(cluster, raw, method, kwargs):
    before = tracebacks(cluster)
    start = time.monotonic()
    with pytest.raises(ClientError) as exc:
        getattr(raw, method)(**kwargs)
    assert time.monotonic() - start < 1.0
    err = exc.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "SerializationException"
    assert err["Error"]["Message"] in ("NUMBER_VALUE cannot be converted to String",
                                       "Start of structure or map found where not expected")
    assert tracebacks(cluster) == before


def test_a_string_capacity_is_a_type_error_as_dynamodb_admin_meets_it(raw):
    with pytest.raises(ClientError) as exc:
        raw.create_table(TableName="bad_capacity", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         ProvisionedThroughput={"ReadCapacityUnits": "5", "WriteCapacityUnits": "5"})
    assert exc.value.response["Error"] == {"Code": "SerializationException",
                                           "Message": "STRING_VALUE cannot be converted to Long"}


def test_a_request_a_node_fails_to_evaluate_is_answered_once(cluster, raw):
    """Past the router's checks (here: a request built by hand), a node that
    raises answers INTERNAL: the router gives up at once with a 500 and the
    node logged one traceback."""
    seeds = [p.addr for p in cluster.procs.values() if p.kind == "node"]

    async def send() -> float:
        c = Cluster(seeds, "az-a", cluster_id=cluster.cluster_id)
        c.start()
        try:
            assert await c.wait_for(lambda s: TABLE in s.tables and s.tables[TABLE].status == "ACTIVE", 20)
            api = Api(c, region="us-east-1")
            t = api.table(TABLE)
            h, skey = api.locate(t, KEY)
            start = time.monotonic()
            with pytest.raises(EvaluationFailed):
                await c.send(TABLE, h, node_pb2.DataRequest(op="UPDATE", key=skey, item=b"{}", update=b"{not json"),
                             to_leader=True, idempotent=False)
            return time.monotonic() - start
        finally:
            await c.close()

    before = tracebacks(cluster)
    assert asyncio.run(send()) < 1.0
    wait_until(lambda: tracebacks(cluster) > before, 5, "the node to log the failure")
    time.sleep(0.5)  # any retry would log more tracebacks within this time
    assert tracebacks(cluster) == before + 1
    assert raw.get_item(TableName=TABLE, Key=KEY)["Item"] == {"k": {"S": "a"}, "v": {"N": "1"}}


def test_an_empty_name_from_expression_attribute_names_is_not_stored(raw):
    with pytest.raises(ClientError) as exc:
        raw.update_item(TableName=TABLE, Key=KEY, UpdateExpression="SET #a = :v", ExpressionAttributeNames={"#a": ""},
                        ExpressionAttributeValues={":v": {"S": "x"}})
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"}
    assert raw.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)["Item"] == {"k": {"S": "a"}, "v": {"N": "1"}}


def test_an_attribute_name_of_70000_characters_is_refused(raw):
    with pytest.raises(ClientError) as exc:
        raw.put_item(TableName=TABLE, Item={"k": {"S": "long"}, "n" * 70_000: {"S": "x"}})
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"}


@pytest.mark.parametrize("service", ["meta", "admin"])
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_a_node_call_with_a_malformed_body_is_a_validation_error(cluster, service, body):
    """A meta or admin call whose body is not a JSON object is the caller's
    error, answered as one: never a gRPC failure or a logged traceback."""
    from cluster.rpc import Channels
    from trireme_pb import node_pb2_grpc

    addr = next(p.addr for p in cluster.procs.values() if p.kind == "node")

    async def call() -> node_pb2.Reply:
        ch = Channels(cluster.cluster_id)
        try:
            stub = (node_pb2_grpc.MetaStub if service == "meta" else node_pb2_grpc.AdminStub)(ch.get(addr))
            return await stub.Call(node_pb2.Call(op="fault", body=body), timeout=5, metadata=ch.metadata())
        finally:
            await ch.close()

    before = tracebacks(cluster)
    r = asyncio.run(call())
    assert (r.status, r.error_type) == (node_pb2.DDB_ERROR, "ValidationException"), r
    assert "JSON" in r.message
    assert tracebacks(cluster) == before
