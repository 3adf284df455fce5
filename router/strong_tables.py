"""Multi-Region strong consistency (MRSC): making a global table STRONG,
and serving its requests in every region.

Each partition of an MRSC table is one Raft group whose three voters live in
the table's three regions (`REGION/NODE`, cluster/regions.py), the same group
id and table id everywhere, so a write commits once two regions hold it.
UpdateTable (MultiRegionConsistency STRONG) runs in the region that holds the
empty table: each other region picks its member node for every partition
(`PlaceStrong`), then creates its table on the shared groups
(`CreateStrong`; a witness region a hidden table whose member never leads),
then this region moves its own table onto them (meta `make_strong`).

Requests go to this region's member. A request for the leader (writes,
strongly consistent reads) whose leader is in another region raises
LeaderElsewhere (cluster/partitions.py): the whole DynamoDB call is forwarded
to that region's router through the link (`TriremeReplication_1.Forward`)
and run there as a local call, never forwarded again; eventually consistent
reads are served by the local member. The leader refuses a write of an item
while another region's write of it is uncommitted
(ReplicatedWriteConflictException, node/partition/replica.py).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import orjson

from cluster.meta import TableInfo, split_range
from cluster.partitions import ORIGIN_REGION, LeaderElsewhere
from cluster.regions import qualify, split_qualified
from cluster.rpc import CallError, call_once
from ddb import global_tables as gt
from ddb import strong_tables as st
from ddb.indexes import index_table_name
from ddb.errors import (DynamoDBError, InternalServerError, ResourceNotFoundException, ServiceUnavailable,
                        ValidationException)
from router import region_calls
from router.global_tables import Regions as Api
from router.region_calls import RegionUnreachable
from trireme_pb import node_pb2

Op = Callable[[dict], Awaitable[Any]]

log = logging.getLogger(__name__)

FORWARDED: ContextVar[bool] = ContextVar("forwarded", default=False)  # this call came from another region
WITNESS_PREFIX = "trireme#witness#"  # a witness region's hidden table ('#': no user call reaches it)
REMOTE_TIMEOUT_S = 30.0
READY_WAIT_S = 30.0  # for the shared groups to elect a leader after creation
FIRST_STRONG_ID = 1 << 31  # shared table ids: above every id a region gives out itself
READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


def shared_table_id(name: str, uuid: str) -> int:
    """The table id every region uses for this MRSC table (keys in the shared log carry it)."""
    digest = hashlib.blake2b(f"{name}/{uuid}".encode(), digest_size=4).digest()
    return FIRST_STRONG_ID + int.from_bytes(digest, "big") % (FIRST_STRONG_ID - 2)


def pick_members(api: Api, name: str, count: int) -> list[str]:
    """This region's member node for each of ``count`` partitions: live nodes in turn."""
    state = api.cluster.state
    nodes = sorted(n.id for n in state.nodes.values() if n.state == "up") if state is not None else []
    if not nodes:
        raise ServiceUnavailable(f"Region {api.region} has no live node for table {name}")
    start = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
    return [nodes[(start + i) % len(nodes)] for i in range(count)]


def no_ttl(api: Api, body: dict) -> dict:
    """UpdateTimeToLive's body, refused for an MRSC table."""
    state = api.cluster.state
    t = state.tables.get(body.get("TableName")) if state is not None else None
    if t is not None:
        st.check_ttl(t.name, t.consistency)
    return body


def check_update(body: dict, t: TableInfo) -> None:
    """UpdateTable's index and stream changes, refused for an MRSC table."""
    st.check_update(body, t.name, t.consistency)


def describe_fields(t: TableInfo) -> dict:
    return st.table_fields(t.consistency, t.witness)


def applies(body: dict, t: TableInfo) -> bool:
    """Is this UpdateTable about multi-Region strong consistency?"""
    return st.is_strong_request(body) or t.consistency == st.STRONG and (
        body.get("ReplicaUpdates") is not None or body.get("GlobalTableWitnessUpdates") is not None)


# --- UpdateTable MultiRegionConsistency STRONG -------------------------------


async def make_strong(api: Api, body: dict, t: TableInfo) -> dict:
    plan = st.parse_strong(
        body, own_region=api.region, known_regions=list(api.remote_regions), table=t.name, replicas=t.replicas,
        consistency=t.consistency, spec=t.spec, ttl_enabled=t.ttl_state().status in ("ENABLED", "ENABLING"))
    gt.check_changeable(t.name, t.status)
    # The fence: the table's item writes stop (through each partition's log) before it is found
    # empty, so no write can land between that check and the move onto the shared groups; a
    # write meanwhile is refused (503, retryable) and goes to the new groups when retried.
    await _freeze(api, t, True)
    try:
        return await _convert(api, t, plan)
    except BaseException:
        await _freeze(api, t, False)  # still the regional table: its writes resume
        raise


