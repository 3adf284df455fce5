"""The stream side of a partition replica: its stream settings (a log entry,
so every replica switches at the same position), the records every applied
write leaves, and reads of them.

Every replica writes the records of an entry in the batch that applies the
entry, keyed by the entry's log index and the record's place in it
(cluster/keys.py), so a committed write has exactly one record on every
replica and a write that never committed has none. A record keeps the
event, the item's keys and the images its stream's view type shows; the
router turns it into DynamoDB's Record (ddb/streams.py). Trimming past the
retention is local to each replica (node/feed/streams.py); a read before the
trimmed point is refused with TrimmedDataAccessException.

Settings (``config["streams"]``, oldest first): ``label``, ``view``,
``keys`` (the table's key attribute names), ``start`` (the log index of the
entry that enabled it: its records follow), ``start_ms`` (its leader's
clock) and ``end`` (the index of the entry that disabled it, or None).
"""

from __future__ import annotations

import orjson

from cluster.keys import (read_u64, stream_record_key, stream_record_position, stream_records_end,
                          stream_trim_key, u64)
from ddb.errors import TrimmedDataAccessException
from ddb.streams import event_name
from node.storage import STREAMS, Batch, Storage
from trireme_pb import node_pb2

Record = node_pb2.StreamRecord
Position = node_pb2.StreamPosition
EVENTS = {"INSERT": Record.INSERT, "MODIFY": Record.MODIFY, "REMOVE": Record.REMOVE}
OLD_VIEWS = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
NEW_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
TRIMMED = ("The operation attempted to read past the oldest stream record in a shard, or the shard "
           "iterator points to a record that was trimmed (older than the stream's retention period).")


def open_stream(config: dict) -> dict | None:
    """The enabled stream of a partition's settings, or None."""
    streams = config.get("streams")
    if streams and streams[-1]["end"] is None:
        return streams[-1]
    return None


def applied_settings(have: list[dict], wanted: list[dict], index: int, now_ms: int) -> list[dict]:
    """The settings after the entry at ``index`` asked for ``wanted`` (the
    metadata's streams: label, view, keys, enabled): a new label starts at
    ``index``, a disabled one ends there; other streams stay as they are."""
    out = [dict(s) for s in have]
    known = {s["label"]: s for s in out}
    for w in wanted:
        s = known.get(w["label"])
        if s is None:
            s = {"label": w["label"], "view": w["view"], "keys": w["keys"], "start": index, "start_ms": now_ms,
                 "end": None}
            out.append(s)
            known[w["label"]] = s
        if not w["enabled"] and s["end"] is None:
            s["end"] = index
    # Only the newest stream may be open: an older one left open (its disable
    # missed) ends where the newer one starts.
    for s, later in zip(out, out[1:]):
        if s["end"] is None:
            s["end"] = later["start"]
    return out


def stream_record(stream: dict, old: dict | None, new: dict | None, created_ms: int,
                  by_ttl: bool) -> Record | None:
    """The stored record of one item going from ``old`` to ``new``; None when
    nothing changed (no record, as DynamoDB)."""
    name = event_name(old, new)
    if name is None:
        return None
    item = new if new is not None else old
    rec = Record(created_ms=created_ms, event=EVENTS[name], by_ttl=by_ttl,
                 keys=orjson.dumps({k: item[k] for k in stream["keys"] if k in item}))
    view = stream["view"]
    if old is not None and view in OLD_VIEWS:
        rec.old_image = orjson.dumps(old)
    if new is not None and view in NEW_VIEWS:
        rec.new_image = orjson.dumps(new)
    return rec


def put_record(batch: Batch, group: str, index: int, offset: int, record: Record) -> None:
    batch.put(STREAMS, stream_record_key(group, index, offset), record.SerializeToString())


def _pos(index: int, offset: int = 0) -> Position:
    return Position(index=index, offset=offset)


def trim_mark(storage: Storage, group: str) -> tuple[int, int]:
    """The first position this replica still holds records from ((0, 0): none trimmed)."""
    value = storage.get(STREAMS, stream_trim_key(group))
    if value is None:
        return 0, 0
    return read_u64(value), int.from_bytes(value[8:12], "big")


def find(config: dict, label: str) -> dict | None:
    return next((s for s in config.get("streams", []) if s["label"] == label), None)


def shard_positions(storage: Storage, group: str, stream: dict | None) -> tuple[Position, Position]:
    """(horizon, latest) of a stream's shard on this replica: the oldest
    position it still holds, and the one after its newest record (after the
    applied entries; a closed shard's end)."""
    if stream is None:  # not applied here yet: nothing to read, from the start of time
        return _pos(0), _pos(0)
    start = (stream["start"] + 1, 0)
    horizon = max(start, trim_mark(storage, group))
    end = stream["end"]
    latest = (end, 0) if end is not None else (max(storage.applied_index(group) + 1, start[0]), 0)
    return _pos(*horizon), _pos(*max(latest, horizon))


def read(storage: Storage, group: str, stream: dict | None, frm: tuple[int, int], limit: int,
         max_bytes: int) -> node_pb2.DataResponse:
    """Records of a stream's shard from ``frm``: at most ``limit`` and about
    ``max_bytes``; the next position, and ``shard_end`` once a closed
    shard is read to its end."""
    resp = node_pb2.DataResponse()
    if stream is None:
        resp.stream_next.CopyFrom(_pos(*frm))
        return resp
    horizon, latest = shard_positions(storage, group, stream)
    if frm < (horizon.index, horizon.offset) and (horizon.index, horizon.offset) > (stream["start"] + 1, 0):
        raise TrimmedDataAccessException(TRIMMED)  # else: before the shard's start, which holds nothing
    frm = max(frm, (horizon.index, horizon.offset))
    hi = stream_record_key(group, stream["end"], 0) if stream["end"] is not None else stream_records_end(group)
    size = 0
    nxt = frm
    full = False
    for key, value in storage.iter_range(STREAMS, stream_record_key(group, *frm), hi, limit=limit + 1):
        if len(resp.records) >= limit or (resp.records and size + len(value) > max_bytes):
            full = True
            break
        index, offset = stream_record_position(key)
        rec = resp.records.add()
        rec.ParseFromString(value)
        rec.position.index, rec.position.offset = index, offset
        size += len(value)
        nxt = (index, offset + 1)
    if not full:
        # Everything up to the applied index is read: the next record comes later.
        nxt = max(nxt, (latest.index, latest.offset))
        resp.shard_end = stream["end"] is not None
    resp.stream_next.CopyFrom(_pos(*nxt))
    return resp


def trim(storage: Storage, group: str, cutoff_ms: int, most: int) -> int:
    """Drop up to ``most`` of this replica's oldest records created before
    ``cutoff_ms`` (local: every replica trims by the records' own times, so
    they agree up to when each ran). Returns how many were dropped."""
    lo = stream_record_key(group, *trim_mark(storage, group))
    last = None
    n = 0
    for key, value in storage.iter_range(STREAMS, lo, stream_records_end(group), limit=most):
        if Record.FromString(value).created_ms >= cutoff_ms:
            break
        last = key
        n += 1
    if last is None:
        return 0
    index, offset = stream_record_position(last)
    batch = storage.batch()
    batch.delete_range(STREAMS, lo, last + b"\x00")
    batch.put(STREAMS, stream_trim_key(group), u64(index) + (offset + 1).to_bytes(4, "big"))
    storage.write(batch, sync=False)
    return n
