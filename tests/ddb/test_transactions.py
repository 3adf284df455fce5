"""TransactWriteItems/TransactGetItems validation, fingerprints and cancellation reasons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb import transactions as tx
from ddb.errors import (ConditionalCheckFailedException, InternalServerError, SerializationException,
                        TransactionConflictException, ValidationException)
from ddb.indexes import indexes_of
from ddb.keys import KeySchema

SCHEMA = KeySchema("pk", "S")
SCHEMAS = {"tab1": SCHEMA, "tab2": KeySchema("id", "N", "sk", "S")}


def put(pk: str, table: str = "tab1", **extra) -> dict:
    return {"Put": {"TableName": table, "Item": {"pk": {"S": pk}}, **extra}}


def check(pk: str, condition: str = "attribute_exists(pk)", **extra) -> dict:
    return {"ConditionCheck": {"TableName": "tab1", "Key": {"pk": {"S": pk}}, "ConditionExpression": condition,
                               **extra}}


def message(body: dict, parse=tx.parse_transact_write) -> str:
    with pytest.raises(ValidationException) as exc:
        parse(body)
    return exc.value.message


def bound(body: dict) -> list[tx.Action]:
    t = tx.parse_transact_write(body)
    for a in t.actions:
        tx.bind(a, SCHEMAS[a.req.table_name])
    tx.check_bound(t.actions, SCHEMAS)
    return t.actions


def test_each_kind_parses_to_its_item_request():
    t = tx.parse_transact_write({"TransactItems": [
        put("a", ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        {"Update": {"TableName": "tab1", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET n = :v",
                    "ExpressionAttributeValues": {":v": {"N": "1"}}}},
        {"Delete": {"TableName": "tab2", "Key": {"id": {"N": "1"}, "sk": {"S": "x"}}}},
        check("c")], "ClientRequestToken": "tok", "ReturnConsumedCapacity": "TOTAL"})
    assert [a.kind for a in t.actions] == ["Put", "Update", "Delete", "ConditionCheck"]
    assert t.actions[0].req.return_on_failure == "ALL_OLD"
    assert t.actions[1].req.update is not None and t.actions[3].req.condition is not None
    assert t.tables == ["tab1", "tab2"] and t.token == "tok" and t.return_capacity == "TOTAL"


def test_member_constraints_are_reported_together_in_coral_order():
    msg = message({"TransactItems": [put("a")], "ClientRequestToken": "x" * 37,
                   "ReturnConsumedCapacity": "BOGUS", "ReturnItemCollectionMetrics": "BOGUS2"})
    assert msg == ("3 validation errors detected: Value '" + "x" * 37 + "' at 'clientRequestToken' failed to "
                   "satisfy constraint: Member must have length less than or equal to 36; Value 'BOGUS' at "
                   "'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: "
                   "[INDEXES, TOTAL, NONE]; Value 'BOGUS2' at 'returnItemCollectionMetrics' failed to satisfy "
                   "constraint: Member must satisfy enum value set: [SIZE, NONE]")


@pytest.mark.parametrize("parse", [tx.parse_transact_write, tx.parse_transact_get])
def test_between_one_and_one_hundred_actions(parse):
    assert message({"TransactItems": []}, parse) == (
        "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must "
        "have length greater than or equal to 1")
    many = [put(str(i)) for i in range(101)] if parse is tx.parse_transact_write else [
        {"Get": {"TableName": "tab1", "Key": {"pk": {"S": str(i)}}}} for i in range(101)]
    assert message({"TransactItems": many}, parse) == (
        "1 validation error detected: Value at 'TransactItems' failed to satisfy constraint: Member must have "
        "length less than or equal to 100")
    assert len(parse({"TransactItems": many[:100]}) if parse is tx.parse_transact_get
               else parse({"TransactItems": many[:100]}).actions) == 100


def test_exactly_one_action_per_element():
    assert message({"TransactItems": [{}]}) == tx.ONE_ACTION
    assert message({"TransactItems": [{**put("a"), **check("a")}]}) == tx.ONE_ACTION
    with pytest.raises(SerializationException):
        tx.parse_transact_write({"TransactItems": ["x"]})


def test_condition_check_needs_a_condition_and_update_an_update_expression():
    assert "conditionExpression" in message({"TransactItems": [
        {"ConditionCheck": {"TableName": "tab1", "Key": {"pk": {"S": "a"}}}}]})
    assert "updateExpression" in message({"TransactItems": [
        {"Update": {"TableName": "tab1", "Key": {"pk": {"S": "a"}}}}]})


def test_action_errors_are_placed_and_the_first_action_wins():
    assert message({"TransactItems": [put("a", table="x")]}).endswith(
        "at 'transactItems.1.member.put.tableName' failed to satisfy constraint: Member must have length greater "
        "than or equal to 3")
    msg = message({"TransactItems": [put("ok", table="missing"), check("a", "attribute_not_exists(")]})
    assert msg == 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "("'
    unused = message({"TransactItems": [put("a"), check("b", ExpressionAttributeValues={":v": {"S": "x"}})]})
    assert unused == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}"


def test_duplicate_items_are_refused_across_kinds():
    with pytest.raises(ValidationException, match=tx.MULTIPLE_OPERATIONS):
        bound({"TransactItems": [put("a"), check("a")]})
    actions = bound({"TransactItems": [put("a"), put("a", table="tab2") | {"Put": {
        "TableName": "tab2", "Item": {"id": {"N": "1"}, "sk": {"S": "a"}}}}]})
    assert len(actions) == 2  # the same key value in another table is another item


def test_empty_key_value_is_top_level_other_key_errors_are_reasons():
    t = tx.parse_transact_write({"TransactItems": [check("")]})
    with pytest.raises(ValidationException, match="cannot contain an empty string value. Key: pk"):
        tx.bind(t.actions[0], SCHEMA)
    actions = bound({"TransactItems": [
        {"Put": {"TableName": "tab1", "Item": {"pk": {"N": "5"}}}},
        {"Delete": {"TableName": "tab1", "Key": {"pk": {"N": "5"}}}}, put("ok")]})
    assert actions[0].error.message == ("One or more parameter values were invalid: Type mismatch for key pk "
                                        "expected: S actual: N")
    assert actions[1].error.message == "The provided key element does not match the schema"
    assert actions[2].error is None


def test_index_key_type_errors_are_reasons():
    spec = {"TableName": "tab1", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "g", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": [{"IndexName": "gi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                        "Projection": {"ProjectionType": "ALL"}}]}
    t = tx.parse_transact_write({"TransactItems": [
        {"Put": {"TableName": "tab1", "Item": {"pk": {"S": "a"}, "g": {"N": "1"}}}}]})
    tx.bind(t.actions[0], SCHEMA, indexes_of(spec))
    assert "gi" in t.actions[0].error.message


def test_aggregate_size_is_at_most_four_megabytes():
    big = "x" * 400_000
    items = [{"Put": {"TableName": "tab1", "Item": {"pk": {"S": str(i)}, "v": {"S": big}}}} for i in range(11)]
    with pytest.raises(ValidationException, match="4 MB"):
        bound({"TransactItems": items})
    assert len(bound({"TransactItems": items[:10]})) == 10


def test_get_requests():
    gets = tx.parse_transact_get({"TransactItems": [
        {"Get": {"TableName": "tab1", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#n",
                 "ExpressionAttributeNames": {"#n": "n"}}}], "ReturnConsumedCapacity": "TOTAL"})
    assert gets[0].req.projection == [["n"]]
    assert message({"TransactItems": [{"Get": {"TableName": "tab1", "Key": {"pk": {"S": "a"}},
                                               "ProjectionExpression": "!!!"}}]}, tx.parse_transact_get) == (
        'Invalid ProjectionExpression: Syntax error; token: "!", near: "!!"')
    assert "transactItems.1.member.get" in message({"TransactItems": [{}]}, tx.parse_transact_get)


def test_cancellation_reasons_in_request_order():
    exc = tx.cancelled([None, ConditionalCheckFailedException(item={"pk": {"S": "a"}}),
                        TransactionConflictException(), ValidationException("bad")])
    assert exc.message == ("Transaction cancelled, please refer cancellation reasons for specific reasons "
                           "[None, ConditionalCheckFailed, TransactionConflict, ValidationError]")
    status, wire = exc.to_wire()
    assert status == 400 and wire["Message"] == exc.message
    assert wire["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": {"pk": {"S": "a"}}},
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        {"Code": "ValidationError", "Message": "bad"}]
    assert not tx.has_reason(InternalServerError())
    with pytest.raises(ValueError):
        tx.reason(InternalServerError())


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                         max_size=3), max_leaves=8)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.text(max_size=36), st.randoms())
def test_fingerprint_ignores_the_token_and_member_order(body, token, rnd):
    keys = list(body)
    rnd.shuffle(keys)
    shuffled = {k: body[k] for k in keys}
    assert tx.fingerprint({**body, "ClientRequestToken": token}) == tx.fingerprint(shuffled)


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=5))
def test_fingerprint_changes_with_any_parameter(body):
    key = next(iter(body))
    changed = {**body, key: [body[key]]}
    assert tx.fingerprint(body) != tx.fingerprint(changed)


def test_transaction_ids():
    assert tx.transaction_id("abc", "r") == tx.transaction_id("abc", "other")
    assert tx.transaction_id("abc", "r").startswith("tok-")
    assert tx.transaction_id(None, "r") == "rnd-r"
