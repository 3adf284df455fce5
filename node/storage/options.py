"""RocksDB options for a small server node."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    DBRecoveryMode,
    Options,
)

from .families import DATA, META, RAFT, VERSIONS


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Tunables; the defaults suit a node sharing a machine with others."""

    # A node's RSS (`python -m bench.batch_load` prints it per consumer, from
    # the admin op `memory`): 42 MB of mapped libraries, Python's objects, the
    # block cache and memtables below (a 1,000,000-item load's leader peaked
    # at 172 MB with 2 MB of cache and 11 of memtables; reads fill the cache),
    # the item cache (16), the Raft logs' in-memory tails (4-8 MB,
    # node/groups/disk_log.py) and what glibc keeps freed (node/services/malloc.py).
    block_cache_bytes: int = 32 << 20  # shared by all families
    write_buffer_bytes: int = 16 << 20  # memtable size per family (the raft family's: half)
    db_write_buffer_bytes: int = 64 << 20  # cap on all memtables together
    # Families share one WAL; a rarely written family (meta) would pin old WAL
    # files forever unless this forces it to flush. It is also what the WAL
    # adds to the data directory.
    max_total_wal_bytes: int = 64 << 20
    max_background_jobs: int = 4
    # A write reads the item it replaces, and a new item's key is absent: each
    # file's filter passing it reads a data block into the block cache. At 10
    # bits (1% false positives per file) a leader's cache filled with such
    # blocks over a 1,000,000-item BatchWriteItem load (30 MB of its 197 MB
    # peak); 20 bits pass 0.02% (100,000 absent gets over 60,000 keys read
    # 4.3 MB of blocks at 10 bits, 0.08 MB at 20) for twice the filter memory
    # (1,000,000 items' keys: 2.5 MB, not 1.25, of the table readers).
    bloom_bits_per_key: float = 20.0
    # A thread compacts the raft family once compacted logs leave enough dead
    # bytes in its files (reclaim.py); off in tests that count files.
    reclaim_raft: bool = True
    # The plaintext of recently written and read items (item_cache.py): a hot
    # item is neither read from RocksDB nor opened (decrypted) again.
    item_cache_bytes: int = 16 << 20

    @classmethod
    def from_env(cls) -> StorageConfig:
        """Defaults, with the memtable and WAL caps (which bound the data
        directory) taken from TRIREME_WRITE_BUFFER_MB and TRIREME_WAL_MB, and
        the memory ones from TRIREME_BLOCK_CACHE_MB, TRIREME_MEMTABLES_MB and
        TRIREME_ITEM_CACHE_MB (0: no item cache)."""
        mb = {name: int(os.environ[var]) << 20 for name, var in
              (("write_buffer_bytes", "TRIREME_WRITE_BUFFER_MB"), ("max_total_wal_bytes", "TRIREME_WAL_MB"),
               ("block_cache_bytes", "TRIREME_BLOCK_CACHE_MB"), ("db_write_buffer_bytes", "TRIREME_MEMTABLES_MB"),
               ("item_cache_bytes", "TRIREME_ITEM_CACHE_MB"))
              if os.environ.get(var)}
        return cls(**mb)


def db_options(config: StorageConfig) -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.set_max_background_jobs(config.max_background_jobs)
    opts.set_max_total_wal_size(config.max_total_wal_bytes)
    opts.set_db_write_buffer_size(config.db_write_buffer_bytes)
    opts.set_bytes_per_sync(1 << 20)  # smooth SST writeback
    # After a machine crash, recover a consistent prefix of the WAL.
    opts.set_wal_recovery_mode(DBRecoveryMode.point_in_time())
    opts.set_keep_log_file_num(4)  # RocksDB's info LOG files
    return opts


def family_options(name: str, config: StorageConfig, cache: Cache) -> Options:
    opts = Options(raw_mode=True)  # must match the DB's raw_mode
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    if name in (DATA, META, VERSIONS):  # point lookups: GetItem, applied index, an item's version
        table.set_bloom_filter(config.bloom_bits_per_key, False)
    opts.set_block_based_table_factory(table)
    # A Raft entry is read back from its memtable only by a follower that fell
    # out of the in-memory tail, and deleted long after it flushed (compact
    # every 2,000 entries): a larger memtable saves no write, only holds memory.
    opts.set_write_buffer_size(config.write_buffer_bytes // 2 if name == RAFT else config.write_buffer_bytes)
    opts.set_compression_type(DBCompressionType.lz4())
    opts.set_level_compaction_dynamic_level_bytes(True)
    return opts
