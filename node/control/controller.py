"""What the meta leader does: answer metadata calls and run the controller.

The controller keeps only soft state in memory (heartbeats, the partitions'
item counts); every decision it acts on is first written to the metadata, so
a new meta leader picks up where the old one stopped. Each tick it checks: founding, node liveness, table
lifecycle, and replica placement (replace dead nodes, move replicas toward the
consistent-hashing placement after joins), one membership step at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cluster.kms import new_data_key
from cluster.meta import META_GROUP, MetaState, PartitionInfo, TableInfo, partition_id
from cluster.rpc import CallError
from ddb import ttl as ddb_ttl
from ddb.autoscaling import Tracking
from ddb.errors import from_wire
from ddb.indexes import index_table_name, index_table_spec
from node.control.autoscaler import autoscale
from node.control.placement import lead_evenly, place, replacement
from node.control.splits import SplitPlanner
from node.control.stats import table_totals
from node.control.throughput import Consumption, lent_rates
from node.control.users import USER_OPS, user_op
from node.groups.replica import Rejected
from node.partition.split import splittable

if TYPE_CHECKING:
    from node.config import NodeConfig
    from node.groups.engine import Engine
    from node.control.metareplica import MetaReplica

log = logging.getLogger(__name__)

DOWN_AFTER_S = 3.0
MAX_MOVES = 2


class Control(Protocol):
    """What the controller needs of the node's control plane (node/control/view.py)."""

    cfg: NodeConfig
    engine: Engine
    controller: ControllerMemory | None
    plan_now: asyncio.Event

    async def admin(self, node_id: str, op: str, body: Any, timeout: float = 3.0) -> Any: ...


@dataclass
class ControllerMemory:
    term: int
    started: float
    seen: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)
    stats: dict[str, list] = field(default_factory=dict)  # partition -> its latest counts (node/control/stats.py)
    splits: SplitPlanner = field(default_factory=SplitPlanner)  # sizes and heat: when to split by itself
    consumption: Consumption = field(default_factory=Consumption)  # units metered (node/control/throughput.py)
    tracking: dict[str, Tracking] = field(default_factory=dict)  # auto scaling policy -> its alarms' state


def _memory(control: Control, mr: MetaReplica) -> ControllerMemory:
    mem = control.controller
    if mem is None or mem.term != mr.raft.term:
        # A new controller gives every node a grace period from now.
        mem = control.controller = ControllerMemory(mr.raft.term, time.monotonic())
    return mem


async def _propose(mr: MetaReplica, cmd: dict) -> dict:
    result = await mr.run(cmd)
    if not result.get("ok") and result.get("error"):
        raise from_wire({"__type": result["error"], "message": result.get("message", "")})
    return result


def _data_keys(control: Control, count: int) -> list[str]:
    """``count`` new data keys wrapped under the master key, for tables a command
    creates (none on a cluster without a key file: its tables stay unencrypted)."""
    master = getattr(control, "master", None)
    return [master.wrap(new_data_key()) for _ in range(count)] if master is not None else []


async def rotate_keys(control: Control, mr: MetaReplica, name: str | None) -> dict:
    """A new data key version for a table and its global indexes' tables (every
    table when ``name`` is None): new values are sealed with it, older ones
    still open with theirs."""
    state = mr.state
    if name is not None and name not in state.tables:
        raise from_wire({"__type": "ResourceNotFoundException",
                         "message": f"Requested resource not found: Table: {name} not found"})
    if getattr(control, "master", None) is None:
        return {"ok": True, "rotated": {}, "encryption": False}
    names = list(state.tables) if name is None else [name, *(ix.name for ix in state.index_tables(name))]
    rotated, ids = {}, {}
    for n in names:
        result = await _propose(mr, {"op": "table_keys", "name": n, "wrapped": _data_keys(control, 1)[0],
                                     "now": time.time()})
        rotated[n], ids[n] = result["key_version"], mr.state.tables[n].id
    return {"ok": True, "rotated": rotated, "ids": ids, "encryption": True}


