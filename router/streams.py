"""The DynamoDB Streams API (target prefix ``DynamoDBStreams_20120810``) on
the router: ListStreams and DescribeStream from the metadata, GetShardIterator
and GetRecords from the partitions' stream records.

A stream has one shard per partition of its table, read at the partition's
leader (STREAM_SHARD, STREAM_READ); sequence numbers are log positions of the
partition (ddb/streams.py `Position`, generation 0), so they increase within
a shard across leader changes. A split closes the partition's shard at the
SPLIT entry and opens two children (`ds.shard_lineage`); the closed shard is
read from the same partition's records, cut at that entry. Shard iterators
are signed with a key derived from the cluster id (`iterator_key`): any
router of the cluster accepts an iterator another one issued, and no client
can forge one.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any, Awaitable, Callable

import orjson

from cluster.meta import MetaState, TableInfo
from cluster.partitions import Cluster
from ddb import streams as ds
from ddb.errors import ResourceNotFoundException, ServiceUnavailable, TrimmedDataAccessException, ValidationException
from trireme_pb import node_pb2

Op = Callable[[dict], Awaitable[Any]]
ACCOUNT = "000000000000"
EVENTS = {node_pb2.StreamRecord.INSERT: "INSERT", node_pb2.StreamRecord.MODIFY: "MODIFY",
          node_pb2.StreamRecord.REMOVE: "REMOVE"}
RETENTION_S = float(os.environ.get("TRIREME_STREAM_RETENTION_S", str(24 * 3600)))


def iterator_key(cluster_id: str) -> bytes:
    return hashlib.sha256(b"trireme stream iterators|" + cluster_id.encode()).digest()


def stream_arn(region: str, t: TableInfo, s: dict) -> str:
    return ds.stream_arn(region, ACCOUNT, t.name, s["label"])


def table_stream_fields(region: str, t: TableInfo) -> dict[str, Any]:
    """DescribeTable's StreamSpecification, LatestStreamArn, LatestStreamLabel."""
    current = t.enabled_stream()
    spec = ds.StreamSpec(True, current["view"]) if current is not None else None
    return ds.table_stream_fields(spec, stream_arn(region, t, t.streams[-1]) if t.streams else None)


def _stream_status(t: TableInfo, s: dict) -> str:
    settled = all(("start" if s["status"] == "ENABLED" else "end") in s["shards"].get(p, {})
                  for p in t.partitions)
    if s["status"] == "ENABLED":
        return "ENABLED" if settled else "ENABLING"
    return "DISABLED" if settled else "DISABLING"


def _position(p: node_pb2.StreamPosition) -> ds.Position:
    return ds.Position(0, p.index, p.offset)


