"""The pure rules of trigger delivery: ParallelizationFactor's lanes, the
ReportBatchItemFailures answer, the on-failure record and its table item."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.feed.triggers import batch_item_failures, failure_item, failure_record, split_lanes

# A shard's records: (key, version) in shard order; a key's versions increase.
shards = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), st.integers(0, 3)),
                  max_size=60)


def records(shard: list[tuple[str, int]]) -> list[dict]:
    out = []
    for n, (key, sk) in enumerate(shard):
        out.append({"dynamodb": {"Keys": {"pk": {"S": key}, "sk": {"N": str(sk)}}, "SequenceNumber": str(n)}})
    return out


@given(shards, st.integers(1, 10))
def test_lanes_keep_every_record_once_and_each_item_in_one_lane_in_order(shard, n):
    recs = records(shard)
    lanes = split_lanes(recs, n)
    assert 1 <= len(lanes) <= n or not recs
    assert all(lanes)
    assert sorted(r["dynamodb"]["SequenceNumber"] for lane in lanes for r in lane) == \
        sorted(r["dynamodb"]["SequenceNumber"] for r in recs)
    lane_of_item: dict[str, int] = {}
    for i, lane in enumerate(lanes):
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in lane]
        assert seqs == sorted(seqs)  # shard order kept within a lane
        for r in lane:
            item = repr(sorted(r["dynamodb"]["Keys"].items()))
            assert lane_of_item.setdefault(item, i) == i  # an item's records never straddle lanes
    if n == 1:
        assert lanes == [recs] if recs else lanes == []


def test_lanes_spread_items_and_are_stable():
    recs = records([(k, 0) for k in "abcdefg"])
    # The hash is fixed (not Python's salted hash()): every node and restart agrees.
    assert split_lanes(recs, 4) == split_lanes(list(recs), 4)
    assert len(split_lanes(recs, 4)) >= 2


SEQS = ["100", "200", "300"]



def test_batch_item_failures_name_the_lowest_failed_record():
    assert batch_item_failures(b'{"batchItemFailures": [{"itemIdentifier": "300"}, {"itemIdentifier": "200"}]}',
                               SEQS) == 1
    # Success: an empty or null list, a null answer, no answer.
    for ok in (b'{"batchItemFailures": []}', b'{"batchItemFailures": null}', b"null", b"", b"{}"):
        assert batch_item_failures(ok, SEQS) is None, ok
    # The whole batch failed: an empty or null identifier, one not in the batch, another shape.
    for bad in (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', b'{"batchItemFailures": [{"id": "200"}]}',
                b'{"batchItemFailures": [{"itemIdentifier": "999"}]}', b'[1]', b'{"batchItemFailures": "x"}',
                b"not json"):
        assert batch_item_failures(bad, SEQS) == 0, bad


def test_the_on_failure_record_describes_the_batch():
    part = [{"dynamodb": {"SequenceNumber": s, "ApproximateCreationDateTime": 1700000000.0}} for s in SEQS]
    mapping = {"function_arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "source": "arn:stream"}
    out = failure_record(mapping, "shardId-1", part, "RetryAttemptsExhausted")
    info = out["DDBStreamBatchInfo"]
    assert (info["shardId"], info["streamArn"], info["batchSize"], info["startSequenceNumber"],
            info["endSequenceNumber"]) == ("shardId-1", "arn:stream", 3, "100", "300")
    assert out["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert out["requestContext"]["functionArn"] == mapping["function_arn"]
    assert out["requestContext"]["approximateInvokeCount"] == 1
    assert failure_record(mapping, "shardId-1", part, "RecordAgeExceeded", invocations=3)["requestContext"][
        "approximateInvokeCount"] == 3


def test_the_failure_record_becomes_an_item_keyed_by_request_and_time():
    part = [{"dynamodb": {"SequenceNumber": s, "ApproximateCreationDateTime": 1700000000.0}} for s in SEQS]
    mapping = {"function_arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "source": "arn:stream"}
    record = failure_record(mapping, "shardId-1", part, "RecordAgeExceeded", now=1700000123.456)
    assert record["timestamp"] == "2023-11-14T22:15:23.456Z"
    key = [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}]
    item = failure_item(record, key, {"id": "S", "at": "N"})
    assert item["id"] == {"S": record["requestContext"]["requestId"]}
    assert item["at"] == {"N": "1700000123456"}
    assert item["DDBStreamBatchInfo"]["M"]["batchSize"] == {"N": "3"}
    assert item["requestContext"]["M"]["condition"] == {"S": "RecordAgeExceeded"}
    assert item["version"] == {"S": "1.0"}
    assert failure_item(record, key, {"id": "S", "at": "S"})["at"] == {"S": record["timestamp"]}
    assert datetime.fromisoformat(record["timestamp"]).timestamp() == 1700000123.456
    # Keys that cannot hold it: refused, never a wrong item.
    for bad in ({"id": "N", "at": "N"}, {"id": "S", "at": "B"}):
        with pytest.raises(ValueError):
            failure_item(record, key, bad)
