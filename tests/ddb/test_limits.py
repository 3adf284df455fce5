"""Attribute-name limits and nesting depth, as DynamoDB applies them:
non-key names 1 to 65,535 bytes (nested map keys too), key and index names
1 to 255 bytes wherever they appear, at most 32 levels of nesting."""

from __future__ import annotations

import pytest

from ddb import items
from ddb.errors import ValidationException
from ddb.indexes import parse_index_updates
from ddb.keys import KeySchema
from ddb.tables import parse_create_table
from ddb.values import NAME_TOO_LARGE, NESTING

KEY = {"k": {"S": "a"}}
SCHEMA = KeySchema("k", "S")
LONGEST = "x" * 65_535
TOO_LONG = "x" * 65_536
EMPTY_EAN = "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"


def error(parse, body: dict) -> str:
    with pytest.raises(ValidationException) as exc:
        parse(body)
    return exc.value.message or ""


def update(names: dict, expression: str = "SET #a = :v") -> dict:
    return {"TableName": "ttt", "Key": KEY, "UpdateExpression": expression, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":v": {"S": "x"}}}


@pytest.mark.parametrize("name", ["", None])
def test_an_empty_expression_attribute_name_is_refused_not_stored(name) -> None:
    assert error(items.parse_update_item, update({"#a": name})) == EMPTY_EAN
    assert error(items.parse_get_item, {"TableName": "ttt", "Key": KEY, "ProjectionExpression": "#a",
                                        "ExpressionAttributeNames": {"#a": name}}) == EMPTY_EAN


def test_attribute_names_up_to_65535_bytes() -> None:
    items.parse_put_item({"TableName": "ttt", "Item": {**KEY, LONGEST: {"S": "v"}}})
    items.parse_put_item({"TableName": "ttt", "Item": {**KEY, "m": {"M": {LONGEST: {"S": "v"}}}}})
    items.parse_update_item(update({"#a": LONGEST}))
    # bytes, not characters: 16,384 four-byte characters are 65,536 bytes
    for too_long in (TOO_LONG, "\U0001f600" * 16_384):
        assert error(items.parse_put_item, {"TableName": "ttt", "Item": {**KEY, too_long: {"S": "v"}}}) == \
            NAME_TOO_LARGE
        assert error(items.parse_put_item, {"TableName": "ttt", "Item": {
            **KEY, "m": {"L": [{"M": {too_long: {"S": "v"}}}]}}}) == NAME_TOO_LARGE
        assert error(items.parse_update_item, update({"#a": too_long})) == NAME_TOO_LARGE
        assert error(items.parse_update_item, {"TableName": "ttt", "Key": KEY, "UpdateExpression": "SET a = :v",
                                               "ExpressionAttributeValues": {":v": {"M": {too_long: {"N": "1"}}}}}) \
            == NAME_TOO_LARGE
        assert error(items.parse_update_item, {"TableName": "ttt", "Key": KEY, "AttributeUpdates": {
            too_long: {"Value": {"S": "x"}}}}) == NAME_TOO_LARGE


def test_attribute_updates_do_not_store_an_empty_name() -> None:
    assert error(items.parse_update_item, {"TableName": "ttt", "Key": KEY, "AttributeUpdates": {
        "": {"Value": {"S": "x"}}}}) == "One or more parameter values were invalid: An attribute name cannot be empty"


def _nested(levels: int) -> dict:
    value: dict = {"S": "x"}
    for _ in range(levels - 1):
        value = {"M": {"a": value}}
    return value


def test_an_update_cannot_nest_an_item_deeper_than_32_levels() -> None:
    def run(path_levels: int, value_levels: int) -> None:
        path = ".".join(["a"] * path_levels)
        req = items.parse_update_item({"TableName": "ttt", "Key": KEY, "UpdateExpression": f"SET {path} = :v",
                                       "ExpressionAttributeValues": {":v": _nested(value_levels)}})
        req.bind(SCHEMA)
        items.evaluate_update({**KEY, "a": _nested(path_levels + 1)}, KEY, req.update, req.key_names)

    run(16, 17)  # the value sits at level 16 of the path, its 17 levels end at level 32
    with pytest.raises(ValidationException, match=NESTING):
        run(16, 18)


TABLE = {"TableName": "ttt", "BillingMode": "PAY_PER_REQUEST", "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]}
NON_KEY = "Member must satisfy constraint: [Member must have length less than or equal to 255, " \
          "Member must have length greater than or equal to 1]"


@pytest.mark.parametrize("non_key", [["b", "x" * 256], ["b", ""]])
def test_projected_attribute_names_are_1_to_255_bytes(non_key) -> None:
    body = {**TABLE, "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"},
                                              {"AttributeName": "a", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": [{"IndexName": "gix", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                                        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": non_key}}]}
    shown = ", ".join(non_key)
    assert error(parse_create_table, body) == (
        f"1 validation error detected: Value '[{shown}]' at 'globalSecondaryIndexes.1.member.projection."
        f"nonKeyAttributes' failed to satisfy constraint: {NON_KEY}")


def test_projected_attribute_lists_hold_1_to_20_names() -> None:
    body = {**TABLE, "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"},
                                              {"AttributeName": "a", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": [{"IndexName": "gix", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                                        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": []}}]}
    assert error(parse_create_table, body).endswith(
        "'globalSecondaryIndexes.1.member.projection.nonKeyAttributes' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1")
    body["GlobalSecondaryIndexes"][0]["Projection"]["NonKeyAttributes"] = [f"n{i}" for i in range(21)]
    assert "Member must have length less than or equal to 20" in error(parse_create_table, body)


def test_an_index_created_by_update_table_has_key_names_of_at_most_255_bytes() -> None:
    spec = {**TABLE, "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}]}
    long = "y" * 256
    body = {"AttributeDefinitions": [{"AttributeName": long, "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": "gix", "KeySchema": [{"AttributeName": long, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"}}}]}
    assert error(lambda b: parse_index_updates(b, dict(spec)), body) == (
        f"2 validation errors detected: Value '{long}' at 'attributeDefinitions.1.member.attributeName' failed to "
        "satisfy constraint: Member must have length less than or equal to 255; "
        f"Value '{long}' at 'globalSecondaryIndexUpdates.1.member.create.keySchema.1.member.attributeName' failed "
        "to satisfy constraint: Member must have length less than or equal to 255")
