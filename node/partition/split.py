"""Splitting a partition in place, as CockroachDB splits ranges (a table's or
a global index's: index partitions are partitions of the index's table).

The leader proposes one SPLIT entry (its hash point and the new group's id);
every replica applying it narrows the partition to ``[lo, mid - 1]`` and, in
the same batch, founds the right-hand group ``child`` for ``[mid, hi]``: its
configuration (the parent's, narrowed), its Raft state as a snapshot at the
SPLIT entry's index and term with the parent's membership there, and the
parent's transaction locks on its items. Nothing is copied: the items, local
index entries, collection sizes and versions of ``[mid, hi]`` are keyed by
hash and already sit in the same RocksDB, so the child's state ranges cover
them from that batch on. What stays with the parent, and why:

* an index partition's fences (the newest term of each base shipper): the
  child gets a copy (`copy_fences`); base shippers route their changes by
  the new map (node/feed/index_shipper.py);
* the global-index outbox (records of entries up to the split): it ships
  them; the child's shipper waits until they are gone from the parent's
  outbox (`parent_outbox_pending`), so an item's index changes keep their order;
* stream records: the parent's shard closes at the SPLIT entry (its records
  up to there stay the parent's, read as the closed shard) and both halves
  open a child shard after it (the metadata records the lineage,
  cluster/meta.py `_op_split_partition`; router/streams.py serves it): the
  child's stream settings start at the SPLIT entry;
* trigger checkpoints: a mapping's poller of the parent goes on (its shard's
  later records are the lower half's); the child's starts right after the
  SPLIT entry, once the parent's has delivered up to it
  (node/feed/triggers/shard.py), so an item's records keep their order;
* a global table's (MREC) change log: the parent's log up to the SPLIT
  entry holds changes to both halves and stays the parent's; its replicator
  goes on sending it, and the child's sender to a region waits until the
  parent's checkpoint there passed the split (node/feed/replicator.py), then
  sends the child's own log from its start (after the SPLIT entry). The
  child inherits the replication settings (regions, checkpoints, the trim
  point), so nothing is skipped, and the receivers' version check (last
  writer wins) makes any change sent twice harmless. The tombstones of the
  child's items move to its list (`move_tombstones`): the child collects
  them, and the parent never drops a version that is no longer its own.
  Splits are refused while a replica is being created (its backfill reads
  each partition whole) and for MRSC tables, whose Raft groups span regions
  (`splittable`).

Log positions continue across the split (the child's log starts after the
SPLIT entry's index), so versions and index shipments stay ordered. A write
the parent's log holds after the SPLIT for a key it gave away is refused at
apply (WRONG_GROUP: never applied, the router retries with its new map).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from cluster.keys import (hash_range_bounds, split_item_key, tombstone_bounds, tombstone_entry, tombstone_key,
                          txn_lock_key)
from cluster.meta import split_child_id
from cluster.versions import unpack
from node.net.raft_codec import encode_hard_state, encode_snapshot
from node.partition import global_indexes as gsi
from node.raft.messages import Entry, HardState, Snapshot, SnapshotMeta
from node.storage import DATA, STREAMS, Batch, Storage
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from cluster.meta import TableInfo

WRONG_GROUP = "wrong_group"  # apply result: the entry's key is no longer this partition's
_HEADER = 12


def key_hash(key: bytes) -> int | None:
    """The hash of an item key (None: not an item key)."""
    return split_item_key(key)[1] if len(key) >= _HEADER else None


def median_hash(storage: Storage, lo: bytes, hi: bytes, low_hash: int) -> int | None:
    """The hash at which ``[lo, hi)``'s items divide in halves by count (the
    split point for size): the median item's hash, or None when every item
    shares the lowest hash (one partition key cannot be divided)."""
    return median_of([split_item_key(k)[1] for k, _ in storage.iter_range(DATA, lo, hi)], low_hash)


def median_of(hashes: list[int], low_hash: int) -> int | None:
    """The median of ``hashes`` as a split point above ``low_hash`` (the
    partition's first hash, which cannot start a new partition), or None."""
    hashes = sorted(hashes)
    if not hashes:
        return None
    mid = hashes[len(hashes) // 2]
    if mid <= low_hash:
        mid = next((h for h in hashes if h > low_hash), None)
    return mid


def splittable(table: TableInfo | None) -> str | None:
    """Why a table's partitions may not split now (None: they may)."""
    if table is None:
        return "no such table"
    if table.consistency == "STRONG":
        return ("strongly consistent global tables (MRSC) do not split: each partition's Raft group spans "
                "the regions")
    if any(r["status"] == "CREATING" for r in table.replicas):
        return "a replica is being created (its backfill reads every partition whole): split once it is ACTIVE"
    if table.status != "ACTIVE":
        return f"the table is {table.status}, not ACTIVE"
    return None


def split_command(table_id: int, mid: int) -> node_pb2.WriteCommand:
    return node_pb2.WriteCommand(split=node_pb2.SplitCommand(child=split_child_id(table_id, mid), mid=mid))


def apply_split(replica: Any, batch: Batch, entry: Entry, sp: node_pb2.SplitCommand) -> dict | str:
    """Apply a SPLIT on ``replica`` (a PartitionReplica) into ``batch``; the
    child replica is created from storage once the batch is written
    (`PartitionReplica.after`). Answers the child's id and membership."""
    c = replica.config
    if not c["lo"] < sp.mid <= c["hi"]:
        return WRONG_GROUP  # a second split at the same point, or a stale one
    child, group = sp.child, replica.group
    conf = replica.raft.conf_at(entry.index)
    child_config = {k: v for k, v in c.items() if k != "checkpoints"}
    child_config.update(lo=sp.mid, split_from=group, split_index=entry.index)
    if c.get("streams"):  # the child's shards start after the SPLIT entry (its records follow it)
        child_config["streams"] = [child_stream(s, entry.index) for s in c["streams"]]
    if c.get("checkpoints"):  # every mapping resumes the child right after the split (triggers/shard.py)
        child_config["checkpoints"] = {m: [entry.index + 1, 0] for m in c["checkpoints"]}
    if c.get("replication"):  # a global table: the child replicates its own log from its start
        child_config["replication"] = child_replication(c["replication"], c["table_id"], sp.mid)
    replica.config = {**c, "hi": sp.mid - 1}
    batch.set_group_config(group, orjson.dumps(replica.config))
    batch.set_group_config(child, orjson.dumps(child_config))
    log = replica.engine.storage.raft
    log.save_snapshot(batch, child, encode_snapshot(Snapshot(SnapshotMeta(entry.index, entry.term, conf))))
    log.compact(batch, child, entry.index)
    log.save_hard_state(batch, child, encode_hard_state(HardState(term=entry.term, commit=entry.index)))
    batch.set_applied_index(child, entry.index)
    copy_fences(replica, batch, sp.mid)
    locks = replica.locks.applied
    for key in [k for k in locks if not replica.owns(k)]:
        lock = locks.pop(key)
        batch.delete(STREAMS, txn_lock_key(group, key))
        batch.put(STREAMS, txn_lock_key(child, key), lock.SerializeToString())
    move_tombstones(replica, batch, child)
    replica.split_pending = (child, child_config)
    return {"child": child, "mid": sp.mid, "index": entry.index, "voters": list(conf.voters),
            "learners": list(conf.learners)}


def child_replication(settings: dict, table_id: int, mid: int) -> dict:
    """A global table's replication settings in the child of a split at
    ``mid``: the parent's (regions, checkpoints and trim point: the child's
    log starts after them), a backfill going on resuming at the child's first
    item if it had not reached it yet."""
    first = hash_range_bounds(table_id, mid, mid)[0].hex()
    backfills = {r: at if at > first else "" for r, at in settings.get("backfills", {}).items()}
    return {**settings, "backfills": backfills}


def move_tombstones(replica: Any, batch: Batch, child: str) -> None:
    """Move the tombstone entries of the items the split gave away (the
    parent is narrowed already) to the child's list, those of this batch's
    earlier entries (not in storage yet) included."""
    group = replica.group
    entries = [tombstone_entry(group, e) for e, _ in replica.engine.storage.iter_range(
        STREAMS, *tombstone_bounds(group))]
    entries += [(unpack(v)[0].ts, k) for k, v in replica._versions_applying.items()
                if v is not None and unpack(v)[1]]
    for ts, key in entries:
        if not replica.owns(key):
            batch.delete(STREAMS, tombstone_key(group, ts, key))
            batch.put(STREAMS, tombstone_key(child, ts, key), b"")


def copy_fences(replica: Any, batch: Batch, mid: int) -> None:
    """An index partition's child inherits the newest term it heard from
    each base partition's shipper (keyed by the partition's ``lo``): a deposed
    shipper must not undo its successor's changes in the child either."""
    tid, lo = replica.config["table_id"], replica.config["lo"]
    prefix = gsi.fence_key(tid, lo, "")
    stored = {k[len(prefix):].decode() for k, _ in replica.engine.storage.iter_range(
        DATA, prefix, gsi.fence_key(tid, lo + 1, ""))}
    for source in stored | set(replica._fences):
        value = replica.applied_value(gsi.fence_key(tid, lo, source))
        if value is not None:
            batch.put_item(gsi.fence_key(tid, mid, source), value)


def child_stream(s: dict, index: int) -> dict:
    """A stream's settings in the child of a split at log ``index``: an open
    stream starts there, a closed one is empty (it ended before)."""
    start = index if s["end"] is None else s["end"]
    return {**s, "start": start, "end": None if s["end"] is None else start}


def parent_outbox_pending(storage: Storage, config: dict) -> bool:
    """Does the partition this one split from still hold index changes of
    entries up to the split (which must ship before this partition's own)?"""
    parent = config.get("split_from")
    if parent is None:
        return False
    lo, _ = gsi.outbox_bounds(parent)
    hi = gsi.outbox_key(parent, config["split_index"] + 1)
    return any(True for _ in storage.iter_range(STREAMS, lo, hi, limit=1))
