"""The node's single RocksDB: column families, reads, range scans and commits.

Range scans never use rocksdict's ReadOptions iterate bounds: in rocksdict
0.3.29 ``set_iterate_lower_bound`` overwrites the *upper* bound. Bounds are
checked here instead, which also keeps behaviour independent of the binding.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocksdict import Cache, ColumnFamily, CompactOptions, Options, Rdict, ReadOptions, WriteOptions

from cluster import keys
from .batch import Batch
from .encryption import ValueCipher, key_record_bounds
from .errors import StorageClosed, StorageError
from .item_cache import MISSING, ItemCache
from .families import DATA, FAMILIES, META, RAFT, STREAMS
from .options import StorageConfig, db_options, family_options
from .raftlog import RaftLog
from .reclaim import Reclaimer

if TYPE_CHECKING:
    from cluster.kms import MasterKeys

Item = tuple[bytes, bytes]
_SHARED_COMPACTION = CompactOptions()
_SHARED_COMPACTION.set_exclusive_manual_compaction(False)  # the data family's own compactions go on meanwhile


class Storage:
    """One RocksDB per node with the ``raft``, ``data``, ``streams`` and ``meta`` families.

    Keys and values are raw bytes; a table's values are sealed on the way in
    and opened on the way out by ``cipher`` (encryption.py) when the node has
    master keys. Thread-safe as RocksDB is, except ``close``, which must not
    race other calls.
    """

    def __init__(self, path: Path, config: StorageConfig, master: MasterKeys | None = None) -> None:
        """Use :meth:`open`."""
        self.path = path
        self.config = config
        self._cache = Cache(config.block_cache_bytes)  # must outlive the DB
        families = {name: family_options(name, config, self._cache) for name in FAMILIES}
        # RocksDB refuses to open unless every existing family is named.
        for name in _existing_families(path):
            if name != "default" and name not in families:
                families[name] = Options(raw_mode=True)
        self._db: Rdict | None = Rdict(str(path), db_options(config), column_families=families)
        self._views: dict[str, Rdict] = {name: self._db.get_column_family(name) for name in FAMILIES}
        self._handles: dict[str, ColumnFamily] = {
            name: self._db.get_column_family_handle(name) for name in FAMILIES
        }
        self._data = self._views[DATA]
        self._meta = self._views[META]
        self._wo_sync = WriteOptions()
        self._wo_sync.sync = True
        self._wo_nosync = WriteOptions()
        # A statistics pass walks a leader's whole partition every few seconds
        # (node/control/stats.py): through the block cache, it filled all 32 MB
        # with the blocks it passed, evicting what reads use (a leader's RSS
        # 30 MB above its followers' during a BatchWriteItem load).
        self._ro_bulk = ReadOptions()
        self._ro_bulk.fill_cache(False)
        # Live scans hold a reference to the DB; close() ends them so the DB
        # (and its LOCK file) is really released.
        self._scans: weakref.WeakSet[Iterator[Item]] = weakref.WeakSet()
        self.raft = RaftLog(self)
        raft = self._views[RAFT]
        self._reclaimer = Reclaimer(
            lambda: (raft.property_int_value("rocksdb.total-sst-files-size") or 0,
                     raft.property_int_value("rocksdb.estimate-live-data-size") or 0),
            lambda: raft.compact_range(None, None, _SHARED_COMPACTION)) if config.reclaim_raft else None
        meta = self._meta
        self.cipher = ValueCipher(master, lambda: self._scan(meta, *key_record_bounds(), False, None))
        self._open = self.cipher.open if self.cipher.enabled else None
        self._items = ItemCache(config.item_cache_bytes) if config.item_cache_bytes > 0 else None

    @classmethod
    def open(cls, path: str | os.PathLike[str], config: StorageConfig | None = None,
             master: MasterKeys | None = None) -> Storage:
        """Open (creating if missing) the node's database and all its families;
        with ``master``, tables' values are encrypted (encryption.py)."""
        return cls(Path(path), config or StorageConfig.from_env(), master)

    def learn_keys(self, tables: Iterable[Any]) -> None:
        """Take the tables' data keys from the metadata (``TableInfo``), keeping
        a copy of each new wrapped key so a restart can open what it replays."""
        records = self.cipher.learn(tables)
        if records:
            batch = self.batch()
            for k, v in records:
                batch.put(META, k, v)
            self.write(batch, sync=True)

    def close(self) -> None:
        """Close the database; idempotent. Open scans are ended, batches disowned."""
        if self._db is None:
            return
        if self._reclaimer is not None:
            self._reclaimer.stop()
        db, self._db = self._db, None
        for scan in list(self._scans):
            try:
                scan.close()  # type: ignore[attr-defined]
            except ValueError:  # running in another thread; nothing safe to do
                pass
        self._scans.clear()
        # rocksdict keeps the DB open while any family view or handle lives.
        self._handles.clear()
        for view in self._views.values():
            view.close()
        self._views.clear()
        self._data = self._meta = None  # type: ignore[assignment]
        if self._items is not None:
            self._items.clear()
        db.close()

    @property
    def closed(self) -> bool:
        return self._db is None

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _view(self, cf: str) -> Rdict:
        try:
            return self._views[cf]
        except KeyError:
            if self._db is None:
                raise StorageClosed("storage is closed") from None
            raise ValueError(f"unknown column family {cf!r}") from None

    # --- writes ---------------------------------------------------------

    def batch(self) -> Batch:
        if self._db is None:
            raise StorageClosed("storage is closed")
        return Batch(self._handles, self.cipher, self._items is not None)

    def write(self, batch: Batch, sync: bool = True) -> None:
        """Commit ``batch`` atomically.

        ``sync=False`` leaves the WAL write in the OS (it survives a process
        kill, not a machine crash) until ``flush_wal(sync=True)``. Note that a
        synced write holds the GIL through the fsync; ``flush_wal`` does not.
        """
        if self._db is None:
            raise StorageClosed("storage is closed")
        cache, items = self._items, batch.items
        if cache is None or not (items or batch.ranged):
            self._db.write(batch._take(), self._wo_sync if sync else self._wo_nosync)
            return
        # The item cache forgets what the batch writes first, learns it after (item_cache.py).
        token = cache.begin_write(None if batch.ranged else [k for k, _ in items])  # type: ignore[union-attr]
        self._db.write(batch._take(), self._wo_sync if sync else self._wo_nosync)
        if not batch.ranged:
            cache.end_write(token, items)  # type: ignore[arg-type]

    def flush_wal(self, sync: bool = True) -> None:
        """Make every write so far durable with one fsync (group commit)."""
        if self._db is None:
            raise StorageClosed("storage is closed")
        self._db.flush_wal(sync)

    # --- point reads ----------------------------------------------------

    def get(self, cf: str, key: bytes) -> bytes | None:
        value = self._view(cf).get(key)
        return value if self._open is None or value is None else self._open(cf, key, value)

    def multi_get(self, cf: str, keys_: list[bytes]) -> list[bytes | None]:
        values = self._view(cf)[keys_] if keys_ else []
        if self._open is None:
            return values
        return [v if v is None else self._open(cf, k, v) for k, v in zip(keys_, values)]

    # --- range scans ----------------------------------------------------

    def iter_range(
        self,
        cf: str,
        lo: bytes,
        hi: bytes | None,
        reverse: bool = False,
        *,
        limit: int | None = None,
    ) -> Iterator[Item]:
        """Yield ``(key, value)`` for keys in ``[lo, hi)`` (``hi=None``: unbounded), in key order or reversed."""
        return self._track(self._opened(cf, self._scan(self._view(cf), lo, hi, reverse, limit)))

    def iter_range_fixed(self, cf: str, lo: bytes, hi: bytes) -> Iterator[Item]:
        """``iter_range`` forward over the family as it is at this call, however
        long the scan lasts and whatever is written meanwhile: the RocksDB
        iterator, which reads from an implicit snapshot taken when it is
        created, is created here rather than at the first ``next``. (rocksdict
        0.3.29's ``Snapshot`` objects cannot serve: their iterators read the
        live database.)"""
        return self._track(self._opened(cf, _until(self._view(cf).items(from_key=lo), hi)))

    def value_sizes(self, cf: str, lo: bytes, hi: bytes | None) -> Iterator[int]:
        """The plaintext size of each value in ``[lo, hi)``, without opening
        any (statistics walk whole tables)."""
        size = self.cipher.plain_size if self._open is not None else len
        for _, value in self._track(self._scan(self._view(cf), lo, hi, False, None, self._ro_bulk)):
            yield size(value)

    def reseal(self, cf: str, lo: bytes, hi: bytes | None, limit: int) -> tuple[int, int, bytes | None]:
        """Seal again, under its table's current key version, every value in
        ``[lo, hi)`` sealed under an older one, ``limit`` keys at most: a key
        rotation's background re-encryption. Reads and writes in one step, so
        a caller on the thread that applies writes (the engine's loop) never
        puts back a value a write replaced meanwhile. Answers (keys examined,
        values resealed, where to go on; None: done)."""
        if self._open is None:
            return 0, 0, None
        batch = self.batch()
        seen = resealed = 0
        last = None
        for k, v in self._scan(self._view(cf), lo, hi, False, limit):
            seen, last = seen + 1, k
            if self.cipher.stale(cf, k, v):
                batch.put(cf, k, self._open(cf, k, v))
                resealed += 1
        if resealed:
            self.write(batch, sync=False)  # a crash before the next fsync leaves the old, still readable
        return seen, resealed, (last + b"\x00" if seen == limit else None)

    def _track(self, scan: Iterator[Item]) -> Iterator[Item]:
        self._scans.add(scan)
        return scan

    def _opened(self, cf: str, scan: Iterator[Item]) -> Iterator[Item]:
        """``scan`` with its values opened (as it is when encryption is off)."""
        if self._open is None or cf == META:
            return scan
        return _open_each(self._open, cf, scan)

    @staticmethod
    def _scan(view: Rdict, lo: bytes, hi: bytes | None, reverse: bool, limit: int | None,
              read_opt: ReadOptions | None = None) -> Iterator[Item]:
        if (hi is not None and lo >= hi) or (limit is not None and limit <= 0):
            return
        left = -1 if limit is None else limit
        if not reverse:
            items = view.items(from_key=lo) if read_opt is None else view.items(from_key=lo, read_opt=read_opt)
            for kv in items:  # seek(lo)
                if hi is not None and kv[0] >= hi:
                    return
                yield kv
                left -= 1
                if left == 0:
                    return
        else:
            # seek_for_prev(hi) lands on hi itself when it exists: skip it.
            it = view.items(backwards=True) if hi is None else view.items(backwards=True, from_key=hi)
            for kv in it:
                k = kv[0]
                if hi is not None and k >= hi:
                    continue
                if k < lo:
                    return
                yield kv
                left -= 1
                if left == 0:
                    return

    # --- items (data family) -------------------------------------------

    def get_item(self, key: bytes) -> bytes | None:
        """An item's value (plaintext), from the item cache when it holds the key."""
        if self._data is None:
            raise StorageClosed("storage is closed")
        cache = self._items
        if cache is None:
            value = self._data.get(key)
            return value if self._open is None or value is None else self._open(DATA, key, value)
        value = cache.get(key)
        if value is not MISSING:
            return value  # type: ignore[return-value]
        gen = cache.generation()
        value = self._data.get(key)
        if self._open is not None and value is not None:
            value = self._open(DATA, key, value)
        cache.fill(gen, key, value)
        return value

    def put_item(self, key: bytes, value: bytes, *, sync: bool = True) -> None:
        """Write one item on its own; replicas apply entries through batches instead."""
        batch = self.batch()
        batch.put_item(key, value)
        self.write(batch, sync)

    def delete_item(self, key: bytes, *, sync: bool = True) -> None:
        batch = self.batch()
        batch.delete_item(key)
        self.write(batch, sync)

    def iter_items(
        self,
        prefix: bytes,
        *,
        forward: bool = True,
        exclusive_start: bytes | None = None,
        limit: int | None = None,
    ) -> Iterator[Item]:
        """Items of one partition key (``keys.item_prefix``) in sort-key order (Query).

        Starts strictly after ``exclusive_start`` (strictly before, backward).
        """
        lo, hi = prefix, keys.prefix_successor(prefix)
        if exclusive_start is not None:
            if forward:
                lo = max(lo, exclusive_start + b"\x00")  # the next key after it
            elif hi is None or exclusive_start < hi:
                hi = exclusive_start
        return self._track(self._opened(DATA, self._scan(self._view(DATA), lo, hi, not forward, limit)))

    def iter_hash_range(
        self,
        table_id: int,
        lo_hash: int,
        hi_hash: int,
        *,
        exclusive_start: bytes | None = None,
        limit: int | None = None,
    ) -> Iterator[Item]:
        """A table's items with hash in ``[lo_hash, hi_hash)``, in key order (Scan).

        ``hi_hash`` may be ``2**64``. Starts strictly after ``exclusive_start``.
        """
        lo, hi = keys.hash_range_bounds(table_id, lo_hash, hi_hash)
        if exclusive_start is not None:
            lo = max(lo, exclusive_start + b"\x00")
        return self._track(self._opened(DATA, self._scan(self._view(DATA), lo, hi, False, limit)))

    # --- local metadata (meta family) ------------------------------------

    def applied_index(self, group: str | bytes) -> int:
        """Last raft index applied to this replica's state; 0 when none."""
        value = self._view(META).get(keys.meta_key(keys.META_APPLIED, keys.encode_group(group)))
        return 0 if value is None else keys.read_u64(value)

    def group_config(self, group: str | bytes) -> bytes | None:
        return self._view(META).get(keys.meta_key(keys.META_GROUP, keys.encode_group(group)))

    def list_groups(self) -> list[str]:
        """Every group with a config on this node, so a restart can recover each replica."""
        lo, hi = keys.meta_group_bounds()
        return sorted(keys.decode_meta_group(k) for k, _ in self._scan(self._view(META), lo, hi, False, None))

    def drop_group(
        self,
        batch: Batch,
        group: str | bytes,
        *,
        data_range: tuple[bytes, bytes] | None = None,
        stream_range: tuple[bytes, bytes] | None = None,
    ) -> None:
        """Add to ``batch`` the removal of a replica: raft log and state, meta keys, optional key ranges."""
        enc = keys.encode_group(group)
        batch.delete_range(RAFT, *keys.raft_group_bounds(enc))
        batch.delete(META, keys.meta_key(keys.META_APPLIED, enc))
        batch.delete(META, keys.meta_key(keys.META_GROUP, enc))
        if data_range is not None:
            batch.delete_range(DATA, *data_range)
        if stream_range is not None:
            batch.delete_range(STREAMS, *stream_range)


def _open_each(open_: Callable[[str, bytes, bytes], bytes], cf: str, scan: Iterator[Item]) -> Iterator[Item]:
    for k, v in scan:
        yield k, open_(cf, k, v)


def _until(items: Iterator[Item], hi: bytes) -> Iterator[Item]:
    for kv in items:
        if kv[0] >= hi:
            return
        yield kv


def _existing_families(path: Path) -> list[str]:
    if not (path / "CURRENT").exists():
        return []
    try:
        return Rdict.list_cf(str(path))
    except Exception as exc:  # rocksdict raises bare Exception
        raise StorageError(f"cannot list column families of {path}: {exc}") from exc
