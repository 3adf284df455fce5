"""The router's protocol layer checks every request's types against
DynamoDB's model before the operation sees it."""

from __future__ import annotations

import asyncio

import orjson

from router.protocol import Dispatcher

HEADERS = {"content-type": "application/x-amz-json-1.0"}


def call(dispatcher: Dispatcher, op: str, body: dict) -> tuple[int, dict]:
    status, out = asyncio.run(dispatcher("DynamoDB_20120810." + op, orjson.dumps(body), HEADERS))
    return status, orjson.loads(out)


def test_a_string_for_a_number_is_a_serialization_error_before_the_operation_runs() -> None:
    seen: list[dict] = []

    async def create_table(body: dict) -> dict:
        seen.append(body)
        return {}

    d = Dispatcher({"CreateTable": create_table})
    status, out = call(d, "CreateTable", {"TableName": "t", "ProvisionedThroughput": {
        "ReadCapacityUnits": "5", "WriteCapacityUnits": 5}})
    assert (status, out) == (400, {"__type": "com.amazon.coral.service#SerializationException",
                                   "Message": "STRING_VALUE cannot be converted to Long"})
    assert seen == []
    assert call(d, "CreateTable", {"TableName": "t"}) == (200, {})
    assert len(seen) == 1


def test_operations_outside_the_model_are_not_checked() -> None:
    async def op(body: dict) -> dict:
        return {"got": body}

    d = Dispatcher({}, admin={"Anything": op})
    status, out = asyncio.run(d("TriremeAdmin_1.Anything", b'{"ReadCapacityUnits": "5"}', HEADERS))
    assert (status, orjson.loads(out)) == (200, {"got": {"ReadCapacityUnits": "5"}})


def test_operations_regions_call_on_each_other_have_their_own_prefix() -> None:
    async def op(body: dict) -> dict:
        return {"got": body}

    d = Dispatcher({}, replication={"SetReplicas": op})
    status, out = asyncio.run(d("TriremeReplication_1.SetReplicas", b'{"TableName": "t"}', HEADERS))
    assert (status, orjson.loads(out)) == (200, {"got": {"TableName": "t"}})
    status, out = asyncio.run(d("DynamoDB_20120810.SetReplicas", b"{}", HEADERS))
    assert status == 400 and b"UnknownOperationException" in out
