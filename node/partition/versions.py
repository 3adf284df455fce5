"""The global-table side of a partition replica: item versions, replicated
applies and the change log the replicator sends to the other regions.

While its table is global, a partition's configuration holds
``config["replication"]`` (set through its log, ``WriteCommand.replication_config``,
proposed by node/feed/replicator.py from the metadata, so every replica
switches at the same entry):

- ``region``: this region (the versions its local writes carry);
- ``regions``: the replica regions changes go to (status not DELETING);
- ``keys``: the table's key attribute names (the changes carry the item's keys);
- ``creating``: the regions whose replica is being created (status CREATING);
- ``start``: the log index of the entry that made the partition global;
- ``checkpoints``: region -> ``[index, offset]``, the next change to send there
  (moved by ``WriteCommand.replication_checkpoint`` once the region acknowledged).
  A region added later starts after the entry that added it;
- ``trimmed``: the log index the change log was trimmed to (every region
  acknowledged what lies before it);
- ``backfills``: region -> the storage key (hex; "": none yet) up to which
  every item was sent to a region added while CREATING: the replicator sends
  the existing items first (their versions, or the base version), then the
  changes from its checkpoint on. Removed once done.

Every applied write then stamps the item with a version in the ``versions``
family (cluster/versions.py): a local write takes the leader's hybrid logical
clock at proposal time (and, should an applied version be newer, that one's
timestamp + 1: a local write is never dropped), a delete leaves a tombstone.
A local write also appends a ``ReplicationChange`` to the partition's change
log (cluster/keys.py ``change_key``, by log position); a replicated change
(``WriteCommand.replicated``) is applied iff its version is newer than the
stored one, and is not logged again. The decision is made at apply time from
the applied state, so every replica decides alike; the leader checks first
too, so it answers Superseded without a log round in the common case.

A partition that is not global carries no version, reads none and writes
none: non-global tables pay nothing. A tombstone is also listed by age
(cluster/keys.py ``tombstone_key``); once older than the stream retention the
leader collects it through the log (``WriteCommand.collect_tombstones``), a
bounded number per entry, unless a newer write replaced it meanwhile. (A
change delayed past the retention could then bring a deleted item back, as
it could on DynamoDB.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from cluster.keys import (change_bounds, change_key, change_position, split_item_key, tombstone_bounds,
                          tombstone_entry, tombstone_key)
from cluster.versions import BASE, HybridClock, Version, base_version, pack, unpack
from ddb.encoding import decode_key_value
from node.storage import DATA, STREAMS, VERSIONS, Batch, Storage
from trireme_pb import node_pb2

_ABSENT = object()
COLLECT_MOST = 1000  # tombstones one collect entry drops: its apply stays short
# The change log is trimmed once every region acknowledged this many entries
# more: one range delete per batch sent would pile range tombstones up.
TRIM_EVERY = 256


WANTED = ("region", "regions", "keys", "creating")


def applied_settings(have: dict | None, wanted: dict, index: int) -> dict | None:
    """The replication settings after the entry at ``index`` asked for
    ``wanted`` (region, regions, keys, creating; no regions: not global).
    A region new here starts at the next entry, and is backfilled first if
    its replica is being created."""
    if not wanted.get("regions"):
        return None
    old = (have or {}).get("checkpoints", {})
    backfills = (have or {}).get("backfills", {})
    new = [r for r in wanted["regions"] if r not in old]
    return {**{k: wanted[k] for k in WANTED}, "start": have["start"] if have else index,
            "trimmed": (have or {}).get("trimmed", 0),
            "checkpoints": {r: old.get(r, [index + 1, 0]) for r in wanted["regions"]},
            "backfills": {r: backfills[r] if r in backfills else "" for r in wanted["regions"]
                          if r in backfills or (r in new and r in wanted["creating"])}}


def wanted_of(settings: dict | None) -> dict:
    """What a partition's settings hold, as the replicator asks for them."""
    if settings is None:
        return {}
    return {k: settings[k] for k in WANTED}


def change_record(keys: list[str], key: bytes, old: dict | None, new: dict | None, version: Version,
                  by_ttl: bool) -> node_pb2.ReplicationChange:
    """The change of the item at storage key ``key`` going from ``old`` to
    ``new``. A delete that found nothing here is sent too: the item may be on
    its way from another region, and this delete's tombstone is newer than
    it there as it is here, so every region ends without it."""
    item = new if new is not None else old
    rec = node_pb2.ReplicationChange(
        keys=orjson.dumps({k: item[k] for k in keys if k in item} if item is not None else key_attributes(key, keys)),
        version=node_pb2.Version(ts=version.ts, region=version.region), by_ttl=by_ttl and new is None)
    if new is not None:
        rec.new_image = orjson.dumps(new)
    return rec


def key_attributes(key: bytes, names: list[str]) -> dict:
    """The key attributes (DynamoDB JSON) of an item's storage key (cluster/keys.py layout)."""
    _, _, rest = split_item_key(key)
    out, pos = {}, 0
    for name in names:
        if pos >= len(rest):
            break
        out[name], pos = decode_key_value(rest, pos)
    return out


