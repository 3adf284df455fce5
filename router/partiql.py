"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction: a PartiQL
statement parsed and compiled (`ddb/partiql`) to one call of the existing
operations, whose answer is reshaped as PartiQL's (Items, NextToken); a
transaction's statements become the actions of one TransactGetItems or
TransactWriteItems (`router/transactions.py`)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from typing import Any, Protocol

import orjson

from ddb.errors import (CancellationReason, ConditionalCheckFailedException, DuplicateItemException,
                        DynamoDBError, TransactionCanceledException, ValidationException)
from ddb.expressions import Context, key_conditions
from ddb.partiql import Plan, compile_statement, parse
from ddb.partiql.ast import Select
from ddb.partiql.compile import check_projected
from ddb.partiql.requests import (StatementRequest, decode_token, encode_token, parse_batch,
                                  parse_execute_statement, parse_transaction)
from router import capacity, reads
from router.context import Tables


class Api(Tables, Protocol):
    """What the statements need of `router.api.Api`: its tables and its item writes."""

    async def put_item(self, body: dict) -> Any: ...

    async def update_item(self, body: dict) -> Any: ...

    async def delete_item(self, body: dict) -> Any: ...

    transactions: Any  # router.transactions.Transactions


MIXED_BATCH = "Supplied BatchExecuteStatement must contain either all reads or all writes"
# No capture of DynamoDB's wording is known; this follows BatchExecuteStatement's.
MIXED_TRANSACTION = "Supplied ExecuteTransaction must contain either all reads or all writes"
READ_FILTER = "A read statement of a transaction can name only the key attributes in its WHERE clause"
_ACTIONS = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}
# BatchStatementError codes, by exception.
_CODES = {"ConditionalCheckFailedException": "ConditionalCheckFailed", "DuplicateItemException": "DuplicateItem",
          "ValidationException": "ValidationError", "ResourceNotFoundException": "ResourceNotFound",
          "ItemCollectionSizeLimitExceededException": "ItemCollectionSizeLimitExceeded",
          "RequestLimitExceeded": "RequestLimitExceeded", "ThrottlingException": "ThrottlingError",
          "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
          "TransactionConflictException": "TransactionConflict", "AccessDeniedException": "AccessDenied"}


def operations(api: Api) -> dict[str, Any]:
    return {"ExecuteStatement": lambda body: execute_statement(api, body),
            "BatchExecuteStatement": lambda body: batch_execute_statement(api, body),
            "ExecuteTransaction": lambda body: execute_transaction(api, body)}


def _token_key(api: Api) -> bytes:
    """The NextToken key: from the cluster id, so any router of the cluster takes another's tokens."""
    return hashlib.sha256(b"trireme partiql tokens|" + api.cluster.nodes.cluster_id.encode()).digest()


def _keys_of(api: Api):
    def keys_of(table: str, index: str | None) -> tuple[str, str | None] | None:
        t = api.table(table)
        if index is None:
            schema = api.schema(t)
            return schema.hash_key, schema.range_key
        for ix in api.indexes(t):
            if ix.name == index:
                if len(ix.keys.names) != len(ix.schema.names):
                    return None  # multi-attribute keys: read by Scan
                return ix.schema.hash_key, ix.schema.range_key
        return None  # the Scan answers the unknown index as DynamoDB does
    return keys_of


def _check_index_projection(api: Api, stmt: Any) -> None:
    """A global index with a partial projection serves only what it projects."""
    if not isinstance(stmt, Select) or stmt.index is None or stmt.projection is None:
        return
    t = api.table(stmt.table)
    for ix in api.indexes(t):
        if ix.name == stmt.index and not ix.local and ix.projection != "ALL":
            check_projected(stmt, frozenset((*api.schema(t).names, *ix.keys.names, *ix.non_key)))


async def execute_statement(api: Api, body: dict) -> dict:
    req, limit = parse_execute_statement(body)
    stmt = parse(req.statement)
    _check_index_projection(api, stmt)
    plan = compile_statement(stmt, req.parameters, _keys_of(api))
    if plan.write:
        return await _run(api, plan, req, body.get("ReturnConsumedCapacity"), {})
    return await _read(api, plan, req, body, limit)


