"""The leader's evaluation of UpdateItem (ddb.items.evaluate_update): an
update that only SETs top-level attributes to given values (`plain_sets`)
takes a short path, which must make the item, the answer and the errors the
general one makes."""

from __future__ import annotations

import orjson
import pytest

from ddb import items
from ddb.errors import ConditionalCheckFailedException, ValidationException
from ddb.keys import KeySchema
from ddb.size import MAX_ITEM_SIZE, UPDATE_TOO_LARGE
from ddb.update import apply_update

KEY = {"k": {"S": "a"}}
SCHEMA = KeySchema("k", "S")
OLD = {**KEY, "a": {"S": "old"}, "n": {"N": "1"}, "m": {"M": {"x": {"S": "y"}}}}


def parsed(body: dict) -> items.ItemRequest:
    req = items.parse_update_item({"TableName": "ttt", "Key": KEY, **body})
    req.bind(SCHEMA)
    return req


def evaluate(req: items.ItemRequest, old: dict | None, rv: str = "NONE", bound: bool = True) -> items.WriteOutcome:
    """As the node calls it: the bound from the stored JSON and the request's."""
    size_bound = len(orjson.dumps(old if old is not None else KEY)) + len(orjson.dumps(req.update)) if bound else None
    return items.evaluate_update(old, KEY, req.update, req.key_names, req.condition, rv, size_bound=size_bound)


PLAIN = [
    {"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"S": "new"}}},
    {"UpdateExpression": "SET #b = :v, c = :w", "ExpressionAttributeNames": {"#b": "b"},
     "ExpressionAttributeValues": {":v": {"SS": ["p", "q"]}, ":w": {"NULL": True}}},
    {"UpdateExpression": "SET n = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}},
    {"AttributeUpdates": {"a": {"Value": {"B": "AAE="}}}},
]


@pytest.mark.parametrize("body", PLAIN)
@pytest.mark.parametrize("old", [OLD, None])
@pytest.mark.parametrize("rv", ["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])
def test_a_plain_set_update_makes_what_the_general_path_makes(body: dict, old: dict | None, rv: str) -> None:
    req = parsed(body)
    assert items.plain_sets(req.update) is not None
    out = evaluate(req, old, rv)
    assert out.new_item == apply_update(req.update, old if old is not None else dict(KEY), req.key_names)
    general = items.evaluate_update(old, KEY, {**req.update, "remove": []}, req.key_names, None, rv)  # not plain
    assert out == general


@pytest.mark.parametrize("body", [
    {"UpdateExpression": "SET m.x = :v", "ExpressionAttributeValues": {":v": {"S": "z"}}},
    {"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"M": {}}}},
    {"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"L": []}}},
    {"UpdateExpression": "SET a = n"},
    {"UpdateExpression": "SET a = :v REMOVE n", "ExpressionAttributeValues": {":v": {"S": "z"}}},
    {"UpdateExpression": "SET n = n + :v", "ExpressionAttributeValues": {":v": {"N": "1"}}},
    {"UpdateExpression": "ADD n :v", "ExpressionAttributeValues": {":v": {"N": "1"}}},
])
def test_other_updates_are_not_plain(body: dict) -> None:
    assert items.plain_sets(parsed(body).update) is None


@pytest.mark.parametrize("bound", [True, False])
def test_a_plain_set_update_past_400_kb_is_refused(bound: bool) -> None:
    big = {**KEY, "a": {"S": "x" * (MAX_ITEM_SIZE - 200)}}
    fits = parsed({"UpdateExpression": "SET b = :v", "ExpressionAttributeValues": {":v": {"S": "y" * 100}}})
    assert evaluate(fits, big, bound=bound).new_item["b"] == {"S": "y" * 100}
    over = parsed({"UpdateExpression": "SET b = :v", "ExpressionAttributeValues": {":v": {"S": "y" * 300}}})
    with pytest.raises(ValidationException, match=UPDATE_TOO_LARGE):
        evaluate(over, big, bound=bound)


def test_a_plain_set_update_still_checks_its_condition_and_key() -> None:
    req = items.parse_update_item({"TableName": "ttt", "Key": KEY, "UpdateExpression": "SET a = :v",
                                   "ConditionExpression": "attribute_not_exists(a)",
                                   "ExpressionAttributeValues": {":v": {"S": "z"}}})
    req.bind(SCHEMA)
    with pytest.raises(ConditionalCheckFailedException):
        evaluate(req, OLD)
    assert evaluate(req, None).new_item == {**KEY, "a": {"S": "z"}}
    # (bind refuses a key attribute first; the evaluation does too, whoever calls it)
    with pytest.raises(ValidationException, match="This attribute is part of the key"):
        items.evaluate_update(OLD, KEY, {"set": [[["k"], {"value": {"S": "b"}}]]}, ("k",))
