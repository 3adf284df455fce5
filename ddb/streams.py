"""DynamoDB Streams, the pure part: stream settings, names, records, shards,
iterators and the Streams API's request rules. No I/O; the node decides
where records live, this module decides what they look like.

Sources (checked December 2026; "model" is botocore's ``dynamodbstreams`` and
``dynamodb`` service-2 models shipped in the venv):

* Shapes, enums, lengths, limits: the models (StreamViewType order
  NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY; ShardIteratorType adds
  AT_TIMESTAMP; SequenceNumber 21-40 chars; ShardId 28-65; StreamArn
  37-1024; ShardIterator 1-2048; the Limit docs "upper limit is 100"
  (ListStreams, DescribeStream) and "1000" (GetRecords); GetRecords returns
  at most 1 MB or 1,000 records; LimitExceededException's doc: "GetRecords was
  called with a value of more than 1000 for the limit request parameter";
  iterators expire 15 minutes after issue; ExpiredIteratorException's message
  member: "The provided iterator exceeds the maximum age allowed.";
  userIdentity for TTL deletes: Type "Service", PrincipalId
  "dynamodb.amazonaws.com" (the model names the members ``PrincipalId`` and
  ``Type``; Lambda's event shape uses ``principalId``/``type``).
* StreamSpecification messages, observed against AWS on 2026-10-09 (the
  ack-api-quirks DynamoDB catalogue, findings DDB-TABLE-050 and -442): see
  the constants below.
* "If you perform a PutItem or UpdateItem operation that does not change any
  data in an item, DynamoDB Streams does not write a stream record for that
  operation." (developer guide, Streams.html). Equal means DynamoDB's ``=``:
  a map with its keys in another order, a set in another order or ``1.0`` for
  ``1`` changes nothing (scylladb test_streams.py
  test_streams_updateitem_equal_but_not_identical, run against AWS).
* SizeBytes: the UTF-8 names plus values of the record's Keys and images, by
  the item-size rules: a record captured from AWS with Keys {id: "test"} and
  NewImage {id: "test"} shows SizeBytes 12 (localstack
  tests/aws/services/dynamodbstreams/test_dynamodb_streams.snapshot.json).
* Looks copied from real output: shard ids ``shardId-`` + 20 digits (epoch
  milliseconds, zero-padded) + ``-`` + 8 hex, e.g.
  shardId-00000001491865608579-fc9175b5; sequence numbers all digits, e.g.
  300000000000000499659 or 51502500000000023987600700; stream labels
  2015-06-27T00:48:05.899; iterators ``<stream arn>|1|<opaque>`` (AWS CLI
  docs, get-shard-iterator example).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from ddb.errors import (ExpiredIteratorException, LimitExceededException, ValidationException,
                        constraint_error, constraint_failure)
from ddb.expression_eval import equal
from ddb.keys import table_name_errors
from ddb.size import item_size

VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP")
STREAM_STATUSES = ("ENABLING", "ENABLED", "DISABLING", "DISABLED")

RETENTION_MS = 24 * 3600 * 1000  # Streams.html: records are kept 24 hours
ITERATOR_TTL_MS = 15 * 60 * 1000  # GetShardIterator: expires 15 minutes after issue
MAX_RECORDS = 1000  # GetRecords: 1,000 records ...
MAX_PAGE_BYTES = 1024 * 1024  # ... or 1 MB, whichever comes first
MAX_LIST_LIMIT = 100  # ListStreams, DescribeStream

EVENT_VERSION = "1.1"
EVENT_SOURCE = "aws:dynamodb"
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}

_INVALID = "One or more parameter values were invalid: "
CREATE_ENABLED_NEEDS_VIEW = _INVALID + "Table is being created with a stream enabled, UpdateViewType is required"
CREATE_DISABLED_NO_VIEW = (_INVALID + "Table is being created with a stream disabled, "
                           "UpdateViewType should not be specified")
UPDATE_ENABLED_NEEDS_VIEW = _INVALID + "If stream is being enabled then UpdateViewType is required"
UPDATE_DISABLED_NO_VIEW = _INVALID + "If stream is being disabled, then UpdateViewType must not be specified"
STREAM_WITH_THROUGHPUT = _INVALID + "You cannot modify stream status while updating table IOPS"
STREAM_WITH_INDEXES = _INVALID + "You cannot create or delete index while changing stream status"
EXPIRED_ITERATOR = "The provided iterator exceeds the maximum age allowed."
# Not seen in a capture: the texts below are Trireme's (AWS answers these
# cases with a ValidationException; its wording is not public).
INVALID_ITERATOR = "Invalid ShardIterator"
INVALID_STREAM_ARN = "Invalid StreamArn"
INVALID_SEQUENCE_NUMBER = "Invalid SequenceNumber"


def already_enabled(table: str) -> str:
    return f"Table already has an enabled stream: TableName: {table}"


def nothing_to_disable(table: str) -> str:
    return f"Table has no stream to disable: TableName: {table}"


# A global table replicates from its stream (DynamoDB's message, as users quote it).
GLOBAL_STREAM_STAYS = ("One or more parameter values were invalid: Disabling Stream is not allowed for a Global "
                       "Table replica.")


def _enum_error(value: Any, path: str, allowed: Iterable[str]) -> str:
    return constraint_error(value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]")


# ---------------------------------------------------------------- StreamSpecification


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A checked StreamSpecification: ``view_type`` is None when disabled."""

    enabled: bool
    view_type: str | None

    def to_wire(self) -> dict[str, Any]:
        """DescribeTable's StreamSpecification (absent for a disabled stream:
        DDB-TABLE-050 saw it vanish after UpdateTable disabled the stream)."""
        return {"StreamEnabled": True, "StreamViewType": self.view_type}


