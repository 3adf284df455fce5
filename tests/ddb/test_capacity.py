"""Capacity units of index writes and the shape of ConsumedCapacity."""

from __future__ import annotations

from types import SimpleNamespace

from ddb.capacity import consumed, index_write_units
from ddb.indexes import indexes_of
from ddb.keys import KeySchema

SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "l")],
        "GlobalSecondaryIndexes": [{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["shown"]}}],
        "LocalSecondaryIndexes": [{"IndexName": "by_l", "Projection": {"ProjectionType": "ALL"},
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                 {"AttributeName": "l", "KeyType": "RANGE"}]}]}
TABLE = KeySchema("pk", "S", "sk", "S")
# Shaped as the SecondaryIndex messages a router sends (router/node_requests.py).
DEFS = [SimpleNamespace(name=i.name, local=i.local, key_attributes=i.keys.names, projects_all=i.projection == "ALL",
                        projected=i.projected(TABLE) or ()) for i in indexes_of(SPEC)]
KEY = {"pk": {"S": "p"}, "sk": {"S": "s"}}


def units(old, new):
    return index_write_units(DEFS, old, new)


def test_no_entry_before_or_after_costs_nothing():
    assert units(None, {**KEY, "x": {"S": "1"}}) == {}


def test_an_entry_appearing_or_disappearing_costs_one_write_of_its_size():
    assert units(None, {**KEY, "g": {"S": "a"}}) == {"by_g": [False, 1.0]}
    assert units({**KEY, "g": {"S": "a"}, "shown": {"S": "x" * 3000}}, {**KEY}) == {"by_g": [False, 3.0]}


def test_a_changed_index_key_costs_a_delete_and_a_put():
    old = {**KEY, "g": {"S": "a"}, "l": {"S": "1"}}
    new = {**KEY, "g": {"S": "b"}, "l": {"S": "1"}}
    assert units(old, new) == {"by_g": [False, 2.0], "by_l": [True, 1.0]}  # the ALL projection changed too


def test_only_projected_attributes_count():
    old = {**KEY, "g": {"S": "a"}}
    assert units(old, {**old, "hidden": {"S": "x"}}) == {}  # not projected into by_g, no local key
    assert units(old, {**old, "shown": {"S": "x"}}) == {"by_g": [False, 1.0]}


def test_consumed_capacity_shapes():
    ix = {"by_g": [False, 2.0], "by_l": [True, 1.0]}
    assert consumed("t", 1.0, ix, "TOTAL") == {"TableName": "t", "CapacityUnits": 4.0}
    assert consumed("t", 1.0, ix, "INDEXES") == {
        "TableName": "t", "CapacityUnits": 4.0, "Table": {"CapacityUnits": 1.0},
        "LocalSecondaryIndexes": {"by_l": {"CapacityUnits": 1.0}},
        "GlobalSecondaryIndexes": {"by_g": {"CapacityUnits": 2.0}}}
    assert consumed("t", 1.0, {}, "INDEXES") == {"TableName": "t", "CapacityUnits": 1.0,
                                                 "Table": {"CapacityUnits": 1.0}}
