"""Atomic write batches spanning column families.

Applying a raft entry writes its data change, its stream record and the
group's applied index in one batch, so after any crash they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from rocksdict import ColumnFamily, WriteBatch

from cluster import keys
from .encryption import ValueCipher
from .errors import StorageClosed, StorageError
from .families import DATA, META, STREAMS


# A group's encoded id, asked for by every turn's log append, hard state and
# applied index: made once per group, not three times a turn.
encode_group = lru_cache(maxsize=4096)(keys.encode_group)


class Batch:
    """A set of puts and deletes committed atomically by ``Storage.write``.

    Single use: rocksdict consumes the underlying WriteBatch on write. Operations
    apply in the order added, so a put after a ``delete_range`` covering its key
    survives. Create with ``Storage.batch()``.
    """

    __slots__ = ("_wb", "_handles", "_written", "_seal", "items", "ranged")

    def __init__(self, handles: Mapping[str, ColumnFamily], cipher: ValueCipher | None = None,
                 track: bool = False) -> None:
        # ``handles`` is the storage's own dict, emptied on close, so a batch
        # outliving the storage does not keep the database (and its lock) open.
        self._handles = handles
        # Values of a table's families are sealed on the way in (encryption.py).
        self._seal = cipher.seal if cipher is not None and cipher.enabled else None
        self._wb = WriteBatch(raw_mode=True)
        self._written = False
        # With ``track``, the data family's writes in order, as plaintext (None:
        # deleted), and whether a range of it is deleted: the item cache's changes.
        self.items: list[tuple[bytes, bytes | None]] | None = [] if track else None
        self.ranged = False

    def _cf(self, cf: str) -> ColumnFamily:
        try:
            return self._handles[cf]
        except KeyError:
            if not self._handles:
                raise StorageClosed("storage is closed") from None
            raise ValueError(f"unknown column family {cf!r}") from None

    # --- generic --------------------------------------------------------

    def put(self, cf: str, key: bytes, value: bytes) -> None:
        if cf == DATA and self.items is not None:
            self.items.append((key, value))
        if self._seal is not None and cf != META:
            value = self._seal(cf, key, value)
        self._wb.put(key, value, self._cf(cf))

    def delete(self, cf: str, key: bytes) -> None:
        if cf == DATA and self.items is not None:
            self.items.append((key, None))
        self._wb.delete(key, self._cf(cf))

    def delete_range(self, cf: str, lo: bytes, hi: bytes) -> None:
        """Delete every key in ``[lo, hi)`` with one range tombstone."""
        if lo < hi:
            if cf == DATA:
                self.ranged = True
            self._wb.delete_range(lo, hi, self._cf(cf))

    # --- domain conveniences -------------------------------------------

    def put_item(self, key: bytes, value: bytes) -> None:
        if self.items is not None:
            self.items.append((key, value))
        if self._seal is not None:
            value = self._seal(DATA, key, value)
        self._wb.put(key, value, self._cf(DATA))

    def delete_item(self, key: bytes) -> None:
        if self.items is not None:
            self.items.append((key, None))
        self._wb.delete(key, self._cf(DATA))

    def put_stream_record(self, key: bytes, value: bytes) -> None:
        self.put(STREAMS, key, value)

    def delete_stream_record(self, key: bytes) -> None:
        self._wb.delete(key, self._cf(STREAMS))

    def set_applied_index(self, group: str | bytes, index: int) -> None:
        key = keys.meta_key(keys.META_APPLIED, encode_group(group))
        self._wb.put(key, keys.u64(index), self._cf(META))

    def set_group_config(self, group: str | bytes, data: bytes) -> None:
        """Record a replica's config; its presence lists the group in ``list_groups``."""
        key = keys.meta_key(keys.META_GROUP, keys.encode_group(group))
        self._wb.put(key, data, self._cf(META))

    # --- introspection --------------------------------------------------

    def __len__(self) -> int:
        return 0 if self._written else len(self._wb)

    def size_in_bytes(self) -> int:
        return 0 if self._written else self._wb.size_in_bytes()

    def _take(self) -> WriteBatch:
        """Hand the WriteBatch to ``Storage.write``; a batch commits once."""
        if self._written:
            raise StorageError("batch already written")
        self._written = True
        return self._wb
