"""Secondary index definitions as a node receives them with a write
(node.proto ``SecondaryIndex``). The node keeps no schema: routers send them
with every write, and a partition leader's TTL sweeper builds the same for
its own deletes, so both live here."""

from __future__ import annotations

from ddb.indexes import Index
from ddb.keys import KeySchema
from trireme_pb import node_pb2


def secondary_index(ix: Index, table: KeySchema) -> node_pb2.SecondaryIndex:
    """An index as a node maintains (local) and prices (all) it."""
    kept = ix.projected(table)
    s = ix.schema
    return node_pb2.SecondaryIndex(
        name=ix.name, local=ix.local, number=ix.number, key_attributes=ix.keys.names,
        sort_key=s.range_key or "", sort_key_type=s.range_type or "", projects_all=kept is None, projected=kept or ())