class StreamsApi:
    def __init__(self, cluster: Cluster, region: str, cluster_id: str) -> None:
        self.cluster = cluster
        self.region = region
        self.key = iterator_key(cluster_id)
        # GetRecords calls per table since this router started: DynamoDB bills
        # each as one streams read request unit (`trireme cost`, TriremeAdmin_1.Usage).
        self.get_records_calls: dict[str, int] = {}
        # table -> ms from the oldest record of the latest GetRecords page to its read, 0 when
        # the reader is caught up (the stream's consumer lag, for /metrics: router/metrics.py).
        self.iterator_age_ms: dict[str, int] = {}

    def operations(self) -> dict[str, Op]:
        return {"ListStreams": self.list_streams, "DescribeStream": self.describe_stream,
                "GetShardIterator": self.get_shard_iterator, "GetRecords": self.get_records}

    def _state(self) -> MetaState:
        state = self.cluster.state
        if state is None:
            raise ServiceUnavailable("This router has not received the cluster's metadata yet; retry shortly.")
        return state

    def _live(self, s: dict) -> bool:
        """A disabled stream is listed (and readable) for its retention."""
        return s["status"] == "ENABLED" or s["disabled_ms"] / 1000 + RETENTION_S > time.time()

    def _stream(self, arn: str) -> tuple[TableInfo, dict]:
        name = ds.parse_stream_arn(arn)
        t = self._state().tables.get(name.table)
        s = t.stream(name.label) if t is not None and "IndexOf" not in t.spec else None
        if s is None or name.region != self.region or name.account != ACCOUNT or not self._live(s) \
                or t.status == "DELETING":
            raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
        return t, s

    def _shards(self, t: TableInfo, s: dict) -> list[tuple[ds.Shard, str]]:
        """(shard, partition) for every shard of the stream, split ones too."""
        return ds.shard_lineage(t.uuid, s, t.partitions)

    def _shard(self, t: TableInfo, s: dict, shard_id: str) -> tuple[ds.Shard, str]:
        for shard, group in self._shards(t, s):
            if shard.shard_id == shard_id:
                return shard, group
        raise ResourceNotFoundException(f"Requested resource not found: Shard does not exist: {shard_id}")

    async def _ask(self, t: TableInfo, group: str, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        p = self._state().partitions.get(group)
        if p is None:
            raise ResourceNotFoundException("Requested resource not found: Shard does not exist")
        # A table whose partitions span regions (MRSC) is read at this region's member: its
        # records are this region's stream (the leader may be in another region).
        return await self.cluster.send(t.name, p.lo, req, to_leader=not t.consistency)

    # --- operations ----------------------------------------------------------

    async def list_streams(self, body: dict) -> dict:
        table, limit, start = ds.parse_list_streams(body)
        state = self._state()
        if table is not None and (table not in state.tables or "IndexOf" in state.tables[table].spec):
            raise ResourceNotFoundException(f"Requested resource not found: Table: {table} not found")
        rows = [(stream_arn(self.region, t, s), t.name, s["label"])
                for t in state.tables.values() if "IndexOf" not in t.spec and t.status != "DELETING"
                and (table is None or t.name == table) for s in t.streams if self._live(s)]
        return ds.list_streams_page(rows, limit, start)

    async def describe_stream(self, body: dict) -> dict:
        _, arn, limit, start = ds.parse_describe_stream(body)
        t, s = self._stream(arn)
        return {"StreamDescription": ds.stream_description(
            arn=arn, label=s["label"], status=_stream_status(t, s), view_type=s["view"],
            created_ms=s["created_ms"], table=t.name, key_schema=t.spec["KeySchema"],
            shards=[shard for shard, _ in self._shards(t, s)], limit=limit, start=start)}

    async def get_shard_iterator(self, body: dict) -> dict:
        req = ds.parse_get_shard_iterator(body)
        if req.kind == "AT_TIMESTAMP":
            raise ValidationException("ShardIteratorType AT_TIMESTAMP is not supported by DynamoDB Streams")
        t, s = self._stream(req.arn)
        shard, group = self._shard(t, s, req.shard_id)
        resp = await self._ask(t, group, node_pb2.DataRequest(op=node_pb2.DataRequest.STREAM_SHARD,
                                                              stream_label=s["label"]))
        horizon, latest = max(_position(resp.horizon), shard.starting), _position(resp.latest)
        if shard.ending is not None:  # the partition's records after it belong to its next shards
            latest = min(latest, shard.ending.next_index())
        if req.kind == "TRIM_HORIZON":
            position = horizon
        elif req.kind == "LATEST":
            position = max(latest, horizon)
        else:
            position = req.position
            if position < shard.starting or (shard.ending is not None and position > shard.ending):
                raise ValidationException(f"Invalid SequenceNumber {body['SequenceNumber']} for shard "
                                          f"{shard.shard_id}")
            if position < horizon:
                raise TrimmedDataAccessException(
                    "The sequence number is beyond the trim horizon of the shard: its record was trimmed "
                    "(older than the stream's retention period).")
        it = ds.ShardIterator(req.arn, shard.shard_id, position, int(time.time() * 1000))
        return {"ShardIterator": it.encode(self.key)}

    async def get_records(self, body: dict) -> dict:
        now_ms = int(time.time() * 1000)
        it, limit = ds.parse_get_records(body, self.key, now_ms=now_ms)
        t, s = self._stream(it.arn)
        shard, group = self._shard(t, s, it.shard_id)
        resp = await self._ask(t, group, node_pb2.DataRequest(
            op=node_pb2.DataRequest.STREAM_READ, stream_label=s["label"], limit=limit,
            max_bytes=ds.MAX_PAGE_BYTES, stream_from=node_pb2.StreamPosition(
                index=it.position.index, offset=it.position.offset)))
        self.get_records_calls[t.name] = self.get_records_calls.get(t.name, 0) + 1
        self.iterator_age_ms[t.name] = now_ms - resp.records[0].created_ms if resp.records else 0
        arn = it.arn
        # A shard closed by a split ends at the SPLIT entry: the partition's later records are its next shard's.
        last = shard.ending.index if shard.ending is not None else None
        kept = [r for r in resp.records if last is None or r.position.index <= last]
        closed = resp.shard_end or (last is not None and (len(kept) < len(resp.records)
                                                          or resp.stream_next.index > last))
        records = []
        for r in kept:
            rec = ds.build_record(stream=arn, keys=orjson.loads(r.keys),
                                  old=orjson.loads(r.old_image) if r.old_image else None,
                                  new=orjson.loads(r.new_image) if r.new_image else None,
                                  view_type=s["view"], position=_position(r.position), created_ms=r.created_ms,
                                  region=self.region, by_ttl=r.by_ttl, event=EVENTS[r.event])
            records.append(rec)
        page = ds.page_cut(records, limit)
        out: dict[str, Any] = {"Records": page}
        if len(page) < len(records):
            nxt = ds.parse_sequence_number(page[-1]["dynamodb"]["SequenceNumber"]).next()
        elif closed:
            return out  # a closed shard read to its end: no NextShardIterator
        else:
            nxt = _position(resp.stream_next)
        out["NextShardIterator"] = ds.ShardIterator(arn, it.shard_id, nxt, now_ms).encode(self.key)
        return out