async def rewrap_keys(control: Control, mr: MetaReplica) -> dict:
    """Every table's data key versions wrapped again under the key file's
    current master key (the file re-read first: `trireme keys rotate-master`
    appended it); the data keys, so every stored value, stay as they are."""
    master = getattr(control, "master", None)
    if master is None:
        return {"ok": True, "rewrapped": 0, "encryption": False}
    master.reload()
    count = 0
    for t in list(mr.state.tables.values()):
        new = {str(k["id"]): master.wrap(master.unwrap(k["wrapped"])) for k in t.keys
               if master.wrapped_by(k["wrapped"]) != master.current}
        if new:
            await _propose(mr, {"op": "table_keys", "name": t.name, "rewrapped": new})
            count += len(new)
    return {"ok": True, "rewrapped": count, "master": master.current, "encryption": True}


async def meta_op(control: Control, mr: MetaReplica, op: str, body: dict) -> Any:
    state = mr.state
    if op == "heartbeat":
        mem = _memory(control, mr)
        mem.seen[body["node"]] = time.monotonic()
        old = mem.reports.get(body["node"])
        mem.reports[body["node"]] = body
        mem.stats.update(body.get("stats") or {})
        now = time.monotonic()
        for group, g in (body.get("groups") or {}).items():
            if g.get("role") == "LEADER" and group != META_GROUP:
                mem.splits.observe(group, g.get("applied", 0), now)
        consumed = body.get("consumed") or {}
        mem.consumption.add(body["node"], consumed, now)
        if old is None or _roles(old) != _roles(body):
            control.plan_now.set()
        return {"ok": True, "lent": lent_rates(state, mem.consumption, consumed, now)}
    if op == "version":  # a router that may lag (a table it does not know) catches up to this
        return {"version": state.version}
    if op == "table_stats":
        # Soft state, never in the log: a new meta leader relearns it from the
        # next heartbeats (every HEARTBEAT_S), and its answers are partial until then.
        mem = _memory(control, mr)
        tables = table_totals(state, mem.stats, body.get("names"))
        now = time.monotonic()
        for name in state.tables if body.get("names") is None else body["names"]:
            t = state.tables.get(name)
            if t is not None:
                tables.setdefault(name, {"id": t.id})["consumed"] = mem.consumption.table(t, now)
        return {"tables": tables}
    if not state.nodes:
        raise Rejected("UNAVAILABLE", "the cluster metadata is not founded yet")
    if op == "join":
        return await mr.run({"op": "add_node", "id": body["id"], "addr": body["addr"], "az": body["az"],
                             "now": time.time()})
    if op == "create_table":
        count = int(body.get("partitions") or control.cfg.partitions_per_table)
        live = state.placeable()
        led = _first_voters(state)
        placements = lead_evenly([place(pid, live) for pid in state.next_partition_ids(count)], led)
        indexes = []
        for k, gsi in enumerate(body["spec"].get("GlobalSecondaryIndexes") or [], start=1):
            indexes.append({"name": index_table_name(body["name"], gsi["IndexName"]),
                            "spec": index_table_spec(body["name"], gsi, body["spec"]),
                            "placements": lead_evenly([place(pid, live) for pid in state.next_partition_ids(count, k)],
                                                      led)})
        return await _propose(mr, {"op": "create_table", "name": body["name"], "spec": body["spec"],
                                   "uuid": str(uuid.uuid4()), "now": time.time(),
                                   "placements": placements, "indexes": indexes,
                                   "data_keys": _data_keys(control, 1 + len(indexes))})
    if op == "create_index":
        base = state.tables.get(body["name"])
        count = len(base.partitions) if base is not None else control.cfg.partitions_per_table
        live = state.placeable()
        gsi = body["index"]
        return await _propose(mr, {"op": "create_index", "name": body["name"], "spec": body["spec"],
                                   "now": time.time(), "data_keys": _data_keys(control, 1), "index": {
                                       "name": index_table_name(body["name"], gsi["IndexName"]),
                                       "spec": index_table_spec(body["name"], gsi, body["spec"]),
                                       "placements": lead_evenly([place(pid, live) for pid in
                                                                  state.next_partition_ids(count)],
                                                                 _first_voters(state))}})
    if op == "delete_index":
        return await _propose(mr, {"op": "delete_index", "name": body["name"], "spec": body["spec"],
                                   "index": index_table_name(body["name"], body["index"])})
    if op == "backfilled":
        return await mr.run({"op": "backfilled", "index": body["index"], "group": body["group"]})
    if op == "update_stream":
        return await _propose(mr, {"op": "update_stream", "name": body["name"], "enabled": body["enabled"],
                                   "view": body.get("view"), "now": time.time()})
    if op == "stream_shard":
        return await mr.run({"op": "stream_shard", **{k: body.get(k) for k in ("name", "label", "group",
                                                                                  "start", "end")}})
    if op == "update_table":
        return await _propose(mr, {"op": "update_table", "name": body["name"], "spec": body["spec"],
                                  "updated": body.get("updated", {})})
    if op == "delete_table":
        return await _propose(mr, {"op": "delete_table", "name": body["name"]})
    if op == "set_table_replicas":  # a global table's replica regions (router/global_tables.py)
        return await _propose(mr, {"op": "set_table_replicas", **{k: body[k] for k in (
            "name", "replicas", "global_version", "expect") if k in body}})
    if op == "make_strong":  # an MRSC table on groups spanning regions (router/strong_tables.py)
        indexes = _strong_indexes(state, body)
        return await _propose(mr, {"op": "make_strong", "indexes": indexes,
                                   "data_keys": _data_keys(control, 1 + len(indexes)), **{
            k: body[k] for k in ("name", "spec", "table_id", "uuid", "now", "partitions", "replicas", "witness",
                                 "stream") if k in body}})
    if op == "replica_backfilled":  # a partition finished a new replica's backfill (node/feed/replicator.py)
        return await mr.run({"op": "replica_backfilled", **{k: body[k] for k in ("name", "region", "group")}})
    if op == "tag_table":
        result = await _propose(mr, {"op": "tag_table", "name": body["name"], "add": body.get("add", []),
                                     "remove": body.get("remove", []), "missing": body.get("missing")})
        return {"ok": True, "version": result.get("version", 0)}
    if op == "update_ttl":
        result = await _propose(mr, {"op": "update_ttl", "name": body["name"], "enabled": bool(body["enabled"]),
                                     "attribute": body["attribute"], "now_ms": int(time.time() * 1000),
                                     "cooldown_ms": ttl_cooldown_ms()})
        return {"ok": True, "version": result.get("version", 0)}
    if op == "resource_policy":  # Put/DeleteResourcePolicy (router/resource_policies.py)
        return await _propose(mr, {"op": "resource_policy", "now_ms": int(time.time() * 1000),
                                   **{k: body.get(k) for k in ("name", "label", "arn", "policy", "expect")}})
    if op == "split_partition":  # replicas applied a split (node/partition/split.py): the map catches up
        return await mr.run({"op": "split_partition", "now_ms": int(time.time() * 1000), **{k: body[k] for k in (
            "parent", "child", "mid", "index", "voters", "learners") if k in body}})
    if op == "rotate_key":  # UpdateTable with a new KMS key, `trireme keys rotate`
        return await rotate_keys(control, mr, body.get("name"))
    if op == "rewrap_keys":  # `trireme keys rotate-master`
        return await rewrap_keys(control, mr)
    if op == "split_table":  # `trireme split TABLE`
        return await split_table(control, mr, body)
    if op == "nodes":  # `trireme node add/remove` follow the nodes and the replica sets
        return {"nodes": {n.id: asdict(n) for n in state.nodes.values()},
                "partitions": {p.id: asdict(p) for p in state.partitions.values()}}
    if op in ("drain_node", "forget_node"):  # `trireme node remove`
        return await _propose(mr, {"op": op, "id": body["id"]})
    if op == "events":  # recent splits and moves (soft state, like table_stats), for `trireme status`
        return {"events": mr.state.events}
    if op in FUNCTION_OPS:
        return await function_op(mr, op, body)
    if op == "scaling":  # Application Auto Scaling's records (router/autoscaling_api.py); refusals answered
        return await mr.run({**body, "op": "scaling"})
    if op in BACKUP_OPS:  # router/backups.py
        return await _propose(mr, {**body, "op": op})
    if op in USER_OPS:  # IAM users (`trireme users`, STS GetSessionToken): node/control/users.py
        return await user_op(control.cfg.key_file, mr, op, body)
    if op == "put_function_url":  # a function's URL config (router/function_urls.py)
        return await function_op(mr, op, {k: body.get(k) for k in ("name", "mode", "url")})
    raise from_wire({"__type": "ValidationException", "message": f"unknown metadata call {op!r}"})


