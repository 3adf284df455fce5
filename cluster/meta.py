"""The cluster metadata as a deterministic state machine (the `meta` group's).

Commands are JSON dicts with an "op"; `apply` validates each against the
current state and either changes it (bumping `version`) or answers an error
without touching it. Everything time- or placement-dependent (timestamps,
replica sets, uuids) comes inside the command, so every replica computes the
same state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cluster.users import ACCESS_KEYS_PER_USER, prune_expired
from ddb.errors import DynamoDBError, ValidationException
from ddb.resource_policies import change as change_policy
from ddb.streams import GLOBAL_STREAM_STAYS, already_enabled, nothing_to_disable, stream_label
from ddb.tables import DELETION_PROTECTED
from ddb.tags import merged
from ddb.ttl import TtlState, update_ttl

HASH_SPACE = 1 << 64
LAST_HASH = HASH_SPACE - 1  # ranges are inclusive: JSON has no 2**64
META_GROUP = "meta"
EVENTS_KEPT = 20  # the controller's recent splits and moves kept in the metadata (`trireme status`)


@dataclass
class NodeInfo:
    id: str
    addr: str
    az: str
    state: str = "up"  # up | down
    since: float = 0.0
    draining: bool = False  # being removed: the controller moves its replicas away (`trireme node remove`)


# What a replica's entry keeps: its region and ReplicaStatus, and optionally
# why (ReplicaStatusDescription, e.g. of CREATION_FAILED) and its read capacity
# override (ProvisionedThroughputOverride.ReadCapacityUnits); while CREATING, the
# partitions that finished its backfill and the percentage they make
# (ReplicaStatusPercentProgress), see `_op_replica_backfilled`.
REPLICA_FIELDS = ("region", "status", "description", "read_override", "backfilled", "progress")


@dataclass
class TableInfo:
    name: str
    id: int
    uuid: str
    status: str  # CREATING | ACTIVE | UPDATING | DELETING
    created: float
    spec: dict[str, Any]
    partitions: list[str] = field(default_factory=list)
    updated: dict[str, float] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)  # [{"Key", "Value"}] in the order they were added
    ttl: dict[str, Any] = field(default_factory=dict)  # Time to Live: TtlState's fields (ddb/ttl.py); {}: never set

    def ttl_state(self) -> TtlState:
        return TtlState(**self.ttl)
    # Every stream of the table, oldest first (see `new_stream`); at most the last is ENABLED.
    streams: list[dict[str, Any]] = field(default_factory=list)
    # Global tables: the OTHER regions holding a replica, [{"region", "status"}] (ReplicaStatus; see REPLICA_FIELDS);
    # non-empty means its writes are versioned and replicated there. global_version: "2019.11.21"
    # or "2017.11.29" (the API that made it global), None while it is a regional table.
    replicas: list[dict[str, Any]] = field(default_factory=list)
    global_version: str | None = None
    # MultiRegionConsistency: "STRONG" for a strongly consistent (MRSC) global
    # table, whose partitions are Raft groups spanning its three regions (see
    # `_op_make_strong`); "" otherwise. witness: its witness region, if any.
    consistency: str = ""
    witness: str = ""
    # Resource-based policies (ddb/resource_policies.py): "" -> the table's, a stream label -> that stream's;
    # each {"policy": the JSON text as given, "revision": its RevisionId}.
    resource_policies: dict[str, dict[str, str]] = field(default_factory=dict)
    # Encryption at rest (node/storage/encryption.py): the table's data key versions,
    # [{"id": 1, "wrapped": cluster/kms.py's wrapped key, "created": time}], oldest first, and the
    # version new values are sealed with (0: none, a cluster without a key file); see `_op_table_keys`.
    keys: list[dict[str, Any]] = field(default_factory=list)
    key_version: int = 0

    def replica(self, region: str) -> dict[str, Any] | None:
        return next((r for r in self.replicas if r["region"] == region), None)

    def stream(self, label: str) -> dict[str, Any] | None:
        return next((s for s in self.streams if s["label"] == label), None)

    def keeps_pitr_log(self) -> bool:
        """Do its partitions log every item write for point-in-time recovery
        (router/pitr.py)? While this region has recovery on, or, for a strongly
        consistent global table whose partitions' log is shared, another of its
        regions has (``PitrRegions``: {region: days}, told by that region)."""
        return "PointInTimeRecovery" in self.spec or bool(self.spec.get("PitrRegions"))

    def enabled_stream(self) -> dict[str, Any] | None:
        return self.streams[-1] if self.streams and self.streams[-1]["status"] == "ENABLED" else None

    def streams_settled(self) -> bool:
        """Has every partition applied the stream settings: the enabled
        stream started, every disabled one ended?"""
        for s in self.streams:
            want = "start" if s["status"] == "ENABLED" else "end"
            if any(want not in s["shards"].get(p, {}) for p in self.partitions):
                return False
        return True


@dataclass
class PartitionInfo:
    id: str
    table_id: int
    index: int
    lo: int
    hi: int  # inclusive
    voters: list[str]
    learners: list[str] = field(default_factory=list)
    epoch: int = 1
    parent: str | None = None  # the partition this one split from (its replicas made it, not founded)
    # A strongly consistent global table's group spans regions: its voters are
    # `REGION/NODE`, the same list in every region; `witness` names the region
    # whose member only keeps the log and votes ("": none).
    witness: str = ""

    @property
    def cross_region(self) -> bool:
        return any("/" in v for v in self.voters)

    @property
    def members(self) -> list[str]:
        return self.voters + [n for n in self.learners if n not in self.voters]


def partition_id(table_id: int, index: int) -> str:
    return f"t{table_id}.p{index}"


def split_child_id(table_id: int, mid: int) -> str:
    """The id of the partition a split creates at hash ``mid``: unique for
    ever, since partitions never merge and so no other ever starts there."""
    return f"t{table_id}.h{mid:016x}"


def split_range(count: int) -> list[tuple[int, int]]:
    """`count` even, inclusive hash ranges covering [0, 2**64 - 1]."""
    step = HASH_SPACE // count
    return [(i * step, LAST_HASH if i == count - 1 else (i + 1) * step - 1) for i in range(count)]


def new_stream(view_type: str, created_ms: int) -> dict[str, Any]:
    """A stream's metadata: its label (the creation time, ddb/streams.py),
    view type, status, and per partition (its shard) the log index where the
    partition started and ended it, as the partition leaders report them."""
    return {"label": stream_label(created_ms), "created_ms": created_ms, "view": view_type,
            "status": "ENABLED", "disabled_ms": None, "shards": {}}


def split_shards(stream: dict[str, Any], parent: str, child: str, index: int | None, now_ms: int) -> None:
    """A stream's shards after ``parent`` split at log ``index``: an open
    parent shard closes there (``splits`` lists each split's index and time;
    the parent's next shard follows it) and ``child`` opens a shard whose
    parent is that closed one (``parent``: [group, generation]); a shard
    that had ended leaves the child an empty one (ddb/streams.py `shard_lineage`)."""
    rng = stream["shards"].get(parent)
    if rng is None or "start" not in rng or index is None:
        return
    if "end" in rng:
        stream["shards"][child] = {"start": rng["end"], "end": rng["end"], "empty": True}
        return
    splits = rng.setdefault("splits", [])
    splits.append([index, now_ms])
    stream["shards"][child] = {"start": index, "ms": now_ms, "parent": [parent, len(splits) - 1]}


def _err(error: str, message: str) -> dict:
    return {"ok": False, "error": error, "message": message}


def _not_found(name: str) -> dict:
    return _err("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found")


@dataclass
class MetaState:
    version: int = 0
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    tables: dict[str, TableInfo] = field(default_factory=dict)
    partitions: dict[str, PartitionInfo] = field(default_factory=dict)
    next_table_id: int = 1
    # Lambda-compatible functions: name -> {"record": functions.model.Function's record, "code": the key of its
    # zip's chunks in the FUNCTION_CODE_TABLE}; see the "functions" block below.
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Event source mappings (functions/mappings.py records) by UUID; see the "functions" block below.
    mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the mappings' pollers reported: UUID -> {"last_result": LastProcessingResult, "discarded": records}.
    mapping_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Application Auto Scaling (ddb/autoscaling.py records): {"targets": {resource|dimension: target},
    # "policies": {resource|dimension|name: policy}, "activities": {resource|dimension: [newest first]}}.
    scaling: dict[str, dict[str, Any]] = field(default_factory=lambda: {"targets": {}, "policies": {},
                                                                         "activities": {}})
    # On-demand backups by BackupArn (ddb/backups.py records; their data is in BACKUP_TABLE), and
    # exports and imports by their ARN (``kind`` "export", "import": router/exports.py).
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)
    # IAM users by name (cluster/users.py records: wrapped secrets, identity policies); see the "users" block.
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The controller's recent splits and moves ([time, text], oldest first), for `trireme status`: in the
    # log, so a new metadata leader (the drained node's successor, say) still shows what its predecessor did.
    events: list[list[Any]] = field(default_factory=list)

    @classmethod
    def bootstrap(cls, nodes: list[dict]) -> MetaState:
        """The state a new cluster starts from: its founding nodes host `meta`."""
        s = cls()
        for n in nodes:
            s.nodes[n["id"]] = NodeInfo(n["id"], n["addr"], n["az"], "up", n.get("since", 0.0))
        s.partitions[META_GROUP] = PartitionInfo(META_GROUP, -1, 0, 0, LAST_HASH,
                                                 sorted(n["id"] for n in nodes))
        return s

    # --- queries ------------------------------------------------------------

    def next_partition_ids(self, count: int, offset: int = 0) -> list[str]:
        """Ids the next create_table will give its partitions (for placement);
        ``offset`` for the index tables created with it."""
        return [partition_id(self.next_table_id + offset, i) for i in range(count)]

    def index_tables(self, base: str) -> list[TableInfo]:
        """The hidden tables holding a table's global secondary indexes."""
        return [t for t in self.tables.values() if t.spec.get("IndexOf") == base]

    def table_by_id(self, table_id: int) -> TableInfo | None:
        return next((t for t in self.tables.values() if t.id == table_id), None)

    def replicas_on(self, node_id: str) -> list[PartitionInfo]:
        return [p for p in self.partitions.values() if node_id in p.members]

    # --- commands -----------------------------------------------------------

    def apply(self, cmd: dict) -> dict:
        handler = getattr(self, "_op_" + str(cmd.get("op")), None)
        if handler is None:
            return _err("ValidationException", f"unknown metadata command {cmd.get('op')!r}")
        result = handler(cmd)
        if result.get("ok"):
            self.version += 1
        return result

    def _op_add_node(self, c: dict) -> dict:
        n = self.nodes.get(c["id"])
        if n is not None and (n.addr, n.az) == (c["addr"], c["az"]):
            return {"ok": False, "error": "", "message": "unchanged"}
        if n is not None and n.az != c["az"]:
            return _err("ValidationException", f"node {c['id']} is already in {n.az}, not {c['az']}")
        self.nodes[c["id"]] = NodeInfo(c["id"], c["addr"], c["az"], "up", c.get("now", 0.0))
        return {"ok": True}

    def _op_set_node_state(self, c: dict) -> dict:
        n = self.nodes.get(c["id"])
        if n is None or n.state == c["state"]:
            return {"ok": False, "error": "", "message": "unchanged"}
        n.state = c["state"]
        n.since = c.get("now", 0.0)
        return {"ok": True}

    def _op_drain_node(self, c: dict) -> dict:
        n = self.nodes.get(c["id"])
        if n is None:
            return _err("ResourceNotFoundException", f"no node {c['id']}")
        if n.draining:
            return {"ok": False, "error": "", "message": "unchanged"}
        n.draining = True
        return {"ok": True}

    def _op_forget_node(self, c: dict) -> dict:
        """Remove a drained node from the cluster (refused while it holds a replica)."""
        n = self.nodes.get(c["id"])
        if n is None:
            return {"ok": False, "error": "", "message": "unchanged"}
        held = [p.id for p in self.replicas_on(n.id)]
        if held:
            return _err("ValidationException", f"node {n.id} still holds replicas of {', '.join(sorted(held))}")
        del self.nodes[n.id]
        return {"ok": True}

    def placeable(self) -> dict[str, str]:
        """The nodes new replicas may go to ({id: az}): up and not draining."""
        return {n.id: n.az for n in self.nodes.values() if n.state == "up" and not n.draining}

    def _op_create_table(self, c: dict) -> dict:
        name = c["name"]
        if name in self.tables:
            return _err("ResourceInUseException", f"Table already exists: {name}")
        spec = dict(c["spec"])
        stream = spec.pop("StreamSpecification", None)  # the table's streams hold it from now on
        policy = spec.pop("ResourcePolicy", None)  # CreateTable's, checked by the router (ddb/resource_policies.py)
        wrapped = list(c.get("data_keys") or [])
        t = self._new_table(name, c["uuid"], c["now"], spec, c["placements"], wrapped)
        t.tags = list(c["spec"].get("Tags") or [])
        if policy:
            t.resource_policies[""] = {"policy": policy, "revision": str(int(c["now"] * 1000))}
        if stream and stream.get("StreamEnabled"):
            t.streams.append(new_stream(stream["StreamViewType"], int(c["now"] * 1000)))
        for ix in c.get("indexes", []):
            self._new_table(ix["name"], c["uuid"], c["now"], ix["spec"], ix["placements"], wrapped)
        return {"ok": True, "table": asdict(t)}

    def _new_table(self, name: str, uid: str, now: float, spec: dict, placements: list,
                   wrapped: list[str] | None = None, tid: int | None = None) -> TableInfo:
        """A new table (id ``tid``: one shared with other regions; else the next of
        this region's); it takes the first of ``wrapped`` (data keys the leader
        made, cluster/kms.py) as its key version 1."""
        own = tid is None
        tid = self.next_table_id if tid is None else tid
        ids = []
        for i, ((lo, hi), voters) in enumerate(zip(split_range(len(placements)), placements)):
            pid = partition_id(tid, i)
            self.partitions[pid] = PartitionInfo(pid, tid, i, lo, hi, list(voters))
            ids.append(pid)
        t = self.tables[name] = TableInfo(name, tid, uid, "CREATING", now, spec, ids)
        if wrapped:
            t.keys, t.key_version = [{"id": 1, "wrapped": wrapped.pop(0), "created": now}], 1
        self.next_table_id += own
        return t

    def _op_create_index(self, c: dict) -> dict:
        """A global secondary index added to a live table: its hidden table
        starts CREATING and becomes ACTIVE once every base partition has
        backfilled it."""
        t = self.tables.get(c["name"])
        if t is None:
            return _not_found(c["name"])
        if t.status != "ACTIVE":
            return _err("ResourceInUseException", f"Attempt to change a resource which is still in use: Table is "
                                                  f"being {'deleted' if t.status == 'DELETING' else 'updated'}: "
                                                  f"{t.name}")
        if c["index"]["name"] in self.tables:
            return _err("ResourceInUseException", "Attempt to change a resource which is still in use: index "
                                                  "is still being deleted")
        t.spec = c["spec"]
        t.status = "UPDATING"
        self._new_table(c["index"]["name"], t.uuid, c["now"], c["index"]["spec"], c["index"]["placements"],
                        list(c.get("data_keys") or []))
        return {"ok": True, "table": asdict(t)}

    def _op_delete_index(self, c: dict) -> dict:
        t = self.tables.get(c["name"])
        if t is None:
            return _not_found(c["name"])
        if t.status != "ACTIVE":
            return _err("ResourceInUseException", f"Attempt to change a resource which is still in use: Table is "
                                                  f"being updated: {t.name}")
        t.spec = c["spec"]
        t.status = "UPDATING"
        hidden = self.tables.get(c["index"])
        if hidden is not None:
            hidden.status = "DELETING"
        return {"ok": True, "table": asdict(t)}

    def _op_backfilled(self, c: dict) -> dict:
        """A base partition has sent every existing item to a new index."""
        t = self.tables.get(c["index"])
        if t is None or c["group"] in t.spec.get("Backfilled", []):
            return {"ok": False, "error": "", "message": "unchanged"}
        t.spec = {**t.spec, "Backfilled": [*t.spec.get("Backfilled", []), c["group"]]}
        return {"ok": True}

    def _op_set_table_status(self, c: dict) -> dict:
        t = self.tables.get(c["name"])
        if t is None:
            return _not_found(c["name"])
        if c.get("expect") and t.status != c["expect"]:
            return {"ok": False, "error": "", "message": "status moved"}
        t.status = c["status"]
        return {"ok": True}

    def _active(self, name: str) -> TableInfo | dict:
        """The table to change, or the error when it is missing or not ACTIVE."""
        t = self.tables.get(name)
        if t is None:
            return _not_found(name)
        if t.status != "ACTIVE":
            return _err("ResourceInUseException",
                        f"Attempt to change a resource which is still in use: Table is being "
                        f"{'deleted' if t.status == 'DELETING' else 'updated'}: {t.name}")
        return t

    def _op_update_table(self, c: dict) -> dict:
        t = self._active(c["name"])
        if isinstance(t, dict):
            return t
        t.spec = c["spec"]
        t.updated.update(c.get("updated", {}))
        return {"ok": True, "table": asdict(t)}

    def _op_update_stream(self, c: dict) -> dict:
        """UpdateTable's StreamSpecification: enable a new stream (a new
        label) or disable the enabled one, which stays readable. The table is
        UPDATING until every partition applied the change."""
        t = self._active(c["name"])
        if isinstance(t, dict):
            return t
        current = t.enabled_stream()
        now_ms = int(c["now"] * 1000)
        if c["enabled"]:
            if current is not None:
                return _err("ValidationException", already_enabled(t.name))
            if t.streams:  # labels name streams: never reuse one
                now_ms = max(now_ms, t.streams[-1]["created_ms"] + 1)
            t.streams.append(new_stream(c["view"], now_ms))
        else:
            if current is None:
                return _err("ValidationException", nothing_to_disable(t.name))
            if t.replicas:  # its replication reads the stream; also the view type stays (disable first)
                return _err("ValidationException", GLOBAL_STREAM_STAYS)
            current["status"] = "DISABLED"
            current["disabled_ms"] = now_ms
        t.status = "UPDATING"
        return {"ok": True, "table": asdict(t)}

    def _op_stream_shard(self, c: dict) -> dict:
        """A partition leader reports the log index where its partition
        started (``start``) or ended (``end``) a stream."""
        t = self.tables.get(c["name"])
        s = t.stream(c["label"]) if t is not None else None
        if s is None or c["group"] not in t.partitions:
            return {"ok": False, "error": "", "message": "unknown stream or partition"}
        shard = s["shards"].setdefault(c["group"], {})
        new = {k: c[k] for k in ("start", "end") if c.get(k) is not None and k not in shard}
        if not new:
            return {"ok": False, "error": "", "message": "unchanged"}
        shard.update(new)
        return {"ok": True}

    def _op_set_table_replicas(self, c: dict) -> dict:
        """A global table's replica regions and their statuses, as a whole
        (the router that runs ReplicaUpdates decides them). With ``expect``
        (the list the caller read) it applies only if the list is still that
        one: two routers changing replicas at once never lose a change."""
        t = self.tables.get(c["name"])
        if t is None or t.status == "DELETING":
            return _not_found(c["name"])
        if "expect" in c and t.replicas != c["expect"]:
            return _err("ResourceInUseException", f"Attempt to change a resource which is still in use: "
                                                  f"Table is being updated: {t.name}")
        t.replicas = [{k: r[k] for k in REPLICA_FIELDS if k in r} for r in c["replicas"]]
        # A legacy (2017.11.29) global table may be a group of one region; a current one needs a replica.
        version = c.get("global_version", t.global_version)
        t.global_version = version if t.replicas or version == "2017.11.29" and "global_version" in c else None
        return {"ok": True, "table": asdict(t)}

    def _op_replica_backfilled(self, c: dict) -> dict:
        """A partition leader sent every item of partition ``group`` to the
        replica in ``region`` being created (CREATING). Once every partition
        of the table has, the replica is ACTIVE in this region's list (the
        router that created it tells the other regions, router/global_tables.py)."""
        t = self.tables.get(c["name"])
        r = t.replica(c["region"]) if t is not None else None
        if r is None or r["status"] != "CREATING" or c["group"] not in t.partitions \
                or c["group"] in r.get("backfilled", []):
            return {"ok": False, "error": "", "message": "unchanged"}
        done = sorted({*r.get("backfilled", []), c["group"]} & set(t.partitions))  # (another region's told: not ours)
        if set(done) >= set(t.partitions):
            new = {k: v for k, v in r.items() if k not in ("backfilled", "progress")} | {"status": "ACTIVE"}
        else:
            new = {**r, "backfilled": done, "progress": 100 * len(done) // len(t.partitions)}
        t.replicas = [new if x is r else x for x in t.replicas]
        return {"ok": True, "status": new["status"]}

    def _op_make_strong(self, c: dict) -> dict:
        """A strongly consistent global table (MRSC) in this region: the empty
        table ``name`` (or a new one with ``spec``; ``hidden`` for a witness
        region's log-only copy) gets the table id ``table_id`` and the
        partitions every region of the group shares (``partitions``: lo, hi,
        voters as `REGION/NODE`), replacing its own. The id is the same in
        every region, so the storage keys in the shared log mean the same
        table everywhere."""
        name, tid = c["name"], c["table_id"]
        for ix_name, ix_id in [(name, tid), *((ix["name"], ix["id"]) for ix in c.get("indexes", []))]:
            other = self.table_by_id(ix_id)
            if other is not None and other.name != ix_name:
                return _err("ResourceInUseException", f"table id {ix_id} is taken by {other.name} in this region")
        t = self.tables.get(name)
        if t is None:
            if "spec" not in c:
                return _not_found(name)
            t = self.tables[name] = TableInfo(name, tid, c["uuid"], "CREATING", c["now"], dict(c["spec"]))
            if c.get("data_keys"):
                t.keys, t.key_version = [{"id": 1, "wrapped": c["data_keys"][0], "created": c["now"]}], 1
            if "stream" in c:  # the converting region's stream, with its label: one stream in every region
                t.streams = [new_stream(c["stream"]["view"], c["stream"]["created_ms"])]
        elif t.status != "ACTIVE" or t.replicas:
            return _err("ResourceInUseException", f"Attempt to change a resource which is still in use: "
                                                  f"Table is being updated: {name}")
        for pid in t.partitions:
            self.partitions.pop(pid, None)
        # Its stream goes on, on the new partitions (they report their shards); the records of the
        # partitions that go, and so any disabled stream, go with them.
        t.streams = [{**s, "shards": {}} for s in t.streams if s["status"] == "ENABLED"]
        t.id, t.partitions = tid, []
        for i, part in enumerate(c["partitions"]):
            pid = partition_id(tid, i)
            self.partitions[pid] = PartitionInfo(pid, tid, i, part["lo"], part["hi"], list(part["voters"]),
                                                 witness=c.get("witness", ""))
            t.partitions.append(pid)
        t.replicas = [{"region": r, "status": "ACTIVE"} for r in c["replicas"]]
        t.global_version, t.consistency, t.witness = "2019.11.21", "STRONG", c.get("witness", "")
        # Its global indexes: hidden tables of this region (their partitions are its own),
        # with ids every region shares, so the index changes in the shared log mean them.
        for ix in self.index_tables(name):
            for pid in ix.partitions:
                self.partitions.pop(pid, None)
            del self.tables[ix.name]
        wrapped = list(c.get("data_keys") or [])[1:]  # the first is the table's own
        for ix in c.get("indexes", []):
            self._new_table(ix["name"], t.uuid, t.created, ix["spec"], ix["placements"], wrapped, tid=ix["id"])
            self.tables[ix["name"]].status = t.status
        return {"ok": True, "table": asdict(t)}

    def _op_delete_table(self, c: dict) -> dict:
        t = self.tables.get(c["name"])
        if t is None:
            return _not_found(c["name"])
        if t.status == "DELETING":
            return _err("ResourceInUseException",
                        f"Attempt to change a resource which is still in use: Table is being deleted: {t.name}")
        if c.get("unless_protected") and t.spec.get("DeletionProtectionEnabled"):
            return _err("ValidationException", DELETION_PROTECTED)  # checked here too: a concurrent UpdateTable
        t.status = "DELETING"
        for ix in self.index_tables(t.name):
            ix.status = "DELETING"
        return {"ok": True, "table": asdict(t)}

    def _op_tag_table(self, c: dict) -> dict:
        """TagResource (``add``) or UntagResource (``remove``), merged here so
        that concurrent calls never lose each other's tags."""
        t = self.tables.get(c["name"])
        if t is None or "IndexOf" in t.spec:
            return _err("ResourceNotFoundException", c.get("missing") or f"Requested resource not found: "
                                                                       f"Table: {c['name']} not found")
        try:
            tags = merged(t.tags, c.get("add", []), c.get("remove", []))
        except ValidationException as e:
            return _err("ValidationException", e.message or "")
        if tags == t.tags:
            return {"ok": False, "error": "", "message": "unchanged", "version": self.version}
        t.tags = tags
        return {"ok": True, "version": self.version + 1}  # apply() bumps it

    def _op_resource_policy(self, c: dict) -> dict:
        """PutResourcePolicy (``policy``) or DeleteResourcePolicy (None) of a
        table (``label`` "") or one of its streams, checked here against the
        current revision (``expect``: ExpectedRevisionId) so that concurrent
        calls see each other."""
        t = self.tables.get(c["name"])
        if t is None or "IndexOf" in t.spec or t.status == "DELETING" \
                or (c["label"] and t.stream(c["label"]) is None):
            return _err("ResourceNotFoundException", f"Requested resource not found: ResourceArn: {c['arn']} not found")
        try:
            entry, revision = change_policy(t.resource_policies.get(c["label"]), c.get("policy"), c.get("expect"),
                                            arn=c["arn"], now_ms=c["now_ms"])
        except DynamoDBError as e:
            return _err(e.code, e.message or "")
        if entry == t.resource_policies.get(c["label"]):
            return {"ok": False, "error": "", "message": "unchanged", "revision": revision, "version": self.version}
        policies = {k: v for k, v in t.resource_policies.items() if k != c["label"]}
        t.resource_policies = policies if entry is None else {**policies, c["label"]: entry}
        return {"ok": True, "revision": revision, "version": self.version + 1}  # apply() bumps it

    def _op_update_ttl(self, c: dict) -> dict:
        """UpdateTimeToLive, checked here against the current setting so that
        concurrent calls see each other (``now_ms`` and ``cooldown_ms`` come
        in the command: every replica decides alike)."""
        t = self.tables.get(c["name"])
        if t is None or "IndexOf" in t.spec:
            return _not_found(c["name"])
        if t.status in ("CREATING", "DELETING"):
            return _err("ResourceInUseException", f"Attempt to change a resource which is still in use: Table is "
                                                  f"being {'deleted' if t.status == 'DELETING' else 'created'}: "
                                                  f"{t.name}")
        try:
            ttl = update_ttl(t.ttl_state(), c["enabled"], c["attribute"], now_ms=c["now_ms"],
                             cooldown_ms=c["cooldown_ms"])
        except ValidationException as e:
            return _err("ValidationException", e.message or "")
        t.ttl = asdict(ttl)
        return {"ok": True, "version": self.version + 1}  # apply() bumps it

    def _op_drop_table(self, c: dict) -> dict:
        t = self.tables.get(c["name"])
        if t is None or t.status != "DELETING":
            return {"ok": False, "error": "", "message": "not deleting"}
        for pid in t.partitions:
            self.partitions.pop(pid, None)
        del self.tables[c["name"]]
        return {"ok": True}

    def _op_set_table_stats(self, c: dict) -> dict:
        """An entry of a log written while table statistics were metadata (they
        are soft state now): it still counts as a change, so that replaying
        such a log reaches the versions it reached then."""
        return {"ok": bool(c.get("stats"))}

    def _op_set_replicas(self, c: dict) -> dict:
        """Change a partition's replica set (intent or final), guarded by its epoch."""
        p = self.partitions.get(c["id"])
        if p is None:
            return _err("ResourceNotFoundException", f"no partition {c['id']}")
        if p.epoch != c["expect_epoch"]:
            return {"ok": False, "error": "", "message": f"epoch moved to {p.epoch}"}
        p.voters = list(c["voters"])
        p.learners = list(c.get("learners", []))
        p.epoch += 1
        return {"ok": True, "epoch": p.epoch}

    def _op_split_partition(self, c: dict) -> dict:
        """Record a split that the partition's replicas applied (node/partition/split.py):
        ``parent`` keeps [lo, mid - 1], ``child`` (with the members the split
        gave it) takes [mid, hi]. Never refused once the parent covers ``mid``:
        the data is split already, the map only catches up."""
        p, child, mid = self.partitions.get(c["parent"]), c["child"], c["mid"]
        if child in self.partitions:
            return {"ok": False, "error": "", "message": "unchanged"}
        if p is None or not p.lo < mid <= p.hi:
            return _err("ValidationException", f"{c['parent']} does not hold hash {mid}")
        t = self.table_by_id(p.table_id)
        index = 1 + max((self.partitions[g].index for g in t.partitions if g in self.partitions), default=0) \
            if t is not None else 0
        self.partitions[child] = PartitionInfo(child, p.table_id, index, mid, p.hi, list(c["voters"]),
                                               list(c.get("learners", [])), 1, p.id)
        p.hi = mid - 1
        p.epoch += 1
        if t is not None:
            t.partitions.insert(t.partitions.index(p.id) + 1, child)
            for s in t.streams:
                split_shards(s, p.id, child, c.get("index"), c.get("now_ms", 0))
        return {"ok": True}

    # --- functions (the Lambda API's records; router/lambda_api.py) ----------------

    def _op_put_function(self, c: dict) -> dict:
        """Create (``create``) or replace a function's record; a replacement is
        guarded by the RevisionId it was computed from, so concurrent updates
        never lose each other. Answers the record it replaced (its code may be
        unreferenced now)."""
        old = self.functions.get(c["name"])
        if c.get("create"):
            if old is not None:
                return _err("ResourceConflictException", f"Function already exist: {c['name']}")
        elif old is None:
            return _err("ResourceNotFoundException", "function gone")
        elif old["record"]["revision_id"] != c["expect_revision"]:
            return {"ok": False, "error": "", "message": "revision moved"}
        self.functions[c["name"]] = {**(old or {}), "record": c["record"], "code": c["code"]}  # keeps its URL
        return {"ok": True, "replaced": old, "version": self.version + 1}  # apply() bumps it

    def _op_delete_function(self, c: dict) -> dict:
        old = self.functions.pop(c["name"], None)
        if old is None:
            return _err("ResourceNotFoundException", "function gone")
        return {"ok": True, "replaced": old, "version": self.version + 1}

    # --- function URLs (the config in the function's entry, "url"; router/function_urls.py) ---

    def _op_put_function_url(self, c: dict) -> dict:
        """Create, update or delete (``mode``) a function's URL config: one per
        function, created only where none is, changed only where one is."""
        entry = self.functions.get(c["name"])
        if entry is None:
            return _err("NoFunction", "function gone")
        if c["mode"] == "create" and entry.get("url"):
            return _err("ResourceConflictException", "FunctionUrlConfig exists for this Lambda function")
        if c["mode"] != "create" and not entry.get("url"):
            return _err("ResourceNotFoundException", "no FunctionUrlConfig")
        rest = {k: v for k, v in entry.items() if k != "url"}  # a new entry: a snapshot may share the old
        self.functions[c["name"]] = rest if c["mode"] == "delete" else {**rest, "url": c["url"]}
        return {"ok": True, "version": self.version + 1}

    def _op_put_mapping(self, c: dict) -> dict:
        """Create (``create``: refused when the function already has a mapping
        from that source, as Lambda does) or replace an event source mapping,
        a replacement guarded by the LastModified it was computed from."""
        record, old = c["record"], self.mappings.get(c["record"]["uuid"])
        if c.get("create"):
            same = next((m for m in self.mappings.values() if m["source"] == record["source"]
                         and m["function_arn"] == record["function_arn"]), None)
            if same is not None:
                return {**_err("ResourceConflictException", "duplicate"), "existing": same}
        elif old is None:
            return _err("ResourceNotFoundException", "mapping gone")
        elif old["modified"] != c["expect_modified"]:
            return {"ok": False, "error": "", "message": "mapping moved"}
        self.mappings[record["uuid"]] = record
        return {"ok": True, "version": self.version + 1}

    def _op_mapping_result(self, c: dict) -> dict:
        """A poller's report: the mapping's LastProcessingResult, and records it gave up on."""
        if c["uuid"] not in self.mappings:
            return _err("ResourceNotFoundException", "mapping gone")
        status = self.mapping_status.setdefault(c["uuid"], {"last_result": "No records processed", "discarded": 0})
        status["last_result"] = c["result"]
        status["discarded"] += int(c.get("discarded", 0))
        return {"ok": True}

    def _op_delete_mapping(self, c: dict) -> dict:
        self.mapping_status.pop(c["uuid"], None)
        old = self.mappings.pop(c["uuid"], None)
        if old is None:
            return _err("ResourceNotFoundException", "mapping gone")
        return {"ok": True, "replaced": old, "version": self.version + 1}

    # --- auto scaling (router/autoscaling_api.py, node/control/autoscaler.py) -----------

    def _op_scaling(self, c: dict) -> dict:
        """Register or deregister a scalable target (with its policies), put or
        delete a policy, or (``scale``) set a table's provisioned capacity
        and record the activity, in one entry."""
        sc, action = self.scaling, c["action"]
        if action == "put_target":
            sc["targets"][c["key"]] = c["record"]
        elif action == "delete_target":
            if sc["targets"].pop(c["key"], None) is None:
                return _err("ObjectNotFoundException", "no target")
            for k in [k for k in sc["policies"] if k.startswith(c["key"] + "|")]:
                del sc["policies"][k]
        elif action == "put_policy":
            if c["record"]["ResourceId"] + "|" + c["record"]["ScalableDimension"] not in sc["targets"]:
                return _err("ObjectNotFoundException", "no target")
            sc["policies"][c["key"]] = c["record"]
        elif action == "delete_policy":
            if sc["policies"].pop(c["key"], None) is None:
                return _err("ObjectNotFoundException", "no policy")
        elif action == "scale":
            t = self._active(c["name"])
            if isinstance(t, dict):
                return t
            if c.get("spec") is not None:
                t.spec = c["spec"]
                t.updated.update(c.get("updated", {}))
            acts = sc["activities"].setdefault(c["key"], [])
            acts.insert(0, c["activity"])
            del acts[c.get("keep", 50):]
        else:
            return _err("ValidationException", f"unknown scaling action {action!r}")
        return {"ok": True, "version": self.version + 1}

    # --- encryption at rest: data key versions (node/storage/encryption.py) ---------

    def _op_table_keys(self, c: dict) -> dict:
        """Rotate a table's data key (``wrapped``: a new version, current from now
        on; every older one stays to open what it sealed) or rewrap its versions
        under a new master key (``rewrapped``: {version: wrapped}, the same keys).
        ``name`` may be a hidden table (a global index's)."""
        t = self.tables.get(c["name"])
        if t is None:
            return _not_found(c["name"])
        if c.get("wrapped"):
            version = 1 + max((k["id"] for k in t.keys), default=0)
            t.keys = [*t.keys, {"id": version, "wrapped": c["wrapped"], "created": c["now"]}]
            t.key_version = version
            return {"ok": True, "version": self.version + 1, "key_version": version}
        rewrapped = {int(k): v for k, v in (c.get("rewrapped") or {}).items()}
        if not rewrapped:
            return {"ok": False, "error": "", "message": "unchanged"}
        t.keys = [{**k, "wrapped": rewrapped.get(k["id"], k["wrapped"])} for k in t.keys]
        return {"ok": True, "version": self.version + 1}

    # --- backups (router/backups.py) ---------------------------------------------

    def _op_put_backup(self, c: dict) -> dict:
        """Record a new backup (``create``) or its progress; a record is only
        replaced while it is still what the writer read (``expect_status``,
        ``expect_lease``: the creator's lease, which another router takes over
        once it ran out)."""
        record, old = c["record"], self.backups.get(c["record"]["arn"])
        if c.get("create"):
            if old is not None:
                return _err("BackupInUseException", f"Backup {record['arn']} exists")
        elif old is None:
            return _err("BackupNotFoundException", f"Backup not found: {record['arn']}")
        elif old["status"] != c.get("expect_status", old["status"]) \
                or old.get("lease") != c.get("expect_lease", old.get("lease")):
            return {"ok": False, "error": "", "message": "backup moved"}
        self.backups[record["arn"]] = record
        return {"ok": True, "version": self.version + 1}

    def _op_delete_backup(self, c: dict) -> dict:
        old = self.backups.get(c["arn"])
        if old is None:
            return _err("BackupNotFoundException", f"Backup not found: {c['arn']}")
        if old["status"] == "CREATING" and not c.get("withdraw"):  # (withdraw: its creator gave up)
            return _err("BackupInUseException", f"Backup is being created: {c['arn']}")
        del self.backups[c["arn"]]
        return {"ok": True, "replaced": old, "version": self.version + 1}

    def _op_load_lease(self, c: dict) -> dict:
        """Renew or take over the lease of a table being restored or imported
        (``Loading``: how to fill it and until when its filler holds it,
        router/backups.py), if it is still the lease the caller read."""
        t = self.tables.get(c["name"])
        loading = t.spec.get("Loading") if t is not None and t.uuid == c["uuid"] else None
        if not isinstance(loading, dict) or loading.get("lease") != c["expect"]:
            return {"ok": False, "error": "", "message": "lease moved"}
        t.spec = {**t.spec, "Loading": {**loading, "lease": c["lease"]}}
        return {"ok": True, "version": self.version + 1}

    def _op_load_done(self, c: dict) -> dict:
        """A restored or imported table's data is all in: the controller may make it ACTIVE."""
        t = self.tables.get(c["name"])
        if t is None or t.uuid != c["uuid"] or not t.spec.get("Loading"):
            return {"ok": False, "error": "", "message": "not loading"}
        spec = {k: v for k, v in t.spec.items() if k != "Loading"}
        if spec.get("RestoreSummary"):
            spec["RestoreSummary"] = {**spec["RestoreSummary"], "RestoreInProgress": False}
        t.spec = spec
        return {"ok": True, "version": self.version + 1}

    # --- users (cluster/users.py records; node/control/users.py makes the secrets) ---

    def user_by_key(self, key_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(user, key record) holding access key `key_id`."""
        for user in self.users.values():
            key = user["keys"].get(key_id)
            if key is not None:
                return user, key
        return None

    def _user(self, name: str) -> dict[str, Any] | dict:
        user = self.users.get(name)
        return user if user is not None else _err("NoSuchEntity", f"The user with name {name} cannot be found.")

    def _op_create_user(self, c: dict) -> dict:
        name = c["user"]["name"]
        if name in self.users:
            return _err("EntityAlreadyExists", f"User with name {name} already exists.")
        self.users[name] = c["user"]
        return {"ok": True}

    def _op_delete_user(self, c: dict) -> dict:
        if self.users.pop(c["name"], None) is None:
            return self._user(c["name"])
        return {"ok": True}

    def _op_put_access_key(self, c: dict) -> dict:
        """Add a key (long-term: at most ACCESS_KEYS_PER_USER, as IAM), dropping
        the user's session credentials expired by `now`."""
        user = self._user(c["name"])
        if "ok" in user:
            return user
        user = prune_expired(user, c["now"])
        if c["key"].get("expires") is None and sum(
                1 for k in user["keys"].values() if k.get("expires") is None) >= ACCESS_KEYS_PER_USER:
            return _err("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}")
        self.users[c["name"]] = {**user, "keys": {**user["keys"], c["key_id"]: c["key"]}}
        return {"ok": True}

    def _user_key(self, c: dict) -> tuple[dict, dict] | dict:
        user = self._user(c["name"])
        if "ok" in user:
            return user
        key = user["keys"].get(c["key_id"])
        if key is None:
            return _err("NoSuchEntity", f"The Access Key with id {c['key_id']} cannot be found.")
        return user, key

    def _op_delete_access_key(self, c: dict) -> dict:
        found = self._user_key(c)
        if isinstance(found, dict):
            return found
        user = found[0]
        self.users[c["name"]] = {**user, "keys": {k: v for k, v in user["keys"].items() if k != c["key_id"]}}
        return {"ok": True}

    def _op_set_access_key_status(self, c: dict) -> dict:
        found = self._user_key(c)
        if isinstance(found, dict):
            return found
        user, key = found
        if c["status"] not in ("Active", "Inactive"):
            return _err("ValidationError", f"Value '{c['status']}' at 'status' failed to satisfy constraint: "
                                           "Member must satisfy enum value set: [Active, Inactive]")
        self.users[c["name"]] = {**user, "keys": {**user["keys"], c["key_id"]: {**key, "status": c["status"]}}}
        return {"ok": True}

    def _op_put_user_policy(self, c: dict) -> dict:
        user = self._user(c["name"])
        if "ok" in user:
            return user
        self.users[c["name"]] = {**user, "policies": {**user["policies"], c["policy_name"]: c["document"]}}
        return {"ok": True}

    def _op_delete_user_policy(self, c: dict) -> dict:
        user = self._user(c["name"])
        if "ok" in user:
            return user
        if c["policy_name"] not in user["policies"]:
            return _err("NoSuchEntity", f"The user policy with name {c['policy_name']} cannot be found.")
        self.users[c["name"]] = {**user, "policies": {k: v for k, v in user["policies"].items()
                                                      if k != c["policy_name"]}}
        return {"ok": True}

    def _op_record_event(self, c: dict) -> dict:
        self.events = [*self.events, [c["at"], c["text"]]][-EVENTS_KEPT:]
        return {"ok": True}

    # --- snapshots ------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "nodes": {k: asdict(v) for k, v in self.nodes.items()},
            "tables": {k: asdict(v) for k, v in self.tables.items()},
            "partitions": {k: asdict(v) for k, v in self.partitions.items()},
            "next_table_id": self.next_table_id,
            "functions": dict(self.functions),
            "mappings": dict(self.mappings),
            "mapping_status": dict(self.mapping_status),
            "scaling": dict(self.scaling),
            "backups": dict(self.backups),
            "users": dict(self.users),
            "events": list(self.events),
        }

    @classmethod
    def from_json(cls, d: dict) -> MetaState:
        return cls(
            version=d["version"],
            nodes={k: NodeInfo(**v) for k, v in d["nodes"].items()},
            tables={k: _table(v) for k, v in d["tables"].items()},
            partitions={k: PartitionInfo(**v) for k, v in d["partitions"].items()},
            next_table_id=d["next_table_id"],
            functions=d.get("functions", {}),
            mappings=d.get("mappings", {}),
            mapping_status=d.get("mapping_status", {}),
            scaling=d.get("scaling") or {"targets": {}, "policies": {}, "activities": {}},
            backups=d.get("backups", {}),
            users=d.get("users", {}),
            events=d.get("events", []),
        )


# The hidden table holding functions' zips in chunks ('#' is not allowed in a
# table name a user gives, so no user table collides and no user call reaches it).
FUNCTION_CODE_TABLE = "trireme#function-code"
BACKUP_TABLE = "trireme#backups"  # the partitions' data of every backup, in chunks


def hidden(t: TableInfo) -> bool:
    """A table the user never sees: a global index's or a system table."""
    return "IndexOf" in t.spec or "System" in t.spec


_STATS = ("item_count", "size_bytes", "index_stats")  # soft state now (node/control/stats.py), not metadata


def _table(d: dict) -> TableInfo:
    """A table from a snapshot, also one written before tags had a field of
    their own or while the statistics were still kept in the metadata."""
    return TableInfo(**{"tags": list(d["spec"].get("Tags") or []),
                        **{k: v for k, v in d.items() if k not in _STATS}})