async def _read(api: Api, plan: Plan, req: StatementRequest, body: dict, limit: int | None) -> dict:
    """A SELECT's page: its Query (or each of its Queries in turn, for
    ``pk IN [...]``) or Scan, from where the NextToken says, up to Limit."""
    key = _token_key(api)
    bodies = [plan.body, *plan.more]
    index, start = 0, None
    if body.get("NextToken") is not None:
        index, start = decode_token(key, req.statement, body["NextToken"], len(bodies))
    out: dict[str, Any] = {"Items": []}
    consumed: list[dict] = []
    while index < len(bodies):
        extra: dict[str, Any] = {}
        if start is not None:
            extra["ExclusiveStartKey"] = start
        if limit is not None:
            extra["Limit"] = limit
        page = await _run(api, dataclasses.replace(plan, body=bodies[index]), req,
                          body.get("ReturnConsumedCapacity"), extra)
        out["Items"] += page["Items"]
        consumed += [page["ConsumedCapacity"]] if "ConsumedCapacity" in page else []
        if limit is not None:
            limit -= page["ScannedCount"]
        if "LastEvaluatedKey" in page:
            out["LastEvaluatedKey"] = page["LastEvaluatedKey"]
            out["NextToken"] = encode_token(key, req.statement, index, page["LastEvaluatedKey"])
            break
        index, start = index + 1, None
        if limit == 0 and index < len(bodies):
            out["NextToken"] = encode_token(key, req.statement, index, None)
            break
    if consumed:
        out["ConsumedCapacity"] = _merged(consumed)[0]
    return out


async def _run(api: Api, plan: Plan, req: StatementRequest, return_capacity: str | None,
               extra: dict[str, Any]) -> dict:
    """Run a compiled statement; its answer as ExecuteStatement's."""
    body = dict(plan.body, **extra)
    if return_capacity is not None:
        body["ReturnConsumedCapacity"] = return_capacity
    if not plan.write:
        if req.consistent_read:
            body["ConsistentRead"] = True
        result = orjson.loads(await (reads.query if plan.operation == "Query" else reads.scan)(api, body))
        out = {"Items": result.get("Items", [])}
        for name in ("LastEvaluatedKey", "ConsumedCapacity", "ScannedCount"):
            if name in result:
                out[name] = result[name]
        return out
    if req.return_on_failure != "NONE":
        body["ReturnValuesOnConditionCheckFailure"] = req.return_on_failure
    op = {"PutItem": api.put_item, "UpdateItem": api.update_item, "DeleteItem": api.delete_item}[plan.operation]
    try:
        result = await op(body)
    except ConditionalCheckFailedException:
        if plan.insert:
            raise DuplicateItemException() from None
        raise
    result = orjson.loads(result) if isinstance(result, bytes) else result
    out = {"Items": [result["Attributes"]] if result.get("Attributes") else []}  # RETURNING
    if "ConsumedCapacity" in result:
        out["ConsumedCapacity"] = result["ConsumedCapacity"]
    return out


async def batch_execute_statement(api: Api, body: dict) -> dict:
    """Up to 25 statements, all reads or all writes, run side by side; each
    answers its item or its own Error, in request order."""
    reqs = parse_batch(body)
    parsed: list[Any] = []
    for req in reqs:
        try:
            parsed.append(parse(req.statement))
        except DynamoDBError as exc:
            parsed.append(exc)
    kinds = {isinstance(p, Select) for p in parsed if not isinstance(p, DynamoDBError)}
    if len(kinds) > 1:
        raise ValidationException(MIXED_BATCH)
    return_capacity = body.get("ReturnConsumedCapacity")
    results = await asyncio.gather(*(_one(api, r, p, return_capacity) for r, p in zip(reqs, parsed)))
    out: dict[str, Any] = {"Responses": [r for r, _ in results]}
    if capacity.wanted(body):
        out["ConsumedCapacity"] = _merged([c for _, c in results if c is not None])
    return out