# --- splits (node/partition/split.py) ------------------------------------------------

async def split_table(control: Control, mr: MetaReplica, body: dict) -> dict:
    """Split one partition of a table (``partition``, else its largest by the
    latest statistics) at ``mid`` (else its median item): its leader proposes
    the split; the answer comes once the metadata records it."""
    state, mem = mr.state, _memory(control, mr)
    t = state.tables.get(body.get("name", ""))
    why = splittable(t)
    if why is not None:
        raise from_wire({"__type": "ResourceNotFoundException" if t is None else "ValidationException",
                         "message": f"Cannot split {body.get('name')}: {why}"})
    assert t is not None
    pid = body.get("partition") or max(t.partitions, key=lambda g: (mem.stats.get(g) or [0, 0])[1])
    if pid not in t.partitions:
        raise from_wire({"__type": "ValidationException", "message": f"{pid} is not a partition of {t.name}"})
    return await _split(control, mr, pid, body.get("mid"))


async def _event(mr: MetaReplica, text: str) -> None:
    """Record a split or move in the metadata (`trireme status` shows them);
    a leader that just lost its leadership records nothing, and says so."""
    try:
        await mr.run({"op": "record_event", "at": time.time(), "text": text})
    except Exception as exc:  # noqa: BLE001 (the event is a report; the move goes on without it)
        log.info("not recorded (%s): %s", exc, text)


