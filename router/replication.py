"""`TriremeReplication_1.Replicate`: another region's replicator hands this
region the changes of a global table's items (issue 16, MREC).

Body ``{"TableName", "SourceRegion", "Changes": [{"Keys", "NewImage" | null,
"Version": {"Ts", "Region"}, "ByTtl"}]}``; answer ``{"Applied": n,
"Superseded": m}``. Each change goes to its partition's leader as a
REPLICATE request, applied iff its version is newer than the item's (or its
tombstone's): idempotent and order-independent, so the sender may resend a
batch after a timeout. A batch with a change stamped more than
`MAX_OFFSET_MS` ahead of this region's clock is refused whole (503, which the
sender retries): the regions' clocks drifted apart. ``ByTtl`` is accepted and not passed on: a TTL delete
is marked as such only in the region where it happened. Changes to one item
within a batch may apply in any order (the newest version wins either way).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from cluster.versions import MAX_OFFSET_MS, ahead_ms, from_wire
from ddb.errors import ResourceNotFoundException, ServiceUnavailable, ValidationException
from ddb.keys import extract_key, validate_key
from ddb.values import validate_item
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from router.api import Api, Op

MAX_CHANGES = 1000  # per request: a replicator's batch


def operations(api: Api) -> dict[str, Op]:
    """This module's internal operations, by name (served under router.protocol's TriremeReplication_1. prefix)."""
    return {"Replicate": api.with_metadata(lambda body: replicate(api, body))}


def _requests(api: Api, body: dict) -> tuple[Any, list[tuple[int, node_pb2.DataRequest]]]:
    name, source, changes = body.get("TableName"), body.get("SourceRegion"), body.get("Changes")
    if not isinstance(name, str) or not isinstance(source, str) or not source:
        raise ValidationException("Replicate needs TableName and SourceRegion (strings)")
    if not isinstance(changes, list) or len(changes) > MAX_CHANGES:
        raise ValidationException(f"Changes must be a list of at most {MAX_CHANGES} changes")
    t = api.table(name, any_status=True)  # a replica being created (CREATING) takes its backfill
    if t.status == "DELETING":
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    schema = api.schema(t)
    out = []
    for change in changes:
        if not isinstance(change, dict):
            raise ValidationException("each change must be an object")
        try:
            version = from_wire(change.get("Version"))
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        ahead = ahead_ms(version.ts)
        if ahead > MAX_OFFSET_MS:
            raise ServiceUnavailable(
                f"A change from {source} is stamped {ahead} ms ahead of this region's clock (at most "
                f"{MAX_OFFSET_MS} ms): the regions' clocks drifted apart. Fix the clock of {source} or of "
                f"{api.region} (NTP); the change is taken once it is no longer that far ahead.")
        key = validate_key(schema, validate_item(change.get("Keys")))
        new = change.get("NewImage")
        if new is not None:
            new = validate_item(new)
            if extract_key(schema, new) != key:
                raise ValidationException("a change's NewImage must hold its Keys")
        h, skey = api.locate(t, key)
        out.append((h, node_pb2.DataRequest(
            op=node_pb2.DataRequest.REPLICATE, key=skey, item=orjson.dumps(new) if new is not None else b"",
            version=node_pb2.Version(ts=version.ts, region=version.region), **api.with_indexes(t, key, {}))))
    return t, out


async def replicate(api: Api, body: dict) -> dict:
    t, requests = _requests(api, body)
    answers = await asyncio.gather(*(api.cluster.send(t.name, h, req, to_leader=True, idempotent=True)
                                     for h, req in requests))
    superseded = sum(1 for a in answers if a.superseded)
    return {"Applied": len(answers) - superseded, "Superseded": superseded}
