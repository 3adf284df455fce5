"""DynamoDB Streams' pure rules: settings, names, records, shards, iterators,
request checks. Messages are the ones ddb/streams.py cites."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.errors import (DynamoDBError, ExpiredIteratorException, LimitExceededException,
                        ValidationException)
from ddb.streams import (ITERATOR_TTL_MS, MAX_PAGE_BYTES, Position, Shard, ShardIterator, StreamSpec,
                         build_record, event_name, lambda_event_record, list_streams_page, page_cut,
                         parse_create_stream, parse_describe_stream, parse_get_records,
                         parse_get_shard_iterator, parse_list_streams, parse_sequence_number,
                         parse_stream_arn, parse_update_stream, partition_shard_id, record_size, shard_id,
                         shard_lineage, stream_arn, stream_description, stream_label, table_stream_fields)
from ddb.size import item_size
from ddb.tables import parse_create_table

LABEL = "2026-12-06T05:49:12.345"
ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/{LABEL}"
KEY = b"k" * 32
SHARD = "shardId-00000001796535752345-3a0d2fd1"
VIEW_ENUM = "[NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"


def error(fn, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises(DynamoDBError) as exc:
        fn(*args, **kwargs)
    return type(exc.value), exc.value.message


# ---------------------------------------------------------------- StreamSpecification


def test_create_table_accepts_each_view_type_and_a_disabled_stream():
    for view in ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"):
        assert parse_create_stream({"StreamEnabled": True, "StreamViewType": view}) == StreamSpec(True, view)
    assert parse_create_stream({"StreamEnabled": False}) is None
    assert parse_create_stream(None) is None


@pytest.mark.parametrize("spec,msg", [
    ({"StreamEnabled": True},
     "One or more parameter values were invalid: Table is being created with a stream enabled, "
     "UpdateViewType is required"),
    ({"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"},
     "One or more parameter values were invalid: Table is being created with a stream disabled, "
     "UpdateViewType should not be specified"),
    ({"StreamViewType": "KEYS_ONLY"},
     "1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy "
     "constraint: Member must not be null"),
    ({"StreamEnabled": True, "StreamViewType": "Fisk"},
     "1 validation error detected: Value 'Fisk' at 'streamSpecification.streamViewType' failed to satisfy "
     f"constraint: Member must satisfy enum value set: {VIEW_ENUM}"),
])
def test_create_table_stream_errors(spec, msg):
    assert error(parse_create_stream, spec) == (ValidationException, msg)


def test_create_table_keeps_only_an_enabled_stream():
    body = {"TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}
    on = parse_create_table({**body, "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}})
    assert on["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert parse_create_table({**body, "StreamSpecification": {"StreamEnabled": False}})["StreamSpecification"] is None
    assert error(parse_create_table, {**body, "StreamSpecification": {"StreamEnabled": True}})[0] is ValidationException


ENABLED = StreamSpec(True, "KEYS_ONLY")


def update(spec, current, **more):
    return parse_update_stream({"StreamSpecification": spec, **more}, "orders", current)


def test_update_table_enables_and_disables():
    assert update({"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"}, None) == StreamSpec(True, "OLD_IMAGE")
    assert update({"StreamEnabled": False}, ENABLED) is None


@pytest.mark.parametrize("spec,current,more,msg", [
    # DDB-TABLE-050: a second enable, of the same or another view type
    ({"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, ENABLED, {},
     "Table already has an enabled stream: TableName: orders"),
    ({"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}, ENABLED, {},
     "Table already has an enabled stream: TableName: orders"),
    ({"StreamEnabled": False}, None, {}, "Table has no stream to disable: TableName: orders"),
    # the view type rules win over the table's state
    ({"StreamEnabled": True}, ENABLED, {},
     "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required"),
    ({"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"}, ENABLED, {},
     "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not "
     "be specified"),
    ({"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, None,
     {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
     "One or more parameter values were invalid: You cannot modify stream status while updating table IOPS"),
    ({"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, None,
     {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "g"}}]},
     "One or more parameter values were invalid: You cannot create or delete index while changing stream status"),
])
def test_update_table_stream_errors(spec, current, more, msg):
    assert error(update, spec, current, **more) == (ValidationException, msg)


def test_describe_table_shows_only_an_enabled_stream_but_keeps_the_latest_arn():
    assert table_stream_fields(ENABLED, ARN) == {
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        "LatestStreamArn": ARN, "LatestStreamLabel": LABEL}
    assert table_stream_fields(None, ARN) == {"LatestStreamArn": ARN, "LatestStreamLabel": LABEL}
    assert table_stream_fields(None, None) == {}


# ---------------------------------------------------------------- names


def test_label_and_arn_look_like_dynamodbs():
    assert stream_label(1796535752345) == "2026-12-06T05:42:32.345"
    assert stream_label(1796535752005) == "2026-12-06T05:42:32.005"
    arn = stream_arn("us-east-1", "000000000000", "orders", LABEL)
    assert arn == ARN
    name = parse_stream_arn(arn)
    assert (name.region, name.account, name.table, name.label) == ("us-east-1", "000000000000", "orders", LABEL)


@pytest.mark.parametrize("arn", [
    "sdfadfsdfnlfkajakfgjalksfgklasjklasdjfklasdfasdfgasf",
    ARN.replace("/stream/", "/strem/"),
    ARN[:-1],
    "arn:aws:dynamodb:us-east-1:000000000000:table/orders",
])
def test_a_malformed_stream_arn_is_a_validation_error(arn):
    assert error(parse_stream_arn, arn) == (ValidationException, "Invalid StreamArn")


def test_shard_ids_have_dynamodbs_shape_sort_by_creation_and_are_derived():
    a, b = shard_id(1796535752345, "p1/0"), shard_id(1796535752346, "p0/0")
    assert a == shard_id(1796535752345, "p1/0")
    assert a.startswith("shardId-00000001796535752345-") and len(a) == 37 and 28 <= len(a) <= 65
    assert int(a.rsplit("-", 1)[1], 16) >= 0 and len(a.rsplit("-", 1)[1]) == 8
    assert a < b


def test_a_split_partitions_shards_form_dynamodbs_lineage():
    """p0 split at 40 (child c1), then at 70 (child c2); p1 never split; an
    empty shard (a stream that ended before a split) is not listed."""
    stream = {"label": "L", "created_ms": 1000, "shards": {
        "p0": {"start": 9, "splits": [[40, 5000], [70, 6000]]}, "p1": {"start": 9, "end": 99},
        "c1": {"start": 40, "ms": 5000, "parent": ["p0", 0]}, "c2": {"start": 70, "ms": 6000, "parent": ["p0", 1]},
        "e": {"start": 9, "end": 9, "empty": True}, "unstarted": {}}}
    got = {group + str(i): shard for i, (shard, group) in enumerate(
        shard_lineage("u", stream, ["p0", "c2", "c1", "p1", "e", "unstarted"]))}
    assert [g for g in got] == ["p00", "p01", "p02", "c23", "c14", "p15"]
    p0, p0b, p0c, c2, c1, p1 = got.values()
    assert p0 == Shard(partition_shard_id("u", stream, "p0"), Position(0, 10), Position(0, 40))
    assert (p0b.starting, p0b.ending, p0b.parent) == (Position(0, 41), Position(0, 70), p0.shard_id)
    assert (p0c.starting, p0c.ending, p0c.parent) == (Position(0, 71), None, p0b.shard_id)
    assert (c1.starting, c1.ending, c1.parent) == (Position(0, 41), None, p0.shard_id)
    assert (c2.starting, c2.ending, c2.parent) == (Position(0, 71), None, p0b.shard_id)
    assert (p1.shard_id, p1.ending, p1.parent) == (partition_shard_id("u", stream, "p1"), Position(0, 99), None)
    # Ids sort parents before children: a later shard is named by its split's time.
    assert max(p0.shard_id, p1.shard_id) < min(p0b.shard_id, c1.shard_id)
    assert max(p0b.shard_id, c1.shard_id) < min(p0c.shard_id, c2.shard_id)
    assert len({s.shard_id for s in got.values()}) == 6
    assert p0b.to_wire()["ParentShardId"] == p0.shard_id and "ParentShardId" not in p0.to_wire()


# ---------------------------------------------------------------- sequence numbers

positions = st.builds(Position, st.integers(0, 9999), st.integers(0, 10**20 - 1), st.integers(0, 10**5 - 2))


@given(positions, positions)
def test_sequence_numbers_order_as_positions_do(p, q):
    a, b = p.sequence_number(), q.sequence_number()
    assert 21 <= len(a) <= 40 and a.isdecimal()
    assert (a < b) == (p < q) == (int(a) < int(b))
    assert parse_sequence_number(a) == p
    assert p < p.next() and parse_sequence_number(p.next().sequence_number()) == p.next()


@pytest.mark.parametrize("text", ["300000000000000499659", "x" * 30, "0" * 30, "1" * 31, "١" * 30])
def test_foreign_sequence_numbers_are_refused(text):
    assert error(parse_sequence_number, text) == (ValidationException, "Invalid SequenceNumber")


def test_positions_out_of_range_are_a_bug():
    with pytest.raises(ValueError):
        Position(10**4, 0).sequence_number()


# ---------------------------------------------------------------- records

K = {"id": {"S": "test"}}
OLD = {"id": {"S": "test"}, "n": {"N": "1"}, "m": {"M": {"a": {"N": "1"}, "b": {"SS": ["x", "y"]}}}}


def record(old, new, view="NEW_AND_OLD_IMAGES", **kw):
    return build_record(stream=ARN, keys=K, old=old, new=new, view_type=view, position=Position(0, 7, 2),
                        created_ms=1796535752999, region="eu-west-2", **kw)


def test_event_names_and_writes_that_change_nothing():
    assert event_name(None, K) == "INSERT"
    assert event_name(K, OLD) == "MODIFY"
    assert event_name(OLD, None) == "REMOVE"
    assert event_name(None, None) is None
    same = {"m": {"M": {"b": {"SS": ["y", "x"]}, "a": {"N": "1.0"}}}, "n": {"N": "1"}, "id": {"S": "test"}}
    assert event_name(OLD, same) is None
    assert record(OLD, same) is None and record(None, None) is None
    assert event_name(OLD, {**same, "n": {"S": "1"}}) == "MODIFY"


def test_a_record_as_getrecords_returns_it():
    new = {"id": {"S": "test"}}
    assert record(None, new, "NEW_IMAGE") == {
        "eventID": record(None, new, "NEW_IMAGE")["eventID"],
        "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-2",
        "dynamodb": {"ApproximateCreationDateTime": 1796535752, "Keys": K, "NewImage": new,
                     "SequenceNumber": Position(0, 7, 2).sequence_number(),
                     "SizeBytes": 12,  # as AWS counted this very record (localstack snapshot)
                     "StreamViewType": "NEW_IMAGE"}}


def test_size_bytes_as_aws_counted_a_record_with_a_binary():
    # localstack test_lambda_integration_dynamodbstreams.snapshot.json, recorded against AWS: SizeBytes 70
    keys = {"my_partition_key": {"S": "hello world"}}
    new = {"binary_key": {"B": "Zm9vYmFy"}, **keys}
    r = build_record(stream=ARN, keys=keys, old=None, new=new, view_type="NEW_IMAGE", position=Position(0, 1),
                     created_ms=0, region="r")
    assert r["dynamodb"]["SizeBytes"] == 70


@pytest.mark.parametrize("view,images", [
    ("KEYS_ONLY", set()), ("NEW_IMAGE", {"NewImage"}), ("OLD_IMAGE", {"OldImage"}),
    ("NEW_AND_OLD_IMAGES", {"NewImage", "OldImage"}),
])
def test_view_types_choose_the_images(view, images):
    r = record(OLD, {**OLD, "n": {"N": "2"}}, view)["dynamodb"]
    assert {"NewImage", "OldImage"} & r.keys() == images
    assert r["StreamViewType"] == view
    assert r["SizeBytes"] == sum(item_size(r[k]) for k in ("Keys", "NewImage", "OldImage") if k in r)
    assert "NewImage" not in record(OLD, None, view)["dynamodb"]
    assert "OldImage" not in record(None, OLD, view)["dynamodb"]


def test_event_ids_are_stable_and_distinct():
    a = record(None, OLD)["eventID"]
    assert a == record(None, OLD)["eventID"] and len(a) == 32 and int(a, 16) >= 0
    other = build_record(stream=ARN, keys=K, old=None, new=OLD, view_type="KEYS_ONLY", position=Position(0, 7, 3),
                         created_ms=0, region="r")
    assert other["eventID"] != a


def test_ttl_deletes_carry_the_service_identity():
    r = record(OLD, None, by_ttl=True)
    assert r["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    assert "userIdentity" not in record(OLD, None)
    event = lambda_event_record(r, ARN)
    assert event["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert event["eventSourceARN"] == ARN
    assert event["dynamodb"] == {**r["dynamodb"], "ApproximateCreationDateTime": 1796535752.0}
    assert isinstance(event["dynamodb"]["ApproximateCreationDateTime"], float)
    assert "userIdentity" not in lambda_event_record(record(OLD, None), ARN)


def test_pages_stop_at_the_limit_or_one_megabyte_but_carry_at_least_one():
    small = [record(None, {"id": {"S": "test"}, "i": {"N": str(i)}}) for i in range(1500)]
    assert len(page_cut(small)) == 1000
    assert len(page_cut(small, 3)) == 3
    big = record(None, {"id": {"S": "test"}, "blob": {"S": "x" * 300_000}})
    assert record_size(big) > 300_000
    assert len(page_cut([big] * 5)) == 3  # a fourth would pass 1 MB
    huge = record(None, {"id": {"S": "test"}, "blob": {"S": "x" * (MAX_PAGE_BYTES + 1)}})
    assert page_cut([huge, big]) == [huge]
    assert page_cut([]) == []


# ---------------------------------------------------------------- shards and streams


def test_shards_show_their_lineage_and_range():
    start, end = Position(0, 1), Position(0, 90, 1)
    closed = Shard("shardId-00000001796535752345-aaaaaaaa", start, end)
    child = Shard("shardId-00000001796535799999-bbbbbbbb", Position(1, 91), parent=closed.shard_id)
    assert closed.to_wire() == {"ShardId": closed.shard_id, "SequenceNumberRange": {
        "StartingSequenceNumber": start.sequence_number(), "EndingSequenceNumber": end.sequence_number()}}
    assert child.to_wire() == {"ShardId": child.shard_id, "ParentShardId": closed.shard_id,
                               "SequenceNumberRange": {"StartingSequenceNumber": Position(1, 91).sequence_number()}}


def describe(limit, start=None):
    shards = [Shard(shard_id(1796535752345 + i, str(i)), Position(i, 1)) for i in (2, 0, 1)]
    return stream_description(arn=ARN, label=LABEL, status="ENABLED", view_type="KEYS_ONLY",
                              created_ms=1796535752345, table="orders",
                              key_schema=[{"AttributeName": "id", "KeyType": "HASH"}], shards=shards,
                              limit=limit, start=start)


def test_describe_stream_pages_shards_in_id_order():
    first = describe(2)
    ids = [s["ShardId"] for s in first["Shards"]]
    assert ids == sorted(ids) and first["LastEvaluatedShardId"] == ids[-1]
    assert first["StreamStatus"] == "ENABLED" and first["CreationRequestDateTime"] == 1796535752.345
    rest = describe(2, first["LastEvaluatedShardId"])
    assert len(rest["Shards"]) == 1 and "LastEvaluatedShardId" not in rest
    assert describe(100, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")["Shards"] == []


def test_list_streams_pages_by_arn():
    rows = [(ARN.replace("orders", t), t, LABEL) for t in ("c-t", "a-t", "b-t")]
    page = list_streams_page(rows, 2, None)
    assert [s["TableName"] for s in page["Streams"]] == ["a-t", "b-t"]
    assert list_streams_page(rows, 2, page["LastEvaluatedStreamArn"]) == {
        "Streams": [{"StreamArn": rows[0][0], "TableName": "c-t", "StreamLabel": LABEL}]}


@pytest.mark.parametrize("body,msg", [
    ({"Limit": 0}, "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
                   "Member must have value greater than or equal to 1"),
    ({"Limit": 101}, "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: "
                     "Member must have value less than or equal to 100"),
    ({"ExclusiveStartStreamArn": "kossaapaaasdafsdaasdasdasdasasdasfadfadfasdasdas"}, "Invalid StreamArn"),
    ({"ExclusiveStartStreamArn": "short"},
     "1 validation error detected: Value 'short' at 'exclusiveStartStreamArn' failed to satisfy constraint: "
     "Member must have length greater than or equal to 37"),
    ({"TableName": "ab"}, "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
                          "Member must have length greater than or equal to 3"),
])
def test_list_streams_request_errors(body, msg):
    assert error(parse_list_streams, body) == (ValidationException, msg)


def test_list_streams_defaults():
    assert parse_list_streams({}) == (None, 100, None)
    assert parse_list_streams({"TableName": "orders", "Limit": 5, "ExclusiveStartStreamArn": ARN}) == (
        "orders", 5, ARN)


def test_describe_stream_requests():
    name, arn, limit, start = parse_describe_stream({"StreamArn": ARN})
    assert (name.table, arn, limit, start) == ("orders", ARN, 100, None)
    assert error(parse_describe_stream, {}) == (
        ValidationException, "1 validation error detected: Value null at 'streamArn' failed to satisfy constraint: "
                             "Member must not be null")
    assert error(parse_describe_stream, {"StreamArn": ARN, "Limit": 101, "ExclusiveStartShardId": "s"}) == (
        ValidationException,
        "2 validation errors detected: Value '101' at 'limit' failed to satisfy constraint: Member must have value "
        "less than or equal to 100; Value 's' at 'exclusiveStartShardId' failed to satisfy constraint: Member must "
        "have length greater than or equal to 28")


# ---------------------------------------------------------------- iterators

SEQ = Position(0, 42, 1).sequence_number()


def gsi(**body):
    return parse_get_shard_iterator({"StreamArn": ARN, "ShardId": SHARD, **body})


def test_iterator_requests_resolve_their_position():
    assert gsi(ShardIteratorType="TRIM_HORIZON").position is None
    assert gsi(ShardIteratorType="LATEST").kind == "LATEST"
    assert gsi(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=SEQ).position == Position(0, 42, 1)
    assert gsi(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=SEQ).position == Position(0, 42, 2)
    assert gsi(ShardIteratorType="AT_TIMESTAMP", Timestamp=1796535752.5).timestamp == 1796535752.5


@pytest.mark.parametrize("body,msg", [
    ({"ShardIteratorType": "AT_SEQUENCE_NUMBER"}, "SequenceNumber is required for ShardIteratorType AT_SEQUENCE_NUMBER"),
    ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER"},
     "SequenceNumber is required for ShardIteratorType AFTER_SEQUENCE_NUMBER"),
    ({"ShardIteratorType": "LATEST", "SequenceNumber": SEQ},
     "SequenceNumber must not be specified for ShardIteratorType LATEST"),
    ({"ShardIteratorType": "TRIM_HORIZON", "SequenceNumber": SEQ},
     "SequenceNumber must not be specified for ShardIteratorType TRIM_HORIZON"),
    ({"ShardIteratorType": "AT_TIMESTAMP"}, "Timestamp is required for ShardIteratorType AT_TIMESTAMP"),
    ({"ShardIteratorType": "LATEST", "Timestamp": 1.0}, "Timestamp must not be specified for ShardIteratorType LATEST"),
    ({"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": "300000000000000499659"}, "Invalid SequenceNumber"),
    ({"ShardIteratorType": "bulle"},
     "1 validation error detected: Value 'bulle' at 'shardIteratorType' failed to satisfy constraint: Member must "
     "satisfy enum value set: [TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP]"),
    ({"ShardIteratorType": "LATEST", "StreamArn": "sdfadsfsdfsdgdfsgsfdabadfbabdadsfsdfsdfsdfsdfsdf"},
     "Invalid StreamArn"),
    ({"ShardIteratorType": "LATEST", "SequenceNumber": "12"},
     "1 validation error detected: Value '12' at 'sequenceNumber' failed to satisfy constraint: Member must have "
     "length greater than or equal to 21"),
    ({"ShardId": None},
     "2 validation errors detected: Value null at 'shardId' failed to satisfy constraint: Member must not be null; "
     "Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null"),
])
def test_iterator_request_errors(body, msg):
    assert error(gsi, **body) == (ValidationException, msg)


def test_iterators_round_trip_and_expire_after_fifteen_minutes():
    it = ShardIterator(ARN, SHARD, Position(3, 10**19, 4), issued_ms=1_000)
    text = it.encode(KEY)
    assert text.startswith(ARN + "|1|") and len(text) <= 2048
    assert ShardIterator.decode(text, KEY, now_ms=1_000 + ITERATOR_TTL_MS) == it
    assert error(ShardIterator.decode, text, KEY, now_ms=1_001 + ITERATOR_TTL_MS) == (
        ExpiredIteratorException, "The provided iterator exceeds the maximum age allowed.")


@given(st.binary(min_size=1, max_size=60), st.integers(0, 200))
def test_any_edited_iterator_is_refused(patch, at):
    text = ShardIterator(ARN, SHARD, Position(0, 5), issued_ms=0).encode(KEY)
    token = text.rsplit("|", 1)[1]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    at %= len(raw)
    edited = bytes(raw[:at]) + patch + bytes(raw[at + len(patch):])
    if edited == bytes(raw):
        return
    forged = text.rsplit("|", 1)[0] + "|" + base64.urlsafe_b64encode(edited).decode()
    assert error(ShardIterator.decode, forged, KEY, now_ms=0) == (ValidationException, "Invalid ShardIterator")


@pytest.mark.parametrize("text", [
    "sdfsdfsgagaddafgagasgasgasdfasdfasdfasdfasdgasdasdgasdg",
    ARN + "|1|!!!",
    ARN.replace("orders", "others") + "|1|",
])
def test_foreign_iterators_are_refused(text):
    assert error(ShardIterator.decode, text, KEY, now_ms=0) == (ValidationException, "Invalid ShardIterator")


def test_an_iterator_moved_to_another_stream_or_key_is_refused():
    text = ShardIterator(ARN, SHARD, Position(0, 5), issued_ms=0).encode(KEY)
    moved = text.replace("orders", "others", 1)
    assert error(ShardIterator.decode, moved, KEY, now_ms=0)[0] is ValidationException
    assert error(ShardIterator.decode, text, b"other key", now_ms=0)[0] is ValidationException


def test_get_records_requests():
    text = ShardIterator(ARN, SHARD, Position(0, 5), issued_ms=0).encode(KEY)
    assert parse_get_records({"ShardIterator": text}, KEY, now_ms=0)[1] == 1000
    assert parse_get_records({"ShardIterator": text, "Limit": 7}, KEY, now_ms=0)[1] == 7
    assert error(parse_get_records, {"ShardIterator": text, "Limit": 1001}, KEY, now_ms=0)[0] is LimitExceededException
    assert error(parse_get_records, {"ShardIterator": text, "Limit": 0}, KEY, now_ms=0) == (
        ValidationException, "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
                             "Member must have value greater than or equal to 1")
    assert error(parse_get_records, {}, KEY, now_ms=0) == (
        ValidationException, "1 validation error detected: Value null at 'shardIterator' failed to satisfy "
                             "constraint: Member must not be null")


def test_iterators_round_trip_whatever_bytes_their_mac_holds():
    # The MAC is raw bytes: one in about 16 holds a "|" (0x7c), which once
    # cut the token at the wrong place.
    for n in range(300):
        it = ShardIterator(ARN, SHARD, Position(0, n, n % 3), issued_ms=1_000)
        assert ShardIterator.decode(it.encode(KEY), KEY, now_ms=1_000) == it


def test_an_iterator_with_its_mac_separator_edited_is_refused():
    text = ShardIterator(ARN, SHARD, Position(0, 5), issued_ms=0).encode(KEY)
    token = text.rsplit("|", 1)[1]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-17] = 0  # the "|" before the 16-byte MAC
    forged = text.rsplit("|", 1)[0] + "|" + base64.urlsafe_b64encode(bytes(raw)).decode()
    assert error(ShardIterator.decode, forged, KEY, now_ms=0) == (ValidationException, "Invalid ShardIterator")