async def _auto_split(control: Control, mr: MetaReplica, state: MetaState, mem: ControllerMemory,
                      now: float) -> None:
    """Split (one partition a tick) what grew past the size or heat limit."""
    for p in list(state.partitions.values()):
        t = state.table_by_id(p.table_id)
        if p.id == META_GROUP or p.learners or splittable(t):
            continue
        why = mem.splits.due(p.id, mem.stats.get(p.id), now)
        if why is None:
            continue
        try:
            await _split(control, mr, p.id, None, by=why)
        except Exception as exc:  # noqa: BLE001 (tried again after the cooldown)
            log.info("%s: split for %s failed: %r", p.id, why, exc)
            mem.splits.last_split[p.id] = now
        return


async def _split(control: Control, mr: MetaReplica, pid: str, mid: int | None, by: str = "request") -> dict:
    mem = _memory(control, mr)
    leader = _leaders(mem, time.monotonic()).get(pid)
    if leader is None:
        raise Rejected("UNAVAILABLE", f"{pid} has no leader right now")
    try:
        done = await control.admin(leader, "split", {"group": pid, "mid": mid, "by": by}, timeout=10.0)
    except CallError as exc:
        if exc.status == "DDB_ERROR":
            raise from_wire({"__type": exc.error_type, "message": exc.message}) from None
        raise Rejected("UNAVAILABLE", f"splitting {pid} at {leader}: {exc.message}") from None
    await mr.run({"op": "split_partition", "parent": pid, "now_ms": int(time.time() * 1000), **{k: done[k] for k in (
        "child", "mid", "index", "voters", "learners")}})
    mem.splits.split(pid, done["child"], time.monotonic())
    await _event(mr, f"split {pid} ({by}) at {done['mid']:016x}: {done['child']} takes the upper half")
    log.info("%s split at %#x: %s", pid, done["mid"], done["child"])
    return {"ok": True, "parent": pid, **done}


# --- functions (the Lambda API's records, router/lambda_api.py) --------------------

BACKUP_OPS = ("put_backup", "delete_backup", "load_lease", "load_done")
FUNCTION_OPS = ("put_function", "delete_function", "put_mapping", "delete_mapping",
                "mapping_result")


async def function_op(mr: MetaReplica, op: str, body: dict) -> dict:
    """A function's record written through the log; its outcome (also a
    refusal: the router answers it in the Lambda API's own errors) comes back
    as the state machine's answer, never raised as a DynamoDB error."""
    return await mr.run({**body, "op": op})


def _strong_indexes(state: MetaState, body: dict) -> list[dict]:
    """The global indexes of an MRSC table in this region: hidden tables with
    the ids every region shares (``index_ids``), on partitions placed here.
    Their partitions take every change from the start (each base member has
    them configured when it is created: node/control/view.py), so nothing is
    backfilled."""
    t = state.tables.get(body["name"])
    spec = body.get("spec") or (t.spec if t is not None else {})
    ids = body.get("index_ids") or {}
    live = state.placeable()
    out = []
    for gsi in spec.get("GlobalSecondaryIndexes") or []:
        tid = ids[gsi["IndexName"]]
        out.append({"name": index_table_name(body["name"], gsi["IndexName"]), "id": tid,
                    "spec": {**index_table_spec(body["name"], gsi, spec), "Backfill": False},
                    "placements": [place(partition_id(tid, i), live) for i in range(len(body["partitions"]))]})
    return out


