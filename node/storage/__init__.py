"""The node's storage: one RocksDB (rocksdict, raw bytes) with column families for
the raft log, table items, stream records and local metadata (keys: cluster/keys.py)."""

from .batch import Batch
from .db import Storage
from .errors import LogCompacted, LogUnavailable, StorageClosed, StorageError
from .families import DATA, FAMILIES, META, RAFT, STREAMS, VERSIONS
from .options import StorageConfig
from .raftlog import RaftLog

__all__ = [
    "DATA",
    "FAMILIES",
    "META",
    "RAFT",
    "STREAMS",
    "VERSIONS",
    "Batch",
    "LogCompacted",
    "LogUnavailable",
    "RaftLog",
    "Storage",
    "StorageClosed",
    "StorageConfig",
    "StorageError",
]
