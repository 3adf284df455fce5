"""Column family names of the node's single RocksDB."""

from __future__ import annotations

RAFT = "raft"  # raft log entries, hard state, snapshot metadata, per group
DATA = "data"  # table items
STREAMS = "streams"  # stream records
META = "meta"  # local metadata: applied index and config of each group
# Item versions of global tables, keyed like the items (cluster/versions.py):
# apart from the data, so reads never pay for them.
VERSIONS = "versions"

FAMILIES = (RAFT, DATA, STREAMS, META, VERSIONS)
