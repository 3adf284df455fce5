"""Query and Scan: pages of items read from partitions, filtered and projected
on the replicas, assembled here without parsing the items.

A Query reads one partition key's range of one partition. A Scan walks the
partitions in hash order (the storage key order), one page possibly spanning
several partitions; a parallel scan's segment is an equal slice of the hash
space, so segments are disjoint and together complete.
"""

from __future__ import annotations

import orjson

from cluster.keys import hash_range_bounds, item_key, item_prefix, split_item_key
from cluster.partitions import RangeMoved
from ddb import reads as ddb_reads
from ddb.capacity import consumed
from ddb.encoding import decode_key, decode_key_value, encode_key, encode_key_value, hash64
from ddb.errors import ValidationException
from ddb.indexes import Index, check_index_keys, index_table_name
from ddb.keys import KeySchema, validate_key
from ddb.multikeys import IndexKeys
from router import capacity
from router.context import Tables
from router.node_requests import read_fields
from trireme_pb import node_pb2

BAD_START = "The provided starting key is invalid: The provided key element does not match the schema"
OUTSIDE = "The provided starting key is outside query boundaries based on provided conditions"
OFF_PREDICATE = "The provided starting key does not match the range key predicate"
ONE_ROW = "The query can return at most one row and cannot be restarted"
HASH_SPACE = 1 << 64


class Target:
    """What a Query or Scan reads: a table, or one of its local indexes."""

    def __init__(self, api: Tables, req: ddb_reads.ReadRequest) -> None:
        self.table = api.table(req.table_name)
        self.base = api.schema(self.table)
        self.index: Index | None = None
        self.schema, self.space, self.route = self.base, self.table.id, self.table.name
        if req.index_name is None:
            return
        self.index = idx = next((i for i in api.indexes(self.table) if i.name == req.index_name), None)
        if idx is None:
            raise ValidationException(f"The table does not have the specified index: {req.index_name}")
        self.schema = idx.schema
        if idx.local:
            self.space = idx.space(self.table.id)
            return
        if req.consistent_read:
            raise ValidationException("Consistent reads are not supported on global secondary indexes")
        if req.select == "ALL_ATTRIBUTES" and idx.projection != "ALL":
            raise ValidationException(f"One or more parameter values were invalid: Select type ALL_ATTRIBUTES is "
                                      f"not supported for global secondary index {idx.name} because its "
                                      "projection type is not ALL")
        state = api.cluster.state
        hidden = state.tables.get(index_table_name(self.table.name, idx.name)) if state is not None else None
        if hidden is None or hidden.status != "ACTIVE":
            raise ValidationException(f"Cannot read from backfilling global secondary index: {idx.name}")
        self.space, self.route = hidden.id, hidden.name

    @property
    def keys(self) -> IndexKeys | None:
        """A global index's key attributes (several each with multi-attribute keys)."""
        return self.index.keys if self.index is not None and not self.index.local else None

    @property
    def multi(self) -> IndexKeys | None:
        """The keys of a global index with multi-attribute keys (their own key conditions)."""
        keys = self.keys
        return keys if keys is not None and keys.multi else None

    def encoded(self, key: dict) -> bytes:
        """Encoded key of an entry: an index entry carries the table's key after its own
        (a local index entry only the sort key: the partition key is shared)."""
        if self.keys is not None:
            return self.keys.encode(key) + encode_key(self.base, key)
        out = encode_key(self.schema, key)
        if self.index is not None and self.base.range_key is not None:
            out += encode_key_value(key[self.base.range_key])
        return out

    def start_key(self, start: dict) -> tuple[int, bytes]:
        """Hash and storage key of an ExclusiveStartKey (the table's key, plus the index's)."""
        names = set(self.base.names) | set(self.schema.names if self.keys is None else self.keys.names)
        try:
            validate_key(self.base, {n: start[n] for n in self.base.names if n in start})
            if set(start) != names:
                raise ValidationException(BAD_START)
            if self.index is not None:
                check_index_keys([self.index], start)
        except ValidationException:
            raise ValidationException(BAD_START) from None
        h = hash64(encode_key_value(start[self.schema.hash_key]) if self.keys is None else self.keys.encode_hash(start))
        return h, item_key(self.space, h, self.encoded(start))

    def decode(self, storage_key: bytes) -> dict:
        """LastEvaluatedKey of an entry's storage key."""
        _, _, rest = split_item_key(storage_key)
        if self.keys is not None:
            key, pos = self.keys.decode(rest, 0)
            base, _ = decode_key(self.base, rest, pos)
            return {**base, **key}
        key, pos = decode_key(self.schema, rest)
        if self.index is not None and self.base.range_key is not None:
            key[self.base.range_key], _ = decode_key_value(rest, pos)
        return key

    def fields(self, req: ddb_reads.ReadRequest, body: dict) -> dict:
        """The DataRequest fields that evaluate a page of this read."""
        fields = read_fields(req)
        if capacity.wanted(body):
            fields["measure_capacity"] = True
        idx = self.index
        if idx is not None and idx.local and idx.projection != "ALL" and (
                req.select == "ALL_ATTRIBUTES" or req.filter is not None or req.projection is not None):
            fields["fetch_table"] = self.table.id  # what the entry lacks comes from the base item
        return fields