def read_changes(storage: Storage, group: str, frm: tuple[int, int], limit: int,
                 max_bytes: int = 1 << 62) -> list[tuple[tuple[int, int], node_pb2.ReplicationChange]]:
    """Up to ``limit`` changes of the log from position ``frm``, in order,
    stopping once they reach ``max_bytes``."""
    lo, hi = change_bounds(group)
    out = []
    size = 0
    for key, value in storage.iter_range(STREAMS, max(lo, change_key(group, *frm)), hi, limit=limit):
        out.append((change_position(key), node_pb2.ReplicationChange.FromString(value)))
        size += len(value)
        if size >= max_bytes:
            break
    return out


class VersionsMixin:
    """Mixed into PartitionReplica; uses its engine, group, config and proposals."""

    def _init_versions(self) -> None:
        self.hlc = HybridClock()
        self._versions_applying: dict[bytes, bytes | None] = {}  # this batch's versions (not in storage yet)
        self._pending_versions: dict[bytes, list] = {}  # leader: key -> [newest proposed version, proposals]
        self._logged = asyncio.Event()  # set (and replaced) when changes are logged: wakes the replicator

    def changes_logged(self) -> asyncio.Event:
        """An event set once changes are logged after this call (the replicator waits on it when idle)."""
        return self._logged

    def note_logged(self) -> None:
        logged, self._logged = self._logged, asyncio.Event()
        logged.set()

    @property
    def replication(self) -> dict | None:
        return self.config.get("replication")  # type: ignore[attr-defined]

    # --- versions -----------------------------------------------------------------

    def stored_version(self, key: bytes) -> tuple[Version, bool]:
        """The applied (version, tombstone) of an item (BASE: none)."""
        raw = self._versions_applying.get(key, _ABSENT)
        if raw is _ABSENT:
            raw = self.engine.storage.get(VERSIONS, key)  # type: ignore[attr-defined]
        return (BASE, False) if raw is None else unpack(raw)  # type: ignore[arg-type]

    def item_version(self, key: bytes) -> Version:
        """The applied version of an item, an unversioned one's being the base version."""
        version = self.stored_version(key)[0]
        if version == BASE and self.applied_value(key) is not None:  # type: ignore[attr-defined]
            settings = self.replication
            return base_version(settings["region"] if settings is not None else "")
        return version

    def newest_version(self, key: bytes) -> Version:
        """The version an item will have once the leader's proposals apply (at least)."""
        pending = self._pending_versions.get(key)
        stored = self.item_version(key)
        return max(stored, pending[0]) if pending is not None else stored

    def pend_version(self, key: bytes, version: Version) -> None:
        slot = self._pending_versions.get(key)
        if slot is None:
            self._pending_versions[key] = [version, 1]
        else:
            slot[0] = max(slot[0], version)
            slot[1] += 1

    def unpend_version(self, key: bytes) -> None:
        slot = self._pending_versions.get(key)
        if slot is not None:
            slot[1] -= 1
            if slot[1] <= 0:
                del self._pending_versions[key]

    # --- applying -------------------------------------------------------------------

    def superseded(self, cmd: node_pb2.WriteCommand, key: bytes) -> bool:
        """Is a replicated change as old as or older than the item's applied version?"""
        return Version(cmd.replicated.ts, cmd.replicated.region) <= self.item_version(key)

    def apply_version(self, batch: Batch, index: int, offset: int, cmd: node_pb2.WriteCommand,
                      m: node_pb2.Mutation, old: dict | None, new: dict | None) -> int:
        """Stamp one item mutation of a versioned entry; a local one also goes
        to the change log (at ``offset`` among the entry's). Returns the changes logged."""
        settings = self.replication
        replicated = cmd.HasField("replicated")
        if replicated:
            version = Version(cmd.replicated.ts, cmd.replicated.region)
        elif settings is None:
            return 0  # proposed while the table was global, applied after it stopped being
        else:
            version = Version(max(cmd.version_ts, self.stored_version(m.key)[0].ts + 1), settings["region"])
        value = pack(version, new is None)
        self._versions_applying[m.key] = value
        batch.put(VERSIONS, m.key, value)
        if new is None:
            batch.put(STREAMS, tombstone_key(self.group, version.ts, m.key), b"")  # type: ignore[attr-defined]
        self.hlc.observe(version.ts)
        if replicated or settings is None:
            return 0
        rec = change_record(settings["keys"], m.key, old, new, version, m.by_ttl)
        batch.put(STREAMS, change_key(self.group, index, offset), rec.SerializeToString())  # type: ignore[attr-defined]
        return 1

    def oldest_tombstone(self) -> int | None:
        """The timestamp of this partition's oldest tombstone entry (None: none)."""
        lo, hi = tombstone_bounds(self.group)  # type: ignore[attr-defined]
        for entry, _ in self.engine.storage.iter_range(STREAMS, lo, hi, limit=1):  # type: ignore[attr-defined]
            return tombstone_entry(self.group, entry)[0]  # type: ignore[attr-defined]
        return None

    def apply_collect(self, batch: Batch, cutoff: int) -> None:
        """Drop up to COLLECT_MOST tombstones older than ``cutoff`` (a timestamp),
        except those a newer write replaced (only their entry goes)."""
        group = self.group  # type: ignore[attr-defined]
        lo, _ = tombstone_bounds(group)
        last = None
        for entry, _ in self.engine.storage.iter_range(STREAMS, lo, tombstone_key(group, cutoff),  # type: ignore[attr-defined]
                                                       limit=COLLECT_MOST):
            ts, key = tombstone_entry(group, entry)
            version, tombstone = self.stored_version(key)
            if tombstone and version.ts == ts:
                batch.delete(VERSIONS, key)
                self._versions_applying[key] = None
            last = entry
        if last is not None:
            batch.delete_range(STREAMS, lo, last + b"\x00")

    def apply_replication_config(self, batch: Batch, index: int, wanted: dict) -> None:
        self._set_replication(batch, applied_settings(self.replication, wanted, index))

    def apply_replication_checkpoint(self, batch: Batch, cp: node_pb2.ReplicationCheckpoint) -> None:
        """A region acknowledged the changes before ``cp``: it never moves back;
        the log is trimmed up to the least acknowledged position of all regions."""
        settings = self.replication
        if settings is None or cp.region not in settings["checkpoints"]:
            return
        if cp.backfilled or cp.backfill_done:
            backfills = dict(settings["backfills"])
            at = backfills.get(cp.region)
            if at is None:
                return  # done already
            if cp.backfill_done:
                del backfills[cp.region]
            elif at and bytes.fromhex(at) >= cp.backfilled:
                return  # past there already (a deposed leader's late word)
            else:
                backfills[cp.region] = cp.backfilled.hex()
            self._set_replication(batch, {**settings, "backfills": backfills})
            return
        at = [cp.index, cp.offset]
        if settings["checkpoints"][cp.region] >= at:
            return
        self._set_replication(batch, {**settings, "checkpoints": {**settings["checkpoints"], cp.region: at}})

    def _set_replication(self, batch: Batch, settings: dict | None) -> None:
        lo, hi = change_bounds(self.group)  # type: ignore[attr-defined]
        if settings is None:
            batch.delete_range(STREAMS, lo, hi)
        else:
            least = min(settings["checkpoints"].values())
            if least[0] - settings.get("trimmed", 0) >= TRIM_EVERY:
                batch.delete_range(STREAMS, lo, change_key(self.group, *least))  # type: ignore[attr-defined]
                settings = {**settings, "trimmed": least[0]}
        self.config = {**self.config, "replication": settings}  # type: ignore[attr-defined]
        batch.set_group_config(self.group, orjson.dumps(self.config))  # type: ignore[attr-defined]

    def checkpoint_of(self, region: str) -> tuple[int, int] | None:
        settings = self.replication
        at = settings["checkpoints"].get(region) if settings is not None else None
        return (at[0], at[1]) if at is not None else None

    def backfill_of(self, region: str) -> bytes | None:
        """Where a region's backfill goes on (after this key; b"": from the start), or None: none due."""
        settings = self.replication
        at = settings["backfills"].get(region) if settings is not None else None
        return bytes.fromhex(at) if at is not None else None

    def backfill_changes(self, after: bytes | None, limit: int,
                         max_bytes: int = 1 << 62) -> tuple[list[node_pb2.ReplicationChange], bytes | None]:
        """The next ``limit`` existing items (stopping once they reach
        ``max_bytes``) after the key ``after`` (None: from the start) as
        changes with their versions, and the last key (None: no more)."""
        storage = self.engine.storage  # type: ignore[attr-defined]
        lo, hi = self.data_range()  # type: ignore[attr-defined]
        if after:
            lo = after + b"\x00"
        rows = []
        size = 0
        for row in storage.iter_range(DATA, lo, hi, limit=limit):
            rows.append(row)
            size += len(row[1])
            if size >= max_bytes:
                break
        if not rows:
            return [], None
        settings = self.replication
        keys, region = (settings["keys"], settings["region"]) if settings is not None else ([], "")
        versions = storage.multi_get(VERSIONS, [k for k, _ in rows])
        out = []
        for (key, value), raw in zip(rows, versions):
            version = unpack(raw)[0] if raw is not None else base_version(region)
            item = orjson.loads(value)
            out.append(node_pb2.ReplicationChange(keys=orjson.dumps({k: item[k] for k in keys if k in item}),
                                                  new_image=value,
                                                  version=node_pb2.Version(ts=version.ts, region=version.region)))
        return out, rows[-1][0]

    def replicate_result(self, result: Any) -> node_pb2.DataResponse:
        return node_pb2.DataResponse(superseded=result == "superseded")