def ttl_cooldown_ms() -> int:
    """How long after a change UpdateTimeToLive refuses another:
    ``TRIREME_TTL_COOLDOWN_S`` (tests shorten it), else DynamoDB's."""
    value = os.environ.get("TRIREME_TTL_COOLDOWN_S")
    return int(float(value) * 1000) if value else ddb_ttl.COOLDOWN_MS


def _serving(state: MetaState, t: TableInfo, leaders: dict) -> bool:
    """A table is ACTIVE once every partition has a leader, with its indexes'
    partitions too; a new index of a live table, once every base partition
    has backfilled it; with its stream started on every partition."""
    if not all(p in leaders for p in t.partitions) or not t.streams_settled():
        return False
    if t.spec.get("Loading"):
        return False  # a restore or an import is writing its data (router/backups.py)
    base = t.spec.get("IndexOf")
    if base is None:
        return all(_serving(state, ix, leaders) for ix in state.index_tables(t.name))
    if t.spec.get("Backfill"):
        base_table = state.tables.get(base)
        return base_table is not None and set(base_table.partitions) <= set(t.spec.get("Backfilled", []))
    return True


async def controller_tick(control: Control, mr: MetaReplica) -> None:
    state = mr.state
    cfg = control.cfg
    if not state.nodes:
        founders = [{"id": i, "addr": a, "az": z, "since": time.time()}
                    for i, (a, z) in sorted(cfg.initial_cluster.items())]
        if founders:
            await mr.run({"op": "bootstrap", "nodes": founders})
        return
    mem = _memory(control, mr)
    now = time.monotonic()
    # Liveness.
    for n in list(state.nodes.values()):
        last = mem.seen.get(n.id, mem.started)
        if n.state == "up" and now - last > DOWN_AFTER_S:
            log.warning("node %s is down (no heartbeat for %.1fs)", n.id, now - last)
            await mr.run({"op": "set_node_state", "id": n.id, "state": "down", "now": time.time()})
        elif n.state == "down" and now - last <= DOWN_AFTER_S:
            log.info("node %s is up again", n.id)
            await mr.run({"op": "set_node_state", "id": n.id, "state": "up", "now": time.time()})
    leaders = _leaders(mem, now)
    # Table lifecycle.
    for t in list(state.tables.values()):
        if t.status == "CREATING" and _serving(state, t, leaders):
            # Indexes first: a table seen ACTIVE has every index it was created with ACTIVE.
            for ix in state.index_tables(t.name):
                if ix.status == "CREATING":
                    await mr.run({"op": "set_table_status", "name": ix.name, "status": "ACTIVE",
                                  "expect": "CREATING"})
            await mr.run({"op": "set_table_status", "name": t.name, "status": "ACTIVE", "expect": "CREATING"})
        elif t.status == "UPDATING" and all(ix.status == "ACTIVE" for ix in state.index_tables(t.name)) \
                and t.streams_settled():
            await mr.run({"op": "set_table_status", "name": t.name, "status": "ACTIVE", "expect": "UPDATING"})
        elif t.status == "DELETING":
            await mr.run({"op": "drop_table", "name": t.name})
    for group in [g for g in mem.stats if g not in state.partitions]:
        del mem.stats[group]  # a dropped table's
    mem.splits.forget(set(state.partitions))
    await _auto_split(control, mr, state, mem, now)
    mem.consumption.forget(set(state.partitions))
    await autoscale(mr, mem.consumption, mem.tracking, now)
    # Placement.
    dead_after = cfg.dead_after_s
    dead = {n.id for n in state.nodes.values()
            if n.state == "down" and now - mem.seen.get(n.id, mem.started) > dead_after}
    live = state.placeable()
    draining = {n.id for n in state.nodes.values() if n.draining}
    moving = sum(1 for p in state.partitions.values() if p.learners)
    for p in list(state.partitions.values()):
        if p.cross_region:  # an MRSC group: its members in each region stay where they were placed
            continue
        if p.learners:
            await _continue_move(control, mr, p, dead, live, leaders)
            continue
        lost = next((m for m in p.voters if m in dead), None)
        if lost is None and moving < MAX_MOVES:
            lost = next((m for m in p.voters if m in draining), None)
        if lost is not None:
            new = replacement(p.id, p.voters, lost, live, state.nodes[lost].az)
            if new is not None:
                why = "draining" if lost in draining else "dead"
                log.info("%s: replacing %s %s with %s", p.id, why, lost, new)
                moving += 1
                await _event(mr, f"{p.id}: moving from {why} {lost} to {new}")
                await mr.run({"op": "set_replicas", "id": p.id, "voters": p.voters, "learners": [new],
                              "expect_epoch": p.epoch})
            continue
        if moving >= MAX_MOVES or any(m not in live for m in p.voters) or len(live) <= len(p.voters) \
                and set(p.voters) <= set(live):
            continue
        desired = place(p.id, live, len(p.voters))
        add = [n for n in desired if n not in p.voters]
        if add and len(desired) == len(p.voters):
            log.info("%s: rebalancing toward %s", p.id, desired)
            await _event(mr, f"{p.id}: moving a replica to {add[0]} (rebalancing toward {', '.join(desired)})")
            moving += 1
            await mr.run({"op": "set_replicas", "id": p.id, "voters": p.voters, "learners": add[:1],
                          "expect_epoch": p.epoch})


