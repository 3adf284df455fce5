"""Multi-attribute index keys, the pure part: entries order by the sort-key
attributes left to right, keys decode back, and key conditions follow
DynamoDB's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.errors import ValidationException
from ddb.expressions import request_context
from ddb.multikeys import IndexKeys

KEYS = IndexKeys((("t", "S"), ("y", "N")), (("r", "N"), ("m", "S")))
texts = st.text(min_size=1, max_size=8)
numbers = st.integers(-10**6, 10**6)


def item(t: str, y: int, r: int, m: str) -> dict:
    return {"t": {"S": t}, "y": {"N": str(y)}, "r": {"N": str(r)}, "m": {"S": m}}


@given(st.lists(st.tuples(numbers, texts), min_size=2, max_size=8), texts, numbers)
def test_entries_sort_by_sort_attributes_left_to_right(sorts, t, y):
    encoded = sorted((KEYS.encode(item(t, y, r, m)), (r, m.encode())) for r, m in sorts)
    assert [k for _, k in encoded] == sorted(k for _, k in encoded)


@given(texts, numbers, numbers, texts)
def test_decode_inverts_encode(t, y, r, m):
    it = item(t, y, r, m)
    data = KEYS.encode(it) + b"tail"
    decoded, pos = KEYS.decode(data, 0)
    assert decoded == it and data[pos:] == b"tail"
    assert data.startswith(KEYS.encode_hash(it))


def parse(text: str, values: dict) -> dict:
    ctx = request_context({"ExpressionAttributeValues": values}, True)
    return KEYS.parse_condition(text, ctx)


def test_condition_shape():
    v = {":t": {"S": "a"}, ":y": {"N": "1"}, ":r": {"N": "2"}, ":m": {"S": "x"}}
    assert parse("y = :y AND t = :t AND r = :r AND begins_with(m, :m)", v) == {
        "hash": [["t", {"S": "a"}], ["y", {"N": "1"}]], "eq": [["r", {"N": "2"}]],
        "range": {"op": "begins_with", "name": "m", "values": [{"S": "x"}]}}
    assert parse("t = :t AND y = :y AND r = :r AND m = :m", v)["range"] is None


@pytest.mark.parametrize("text,message", [
    ("t = :t", "Query condition missed key schema element: y"),
    ("t = :t AND y >= :y", "Query key condition not supported"),
    ("t = :t AND y = :y AND m = :m", "RANGE key attributes r must have equality conditions specified in the "
                                     "query because a condition is present on key attribute m"),
    ("t = :t AND y = :y AND r < :r AND m = :m", "RANGE key attributes r must have equality conditions specified "
                                                "in the query because a condition is present on key attribute m"),
])
def test_condition_rules(text, message):
    v = {":t": {"S": "a"}, ":y": {"N": "1"}, ":r": {"N": "2"}, ":m": {"S": "x"}}
    with pytest.raises(ValidationException) as exc:
        parse(text, {k: x for k, x in v.items() if k in text})
    assert exc.value.message == message
