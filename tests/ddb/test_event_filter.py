"""Lambda event filtering on DynamoDB stream records (sources in ddb/event_filter.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.event_filter import (InvalidParameterValueException, matches, parse_filter_criteria, parse_pattern,
                              passes)
from ddb.streams import Position, build_record, lambda_event_record

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-12-06T05:49:12.345"


def event(old, new, view="NEW_AND_OLD_IMAGES", *, by_ttl=False):
    keys = {"id": (new or old)["id"]}
    r = build_record(stream=ARN, keys=keys, old=old, new=new, view_type=view, position=Position(0, 1),
                     created_ms=1796535752345, region="us-east-1", by_ttl=by_ttl)
    return lambda_event_record(r, ARN)


def ok(pattern: dict, record: dict) -> bool:
    return matches(parse_pattern(json.dumps(pattern)), record)


INSERT = event(None, {"id": {"S": "o-1"}, "status": {"S": "done"}, "total": {"N": "42"},
                      "tags": {"SS": ["red", "blue"]}, "paid": {"BOOL": True}, "note": {"NULL": True},
                      "lines": {"L": [{"M": {"sku": {"S": "A1"}}}, {"M": {"sku": {"S": "B2"}}}]},
                      "addr": {"M": {"city": {"S": "Lisbon"}}}, "empty": {"S": ""}})


# ---------------------------------------------------------------- the documented rules


@pytest.mark.parametrize("pattern,expected", [
    # the and the guide's shapes
    ({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["done"]}}}}, True),
    ({"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["done"]}}}}, False),
    ({"dynamodb": {"Keys": {"id": {"S": ["o-1"]}}}}, True),
    ({"eventSource": ["aws:dynamodb"], "awsRegion": ["us-east-1"], "eventSourceARN": [ARN]}, True),
    # the type key is part of the path (AWS-validated content_filter_type)
    ({"dynamodb": {"NewImage": {"status": ["done"]}}}, False),
    # OR within a list
    ({"dynamodb": {"NewImage": {"status": {"S": ["open", "done"]}}}}, True),
    # AND across fields
    ({"dynamodb": {"NewImage": {"status": {"S": ["done"]}, "paid": {"BOOL": [False]}}}}, False),
    ({"dynamodb": {"NewImage": {"status": {"S": ["done"]}, "paid": {"BOOL": [True]}}}}, True),
    # null and empty
    ({"dynamodb": {"NewImage": {"note": {"NULL": [True]}}}}, True),
    ({"dynamodb": {"NewImage": {"empty": {"S": [""]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [None]}}}}, False),
    # prefix, suffix, equals-ignore-case
    ({"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "do"}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "one"}]}}}}, False),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"suffix": "one"}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"equals-ignore-case": "DONE"}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"equals-ignore-case": "DONES"}]}}}}, False),
    # anything-but
    ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["done"]}]}}}}, False),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": "open"}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": {"prefix": "do"}}]}}}}, False),
    ({"dynamodb": {"NewImage": {"missing": {"S": [{"anything-but": "open"}]}}}}, False),
    # numeric never matches an N (a string); it does match the record's number
    # (AWS-validated numeric_filter and date_time_conversion)
    ({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">", 10]}]}}}}, False),
    ({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}}}}, True),
    ({"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}}, True),
    ({"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0, "<=", 1_000]}]}}, False),
    ({"dynamodb": {"SizeBytes": [{"numeric": ["=", INSERT["dynamodb"]["SizeBytes"]]}]}}, True),
    ({"dynamodb": {"SizeBytes": [INSERT["dynamodb"]["SizeBytes"]]}}, True),
    # exists looks at leaves (AWS-validated exists_filter_type, exists_false_filter)
    ({"dynamodb": {"NewImage": {"status": {"S": [{"exists": True}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": [{"exists": True}]}}}, False),
    ({"dynamodb": {"NewImage": {"status": [{"exists": False}]}}}, True),
    ({"dynamodb": {"NewImage": {"missing": {"S": [{"exists": False}]}}}}, True),
    ({"dynamodb": {"OldImage": {"status": {"S": [{"exists": True}]}}}}, False),
    # arrays: any element
    ({"dynamodb": {"NewImage": {"tags": {"SS": ["blue"]}}}}, True),
    ({"dynamodb": {"NewImage": {"tags": {"SS": ["green"]}}}}, False),
    ({"dynamodb": {"NewImage": {"lines": {"L": {"M": {"sku": {"S": ["B2"]}}}}}}}, True),
    ({"dynamodb": {"NewImage": {"lines": {"L": {"M": {"sku": {"S": ["C3"]}}}}}}}, False),
    # nested maps
    ({"dynamodb": {"NewImage": {"addr": {"M": {"city": {"S": [{"prefix": "Lis"}]}}}}}}, True),
    # $or across fields
    ({"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"NewImage": {"status": {"S": ["done"]}}}}]}, True),
    ({"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}]}, False),
])
def test_documented_rules(pattern, expected):
    assert ok(pattern, INSERT) is expected


def test_ttl_deletes_can_be_told_apart():
    old = {"id": {"S": "o-1"}, "expires": {"N": "1"}}
    ttl_remove, user_remove = event(old, None, by_ttl=True), event(old, None)
    pattern = {"userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}}
    assert ok(pattern, ttl_remove) and not ok(pattern, user_remove)
    assert ok({"userIdentity": [{"exists": False}]}, user_remove)


def test_a_modify_filter_on_old_and_new_images():
    modify = event({"id": {"S": "o-1"}, "state": {"S": "OPEN"}}, {"id": {"S": "o-1"}, "state": {"S": "DONE"}})
    pattern = {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"state": {"S": ["DONE"]}},
                                                     "OldImage": {"state": {"S": [{"anything-but": ["DONE"]}]}}}}
    assert ok(pattern, modify)
    assert not ok(pattern, INSERT)


def test_filters_are_ored_and_no_filters_pass_everything():
    criteria = {"Filters": [{"Pattern": json.dumps({"eventName": ["REMOVE"]})},
                            {"Pattern": json.dumps({"dynamodb": {"NewImage": {"status": {"S": ["done"]}}}})}]}
    patterns = parse_filter_criteria(criteria)
    assert passes(patterns, INSERT)
    assert not passes(patterns[:1], INSERT)
    assert passes([], INSERT) and parse_filter_criteria(None) == [] and parse_filter_criteria({}) == []


# ---------------------------------------------------------------- invalid patterns

BAD = [
    "single-string", '[{"eventName": ["INSERT"=123}]',  # AWS-validated test_dynamodb_invalid_event_filter
    "", "[]", "{}", '"x"', "5", '{"eventName": "INSERT"}', '{"eventName": []}', '{"a": {}}',
    '{"a": [{"prefix": 5}]}', '{"a": [{"exists": "yes"}]}', '{"a": [{"wildcard": "x*"}]}',
    '{"a": [{"prefix": "x", "suffix": "y"}]}', '{"a": [{"numeric": [">"]}]}', '{"a": [{"numeric": ["!", 1]}]}',
    '{"a": [{"numeric": [">", "1"]}]}', '{"a": [{"numeric": ["<", 1, ">", 0]}]}',
    '{"a": [{"numeric": [">", 5, "<", 1]}]}', '{"a": [{"anything-but": []}]}',
    '{"a": [{"anything-but": {"numeric": [">", 1]}}]}', '{"a": [{"anything-but": [{"prefix": "x"}]}]}',
    '{"a": [["x"]]}', '{"$or": [{"a": ["x"]}]}', '{"$or": {"a": ["x"]}}',
    '{"a": ["' + "x" * 4096 + '"]}',
]


@pytest.mark.parametrize("text", BAD)
def test_malformed_patterns_are_refused(text):
    with pytest.raises(InvalidParameterValueException) as exc:
        parse_pattern(text)
    assert exc.value.message == "Invalid filter pattern definition."
    assert exc.value.code == "InvalidParameterValueException" and exc.value.status == 400


def test_criteria_shapes_and_the_five_filter_limit():
    one = {"Pattern": json.dumps({"eventName": ["INSERT"]})}
    assert len(parse_filter_criteria({"Filters": [one] * 5})) == 5
    with pytest.raises(InvalidParameterValueException):
        parse_filter_criteria({"Filters": [one] * 6})
    assert len(parse_filter_criteria({"Filters": [one] * 6}, max_filters=10)) == 6
    for bad in ({"Filters": [{}]}, {"Filters": "x"}, {"Filters": [{"Pattern": 5}]}):
        with pytest.raises(InvalidParameterValueException):
            parse_filter_criteria(bad)


# ---------------------------------------------------------------- properties

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8))
records = st.recursive(
    st.dictionaries(st.text("abc", min_size=1, max_size=2), scalars, min_size=1, max_size=4),
    lambda inner: st.dictionaries(st.text("abc", min_size=1, max_size=2),
                                  st.one_of(scalars, inner, st.lists(scalars, min_size=1, max_size=3)),
                                  min_size=1, max_size=4),
    max_leaves=12)


def leaves(node, path=()):
    """(path, value) of every scalar leaf, list elements included."""
    for k, v in node.items():
        if isinstance(v, dict):
            yield from leaves(v, (*path, k))
        elif isinstance(v, list):
            for e in v:
                yield (*path, k), e
        else:
            yield (*path, k), v


def nest(path, rules):
    out: dict = rules
    for k in reversed(path):
        out = {k: out}
    return out


@given(records, st.data())
def test_a_record_matches_its_own_values(record, data):
    path, value = data.draw(st.sampled_from(list(leaves(record))))
    assert ok(nest(path, [value]), record)
    assert ok(nest(path, [{"exists": True}]), record)
    assert not ok(nest(path, [{"exists": False}]), record)
    if isinstance(value, str):
        assert ok(nest(path, [{"prefix": value[:1]}]), record)
        assert ok(nest(path, [{"suffix": value[-1:]}]), record)
        shouted = "".join(c.upper() if len(c.upper()) == 1 else c for c in value)
        assert ok(nest(path, [{"equals-ignore-case": shouted}]), record)
    if isinstance(value, int) and not isinstance(value, bool):
        assert ok(nest(path, [{"numeric": [">=", value, "<", value + 1]}]), record)
        there = [v for p, v in leaves(record) if p == path]
        assert ok(nest(path, [{"numeric": [">", value]}]), record) == any(
            isinstance(v, int) and not isinstance(v, bool) and v > value for v in there)


@given(records, st.data(), scalars)
def test_anything_but_is_the_complement_on_a_single_present_leaf(record, data, probe):
    singles = [(p, v) for p, v in leaves(record) if [q for q, _ in leaves(record)].count(p) == 1]
    if not singles or not isinstance(probe, (str, int)) or isinstance(probe, bool):
        return
    path, _ = data.draw(st.sampled_from(singles))
    assert ok(nest(path, [probe]), record) != ok(nest(path, [{"anything-but": probe}]), record)


@given(records, st.data(), st.data())
def test_and_or_compose(record, d1, d2):
    candidates = list(leaves(record))
    (p1, v1), (p2, v2) = d1.draw(st.sampled_from(candidates)), d2.draw(st.sampled_from(candidates))
    a, b = nest(p1, [v1]), nest(("zz",), ["never"])
    assert passes([parse_pattern(json.dumps(a)), parse_pattern(json.dumps(b))], record) == (ok(a, record) or ok(b, record))
    both = {"$or": [a, b]}
    assert ok(both, record) == (ok(a, record) or ok(b, record))
    if p1[0] != p2[0]:
        merged = {**nest(p1, [v1]), **nest(p2, [v2])}
        assert ok(merged, record) == (ok(nest(p1, [v1]), record) and ok(nest(p2, [v2]), record))


@given(st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                    max_leaves=10), records)
def test_any_json_is_either_refused_cleanly_or_matches_without_error(candidate, record):
    try:
        pattern = parse_pattern(json.dumps(candidate))
    except InvalidParameterValueException:
        return
    assert matches(pattern, record) in (True, False)