def _spec_shape(spec: Any) -> StreamSpec:
    """Coral's null and enum checks of one StreamSpecification."""
    errors = []
    enabled, view = spec.get("StreamEnabled"), spec.get("StreamViewType")
    if enabled is None:
        errors.append(constraint_error(None, "streamSpecification.streamEnabled", "Member must not be null"))
    if view is not None and view not in VIEW_TYPES:
        errors.append(_enum_error(view, "streamSpecification.streamViewType", VIEW_TYPES))
    if errors:
        raise constraint_failure(errors)
    return StreamSpec(bool(enabled), view)


def parse_create_stream(spec: Any) -> StreamSpec | None:
    """CreateTable's StreamSpecification: None when absent or disabled."""
    if spec is None:
        return None
    parsed = _spec_shape(spec)
    if parsed.enabled and parsed.view_type is None:
        raise ValidationException(CREATE_ENABLED_NEEDS_VIEW)
    if not parsed.enabled and parsed.view_type is not None:
        raise ValidationException(CREATE_DISABLED_NO_VIEW)
    return parsed if parsed.enabled else None


def parse_update_stream(body: dict, table: str, current: StreamSpec | None) -> StreamSpec | None:
    """UpdateTable's StreamSpecification against the table's ``current``
    enabled stream (None: none). Returns the table's new setting; raises when
    the request may not change it. The view type cannot change in place: a
    second enable, even of the same type, is refused (DDB-TABLE-050), so a new
    type takes a disable and an enable, and each enable is a new stream."""
    parsed = _spec_shape(body["StreamSpecification"])
    if parsed.enabled and parsed.view_type is None:
        raise ValidationException(UPDATE_ENABLED_NEEDS_VIEW)
    if not parsed.enabled and parsed.view_type is not None:
        raise ValidationException(UPDATE_DISABLED_NO_VIEW)
    if body.get("ProvisionedThroughput") is not None:
        raise ValidationException(STREAM_WITH_THROUGHPUT)
    if body.get("GlobalSecondaryIndexUpdates"):
        raise ValidationException(STREAM_WITH_INDEXES)
    if parsed.enabled and current is not None:
        raise ValidationException(already_enabled(table))
    if not parsed.enabled and current is None:
        raise ValidationException(nothing_to_disable(table))
    return parsed if parsed.enabled else None


def table_stream_fields(current: StreamSpec | None, latest_arn: str | None) -> dict[str, Any]:
    """DescribeTable's stream members: StreamSpecification only while a stream
    is enabled; LatestStreamArn and LatestStreamLabel for the newest stream,
    kept after it is disabled (DDB-TABLE-050)."""
    out: dict[str, Any] = {}
    if current is not None:
        out["StreamSpecification"] = current.to_wire()
    if latest_arn is not None:
        out["LatestStreamArn"] = latest_arn
        out["LatestStreamLabel"] = latest_arn.rsplit("/", 1)[1]
    return out


# ---------------------------------------------------------------- names


