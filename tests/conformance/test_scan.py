"""Scan, case by case: whole-table reads across partitions, pagination,
parallel segments, filters and projections."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of

N = 60


@pytest.fixture(scope="module")
def table(ddb):
    name = create_table(ddb, "scan_t", ("pk", "S"))
    for i in range(N):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)},
                                           "odd": {"BOOL": i % 2 == 1}})
    return name


def ns(items):
    return sorted(int(i["n"]["N"]) for i in items)


def scan_all(ddb, table, **kw):
    kw.setdefault("ConsistentRead", True)  # the fixture's writes were just acknowledged
    items, start, pages = [], None, 0
    while True:
        r = ddb.scan(TableName=table, **kw, **({"ExclusiveStartKey": start} if start else {}))
        items += r.get("Items", [])
        pages += 1
        start = r.get("LastEvaluatedKey")
        if not start:
            return items, pages


def test_scan_reads_every_item_of_every_partition(ddb, table):
    r = ddb.scan(TableName=table, ConsistentRead=True)
    assert ns(r["Items"]) == list(range(N))
    assert r["Count"] == N and r["ScannedCount"] == N and "LastEvaluatedKey" not in r


def test_pages_are_stable_and_complete(ddb, table):
    items, pages = scan_all(ddb, table, Limit=7)
    assert ns(items) == list(range(N)) and len(items) == N
    assert pages >= N // 7


def test_limit_page_sizes(ddb, table):
    r = ddb.scan(TableName=table, Limit=5, ConsistentRead=True)
    assert r["Count"] == 5 and r["ScannedCount"] == 5 and "LastEvaluatedKey" in r
    assert set(r["LastEvaluatedKey"]) == {"pk"}


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7])
def test_parallel_segments_are_disjoint_and_complete(ddb, table, total):
    seen = []
    for seg in range(total):
        items, _ = scan_all(ddb, table, Segment=seg, TotalSegments=total, Limit=9)
        seen += items
    assert ns(seen) == list(range(N)) and len(seen) == N


def test_filter_and_projection(ddb, table):
    items, _ = scan_all(ddb, table, FilterExpression="odd = :t", ExpressionAttributeValues={":t": {"BOOL": True}},
                        ProjectionExpression="n")
    assert ns(items) == list(range(1, N, 2))
    assert all(set(i) == {"n"} for i in items)


def test_filter_counts(ddb, table):
    r = ddb.scan(TableName=table, FilterExpression="n < :x", ExpressionAttributeValues={":x": {"N": "10"}},
                 ConsistentRead=True)
    assert r["Count"] == 10 and r["ScannedCount"] == N


def test_select_count(ddb, table):
    r = ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)
    assert r["Count"] == N and "Items" not in r


def test_consistent_scan_sees_a_write_just_made(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "fresh"}, "n": {"N": "-1"}})
    try:
        items, _ = scan_all(ddb, table, ConsistentRead=True)
        assert -1 in ns(items)
    finally:
        ddb.delete_item(TableName=table, Key={"pk": {"S": "fresh"}})


def test_empty_table(ddb):
    name = create_table(ddb, "scan_empty", ("pk", "S"))
    r = ddb.scan(TableName=name)
    assert r["Items"] == [] and r["Count"] == 0 and "LastEvaluatedKey" not in r


def test_one_megabyte_pages(ddb):
    name = create_table(ddb, "scan_big", ("pk", "S"))
    for i in range(8):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"b{i}"}, "blob": {"S": "x" * 300_000}})
    r = ddb.scan(TableName=name, ProjectionExpression="pk", ConsistentRead=True)
    assert r["Count"] < 8 and "LastEvaluatedKey" in r
    items, pages = scan_all(ddb, name, ProjectionExpression="pk")
    assert sorted(i["pk"]["S"] for i in items) == [f"b{i}" for i in range(8)] and pages >= 2


@pytest.mark.parametrize("kwargs,message", [
    ({"Segment": 1}, "The TotalSegments parameter is required but was not present in the request when Segment "
                     "parameter is present"),
    ({"TotalSegments": 2}, "The Segment parameter is required but was not present in the request when parameter "
                           "TotalSegments is present"),
    ({"Segment": 3, "TotalSegments": 3}, "The Segment parameter is zero-based and must be less than parameter "
                                         "TotalSegments: Segment: 3 is not less than TotalSegments: 3"),
    ({"Segment": 0, "TotalSegments": 0}, "Member must have value greater than or equal to 1"),
    ({"Segment": -1, "TotalSegments": 2}, "Member must have value greater than or equal to 0"),
    ({"Segment": 0, "TotalSegments": 1000001}, "Member must have value less than or equal to 1000000"),
    ({"Limit": 0}, "Member must have value greater than or equal to 1"),
    ({"Select": "EVERYTHING"}, "Member must satisfy enum value set"),
    ({"ExclusiveStartKey": {"nope": {"S": "x"}}},
     "The provided starting key is invalid: The provided key element does not match the schema"),
    ({"FilterExpression": "n = :missing"}, "An expression attribute value used in expression is not defined"),
])
def test_validation_errors(raw_ddb, table, kwargs, message):
    code, msg = error_of(raw_ddb.scan, TableName=table, **kwargs)
    assert code == "ValidationException"
    assert message in msg, msg


def test_start_key_from_another_segment_rejected(ddb, table):
    for seg in range(4):
        r = ddb.scan(TableName=table, Segment=seg, TotalSegments=4, Limit=1, ConsistentRead=True)
        if "LastEvaluatedKey" in r:
            other = (seg + 2) % 4
            code, msg = error_of(ddb.scan, TableName=table, Segment=other, TotalSegments=4,
                                 ExclusiveStartKey=r["LastEvaluatedKey"])
            assert code == "ValidationException"
            return
    pytest.fail("no segment had a second page")


def test_unknown_table(ddb):
    assert error_of(ddb.scan, TableName="no_such_table")[0] == "ResourceNotFoundException"
