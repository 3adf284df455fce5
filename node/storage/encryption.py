"""Encryption at rest: every value a table owns is sealed with AES-GCM under
the table's data key as it enters RocksDB and opened as it leaves.

This is the one choke point: ``Batch.put`` seals, ``Storage``'s reads open,
so items, local and global index entries, stream records, the index outbox,
versions, the PITR log, transaction locks and Raft log entries of a table's
groups are all covered without their writers knowing. Keys stay in the clear
(their order is what range reads use); so do the ``meta`` family and the
``meta`` group (the metadata: table definitions and wrapped keys).

Which table a value belongs to comes from its key: ``data`` and ``versions``
keys start with the table id; ``raft`` keys with the group (log entries and
the snapshot record are sealed; hard states and marks hold no data),
``streams`` keys with a tag and the group, and a partition's group is
``t<table id>.…``.

A sealed value is ``0xE7 | key version u32 BE | nonce (12) | ciphertext+tag``;
the associated data is the header and the table id, so a value moved to
another table, or relabelled with another key version, fails to open.
0xE7 starts no plaintext value a node stores (JSON, protobuf: wire type 7 is
invalid, big-endian counters), so values written before a table had a key
(and tables without one, on a node given no key file) read as they are.

Data keys come from the metadata wrapped under the master key
(``cluster/kms.py``); the node keeps a copy of each wrapped key in its
``meta`` family, so a restart replays its Raft logs before it sees the
metadata again.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cluster.keys import RAFT_LOG, RAFT_SNAPSHOT_META

from .errors import StorageError
from .families import DATA, RAFT, STREAMS, VERSIONS

if TYPE_CHECKING:
    from cluster.kms import MasterKeys

log = logging.getLogger(__name__)

MAGIC = 0xE7
_HEAD = struct.Struct(">BI")
_NONCE = 12
_OPEN_AT = _HEAD.size + _NONCE
OVERHEAD = _OPEN_AT + 16  # header, nonce and the GCM tag
_TABLE = struct.Struct(">I")
_RAFT_SEALED = (RAFT_LOG[0], RAFT_SNAPSHOT_META[0])
KEY_RECORD = b"K"  # meta family: K | table id u32 | version u32 -> wrapped data key (utf-8)
_KEY_RECORD_END = b"L"


class DecryptionError(StorageError):
    """A stored value does not open: wrong table, tampered, or its key is unknown."""


class _TableKeys:
    __slots__ = ("aeads", "current", "head", "aad")

    def __init__(self) -> None:
        self.aeads: dict[int, AESGCM] = {}
        self.current = 0
        self.head = b""
        self.aad = b""  # the current version's associated data: the header and the table id

    def set_current(self, table_id: int, version: int) -> None:
        self.current, self.head = version, _HEAD.pack(MAGIC, version)
        self.aad = self.head + _TABLE.pack(table_id)


# A data key's table id carries an index space above bit 24 (ddb/indexes.py
# SPACE_SHIFT: local index entries, item collection sizes, index fences): those
# values are their table's, sealed under its key.
_TABLE_ID_MASK = (1 << 24) - 1


def table_of(cf: str, key: bytes, groups: dict[bytes, int | None]) -> int | None:
    """The table owning a stored key, or None (the meta group, unknown layouts)."""
    if cf == DATA or cf == VERSIONS:
        return _TABLE.unpack_from(key)[0] & _TABLE_ID_MASK if len(key) >= 4 else None
    if cf == RAFT:  # log entries and the snapshot record; hard states and marks hold no data
        if not key or len(key) <= 1 + key[0] or key[1 + key[0]] not in _RAFT_SEALED:
            return None
        enc = key[: 1 + key[0]]
    elif cf == STREAMS:
        enc = key[1 : 2 + key[1]] if len(key) > 1 else b""
    else:
        return None
    try:
        return groups[enc]
    except KeyError:
        groups[enc] = tid = group_table(enc[1:].decode(errors="replace"))
        return tid


def group_table(group: str) -> int | None:
    """``t7.p0`` and ``t7.h8000…`` belong to table 7; ``meta`` to none."""
    if not group.startswith("t"):
        return None
    head = group[1:].partition(".")[0]
    return int(head) if head.isdigit() else None


class ValueCipher:
    """Seals and opens values by the table their key names (see the module doc).

    Without master keys (a node started without ``--key-file``) it is off:
    values pass as they are.
    """

    def __init__(self, master: MasterKeys | None,
                 load: Callable[[], Iterable[tuple[bytes, bytes]]] = tuple) -> None:
        self.master = master
        self._tables: dict[int, _TableKeys] = {}
        self._groups: dict[bytes, int | None] = {}
        self._wrapped: dict[tuple[int, int], str] = {}
        self._warned: set[int] = set()
        if master is not None:
            for k, v in load():
                tid, version = struct.unpack_from(">II", k, 1)
                self._add(tid, version, v.decode())

    @property
    def enabled(self) -> bool:
        return self.master is not None

    # --- keys -------------------------------------------------------------------

    def _add(self, table_id: int, version: int, wrapped: str) -> bool:
        """Know a key version; True when it is new (or newly wrapped) here."""
        if self._wrapped.get((table_id, version)) == wrapped:
            return False
        assert self.master is not None
        t = self._tables.setdefault(table_id, _TableKeys())
        t.aeads[version] = AESGCM(self.master.unwrap(wrapped))
        self._wrapped[(table_id, version)] = wrapped
        if version > t.current:
            t.set_current(table_id, version)
        return True

    def learn(self, tables: Iterable[Any]) -> list[tuple[bytes, bytes]]:
        """Take the data keys of tables (``cluster.meta.TableInfo``: ``keys``,
        ``key_version``); answers the ``meta`` family records to persist."""
        if self.master is None:
            return []
        out = []
        for t in tables:
            for k in getattr(t, "keys", None) or ():
                if self._add(t.id, k["id"], k["wrapped"]):
                    out.append((key_record(t.id, k["id"]), k["wrapped"].encode()))
            cur = self._tables.get(t.id)
            if cur is not None and getattr(t, "key_version", 0) in cur.aeads:
                cur.set_current(t.id, t.key_version)  # a rotation moves it; never to a version not held
        return out

    def versions(self, table_id: int) -> tuple[int, list[int]]:
        """(current version, every version known) of a table's keys."""
        t = self._tables.get(table_id)
        return (0, []) if t is None else (t.current, sorted(t.aeads))

    # --- values -----------------------------------------------------------------

    def seal(self, cf: str, key: bytes, value: bytes) -> bytes:
        if self.master is None:
            return value
        tid = table_of(cf, key, self._groups)
        if tid is None:
            return value
        t = self._tables.get(tid)
        if t is None or not t.current:
            if tid not in self._warned:
                self._warned.add(tid)
                log.warning("table id %d has no data key here: its values are stored unencrypted", tid)
            return value
        nonce = os.urandom(_NONCE)
        return b"".join((t.head, nonce, t.aeads[t.current].encrypt(nonce, value, t.aad)))

    def stale(self, cf: str, key: bytes, value: bytes) -> bool:
        """Is ``value`` sealed under an older key version than its table's current one?"""
        if not value or value[0] != MAGIC or self.master is None:
            return False
        tid = table_of(cf, key, self._groups)
        t = None if tid is None else self._tables.get(tid)
        return t is not None and _HEAD.unpack_from(value)[1] < t.current

    @staticmethod
    def plain_size(value: bytes) -> int:
        """The length a stored value had before it was sealed."""
        return len(value) - OVERHEAD if value and value[0] == MAGIC else len(value)

    def open(self, cf: str, key: bytes, value: bytes) -> bytes:
        if not value or value[0] != MAGIC or self.master is None:
            return value
        tid = table_of(cf, key, self._groups)
        if tid is None:
            return value
        _, version = _HEAD.unpack_from(value)
        t = self._tables.get(tid)
        aead = None if t is None else t.aeads.get(version)
        if aead is None:
            raise DecryptionError(f"no data key version {version} of table id {tid} on this node")
        try:
            return aead.decrypt(value[_HEAD.size:_OPEN_AT], value[_OPEN_AT:],
                                value[:_HEAD.size] + _TABLE.pack(tid))
        except InvalidTag:
            raise DecryptionError(f"a value of table id {tid} does not open with its key "
                                  f"(version {version}): moved or tampered with") from None


def key_record(table_id: int, version: int) -> bytes:
    return KEY_RECORD + struct.pack(">II", table_id, version)


def key_record_bounds() -> tuple[bytes, bytes]:
    return KEY_RECORD, _KEY_RECORD_END