def stream_label(created_ms: int) -> str:
    """ISO 8601 in UTC with milliseconds and no zone, e.g. 2026-12-06T05:49:12.345."""
    at = datetime.fromtimestamp(created_ms // 1000, tz=timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + f".{created_ms % 1000:03d}"


def stream_arn(region: str, account: str, table: str, label: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{label}"


_ARN = re.compile(r"arn:aws:dynamodb:([a-z0-9-]+):(\d{12}):table/([a-zA-Z0-9_.-]{3,255})/stream/"
                  r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})")


@dataclass(frozen=True, slots=True)
class StreamName:
    region: str
    account: str
    table: str
    label: str


def parse_stream_arn(arn: str) -> StreamName:
    """The parts of a stream ARN; a ValidationException for anything else
    (AWS answers a malformed ARN so: scylladb test_describe_nonexistent_stream)."""
    m = _ARN.fullmatch(arn)
    if m is None:
        raise ValidationException(INVALID_STREAM_ARN)
    return StreamName(*m.groups())


def shard_id(created_ms: int, seed: str) -> str:
    """``shardId-<20-digit epoch ms>-<8 hex>``; the hex is derived from
    ``seed`` (e.g. stream ARN, partition and generation) so every replica
    names the shard alike, and ids sort by creation time."""
    return f"shardId-{created_ms:020d}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def partition_shard_id(table_uuid: str, stream: dict, partition: str) -> str:
    """The id of a partition's shard of a table's stream (metadata ``streams``
    entry), as DescribeStream shows it and on-failure records name it."""
    return shard_id(stream["created_ms"], f"{table_uuid}|{stream['label']}|{partition}")


# ---------------------------------------------------------------- sequence numbers


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in a shard: the shard's generation in its partition's lineage,
    the Raft log index of the entry that wrote the record, and the record's
    place among that entry's records. Ordered as the records are."""

    generation: int
    index: int
    offset: int = 0

    def sequence_number(self) -> str:
        """``1`` + generation (4) + index (20) + offset (5): 30 digits, so
        sequence numbers compare alike as strings and as integers (clients
        use both) and sit inside the model's 21-40 characters."""
        if not (0 <= self.generation < 10**4 and 0 <= self.index < 10**20 and 0 <= self.offset < 10**5):
            raise ValueError(f"position out of range: {self}")
        return f"1{self.generation:04d}{self.index:020d}{self.offset:05d}"

    def next(self) -> Position:
        """The first position after this one (AFTER_SEQUENCE_NUMBER)."""
        return Position(self.generation, self.index, self.offset + 1)

    def next_index(self) -> Position:
        """The first position after every record of this one's log entry."""
        return Position(self.generation, self.index + 1, 0)


SEQUENCE_DIGITS = 30


def parse_sequence_number(text: str) -> Position:
    """The position a sequence number names; ValidationException if it is not
    one of ours (all digits, 30 long, leading 1)."""
    if len(text) != SEQUENCE_DIGITS or not text.isascii() or not text.isdigit() or text[0] != "1":
        raise ValidationException(INVALID_SEQUENCE_NUMBER)
    return Position(int(text[1:5]), int(text[5:25]), int(text[25:]))


# ---------------------------------------------------------------- records


def event_name(old: dict | None, new: dict | None) -> str | None:
    """INSERT, MODIFY or REMOVE for a write that took ``old`` to ``new``;
    None when no record is due: nothing existed and nothing exists, or the
    write left the item equal to what it was (Streams.html)."""
    if old is None:
        return None if new is None else "INSERT"
    if new is None:
        return "REMOVE"
    if old.keys() == new.keys() and all(equal(old[k], new[k]) for k in old):
        return None
    return "MODIFY"


def event_id(stream: str, sequence_number: str) -> str:
    """32 hex digits, like AWS's; derived, so every replica and every read of
    the record shows the same id, and unique per stream and position."""
    return hashlib.md5(f"{stream}|{sequence_number}".encode()).hexdigest()


def build_record(*, stream: str, keys: dict, old: dict | None, new: dict | None, view_type: str,
                 position: Position, created_ms: int, region: str, by_ttl: bool = False,
                 event: str | None = None) -> dict[str, Any] | None:
    """One GetRecords ``Record`` for a write of the item with ``keys`` from
    ``old`` to ``new`` (None: absent), as the stream's ``view_type`` shows it;
    None when the write is not recorded (see ``event_name``). ``event``: the
    event name decided when the write applied, for a record that kept only
    the images its view type shows (they may not tell it)."""
    name = event or event_name(old, new)
    if name is None:
        return None
    body: dict[str, Any] = {"ApproximateCreationDateTime": created_ms // 1000, "Keys": keys}
    if new is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["NewImage"] = new
    if old is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["OldImage"] = old
    seq = position.sequence_number()
    body["SequenceNumber"] = seq
    body["SizeBytes"] = sum(item_size(body[k]) for k in ("Keys", "NewImage", "OldImage") if k in body)
    body["StreamViewType"] = view_type
    record: dict[str, Any] = {"eventID": event_id(stream, seq), "eventName": name,
                              "eventVersion": EVENT_VERSION, "eventSource": EVENT_SOURCE,
                              "awsRegion": region, "dynamodb": body}
    if by_ttl:
        record["userIdentity"] = dict(TTL_IDENTITY)
    return record


def lambda_event_record(record: dict[str, Any], stream: str) -> dict[str, Any]:
    """A record as Lambda hands it to a function (and as filters see it):
    ``eventSourceARN`` added, ApproximateCreationDateTime a float (AWS-validated
    localstack test_dynamodb_event_filter asserts a float), ``userIdentity`` in
    the event's lower-case spelling (the TTL guide's sample record)."""
    out = {k: v for k, v in record.items() if k != "userIdentity"}
    out["dynamodb"] = {**record["dynamodb"],
                       "ApproximateCreationDateTime": float(record["dynamodb"]["ApproximateCreationDateTime"])}
    out["eventSourceARN"] = stream
    ident = record.get("userIdentity")
    if ident is not None:
        out["userIdentity"] = {"type": ident["Type"], "principalId": ident["PrincipalId"]}
    return out


def record_size(record: dict[str, Any]) -> int:
    """Bytes a record counts against GetRecords' 1 MB page."""
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def page_cut(records: Iterable[dict[str, Any]], limit: int = MAX_RECORDS) -> list[dict[str, Any]]:
    """The records one GetRecords answer carries: at most ``limit`` and at
    most 1 MB, but always at least one so a reader never stalls on a large
    record."""
    out: list[dict[str, Any]] = []
    total = 0
    for record in records:
        if len(out) >= limit:
            break
        size = record_size(record)
        if out and total + size > MAX_PAGE_BYTES:
            break
        out.append(record)
        total += size
    return out


# ---------------------------------------------------------------- shards and streams


@dataclass(frozen=True, slots=True)
class Shard:
    """A shard's lineage and range; ``ending`` set once the shard is closed."""

    shard_id: str
    starting: Position
    ending: Position | None = None
    parent: str | None = None

    def to_wire(self) -> dict[str, Any]:
        rng = {"StartingSequenceNumber": self.starting.sequence_number()}
        if self.ending is not None:
            rng["EndingSequenceNumber"] = self.ending.sequence_number()
        out: dict[str, Any] = {"ShardId": self.shard_id, "SequenceNumberRange": rng}
        if self.parent is not None:
            out["ParentShardId"] = self.parent
        return out


def shard_lineage(table_uuid: str, stream: dict, partitions: list[str]) -> list[tuple[Shard, str]]:
    """Every shard of a stream with the partition whose records it holds.

    The metadata keeps per partition (``stream["shards"]``) the log index
    where it started the stream, the ones where it split (``splits``: index,
    time) and where it ended it. A partition's shard of generation k holds its
    records after the k-th split, up to the next: the one before a split is
    closed there and is the parent of the partition's next shard and of the
    child partition's first (``parent``: [partition, generation]), as
    DynamoDB Streams shows a split. A first shard keeps the id it had before
    any split; a later one is named by the split's time, so ids sort parents
    before children."""
    ids: dict[tuple[str, int], str] = {}
    spans: list[tuple[str, int, int, int | None]] = []  # partition, generation, after index, last index
    for group in partitions:
        rng = stream["shards"].get(group)
        if rng is None or "start" not in rng or rng.get("empty"):
            continue
        cuts = [(rng["start"], rng.get("ms")), *((i, ms) for i, ms in rng.get("splits", []))]
        for gen, (after, ms) in enumerate(cuts):
            first = gen == 0 and "parent" not in rng
            ids[group, gen] = (partition_shard_id(table_uuid, stream, group) if first
                               else shard_id(ms, f"{table_uuid}|{stream['label']}|{group}|{gen}"))
            spans.append((group, gen, after, cuts[gen + 1][0] if gen + 1 < len(cuts) else rng.get("end")))
    out = []
    for group, gen, after, last in spans:
        up = stream["shards"][group].get("parent")
        parent = ids.get((group, gen - 1)) if gen else ids.get(tuple(up)) if up else None  # type: ignore[arg-type]
        out.append((Shard(ids[group, gen], Position(0, after + 1, 0),
                          Position(0, last, 0) if last is not None else None, parent), group))
    return out


def _limit(body: dict, maximum: int | None, errors: list[str]) -> int | None:
    limit = body.get("Limit")
    if limit is None:
        return None
    if limit < 1:
        errors.append(constraint_error(limit, "limit", "Member must have value greater than or equal to 1"))
    elif maximum is not None and limit > maximum:
        errors.append(constraint_error(limit, "limit", f"Member must have value less than or equal to {maximum}"))
    return limit


def _length(value: Any, path: str, low: int, high: int, errors: list[str], *, required: bool = False) -> None:
    if value is None:
        if required:
            errors.append(constraint_error(None, path, "Member must not be null"))
    elif len(value) < low:
        errors.append(constraint_error(value, path, f"Member must have length greater than or equal to {low}"))
    elif len(value) > high:
        errors.append(constraint_error(value, path, f"Member must have length less than or equal to {high}"))


def parse_list_streams(body: dict) -> tuple[str | None, int, str | None]:
    """ListStreams: (table name or None, limit, exclusive start stream ARN)."""
    errors: list[str] = []
    limit = _limit(body, MAX_LIST_LIMIT, errors)
    table = body.get("TableName")
    if table is not None:
        errors += table_name_errors(table)
    start = body.get("ExclusiveStartStreamArn")
    _length(start, "exclusiveStartStreamArn", 37, 1024, errors)
    if errors:
        raise constraint_failure(errors)
    if start is not None:
        parse_stream_arn(start)
    return table, limit or MAX_LIST_LIMIT, start


def list_streams_page(streams: list[tuple[str, str, str]], limit: int, start: str | None) -> dict[str, Any]:
    """A ListStreams answer from (arn, table, label) triples, ordered by ARN."""
    rows = sorted(streams)
    if start is not None:
        rows = [r for r in rows if r[0] > start]
    page = rows[:limit]
    out: dict[str, Any] = {"Streams": [{"StreamArn": a, "TableName": t, "StreamLabel": lab} for a, t, lab in page]}
    if len(rows) > limit:
        out["LastEvaluatedStreamArn"] = page[-1][0]
    return out


def parse_describe_stream(body: dict) -> tuple[StreamName, str, int, str | None]:
    """DescribeStream: (ARN parts, ARN, limit, exclusive start shard id)."""
    errors: list[str] = []
    arn = body.get("StreamArn")
    _length(arn, "streamArn", 37, 1024, errors, required=True)
    limit = _limit(body, MAX_LIST_LIMIT, errors)
    start = body.get("ExclusiveStartShardId")
    _length(start, "exclusiveStartShardId", 28, 65, errors)
    if errors:
        raise constraint_failure(errors)
    return parse_stream_arn(arn), arn, limit or MAX_LIST_LIMIT, start


def stream_description(*, arn: str, label: str, status: str, view_type: str, created_ms: int, table: str,
                       key_schema: list[dict], shards: list[Shard], limit: int,
                       start: str | None) -> dict[str, Any]:
    """DescribeStream's StreamDescription with one page of shards in id order
    (ids sort by creation; an unknown ExclusiveStartShardId lists the shards
    after it, none for one past the last, as AWS answers)."""
    rows = sorted(shards, key=lambda s: s.shard_id)
    if start is not None:
        rows = [s for s in rows if s.shard_id > start]
    page = rows[:limit]
    out: dict[str, Any] = {"StreamArn": arn, "StreamLabel": label, "StreamStatus": status,
                           "StreamViewType": view_type, "CreationRequestDateTime": created_ms / 1000,
                           "TableName": table, "KeySchema": key_schema,
                           "Shards": [s.to_wire() for s in page]}
    if len(rows) > limit:
        out["LastEvaluatedShardId"] = page[-1].shard_id
    return out


# ---------------------------------------------------------------- iterators


@dataclass(frozen=True, slots=True)
class IteratorRequest:
    """A checked GetShardIterator request; ``position`` is set for the
    sequence-number types (AFTER already moved past the number)."""

    stream: StreamName
    arn: str
    shard_id: str
    kind: str
    position: Position | None = None
    timestamp: float | None = None


def parse_get_shard_iterator(body: dict) -> IteratorRequest:
    errors: list[str] = []
    arn = body.get("StreamArn")
    _length(arn, "streamArn", 37, 1024, errors, required=True)
    shard = body.get("ShardId")
    _length(shard, "shardId", 28, 65, errors, required=True)
    kind = body.get("ShardIteratorType")
    if kind is None:
        errors.append(constraint_error(None, "shardIteratorType", "Member must not be null"))
    elif kind not in ITERATOR_TYPES:
        errors.append(_enum_error(kind, "shardIteratorType", ITERATOR_TYPES))
    seq = body.get("SequenceNumber")
    _length(seq, "sequenceNumber", 21, 40, errors)
    if errors:
        raise constraint_failure(errors)
    name = parse_stream_arn(arn)
    by_sequence = kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
    if by_sequence and seq is None:
        raise ValidationException(f"SequenceNumber is required for ShardIteratorType {kind}")
    if not by_sequence and seq is not None:
        raise ValidationException(f"SequenceNumber must not be specified for ShardIteratorType {kind}")
    stamp = body.get("Timestamp")
    if kind == "AT_TIMESTAMP" and stamp is None:
        raise ValidationException("Timestamp is required for ShardIteratorType AT_TIMESTAMP")
    if kind != "AT_TIMESTAMP" and stamp is not None:
        raise ValidationException(f"Timestamp must not be specified for ShardIteratorType {kind}")
    position = None
    if by_sequence:
        position = parse_sequence_number(seq)
        if kind == "AFTER_SEQUENCE_NUMBER":
            position = position.next()
    return IteratorRequest(name, arn, shard, kind, position, stamp)


@dataclass(frozen=True, slots=True)
class ShardIterator:
    """Where a reader stands: the next position to read in a shard, and when
    the iterator was issued. Encoded as ``<stream arn>|1|<token>``, the
    token base64 of the fields and an HMAC-SHA256 under the cluster's key,
    so a forged or edited iterator is refused."""

    arn: str
    shard_id: str
    position: Position
    issued_ms: int

    def encode(self, key: bytes) -> str:
        p = self.position
        fields = f"{self.shard_id}|{p.generation}|{p.index}|{p.offset}|{self.issued_ms}"
        mac = hmac.new(key, f"{self.arn}|{fields}".encode(), hashlib.sha256).digest()[:16]
        token = base64.urlsafe_b64encode(fields.encode() + b"|" + mac).decode().rstrip("=")
        return f"{self.arn}|1|{token}"

    @classmethod
    def decode(cls, text: str, key: bytes, *, now_ms: int) -> ShardIterator:
        """The iterator ``text`` names; ValidationException if it is not one
        of ours, ExpiredIteratorException 15 minutes after it was issued."""
        arn, sep, rest = text.partition("|1|")
        try:
            raw = base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4))
            fields, bar, mac = raw[:-17], raw[-17:-16], raw[-16:]  # the MAC is 16 raw bytes, which may hold a "|"
            want = hmac.new(key, f"{arn}|".encode() + fields, hashlib.sha256).digest()[:16]
            if not sep or bar != b"|" or not hmac.compare_digest(mac, want):
                raise ValueError("bad mac")
            shard, gen, index, offset, issued = fields.decode().split("|")
            it = cls(arn, shard, Position(int(gen), int(index), int(offset)), int(issued))
        except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise ValidationException(INVALID_ITERATOR) from exc
        if now_ms - it.issued_ms > ITERATOR_TTL_MS:
            raise ExpiredIteratorException(EXPIRED_ITERATOR)
        return it


def parse_get_records(body: dict, key: bytes, *, now_ms: int) -> tuple[ShardIterator, int]:
    """GetRecords: (the iterator, the record limit). Limit has no maximum in
    the model; above 1,000 it is a LimitExceededException (the model's
    documentation of that exception)."""
    errors: list[str] = []
    text = body.get("ShardIterator")
    _length(text, "shardIterator", 1, 2048, errors, required=True)
    limit = _limit(body, None, errors)
    if errors:
        raise constraint_failure(errors)
    if limit is not None and limit > MAX_RECORDS:
        raise LimitExceededException()
    return ShardIterator.decode(text, key, now_ms=now_ms), limit or MAX_RECORDS
