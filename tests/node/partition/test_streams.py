"""A partition's stream records against a real store: settings switching at
log positions, records per view type and for TTL deletes, reads in log
order with their next position, closed shards, and local trimming."""

from __future__ import annotations

import orjson
import pytest

from ddb.errors import TrimmedDataAccessException
from node.partition import streams
from node.storage import Storage

KEYS = ["pk", "sk"]
ITEM = {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}}
GROUP = "t1.p0"


@pytest.fixture
def storage(tmp_path):
    s = Storage.open(tmp_path / "db")
    yield s
    s.close()


def stream(view="NEW_AND_OLD_IMAGES", start=10, end=None):
    return {"label": "L", "view": view, "keys": KEYS, "start": start, "start_ms": 5, "end": end}


def test_settings_start_a_new_label_end_a_disabled_one_and_keep_the_old():
    want = [{"label": "A", "view": "KEYS_ONLY", "keys": KEYS, "enabled": True}]
    s1 = streams.applied_settings([], want, 7, 100)
    assert s1 == [{"label": "A", "view": "KEYS_ONLY", "keys": KEYS, "start": 7, "start_ms": 100, "end": None}]
    assert streams.open_stream({"streams": s1})["label"] == "A"
    s2 = streams.applied_settings(s1, [{**want[0], "enabled": False}], 9, 200)
    assert s2[0]["end"] == 9 and streams.open_stream({"streams": s2}) is None
    s3 = streams.applied_settings(s2, [{**want[0], "enabled": False},
                                       {"label": "B", "view": "NEW_IMAGE", "keys": KEYS, "enabled": True}], 12, 300)
    assert [(s["label"], s["start"], s["end"]) for s in s3] == [("A", 7, 9), ("B", 12, None)]


@pytest.mark.parametrize("view,old,new", [("KEYS_ONLY", False, False), ("NEW_IMAGE", False, True),
                                          ("OLD_IMAGE", True, False), ("NEW_AND_OLD_IMAGES", True, True)])
def test_a_record_keeps_the_images_its_view_type_shows(view, old, new):
    rec = streams.stream_record(stream(view), ITEM, {**ITEM, "v": {"N": "2"}}, 42, False)
    assert rec.event == rec.MODIFY and orjson.loads(rec.keys) == {"pk": {"S": "a"}, "sk": {"S": "1"}}
    assert bool(rec.old_image) == old and bool(rec.new_image) == new and rec.created_ms == 42


def test_no_record_when_nothing_changed_and_ttl_deletes_are_marked():
    assert streams.stream_record(stream(), ITEM, dict(ITEM), 1, False) is None
    assert streams.stream_record(stream(), None, None, 1, False) is None
    rec = streams.stream_record(stream(), ITEM, None, 1, True)
    assert rec.event == rec.REMOVE and rec.by_ttl


def _write(storage, positions, created_ms=1000, applied=None):
    batch = storage.batch()
    for index, offset in positions:
        item = {**ITEM, "v": {"N": str(index * 10 + offset)}}
        streams.put_record(batch, GROUP, index, offset, streams.stream_record(stream(), None, item, created_ms, False))
    batch.set_applied_index(GROUP, applied if applied is not None else max(i for i, _ in positions))
    storage.write(batch, sync=False)


def test_reads_follow_log_order_and_say_where_to_go_on(storage):
    s = stream(start=10)
    _write(storage, [(11, 0), (11, 1), (13, 0), (14, 0)], applied=20)
    r = streams.read(storage, GROUP, s, (0, 0), 3, 1 << 20)
    assert [(x.position.index, x.position.offset) for x in r.records] == [(11, 0), (11, 1), (13, 0)]
    assert (r.stream_next.index, r.stream_next.offset) == (13, 1)
    r = streams.read(storage, GROUP, s, (13, 1), 10, 1 << 20)
    assert [x.position.index for x in r.records] == [14]
    # Read to the applied index: the next record can only come after it.
    assert (r.stream_next.index, r.stream_next.offset) == (21, 0) and not r.shard_end
    horizon, latest = streams.shard_positions(storage, GROUP, s)
    assert (horizon.index, latest.index) == (11, 21)


def test_a_closed_shard_ends_and_holds_no_later_record(storage):
    s = stream(start=10, end=14)
    _write(storage, [(11, 0), (13, 0), (15, 0)])
    r = streams.read(storage, GROUP, s, (0, 0), 10, 1 << 20)
    assert [x.position.index for x in r.records] == [11, 13] and r.shard_end
    assert streams.shard_positions(storage, GROUP, s)[1].index == 14


def test_trimming_drops_old_records_and_reads_behind_it_are_refused(storage):
    s = stream(start=10)
    _write(storage, [(11, 0), (12, 0)], created_ms=1000)
    _write(storage, [(13, 0)], created_ms=5000)
    assert streams.trim(storage, GROUP, cutoff_ms=2000, most=100) == 2
    assert streams.trim(storage, GROUP, cutoff_ms=2000, most=100) == 0
    horizon, _ = streams.shard_positions(storage, GROUP, s)
    assert (horizon.index, horizon.offset) == (12, 1)
    with pytest.raises(TrimmedDataAccessException):
        streams.read(storage, GROUP, s, (11, 0), 10, 1 << 20)
    r = streams.read(storage, GROUP, s, (12, 1), 10, 1 << 20)
    assert [x.position.index for x in r.records] == [13]
