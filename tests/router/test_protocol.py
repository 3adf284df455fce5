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


def test_a_table_not_found_is_asked_again_once_the_metadata_caught_up() -> None:
    """A router whose metadata lagged (another router made the table a moment
    ago) runs the request once more after catching up, and only then answers
    ResourceNotFound; a router that was current answers it at once."""
    from ddb.errors import ResourceNotFoundException

    known: set[str] = set()
    calls: list[str] = []

    async def put_item(body: dict) -> dict:
        calls.append(body["TableName"])
        if body["TableName"] not in known:
            raise ResourceNotFoundException(f"Requested resource not found: Table: {body['TableName']} not found")
        return {}

    behind = {"t": True}

    async def catch_up() -> bool:
        lagged = behind["t"]
        behind["t"] = False
        known.add("late")  # what the leader's metadata held
        return lagged

    d = Dispatcher({"PutItem": put_item}, catch_up=catch_up)
    item = {"k": {"S": "1"}}
    assert call(d, "PutItem", {"TableName": "late", "Item": item}) == (200, {})
    assert calls == ["late", "late"]
    status, out = call(d, "PutItem", {"TableName": "missing", "Item": item})
    assert status == 400 and out["__type"].endswith("ResourceNotFoundException")
    assert calls[2:] == ["missing"]  # current metadata: not asked twice
