"""Byte layouts of every key a node stores, per column family: shared with the
routers, which compute an item's key (and so its partition) and a query's range.

All keys compare bytewise (RocksDB's default comparator in raw mode), so each
layout is chosen so that the ranges we scan are contiguous:

``data``    ``table_id u32 BE | hash u64 BE | encoded pk | encoded sk``.
            The pk/sk encodings come from the caller (``ddb.encoding``); they are
            self-delimiting and order-preserving, so one partition key's items are
            one contiguous range in sort-key order and a table's items are in hash
            order. Table id ``0xFFFFFFFF`` is reserved so that every table's range
            has a finite end (``delete_range`` needs one).
``raft``    ``group | tag | [index u64 BE]`` where ``group`` is length-prefixed
            (see :func:`encode_group`), so no group's keys prefix another's.
``meta``    ``tag | group``.
``streams`` a base partition's global-index outbox (``O | group | index``,
            node/partition/global_indexes.py) and its stream records:
            ``R | group | r | index u64 BE | offset u32 BE`` in log order,
            and ``R | group | t`` the position trimming reached (see
            :func:`stream_record_key`); a global table partition's change
            log ``C | group | index | offset`` (:func:`change_key`) and its
            tombstones by age ``D | group | ts | item key`` (:func:`tombstone_key`).
``versions`` item versions of global tables, keyed like the items (``data``).
"""

from __future__ import annotations

import struct

U64_LIMIT = 1 << 64
MAX_TABLE_ID = (1 << 32) - 2

_HEADER = struct.Struct(">IQ")
_TABLE = struct.Struct(">I")
_U64 = struct.Struct(">Q")

# raft family tags (one byte after the encoded group)
RAFT_HARD_STATE = b"H"
RAFT_LOG = b"L"
RAFT_SNAPSHOT_META = b"S"
RAFT_COMPACTED = b"T"
_RAFT_LOG_END = b"M"  # RAFT_LOG + 1: exclusive end of a group's log
_RAFT_GROUP_END = b"\xff"  # above every tag: exclusive end of a group's keys

# meta family tags (first byte)
META_APPLIED = b"A"
META_GROUP = b"G"
_META_GROUP_END = b"H"


def u64(value: int) -> bytes:
    """8-byte big-endian encoding (sorts like the integer)."""
    return _U64.pack(value)


def read_u64(data: bytes, offset: int = 0) -> int:
    return _U64.unpack_from(data, offset)[0]


