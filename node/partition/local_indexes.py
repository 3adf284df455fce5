"""Local secondary index maintenance on the partition leader.

The leader knows an item's old and new images when it evaluates a write, so
it adds the index changes to the same log entry: base item and index entries
commit in one batch on every replica, and an index never disagrees with its
table. The router ships the index definitions with each write
(``DataRequest.local_indexes``, node.proto) so the node needs no schema of its own.

The leader also keeps the size of each item collection (a partition key's
items and their index entries) in a counter written with the same entry, and
refuses a write that would take it past DynamoDB's 10 GB limit
(``TRIREME_ITEM_COLLECTION_LIMIT`` bytes overrides it, for tests).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import orjson

from ddb.encoding import decode_key_value, encode_key_value
from ddb.errors import ValidationException
from ddb.indexes import COLLECTION_NUMBER, SPACE_SHIFT, index_key_error
from ddb.size import item_size
from trireme_pb import node_pb2

_HEADER = 12  # table id u32 | hash u64
ITEM_COLLECTION_LIMIT = int(os.environ.get("TRIREME_ITEM_COLLECTION_LIMIT", 10 << 30))


def index_mutations(base_key: bytes, pk_length: int, indexes: Sequence[node_pb2.SecondaryIndex], old: dict | None,
                    new: dict | None) -> list[node_pb2.Mutation]:
    """Mutations that keep every local index of the table in step with ``old -> new``
    (``pk_length``: bytes of the encoded partition key in ``base_key``)."""
    table_id = int.from_bytes(base_key[:4], "big")
    hash_bytes = base_key[4:_HEADER]
    pk_end = _HEADER + pk_length
    pk, sk = base_key[_HEADER:pk_end], base_key[pk_end:]
    out: list[node_pb2.Mutation] = []
    for ix in sorted(indexes, key=lambda i: i.name):
        name, rk, rt = ix.name, ix.sort_key, ix.sort_key_type
        space = (table_id | (ix.number << SPACE_SHIFT)).to_bytes(4, "big") + hash_bytes + pk
        old_key = _entry_key(space, sk, old, rk)
        new_key = None
        if new is not None and rk in new:
            value = new[rk]
            # A value the write leaves unchanged is not checked again (it may predate the index).
            problem = None if old is not None and old.get(rk) == value else \
                index_key_error(name, rk, rt, value, is_hash=False)
            if problem is not None:
                raise ValidationException(problem)
            if rt in value:
                new_key = space + encode_key_value(value) + sk
        if old_key is not None and old_key != new_key:
            out.append(node_pb2.Mutation(key=old_key, delete=True))
        if new_key is not None:
            entry = new if ix.projects_all else _kept(new, ix)
            out.append(node_pb2.Mutation(key=new_key, value=orjson.dumps(entry)))
    return out


def _entry_key(space: bytes, sk: bytes, item: dict | None, rk: str) -> bytes | None:
    if item is None:
        return None
    value = item.get(rk)
    if value is None or len(value) != 1:
        return None
    try:
        return space + encode_key_value(value) + sk
    except ValueError:  # not a key type: the item was never indexed
        return None


def base_key_of(entry_key: bytes, table_id: int) -> bytes:
    """The base item's storage key of a local index entry
    (``space | hash | pk | index sk | table sk`` -> ``table | hash | pk | table sk``)."""
    _, pk_end = decode_key_value(entry_key, _HEADER)
    _, isk_end = decode_key_value(entry_key, pk_end)
    return table_id.to_bytes(4, "big") + entry_key[4:pk_end] + entry_key[isk_end:]


def _kept(item: dict, ix: node_pb2.SecondaryIndex) -> dict:
    """The attributes of ``item`` that an entry of ``ix`` keeps (projection not ALL)."""
    keep = set(ix.projected)
    return {k: v for k, v in item.items() if k in keep}


def collection_key(base_key: bytes, pk_length: int) -> bytes:
    """Storage key of the size counter of the base item's collection."""
    table_id = int.from_bytes(base_key[:4], "big")
    space = (table_id | (COLLECTION_NUMBER << SPACE_SHIFT)).to_bytes(4, "big")
    return space + base_key[4:_HEADER + pk_length]


def collection_bytes(item: dict | None, indexes: Sequence[node_pb2.SecondaryIndex]) -> int:
    """What one item adds to its collection: its size and its index entries' sizes."""
    if item is None:
        return 0
    size = total = item_size(item)
    for ix in indexes:
        if ix.sort_key in item:
            total += size if ix.projects_all else item_size(_kept(item, ix))
    return total
