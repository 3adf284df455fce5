"""BatchGetItem and BatchWriteItem: many single-item requests at once.

Every key goes to its own partition concurrently. A key whose partition cannot
answer within the deadline comes back in UnprocessedKeys / UnprocessedItems
instead of failing the call, as DynamoDB does under throttling; the client
retries just those.
"""

from __future__ import annotations

import asyncio

import orjson

from ddb import batches as ddb_batches
from ddb.errors import (EvaluationFailed, InternalServerError, ProvisionedThroughputExceededException,
                        ServiceUnavailable, ThrottlingException)
from cluster.partitions import answer_error
from ddb.indexes import check_index_keys
from router import capacity
from router.context import Tables
from trireme_pb import node_pb2

GET, PUT, DELETE = node_pb2.DataRequest.GET, node_pb2.DataRequest.PUT, node_pb2.DataRequest.DELETE
BATCH_WRITE = node_pb2.DataRequest.BATCH_WRITE
# Failures that leave a key unprocessed rather than failing the whole batch.
RETRYABLE = (ServiceUnavailable, InternalServerError, ProvisionedThroughputExceededException,
             ThrottlingException)  # but never EvaluationFailed: see retryable()
THROTTLED = (ProvisionedThroughputExceededException, ThrottlingException)


def all_throttled(results: list) -> None:
    """DynamoDB fails a batch with the throttling error only when every entry was throttled."""
    if results and all(isinstance(r, THROTTLED) for r in results):
        raise results[0]


def retryable(result: object) -> bool:
    """An entry the client may send again (UnprocessedKeys/Items): one that
    hit an unavailable partition or an unknown outcome, not one that failed
    deterministically on its node."""
    return isinstance(result, RETRYABLE) and not isinstance(result, EvaluationFailed)


async def batch_get_item(api: Tables, body: dict) -> bytes:
    entries = ddb_batches.parse_batch_get(body)
    tables = [api.table(e.name) for e in entries]
    calls = []
    for entry, t in zip(entries, tables):
        schema = api.schema(t)
        ddb_batches.bind_gets(entry, schema)
        fields: dict = {"projection": orjson.dumps(entry.projection)} if entry.projection is not None else {}
        api.with_capacity(body, fields)
        for key in entry.keys:
            h, skey = api.locate(t, key)
            req = node_pb2.DataRequest(op=GET, key=skey, consistent=entry.consistent_read, **fields)
            calls.append(api.cluster.send(t.name, h, req, to_leader=entry.consistent_read))
    results = await asyncio.gather(*calls, return_exceptions=True)
    all_throttled(results)
    responses: dict[str, list[bytes]] = {}
    units: dict[str, float] = {}
    unprocessed: dict[str, dict] = {}
    size = 0
    i = 0
    for entry in entries:
        found = responses.setdefault(entry.name, [])
        left: list[dict] = []
        for key in entry.keys:
            r = results[i]
            i += 1
            if retryable(r) or (not isinstance(r, BaseException) and
                                            size + len(r.item) > ddb_batches.MAX_GET_RESPONSE_BYTES):
                left.append(key)
            elif isinstance(r, BaseException):
                raise r
            else:
                units[entry.name] = units.get(entry.name, 0.0) + capacity.read_units(
                    r.size, entry.consistent_read)
                if r.item:
                    size += len(r.item)
                    found.append(r.item)
        if left:
            unprocessed[entry.name] = entry.unprocessed(left)
    out = b'{"Responses":{' + b",".join(
        orjson.dumps(name) + b":[" + b",".join(items) + b"]" for name, items in responses.items()) + b"}"
    out += b',"UnprocessedKeys":' + orjson.dumps(unprocessed) + b"}"
    how = capacity.mode(body)
    return capacity.add(out, body, [capacity.entry(name, units.get(name, 0.0), how) for name in responses])


