"""Global secondary indexes, the pure part: which index entries a base item
has, and what changes when it does.

A global index lives in partitions of its own (a hidden table). Every replica
of a base partition derives the index changes of each applied write from the
item's old and new images and its applied index configuration (both the same
on every replica at that log position), and writes them to an outbox in the
same batch. The partition leader ships the outbox in log order
(``node.feed.index_shipper``); index partitions apply what they receive, ignoring
shipments from a base leader older than one they already heard from.

Entry keys: ``index table id | hash(index pk) | index pk | [index sk] | base
pk | [base sk]``, so one index partition key's entries sort by the index sort
key and every base item has at most one entry per index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from cluster.keys import item_key
from ddb.encoding import hash64
from ddb.indexes import FENCE_NUMBER, index_key_error, index_space
from ddb.multikeys import IndexKeys
from trireme_pb import node_pb2

_HEADER = 12
CATCH_UP_CHANGES = 256  # index changes per outbox record rebuilt after a snapshot (one shipment each, at most)


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    """One global index as a base partition applies it (from its applied config)."""

    name: str  # the hidden table
    tid: int
    keys: IndexKeys
    keep: tuple[str, ...] | None  # None: every attribute

    @classmethod
    def from_config(cls, c: dict) -> GlobalIndex:
        keep = c.get("keep")
        if "hash" in c:
            keys = IndexKeys(tuple(map(tuple, c["hash"])), tuple(map(tuple, c["range"])))  # type: ignore[arg-type]
        else:  # a configuration written before multi-attribute keys
            keys = IndexKeys(((c["hk"], c["ht"]),), () if c.get("rk") is None else ((c["rk"], c["rt"]),))
        return cls(c["name"], c["tid"], keys, None if keep is None else tuple(keep))

    @property
    def index_name(self) -> str:
        return self.name.split("#", 1)[1]

    def entry(self, item: dict | None, base_tail: bytes) -> tuple[int, bytes, dict] | None:
        """``(hash, key, entry)`` of a base item in this index; None when the
        item lacks an index key or has one the index cannot hold (wrong type,
        empty, too long: an item stored before the index existed)."""
        if item is None:
            return None
        for name, kind, is_hash in self.keys.attributes():
            value = item.get(name)
            if value is None or index_key_error("", name, kind, value, is_hash) is not None:
                return None
        enc = self.keys.encode(item)
        h = hash64(self.keys.encode_hash(item))
        entry = item if self.keep is None else {k: v for k, v in item.items() if k in self.keep}
        return h, item_key(self.tid, h, enc + base_tail), entry

    def key_error(self, old: dict | None, new: dict) -> str | None:
        """DynamoDB refuses a write that gives an index key attribute a value the
        index cannot hold; values the write leaves unchanged are not checked
        again (an item may predate its index)."""
        for name, kind, is_hash in self.keys.attributes():
            value = new.get(name)
            if value is None or (old is not None and old.get(name) == value):
                continue
            problem = index_key_error(self.index_name, name, kind, value, is_hash)
            if problem is not None:
                return problem
        return None


def global_indexes(configs: list[dict]) -> list[GlobalIndex]:
    """A partition's global indexes, in name order (the order writes are checked in)."""
    return sorted((GlobalIndex.from_config(c) for c in configs), key=lambda g: g.name)


def config_entry(hidden: str, tid: int, spec: dict, *, backfill: bool) -> dict:
    """A partition's config record of one index, from the hidden table's spec."""
    defs = {d["AttributeName"]: d["AttributeType"] for d in spec["AttributeDefinitions"]}
    keys = IndexKeys.from_key_schema(spec["KeySchema"], defs)
    proj = spec["Projection"]
    keep = None
    if proj["ProjectionType"] != "ALL":
        base_keys = [k["AttributeName"] for k in spec["BaseKeySchema"]]
        keep = sorted(set(keys.names) | set(base_keys) | set(proj.get("NonKeyAttributes") or ()))
    return {"name": hidden, "tid": tid, "hash": [list(k) for k in keys.hash], "range": [list(k) for k in keys.range],
            "keep": keep, "backfill": backfill, "cursor": None}


def changes(indexes: list[GlobalIndex], base_key: bytes, old: dict | None,
            new: dict | None) -> list[node_pb2.GsiChange]:
    """Index changes of one base item going from ``old`` to ``new``."""
    tail = base_key[_HEADER:]
    out: list[node_pb2.GsiChange] = []
    for ix in indexes:
        before = ix.entry(old, tail)
        after = ix.entry(new, tail)
        if before is not None and (after is None or before[1] != after[1]):
            out.append(node_pb2.GsiChange(table=ix.name, hash=before[0], key=before[1], delete=True))
        if after is not None and (before is None or before[2] != after[2] or before[1] != after[1]):
            out.append(node_pb2.GsiChange(table=ix.name, hash=after[0], key=after[1], value=orjson.dumps(after[2])))
    return out


def catch_up_changes(indexes: list[GlobalIndex], old: Iterable[tuple[bytes, bytes]],
                     new: dict[bytes, bytes]) -> list[node_pb2.GsiChange]:
    """The index changes that take a partition's items from ``old`` to ``new``
    (storage key -> stored item): what an MRSC member that skipped entries by
    installing a snapshot owes its own region's indexes for them (the sender's
    outbox is another region's)."""
    rest = dict(new)
    out: list[node_pb2.GsiChange] = []
    for key, before in old:
        after = rest.pop(key, None)
        if after != before:
            out += changes(indexes, key, orjson.loads(before), orjson.loads(after) if after is not None else None)
    for key in sorted(rest):
        out += changes(indexes, key, None, orjson.loads(rest[key]))
    return out


def catch_up_records(changes: list[node_pb2.GsiChange], first: int, last: int,
                     per_record: int = CATCH_UP_CHANGES) -> list[tuple[int, node_pb2.GsiChanges]]:
    """``changes`` as outbox records at consecutive log indexes ending at
    ``last`` and none before ``first`` (the entries a snapshot covered), at
    most ``per_record`` each unless those indexes are too few."""
    if not changes:
        return []
    n = len(changes)
    count = min(max(1, last - first + 1), -(-n // per_record))
    parts = [changes[i * n // count:(i + 1) * n // count] for i in range(count)]
    return [(last - len(parts) + 1 + i, node_pb2.GsiChanges(changes=part)) for i, part in enumerate(parts)]


def fence_key(tid: int, lo: int, source: str) -> bytes:
    """Where an index partition keeps the newest term it heard from a base partition."""
    return item_key(index_space(tid, FENCE_NUMBER), lo, source.encode())


def outbox_bounds(group: str) -> tuple[bytes, bytes]:
    enc = group.encode()
    prefix = b"O" + bytes((len(enc),)) + enc
    return prefix, prefix + b"\xff" * 9


def outbox_key(group: str, index: int) -> bytes:
    return outbox_bounds(group)[0] + index.to_bytes(8, "big")


def outbox_index(key: bytes) -> int:
    return int.from_bytes(key[-8:], "big")