async def _one(api: Api, req: StatementRequest, stmt: Any, return_capacity: str | None) -> tuple[dict, dict | None]:
    """One statement of a batch: (its response, its ConsumedCapacity)."""
    table = getattr(stmt, "table", None)
    try:
        if isinstance(stmt, DynamoDBError):
            raise stmt
        plan = compile_statement(stmt, req.parameters, _keys_of(api), full_key=True)
        result = await _run(api, plan, req, return_capacity, {})
    except DynamoDBError as exc:
        error: dict[str, Any] = {"Code": _CODES.get(exc.code, "InternalServerError"), "Message": exc.message or ""}
        item = getattr(exc, "item", None)
        if item is not None:
            error["Item"] = item
        response = {"Error": error}
        if table is not None:
            response["TableName"] = table
        return response, None
    response = {"TableName": table}
    if result["Items"]:
        response["Item"] = result["Items"][0]
    return response, result.get("ConsumedCapacity")


async def execute_transaction(api: Api, body: dict) -> Any:
    """Up to 100 statements, all reads (a TransactGetItems) or all writes (a
    TransactWriteItems, with the ClientRequestToken), all or nothing."""
    reqs = parse_transaction(body)
    stmts = [parse(r.statement) for r in reqs]
    if len({isinstance(s, Select) for s in stmts}) > 1:
        raise ValidationException(MIXED_TRANSACTION)
    plans = [compile_statement(s, r.parameters, _keys_of(api), full_key=True) for s, r in zip(stmts, reqs)]
    extra = {k: body[k] for k in ("ReturnConsumedCapacity",) if body.get(k) is not None}
    if not plans[0].write:
        return await api.transactions.transact_get_items({"TransactItems": [{"Get": _get(p)} for p in plans],
                                                          **extra})
    items = []
    for plan, req in zip(plans, reqs):
        action = dict(plan.body)
        if req.return_on_failure != "NONE":
            action["ReturnValuesOnConditionCheckFailure"] = req.return_on_failure
        items.append({_ACTIONS[plan.operation]: action})
    if body.get("ClientRequestToken") is not None:
        extra["ClientRequestToken"] = body["ClientRequestToken"]
    try:
        return await api.transactions.transact_write_items({"TransactItems": items, **extra})
    except TransactionCanceledException as exc:
        # An INSERT whose item exists is a DuplicateItem, as ExecuteStatement's.
        reasons = [CancellationReason("DuplicateItem", DuplicateItemException.default_message, r.item)
                   if plan.insert and r.code == "ConditionalCheckFailed" else r
                   for plan, r in zip(plans, exc.reasons)]
        raise TransactionCanceledException(reasons) from None


def _get(plan: Plan) -> dict:
    """A single-item SELECT's Query as the Get of a TransactGetItems."""
    body = plan.body
    if "FilterExpression" in body:
        raise ValidationException(READ_FILTER)
    names = body.get("ExpressionAttributeNames") or {}
    ctx = Context(names, body.get("ExpressionAttributeValues"))
    key = {name: values[0] for name, (_, values) in key_conditions(body["KeyConditionExpression"], ctx).items()}
    out = {"TableName": body["TableName"], "Key": key}
    if "ProjectionExpression" in body:
        text = body["ProjectionExpression"]
        out["ProjectionExpression"] = text
        used = {n: v for n, v in names.items() if n in set(re.findall(r"#[A-Za-z0-9_]+", text))}
        if used:
            out["ExpressionAttributeNames"] = used
    return out


def _merged(entries: list[dict]) -> list[dict]:
    """ConsumedCapacity entries summed per table."""
    by_table: dict[str, dict] = {}
    for entry in entries:
        name = entry["TableName"]
        by_table[name] = _sum(by_table[name], entry) if name in by_table else entry
    return list(by_table.values())


def _sum(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _sum(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}}
    if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, (int, float)):
        return a + b
    return a
