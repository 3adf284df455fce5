"""Storage errors, so callers can tell misuse and missing data from RocksDB failures."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of storage-layer errors."""


class StorageClosed(StorageError):
    """The storage was closed; the operation did not run."""


class LogUnavailable(StorageError):
    """Requested raft log entries are not stored (never appended or truncated)."""


class LogCompacted(LogUnavailable):
    """Requested raft log entries were compacted away; a snapshot is needed."""
