"""Settings DynamoDB keeps in step across the replicas of a global table
(version 2019.11.21): Time to Live (UpdateTimeToLive), and UpdateTable's
billing mode, provisioned throughput (the read capacity too, unless a
replica overrides it: ProvisionedThroughputOverride), on-demand throughput
and global secondary indexes (created, deleted, their throughput). Table
class, encryption, deletion protection, tags and the stream stay per region,
as on DynamoDB. (A legacy 2017.11.29 table keeps its settings per region:
UpdateGlobalTableSettings changes them all.)

The change is made in this region first (its validation is DynamoDB's), then
each other replica's region applies it through its router
(``TriremeReplication_1.SyncSettings``), only what it still lacks, so a repeat
after a failure changes nothing twice, and without passing it on again. A
region that cannot be reached or refuses makes the call fail, naming what
was changed where. What is synced is decided in ddb/global_tables.py.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Awaitable, Callable

from ddb import global_tables as gt
from ddb.errors import DynamoDBError, InternalServerError, ValidationException
from ddb.keys import validate_table_name
from router.global_tables import Regions, remote
from router.region_calls import RegionUnreachable

# Set while this router applies a change another region synced here: not passed on again.
_SYNCING: ContextVar[str | None] = ContextVar("synced_from", default=None)
SKIPPED = ("DELETING", "CREATION_FAILED")  # replicas that get no settings


async def synced(api: Regions, op: str, body: dict, local: Callable[[dict], Awaitable[Any]]) -> Any:
    """Run ``op`` here; for a global table, then in every other replica's region."""
    out = await local(body)
    if _SYNCING.get() is not None:
        return out
    state = api.cluster.state
    t = state.tables.get(body.get("TableName")) if state is not None else None
    if t is None or t.global_version != gt.CURRENT or gt.synced_request(op, body) is None:
        return out
    done = [api.region]
    for r in t.replicas:
        if r["status"] in SKIPPED:
            continue
        request = gt.synced_request(op, body, r.get("read_override"))
        try:
            await remote(api, r["region"], "SyncSettings", {"TableName": t.name, "SourceRegion": api.region,
                                                            "Operation": op, "Request": request})
        except (DynamoDBError, RegionUnreachable) as exc:
            why = exc.message if isinstance(exc, DynamoDBError) else str(exc)
            raise InternalServerError(f"The change was made to the replicas in {', '.join(done)} but not to the "
                                      f"replica in region {r['region']}: {why}. Make the same call again (or in "
                                      f"region {r['region']}) to apply it there.") from None
        done.append(r["region"])
    return out


async def sync_here(api: Regions, body: dict) -> dict:
    """Another replica's region changed a synced setting: apply what this one lacks."""
    name = validate_table_name(body.get("TableName"))
    op, request, source = body.get("Operation"), body.get("Request"), body.get("SourceRegion")
    if op not in gt.SYNCED_OPERATIONS or not isinstance(request, dict):
        raise ValidationException(f"SyncSettings takes a Request of one of {', '.join(gt.SYNCED_OPERATIONS)}")
    t = api.table(name, any_status=True)
    if t.replica(str(source)) is None:
        raise ValidationException(f"One or more parameter values were invalid: Table {name} in region "
                                  f"{api.region} is not a replica of the global table in region {source}")
    pending = gt.pending_settings(op, request, t.spec, t.ttl_state())
    if pending is not None:
        token = _SYNCING.set(str(source))
        try:
            await api.operations()[op]({**pending, "TableName": name})
        finally:
            _SYNCING.reset(token)
    return {}


def internal_operations(api: Regions) -> dict[str, Callable[[dict], Awaitable[Any]]]:
    """Served under the target prefix TriremeReplication_1."""
    return {"SyncSettings": lambda body: sync_here(api, body)}
