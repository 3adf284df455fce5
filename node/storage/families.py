"""Column family names of the node's single RocksDB."""

from __future__ import annotations

RAFT = "raft"  # raft log entries, hard state, snapshot metadata, per group
DATA = "data"  # table items
STREAMS = "streams"  # stream records
META = "meta"  # local metadata: applied index and config of each group

FAMILIES = (RAFT, DATA, STREAMS, META)