async def _convert(api: Api, t: TableInfo, plan: st.StrongPlan) -> dict:
    if not await _empty(api, t.name):
        raise ValidationException(st.not_empty(t.name))
    if api.cluster.faults.strong_pause_s:
        await asyncio.sleep(api.cluster.faults.strong_pause_s)
    count = len(t.partitions)
    members = {api.region: pick_members(api, t.name, count)}
    for region in plan.replicas:
        try:
            answer = await remote(api, region, "PlaceStrong", {"TableName": t.name, "Partitions": count,
                                                                "Witness": region == plan.witness})
        except RegionUnreachable as exc:
            raise gt.unreachable(f"Region {region} did not answer", exc) from None
        members[region] = answer["Members"]
    regions = [api.region, *plan.replicas]
    table_id = shared_table_id(t.name, t.uuid)
    partitions = [{"lo": lo, "hi": hi, "voters": [qualify(r, members[r][i]) for r in regions]}
                  for i, (lo, hi) in enumerate(split_range(count))]
    serving = [r for r in regions if r != plan.witness]
    stream = t.enabled_stream()  # every serving region gets it, with its label (so its records and shards)
    index_ids = {g["IndexName"]: shared_table_id(index_table_name(t.name, g["IndexName"]), t.uuid)
                 for g in t.spec.get("GlobalSecondaryIndexes") or []}
    created: list[str] = []
    for region in plan.replicas:
        try:
            await remote(api, region, "CreateStrong", {
                "TableName": t.name, "Spec": gt.replica_spec(t.spec), "TableId": table_id, "Uuid": t.uuid,
                "Partitions": partitions, "Replicas": [r for r in serving if r != region], "Witness": plan.witness,
                "IndexIds": index_ids,
                **({"Stream": {"View": stream["view"], "CreatedMs": stream["created_ms"]}}
                   if stream is not None and region != plan.witness else {})})
            created.append(region)
        except (DynamoDBError, RegionUnreachable) as exc:
            await _undo(api, t.name, plan.witness, created)
            if isinstance(exc, RegionUnreachable):
                raise gt.unreachable(f"Region {region} did not answer", exc) from None
            raise
    try:
        result = await api.cluster.meta("make_strong", {
            "name": t.name, "table_id": table_id, "partitions": partitions, "index_ids": index_ids,
            "replicas": [r for r in serving if r != api.region], "witness": plan.witness})
    except DynamoDBError:
        await _undo(api, t.name, plan.witness, created)
        raise
    await api.cluster.wait_for(lambda s: t.name in s.tables and s.tables[t.name].consistency == st.STRONG,
                               READY_WAIT_S)
    return {"TableDescription": await api.describe(TableInfo(**result["table"]))}


async def _freeze(api: Api, t: TableInfo, freeze: bool) -> None:
    """Stop (or resume) the item writes of every partition of ``t``, each once its leader applied it."""
    state = api.cluster.state
    parts = [state.partitions[p] for p in t.partitions if p in state.partitions] if state is not None else []
    results = await asyncio.gather(*(
        api.cluster.send(t.name, p.lo, node_pb2.DataRequest(op=node_pb2.DataRequest.FREEZE, freeze=freeze),
                         to_leader=True) for p in parts), return_exceptions=True)
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        if freeze:
            await _freeze(api, t, False)
            raise failed
        log.warning("table %s: could not resume its writes on every partition: %r", t.name, failed)