def _first_voters(state: MetaState) -> Counter[str]:
    """How many partitions each node was made first voter of (so led from the start)."""
    return Counter(p.voters[0] for p in state.partitions.values() if p.voters and not p.cross_region)


def _roles(report: dict) -> dict[str, str]:
    return {g: r.get("role") for g, r in report.get("groups", {}).items()}


def _leaders(mem: ControllerMemory, now: float) -> dict[str, str]:
    out = {}
    for node_id, report in mem.reports.items():
        if now - mem.seen.get(node_id, 0) > DOWN_AFTER_S:
            continue
        for group, g in report.get("groups", {}).items():
            if g.get("role") == "LEADER":
                out[group] = node_id
            elif "/" in (g.get("leader") or "") and group not in out:
                out[group] = g["leader"]  # an MRSC group led from another region (REGION/NODE)
    return out


def _target(p: PartitionInfo, dead: set[str], live: dict[str, str]) -> list[str]:
    """The voters a move in progress is heading for: its learners plus the
    best of the current voters, dead ones and misplaced ones dropped first."""
    size = len(p.voters)
    keep = [v for v in p.voters if v not in dead]
    out = [n for n in p.learners if n not in keep] + keep
    if len(out) > size:
        desired = set(place(p.id, live, size)) if live else set()
        extra = len(out) - size
        for v in sorted(keep, key=lambda v: (v in desired, v in live)):
            if extra == 0:
                break
            out.remove(v)
            extra -= 1
    return out


async def _continue_move(control: Control, mr: MetaReplica, p: PartitionInfo, dead: set[str],
                         live: dict[str, str], leaders: dict[str, str]) -> None:
    target = _target(p, dead, live)
    if any(n not in live for n in p.learners):
        # The new member died before it caught up: give up this move.
        await mr.run({"op": "set_replicas", "id": p.id, "voters": p.voters, "learners": [],
                      "expect_epoch": p.epoch})
        return
    leader = control.cfg.id if p.id == META_GROUP else leaders.get(p.id)
    if leader is None:
        return
    try:
        if leader == control.cfg.id:
            replica = control.engine.replicas.get(p.id)
            if replica is None:
                return
            status = replica.reconfigure_step(target, [])
        else:
            status = await control.admin(leader, "reconfigure", {"group": p.id, "voters": target,
                                                                 "learners": []})
    except Exception as exc:  # noqa: BLE001 (retried next tick)
        log.info("%s: reconfigure step at %s: %s", p.id, leader, exc)
        return
    if status.get("done"):
        log.info("%s: replicas now %s", p.id, target)
        await _event(mr, f"{p.id}: moved, replicas now {', '.join(target)}")
        await mr.run({"op": "set_replicas", "id": p.id, "voters": target, "learners": [],
                      "expect_epoch": p.epoch})


__all__ = ["MetaState", "controller_tick", "meta_op"]