async def batch_write_item(api: Tables, body: dict) -> dict:
    """Every partition's items go in one BATCH_WRITE request (one message
    and one answer for the node, not 25), each item evaluated and answered
    there as if it came alone; an item the node did not propose (its
    partition split, its leader moved, or a refusal it could not yet vouch
    for) goes again on its own, as a PutItem or DeleteItem would."""
    entries = ddb_batches.parse_batch_write(body)
    by_table: dict[str, list[ddb_batches.WriteEntry]] = {}
    for e in entries:
        by_table.setdefault(e.table, []).append(e)
    order: list[ddb_batches.WriteEntry] = []
    sends: list[tuple[str, int, dict]] = []  # (table, hash, request fields) of each item, in order
    tables = {name: api.table(name) for name in by_table}
    bound = {name: ddb_batches.bind_writes(group, api.schema(tables[name])) for name, group in by_table.items()}
    for name, group in by_table.items():  # the whole batch is refused before anything is written
        indexes = api.indexes(tables[name])
        if indexes:
            check_index_keys(indexes, *(e.put for e in group if e.put is not None))
    for name, group in by_table.items():
        t = tables[name]
        keys = bound[name]
        plain = api.with_capacity(body, api.with_indexes(t, keys[0], {}), t) if keys else {}
        per_item = "partition_key_length" in plain  # (its length differs from item to item)
        for e, key in zip(group, keys):
            h, skey = api.locate(t, key)
            fields = api.with_capacity(body, api.with_indexes(t, key, {}), t) if per_item else plain
            if e.put is not None:
                fields = {"op": PUT, "key": skey, "item": orjson.dumps(e.put), **fields}
            else:
                fields = {"op": DELETE, "key": skey, **fields}
            sends.append((t.name, h, fields))
            order.append(e)
    results = await _send_writes(api, sends)
    all_throttled(results)
    unprocessed: dict[str, list[dict]] = {}
    tally = capacity.Tally()
    how = capacity.mode(body)
    counted = how != "NONE"  # (the units are added up only when asked for)
    for e, r in zip(order, results):
        if isinstance(r, BaseException):
            if not retryable(r):
                raise r
            unprocessed.setdefault(e.table, []).append(e.raw)
        elif counted:
            tally.add(e.table, capacity.write_units(r.size), capacity.index_units(r))
    out: dict = {"UnprocessedItems": unprocessed}
    if counted:
        out["ConsumedCapacity"] = tally.consumed(list(by_table), how)
    return out


# A part the node never proposed: sent again on its own (Cluster.send follows splits and leaders).
_AGAIN = (node_pb2.NOT_LEADER, node_pb2.WRONG_GROUP, node_pb2.UNAVAILABLE)


async def _send_writes(api: Tables, sends: list[tuple[str, int, dict]]) -> list:
    """Each write's response or exception, in order: the writes of one
    partition (as this router's map has it) in one BATCH_WRITE."""
    cluster = api.cluster
    by_group: dict[tuple[str, str | None], list[int]] = {}
    for i, (table, h, _) in enumerate(sends):
        by_group.setdefault((table, cluster.group_for(table, h)), []).append(i)
    calls = []
    for (table, _), idx in by_group.items():
        if len(idx) == 1:
            _, h, fields = sends[idx[0]]
            calls.append(cluster.send(table, h, node_pb2.DataRequest(**fields), to_leader=True, idempotent=False))
        else:
            batch = node_pb2.DataRequest(op=BATCH_WRITE)
            add = batch.parts.add
            for i in idx:
                add(**sends[i][2])
            calls.append(cluster.send(table, sends[idx[0]][1], batch, to_leader=True, idempotent=False))
    answers = await asyncio.gather(*calls, return_exceptions=True)
    results: list = [None] * len(sends)
    again: list[int] = []
    for ((table, group), idx), answer in zip(by_group.items(), answers):
        if len(idx) == 1 or isinstance(answer, BaseException):
            for i in idx:
                results[i] = answer
            continue
        if len(answer.parts) != len(idx):  # a node that does not know BATCH_WRITE would not answer OK
            raise EvaluationFailed()
        for i, part in zip(idx, answer.parts):
            if part.status in _AGAIN:
                again.append(i)
            elif part.status == node_pb2.OK:
                results[i] = part
            else:  # as Cluster.send answers a whole request
                results[i] = answer_error(part, group or table)
    if again:
        retried = await asyncio.gather(*(cluster.send(sends[i][0], sends[i][1], node_pb2.DataRequest(**sends[i][2]),
                                                      to_leader=True, idempotent=False) for i in again),
                                       return_exceptions=True)
        for i, r in zip(again, retried):
            results[i] = r
    return results