async def _empty(api: Api, name: str) -> bool:
    """Does a strongly consistent Scan find no item in table ``name``?"""
    body: dict = {"TableName": name, "Limit": 1, "ConsistentRead": True}
    while True:
        page = await api.operations()["Scan"](body)
        page = orjson.loads(page) if isinstance(page, bytes) else page
        if page.get("Count", 0):
            return False
        if "LastEvaluatedKey" not in page:
            return True
        body["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def _undo(api: Api, name: str, witness: str, regions: list[str]) -> None:
    for region in regions:
        try:
            await remote(api, region, "DeleteTable", {"TableName": WITNESS_PREFIX + name if region == witness
                                                       else name}, internal=False)
        except (DynamoDBError, RegionUnreachable) as exc:
            log.warning("MRSC table %s: could not remove the copy in %s: %s", name, region, exc)


async def remote(api: Api, region: str, op: str, body: dict, *, internal: bool = True,
                 timeout: float = REMOTE_TIMEOUT_S) -> Any:
    """An operation of ``region``'s router: an internal one (TriremeReplication_1.) or DynamoDB's."""
    url = api.remote_regions.get(region)
    if url is None:
        raise ServiceUnavailable(f"Region {region} is not reachable from {api.region}")
    target = (region_calls.REPLICATION if internal else region_calls.DYNAMODB) + op
    return await region_calls.call(region, url, target, body, timeout)


async def place_strong(api: Api, body: dict) -> dict:
    """`PlaceStrong`: this region's member node per partition of a new MRSC table."""
    name, count = body.get("TableName"), body.get("Partitions")
    if not isinstance(name, str) or not isinstance(count, int) or not 0 < count <= 1024:
        raise ValidationException("PlaceStrong needs TableName and Partitions (1 to 1024)")
    state = api.cluster.state
    if state is not None and (WITNESS_PREFIX + name if body.get("Witness") else name) in state.tables:
        raise ValidationException(gt.replica_exists(name))
    return {"Members": pick_members(api, name, count)}


async def create_strong(api: Api, body: dict) -> dict:
    """`CreateStrong`: this region's table on the shared groups (a witness: hidden, log only)."""
    name, witness = body["TableName"], body.get("Witness", "")
    spec = dict(body["Spec"])
    if witness == api.region:  # the log only: no indexes to keep
        name = WITNESS_PREFIX + name
        spec = {**{k: v for k, v in spec.items() if k != "GlobalSecondaryIndexes"}, "TableName": name,
                "System": "witness"}
    await api.cluster.meta("make_strong", {
        "name": name, "spec": spec, "table_id": body["TableId"], "uuid": body["Uuid"], "now": time.time(),
        "partitions": body["Partitions"], "replicas": body["Replicas"], "witness": witness,
        "index_ids": body.get("IndexIds") or {},
        **({"stream": {"view": body["Stream"]["View"], "created_ms": body["Stream"]["CreatedMs"]}}
           if body.get("Stream") else {})})
    await api.cluster.wait_for(lambda s: name in s.tables, READY_WAIT_S)
    return {}


# --- a partition's member in another region: its backup and point-in-time reads ----

MEMBER_OPS = frozenset({"backup_read", "pitr_read", "pitr_trim"})  # the admin ops `MemberAdmin` passes on


async def member_admin(api: Api, region: str, group: str, op: str, body: dict) -> dict:
    """Admin op ``op`` of shared partition ``group`` at ``region``'s member of
    it (router/backups.py reads a partition at its leader, which may be there)."""
    return await remote(api, region, "MemberAdmin", {"Group": group, "Op": op, "Body": body}, timeout=15.0)


async def _member_admin_here(api: Api, body: dict) -> dict:
    """`MemberAdmin`: run an admin op at this region's member of a shared partition."""
    group, op, request = body.get("Group"), body.get("Op"), body.get("Body")
    if op not in MEMBER_OPS or not isinstance(group, str) or not isinstance(request, dict):
        raise ValidationException(f"MemberAdmin needs Group, Op (one of {', '.join(sorted(MEMBER_OPS))}) and Body")
    state = api.cluster.state
    p = state.partitions.get(group) if state is not None else None
    here = [n for r, n in map(split_qualified, p.voters) if r == api.region] if p is not None else []
    node = state.nodes.get(here[0]) if here else None  # (a regional partition's voters name no region)
    if node is None:
        raise ServiceUnavailable(f"Region {api.region} holds no member of partition {group}")
    try:
        return await call_once(api.cluster.channels, node.addr, "admin", op, request, timeout=10.0)
    except CallError as exc:  # not the leader here, or down: the caller tries the next member
        raise ServiceUnavailable(f"The member of partition {group} in {api.region} did not answer {op}: "
                                 f"{exc}") from None


# --- requests: forwarded to the leader's region ----------------------------------


async def read_elsewhere(api: Api, region: str, table: str, hash64: int, req: node_pb2.DataRequest,
                         timeout: float) -> node_pb2.DataResponse | None:
    """A strongly consistent read of one partition led from ``region``, served
    there (`ReadAt`); None when that region cannot serve it now. Reads go on
    their own, not as a whole call: a Scan or BatchGetItem spans partitions
    whose leaders may be in three regions."""
    try:
        out = await remote(api, region, "ReadAt", {
            "TableName": table, "Hash": str(hash64), "Request": base64.b64encode(req.SerializeToString()).decode()},
            timeout=timeout)
    except (RegionUnreachable, ServiceUnavailable) as exc:
        log.debug("read of %s at %s: %s", table, region, exc)
        return None
    return node_pb2.DataResponse.FromString(base64.b64decode(out["Response"]))


async def _read_here(api: Api, body: dict) -> dict:
    """`ReadAt`: a read another region's router sends to this region's leader
    (never on to a third region: that region asks its own member again)."""
    table, hash_text, raw = body.get("TableName"), body.get("Hash"), body.get("Request")
    if not isinstance(table, str) or not isinstance(hash_text, str) or not hash_text.isdigit() \
            or not isinstance(raw, str):
        raise ValidationException("ReadAt needs TableName, Hash and Request")
    req = node_pb2.DataRequest.FromString(base64.b64decode(raw))
    if req.op not in (node_pb2.DataRequest.GET, node_pb2.DataRequest.RANGE):
        raise ValidationException("ReadAt serves reads only")
    for attempt in range(2):
        try:
            resp = await api.cluster.send(table, int(hash_text), req, to_leader=True, elsewhere=False)
            return {"Response": base64.b64encode(resp.SerializeToString()).decode()}
        except LeaderElsewhere as e:
            if attempt:
                raise ServiceUnavailable(f"The leader of partition {e.group} is in region {e.region} now; "
                                         "retry the request.") from None
            api.cluster.forget_leader(e.group)  # noted here, maybe stale: ask this region's member
    raise AssertionError("unreachable")


def forwarding(api: Api, name: str, op: Op) -> Op:
    """``op`` (a data operation named ``name``), forwarded to the region of
    its partition's leader when that is another region (MRSC tables only:
    for any other table this is ``op`` itself, with no extra frame).
    Strongly consistent reads are sent on their own (`read_elsewhere`)."""
    cluster = api.cluster
    if cluster is not None and cluster.read_elsewhere is None:  # (None: an Api without a cluster, in tests)
        cluster.read_elsewhere = functools.partial(read_elsewhere, api)
    seen: list[Any] = [None, False]  # a metadata state, and whether it has an MRSC table

    def strong_tables() -> bool:
        state = cluster.state
        if seen[0] is not state:
            seen[:] = [state, state is not None and any(t.consistency for t in state.tables.values())]
        return seen[1]

    async def strong(body: dict) -> Any:
        deadline = time.monotonic() + cluster.deadline_s
        asked_here = False
        while True:
            try:
                return await op(body)
            except LeaderElsewhere as e:
                if FORWARDED.get():  # never forwarded twice: the caller's region retries
                    if not asked_here:  # the leader noted here may be stale: ask this region's member once
                        asked_here = True
                        cluster.forget_leader(e.group)
                        continue
                    raise ServiceUnavailable(f"The leader of partition {e.group} is in region {e.region} now; "
                                             "retry the request.") from None
                left = deadline - time.monotonic()
                try:
                    return await remote(api, e.region, "Forward", {
                        "Operation": name, "Body": body, "SourceRegion": ORIGIN_REGION.get() or api.region},
                        timeout=max(1.0, left))
                except (RegionUnreachable, ServiceUnavailable, ResourceNotFoundException) as exc:
                    # Ask this region's member again: a new leader, maybe (that region may also have
                    # deleted its replica: ResourceNotFound there).
                    cluster.forget_leader(e.group)
                    if isinstance(exc, RegionUnreachable) and exc.sent and name not in READS:
                        raise InternalServerError(
                            f"The outcome of this write is unknown: region {e.region}, where partition {e.group} "
                            "was led, stopped answering after the write was sent. Read the item to see whether "
                            "it was applied.") from None
                    if time.monotonic() + 0.1 >= deadline:
                        raise ServiceUnavailable(f"Partition {e.group} is led from region {e.region}, which did "
                                                 f"not answer in time: {exc}") from None
                    await asyncio.sleep(0.1)

    def run(body: dict) -> Awaitable[Any]:
        return strong(body) if strong_tables() else op(body)
    return run


def operations(api: Api) -> dict[str, Callable[[dict], Awaitable[Any]]]:
    """This module's internal operations (TriremeReplication_1.*)."""
    ops: dict[str, Op] = {}

    async def forward(body: dict) -> Any:
        name, request, source = body.get("Operation"), body.get("Body"), body.get("SourceRegion")
        if not ops:
            ops.update(api.operations())
        if name not in ops or not isinstance(request, dict) or not isinstance(source, str):
            raise ValidationException("Forward needs Operation (a DynamoDB operation), Body and SourceRegion")
        tokens = FORWARDED.set(True), ORIGIN_REGION.set(source)
        try:
            return await ops[name](request)
        finally:
            FORWARDED.reset(tokens[0])
            ORIGIN_REGION.reset(tokens[1])

    async def pitr_hold(body: dict) -> dict:  # (router/pitr.py: point-in-time recovery of MRSC tables)
        return api.exports.pitr.hold_here(body)

    return {"PlaceStrong": lambda body: place_strong(api, body), "CreateStrong": lambda body: create_strong(api, body),
            "Forward": forward, "ReadAt": lambda body: _read_here(api, body), "MemberAdmin": lambda body: _member_admin_here(api, body),
            "PitrPeer": lambda body: api.exports.pitr.peer_here(body), "PitrHold": pitr_hold}


__all__ = ["applies", "check_update", "describe_fields", "forwarding", "make_strong", "operations"]