class Page:
    """Items (JSON array bodies, unparsed) and counts gathered from partitions."""

    __slots__ = ("parts", "count", "scanned", "last_key", "bytes_read", "read_size", "fetched", "body_request")

    def __init__(self, body_request: dict) -> None:
        self.body_request = body_request
        self.parts: list[bytes] = []
        self.count = self.scanned = self.bytes_read = self.read_size = self.fetched = 0
        self.last_key = b""

    def add(self, resp: node_pb2.DataResponse) -> None:
        if len(resp.item) > 2:  # "[]" holds nothing
            self.parts.append(resp.item[1:-1])
        self.count += resp.count
        self.scanned += resp.scanned
        self.bytes_read += resp.bytes_read
        self.read_size += resp.size
        self.fetched += resp.fetched_size
        self.last_key = resp.last_key

    def body(self, req: ddb_reads.ReadRequest, target: Target) -> bytes:
        out = b'{"Count":%d,"ScannedCount":%d' % (self.count, self.scanned)
        if req.select != "COUNT":
            out += b',"Items":[' + b",".join(self.parts) + b"]"
        if self.last_key:
            out += b',"LastEvaluatedKey":' + orjson.dumps(target.decode(self.last_key))
        if not capacity.wanted(self.body_request):
            return out + b"}"
        return capacity.add(out + b"}", self.body_request, self.consumed(req, target))

    def consumed(self, req: ddb_reads.ReadRequest, target: Target) -> dict:
        """A read of the table is the table's; a read of an index is the index's,
        and the base items a local index read fetched are the table's."""
        units = capacity.read_units(self.read_size, req.consistent_read)
        how = capacity.mode(self.body_request)
        idx = target.index
        if idx is None:
            return capacity.entry(target.table.name, units, how)
        fetched = capacity.read_units(self.fetched, req.consistent_read) if self.fetched else 0.0
        return consumed(target.table.name, fetched, {idx.name: [idx.local, units]}, how)


def _range_request(req: ddb_reads.ReadRequest, start: bytes, end: bytes, exclusive: bytes,
                   limit: int | None, max_bytes: int, fields: dict) -> node_pb2.DataRequest:
    return node_pb2.DataRequest(op=node_pb2.DataRequest.RANGE, start=start, end=end, exclusive=exclusive,
                                reverse=not req.forward, limit=limit or 0, max_bytes=max(max_bytes, 1),
                                consistent=req.consistent_read, **fields)


async def query(api: Tables, body: dict) -> bytes:
    req = ddb_reads.parse_query(body)
    target = Target(api, req)
    req.bind(target.schema, target.multi)
    cond = req.key_condition
    assert cond is not None
    if "eq" in cond:  # multi-attribute keys: equal sort-key attributes narrow the prefix
        pk = b"".join(encode_key_value(v) for _, v in cond["hash"])
        fixed = b"".join(encode_key_value(v) for _, v in cond["eq"])
    else:
        pk, fixed = encode_key_value(cond["hash"][1]), b""
    h = hash64(pk)
    prefix = item_prefix(target.space, h, pk)
    lo, hi = ddb_reads.sort_bounds(prefix + fixed, cond.get("range"))
    exclusive = b""
    if req.exclusive_start_key is not None:
        sh, exclusive = target.start_key(req.exclusive_start_key)
        if "eq" in cond:  # multi-attribute keys: the start key's entry lies in the query's range
            if sh != h or not lo <= exclusive < hi:
                raise ValidationException(OUTSIDE)
        else:
            check_start(req.exclusive_start_key, target.schema, prefix, pk, cond.get("range"))
    resp = await api.cluster.send(target.route, h, _range_request(
        req, lo, hi, exclusive, req.limit, ddb_reads.PAGE_BYTES, target.fields(req, body)),
        to_leader=req.consistent_read)
    page = Page(body)
    page.add(resp)
    return page.body(req, target)


def check_start(start: dict, schema: KeySchema, prefix: bytes, pk: bytes, sort_condition: dict | None) -> None:
    """A Query's ExclusiveStartKey must lie within its key condition, checked
    in DynamoDB's order and words (dynalite's query tests, run against
    DynamoDB): without a sort key condition only the partition key can be
    out of bounds (a table without a sort key included); with one, the sort
    key is checked first."""
    same_partition = encode_key_value(start[schema.hash_key]) == pk
    if sort_condition is None:
        if not same_partition:
            raise ValidationException(OUTSIDE)
        return
    lo, hi = ddb_reads.sort_bounds(prefix, sort_condition)  # the query's own partition's bounds
    if not lo <= prefix + encode_key_value(start[schema.range_key]) < hi:
        raise ValidationException(OFF_PREDICATE)
    if not same_partition:
        raise ValidationException(ONE_ROW)


async def scan(api: Tables, body: dict) -> bytes:
    req = ddb_reads.parse_scan(body)
    target = Target(api, req)
    req.bind(target.schema, target.multi)
    seg_lo, seg_hi = (0, HASH_SPACE) if req.segment is None else \
        ddb_reads.segment_bounds(req.segment, req.total_segments or 1)
    cur, exclusive = seg_lo, b""
    if req.exclusive_start_key is not None:
        cur, exclusive = target.start_key(req.exclusive_start_key)
        if not seg_lo <= cur < seg_hi:
            raise ValidationException("The provided Exclusive start key does not map to the provided segment")
    fields = target.fields(req, body)
    name = target.route
    page = Page(body)
    while True:
        stop = min(api.cluster.partition_end(name, cur), seg_hi)
        lo, hi = hash_range_bounds(target.space, cur, stop)
        left = None if req.limit is None else req.limit - page.scanned
        try:
            resp = await api.cluster.send(name, cur, _range_request(
                req, lo, hi, exclusive, left, ddb_reads.PAGE_BYTES - page.bytes_read, fields),
                to_leader=req.consistent_read, ranged=True)
        except RangeMoved:
            continue  # the partition split since `stop` was computed: again, to its new end
        page.add(resp)
        if page.last_key or stop >= seg_hi:
            return page.body(req, target)
        cur, exclusive = stop, b""