def prefix_successor(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with ``prefix``.

    None when there is none (empty prefix or all 0xFF bytes): the range is
    unbounded above.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


# --- data family --------------------------------------------------------


def _check_table(table_id: int) -> None:
    if not 0 <= table_id <= MAX_TABLE_ID:
        raise ValueError(f"table id {table_id} out of range 0..{MAX_TABLE_ID}")


def item_key(table_id: int, hash64: int, pk_bytes: bytes, sk_bytes: bytes = b"") -> bytes:
    """Full data key of one item."""
    _check_table(table_id)
    return b"".join((_HEADER.pack(table_id, hash64), pk_bytes, sk_bytes))


def item_prefix(table_id: int, hash64: int, pk_bytes: bytes) -> bytes:
    """Prefix shared by every item of one partition key (a Query range)."""
    _check_table(table_id)
    return _HEADER.pack(table_id, hash64) + pk_bytes


def table_prefix(table_id: int) -> bytes:
    _check_table(table_id)
    return _TABLE.pack(table_id)


def table_bounds(table_id: int) -> tuple[bytes, bytes]:
    """``[lo, hi)`` holding every item of a table."""
    _check_table(table_id)
    return _TABLE.pack(table_id), _TABLE.pack(table_id + 1)


def hash_range_bounds(table_id: int, lo_hash: int, hi_hash: int) -> tuple[bytes, bytes]:
    """``[lo, hi)`` holding a table's items whose hash is in ``[lo_hash, hi_hash)``.

    ``hi_hash`` may be ``2**64`` (the end of the hash space).
    """
    _check_table(table_id)
    if not 0 <= lo_hash <= hi_hash <= U64_LIMIT:
        raise ValueError(f"bad hash range [{lo_hash}, {hi_hash})")
    lo = _HEADER.pack(table_id, lo_hash)
    if hi_hash == U64_LIMIT:
        return lo, _TABLE.pack(table_id + 1)
    return lo, _HEADER.pack(table_id, hi_hash)


def split_item_key(key: bytes) -> tuple[int, int, bytes]:
    """``(table_id, hash64, encoded pk + sk)``; the caller splits pk from sk."""
    table_id, hash64 = _HEADER.unpack_from(key)
    return table_id, hash64, key[_HEADER.size :]


# --- raft and meta families --------------------------------------------


def encode_group(group: str | bytes) -> bytes:
    """Length-prefixed group id: ``len u8 | utf-8 bytes``."""
    raw = group.encode() if isinstance(group, str) else bytes(group)
    if not 1 <= len(raw) <= 255:
        raise ValueError(f"group id must be 1..255 bytes, got {len(raw)}")
    return bytes((len(raw),)) + raw


def raft_key(group_enc: bytes, tag: bytes) -> bytes:
    return group_enc + tag


def raft_log_key(group_enc: bytes, index: int) -> bytes:
    return group_enc + RAFT_LOG + _U64.pack(index)


def raft_log_bound(group_enc: bytes, index: int) -> bytes:
    """Log key of ``index``, or the log's end when ``index`` is past the u64 space."""
    if index >= U64_LIMIT:
        return group_enc + _RAFT_LOG_END
    return raft_log_key(group_enc, max(index, 0))


def raft_log_bounds(group_enc: bytes) -> tuple[bytes, bytes]:
    return group_enc + RAFT_LOG, group_enc + _RAFT_LOG_END


def raft_log_index(key: bytes) -> int:
    """Index of a raft log key (the trailing 8 bytes)."""
    return _U64.unpack_from(key, len(key) - 8)[0]


def raft_group_bounds(group_enc: bytes) -> tuple[bytes, bytes]:
    """``[lo, hi)`` holding every raft-family key of one group."""
    return group_enc, group_enc + _RAFT_GROUP_END


def meta_key(tag: bytes, group_enc: bytes) -> bytes:
    return tag + group_enc


def meta_group_bounds() -> tuple[bytes, bytes]:
    return META_GROUP, _META_GROUP_END


def decode_meta_group(key: bytes) -> str:
    """Group id of a ``tag | group`` meta key."""
    return key[2 : 2 + key[1]].decode()


# --- streams family: stream records ----------------------------------------

_U32 = struct.Struct(">I")
_STREAM_RECORD = b"r"
_STREAM_TRIM = b"t"


def stream_prefix(group: str) -> bytes:
    return b"R" + encode_group(group)


def stream_bounds(group: str) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of every stream key of one partition (records and trim mark)."""
    prefix = stream_prefix(group)
    return prefix, prefix + b"\xff"


def stream_record_key(group: str, index: int, offset: int) -> bytes:
    """Key of the record ``offset`` of log entry ``index``: records sort in log order."""
    return stream_prefix(group) + _STREAM_RECORD + _U64.pack(index) + _U32.pack(offset)


def stream_records_end(group: str) -> bytes:
    return stream_prefix(group) + bytes((_STREAM_RECORD[0] + 1,))


def stream_record_position(key: bytes) -> tuple[int, int]:
    """``(index, offset)`` of a record key."""
    return _U64.unpack_from(key, len(key) - 12)[0], _U32.unpack_from(key, len(key) - 4)[0]


def stream_trim_key(group: str) -> bytes:
    """Where a replica keeps the first position its trimming left (u64 index, u32 offset)."""
    return stream_prefix(group) + _STREAM_TRIM


# --- streams family: a partition's point-in-time recovery log ----------------

_PITR = b"P"


def pitr_bounds(group: str) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of a partition's point-in-time recovery log: ``P | group |
    index u64 BE | offset u32 BE``, every item write in log order (router/pitr.py)."""
    prefix = _PITR + encode_group(group)
    return prefix, prefix + b"\xff" * 13


def pitr_key(group: str, index: int, offset: int) -> bytes:
    return pitr_bounds(group)[0] + _U64.pack(index) + _U32.pack(offset)


def pitr_position(key: bytes) -> tuple[int, int]:
    return _U64.unpack_from(key, len(key) - 12)[0], _U32.unpack_from(key, len(key) - 4)[0]


# --- streams family: a global table partition's change log -----------------

_CHANGES = b"C"


def change_bounds(group: str) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of a partition's change log: ``C | group | index u64 BE | offset u32 BE``,
    its local writes to a global table in log order (node/partition/versions.py)."""
    prefix = _CHANGES + encode_group(group)
    return prefix, prefix + b"\xff" * 13


def change_key(group: str, index: int, offset: int) -> bytes:
    return change_bounds(group)[0] + _U64.pack(index) + _U32.pack(offset)


def change_position(key: bytes) -> tuple[int, int]:
    """``(index, offset)`` of a change key."""
    return _U64.unpack_from(key, len(key) - 12)[0], _U32.unpack_from(key, len(key) - 4)[0]


_TOMBSTONES = b"D"


def tombstone_bounds(group: str) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of a partition's tombstones by age: ``D | group | ts u64 BE | item key``."""
    prefix = _TOMBSTONES + encode_group(group)
    return prefix, prefix + b"\xff" * 9


def tombstone_key(group: str, ts: int, key: bytes = b"") -> bytes:
    """The entry of the tombstone of item ``key`` with timestamp ``ts`` (no key: where ``ts`` starts)."""
    return tombstone_bounds(group)[0] + _U64.pack(ts) + key


def tombstone_entry(group: str, entry: bytes) -> tuple[int, bytes]:
    """``(ts, item key)`` of a tombstone entry."""
    at = len(tombstone_bounds(group)[0])
    return _U64.unpack_from(entry, at)[0], entry[at + 8:]


# --- streams family: a partition's transaction locks -----------------------

_TXN_LOCKS = b"X"


def txn_lock_bounds(group: str) -> tuple[bytes, bytes]:
    """``[lo, hi)`` of a partition's transaction locks: ``X | group | item key``
    (node/partition/txn_locks.py)."""
    prefix = _TXN_LOCKS + encode_group(group)
    return prefix, prefix + b"\xff" * 5


def txn_lock_key(group: str, key: bytes) -> bytes:
    """Where the lock on item ``key`` lives."""
    return txn_lock_bounds(group)[0] + key
