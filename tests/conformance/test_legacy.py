"""Legacy (pre-expression) parameters end to end: Expected and
ConditionalOperator on writes, AttributeUpdates, KeyConditions, QueryFilter,
ScanFilter and AttributesToGet, and DynamoDB's validation of them
(developer guide, "Legacy conditional parameters")."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of

INVALID = "One or more parameter values were invalid: "
MIXED = "Can not use both expression and non-expression parameters in the same request: "
CCF = "ConditionalCheckFailedException"


def S(x):
    return {"S": x}


def N(x):
    return {"N": x}


def cond(op, *values):
    return {"ComparisonOperator": op, "AttributeValueList": list(values)}


@pytest.fixture(scope="module")
def items(ddb):
    return create_table(ddb, "legacy_items", ("pk", "S"))


@pytest.fixture(scope="module")
def ranged(ddb):
    name = create_table(ddb, "legacy_range", ("pk", "S"), ("sk", "N"))
    for sk in range(1, 9):
        ddb.put_item(TableName=name, Item={"pk": S("a"), "sk": N(str(sk)), "v": N(str(sk * 10)),
                                           "tag": S("even" if sk % 2 == 0 else "odd"),
                                           **({"tags": {"SS": ["x", "y"]}} if sk == 3 else {})})
    ddb.put_item(TableName=name, Item={"pk": S("b"), "sk": N("1"), "v": N("5")})
    return name


def get(ddb, table, pk):
    return ddb.get_item(TableName=table, Key={"pk": S(pk)}, ConsistentRead=True).get("Item")


# --- conditional writes with Expected ----------------------------------------------------------


def test_put_expected_not_exists_creates_once(ddb, items):
    item = {"pk": S("p1"), "n": N("1")}
    ddb.put_item(TableName=items, Item=item, Expected={"pk": {"Exists": False}})
    code, msg = error_of(ddb.put_item, TableName=items, Item=item, Expected={"pk": {"Exists": False}})
    assert (code, msg) == (CCF, "The conditional request failed")


@pytest.mark.parametrize("expected,ok", [
    ({"n": {"Value": N("1")}}, True),
    ({"n": {"Value": N("2")}}, False),
    ({"n": {"Exists": True, "Value": N("1")}}, True),
    ({"n": cond("GE", N("1")), "s": {"ComparisonOperator": "NULL"}}, True),
    ({"n": cond("GT", N("1"))}, False),
    ({"missing": cond("NE", S("x"))}, True),
    ({"missing": {"ComparisonOperator": "NOT_NULL"}}, False),
    ({"tags": cond("CONTAINS", S("b"))}, True),
    ({"tags": cond("NOT_CONTAINS", S("b"))}, False),
    ({"missing": cond("NOT_CONTAINS", S("b"))}, False),
    ({"name": cond("BEGINS_WITH", S("ali"))}, True),
    ({"name": cond("IN", S("bob"), S("alice"))}, True),
    ({"n": cond("BETWEEN", N("0"), N("0.5"))}, False),
])
def test_put_expected_operators(ddb, items, expected, ok):
    base = {"pk": S("p2"), "n": N("1"), "tags": {"SS": ["a", "b"]}, "name": S("alice")}
    ddb.put_item(TableName=items, Item=base)
    new = {**base, "flag": {"BOOL": True}}
    if ok:
        ddb.put_item(TableName=items, Item=new, Expected=expected)
        assert get(ddb, items, "p2") == new
    else:
        assert error_of(ddb.put_item, TableName=items, Item=new, Expected=expected)[0] == CCF
        assert get(ddb, items, "p2") == base


@pytest.mark.parametrize("op,ok", [("AND", False), ("OR", True)])
def test_put_expected_conditional_operator(ddb, items, op, ok):
    ddb.put_item(TableName=items, Item={"pk": S("p3"), "a": S("x")})
    expected = {"a": cond("EQ", S("x")), "b": cond("EQ", S("y"))}
    new = {"pk": S("p3"), "a": S("z")}
    if ok:
        ddb.put_item(TableName=items, Item=new, Expected=expected, ConditionalOperator=op)
    else:
        assert error_of(ddb.put_item, TableName=items, Item=new, Expected=expected,
                        ConditionalOperator=op)[0] == CCF


def test_delete_with_expected(ddb, items):
    ddb.put_item(TableName=items, Item={"pk": S("d1"), "v": N("3")})
    assert error_of(ddb.delete_item, TableName=items, Key={"pk": S("d1")},
                    Expected={"v": {"Value": N("4")}})[0] == CCF
    r = ddb.delete_item(TableName=items, Key={"pk": S("d1")}, Expected={"v": cond("LT", N("4"))},
                        ReturnValues="ALL_OLD")
    assert r["Attributes"] == {"pk": S("d1"), "v": N("3")}
    assert get(ddb, items, "d1") is None


def test_failed_expected_returns_old_item_when_asked(ddb, items):
    ddb.put_item(TableName=items, Item={"pk": S("d2"), "v": N("3")})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
        ddb.delete_item(TableName=items, Key={"pk": S("d2")}, Expected={"v": {"Exists": False}},
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert exc.value.response["Item"] == {"pk": S("d2"), "v": N("3")}


# --- UpdateItem with AttributeUpdates ------------------------------------------------------------


def test_attribute_updates_put_add_delete(ddb, items):
    key = {"pk": S("u1")}
    r = ddb.update_item(TableName=items, Key=key, ReturnValues="ALL_NEW", AttributeUpdates={
        "s": {"Action": "PUT", "Value": S("x")},
        "n": {"Action": "ADD", "Value": N("5")},
        "set": {"Action": "ADD", "Value": {"SS": ["a", "b"]}},
        "gone": {"Action": "DELETE"},
    })
    assert r["Attributes"] == {"pk": S("u1"), "s": S("x"), "n": N("5"), "set": {"SS": ["a", "b"]}}
    r = ddb.update_item(TableName=items, Key=key, ReturnValues="UPDATED_NEW", AttributeUpdates={
        "s": {"Value": S("y")},
        "n": {"Action": "ADD", "Value": N("-2.5")},
        "set": {"Action": "DELETE", "Value": {"SS": ["a", "zz"]}},
        "list": {"Action": "ADD", "Value": {"L": [N("1")]}},
    })
    assert r["Attributes"] == {"s": S("y"), "n": N("2.5"), "set": {"SS": ["b"]}, "list": {"L": [N("1")]}}
    ddb.update_item(TableName=items, Key=key, AttributeUpdates={
        "s": {"Action": "DELETE"}, "set": {"Action": "DELETE", "Value": {"SS": ["b"]}},
        "list": {"Action": "ADD", "Value": {"L": [S("2")]}}})
    assert get(ddb, items, "u1") == {"pk": S("u1"), "n": N("2.5"), "list": {"L": [N("1"), S("2")]}}


def test_attribute_updates_on_a_missing_item_and_attribute(ddb, items):
    # ADD creates the item and the attribute; DELETE of a value or an attribute that is not there does nothing,
    # and an item only removed from is not created.
    key = {"pk": S("edge")}
    ddb.update_item(TableName=items, Key={"pk": S("edge-none")}, AttributeUpdates={
        "a": {"Action": "DELETE"}, "b": {"Action": "DELETE", "Value": {"NS": ["1"]}}})
    assert get(ddb, items, "edge-none") is None
    ddb.update_item(TableName=items, Key=key, AttributeUpdates={
        "n": {"Action": "ADD", "Value": N("-1")}, "ns": {"Action": "ADD", "Value": {"NS": ["1", "2"]}},
        "b": {"Action": "DELETE", "Value": {"SS": ["x"]}}})
    assert get(ddb, items, "edge") == {"pk": S("edge"), "n": N("-1"), "ns": {"NS": ["1", "2"]}}
    # Deleting every member removes the attribute: DynamoDB keeps no empty sets.
    r = ddb.update_item(TableName=items, Key=key, ReturnValues="UPDATED_NEW",
                        AttributeUpdates={"ns": {"Action": "DELETE", "Value": {"NS": ["2", "1"]}}})
    assert "Attributes" not in r and get(ddb, items, "edge") == {"pk": S("edge"), "n": N("-1")}


@pytest.mark.parametrize("update", [
    {"n": {"Action": "ADD", "Value": {"NS": ["1"]}}},  # a set onto a number
    {"n": {"Action": "DELETE", "Value": {"NS": ["1"]}}},  # a set out of a number
    {"ss": {"Action": "ADD", "Value": {"NS": ["1"]}}},  # a number set onto a string set
    {"ss": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
    {"ns": {"Action": "ADD", "Value": N("1")}},  # a number onto a number set
    {"s": {"Action": "ADD", "Value": {"L": [N("1")]}}},  # a list onto a string
])
def test_attribute_updates_type_mismatch(ddb, items, update):
    key = {"pk": S("clash")}
    before = {"pk": S("clash"), "n": N("1"), "s": S("x"), "ss": {"SS": ["a"]}, "ns": {"NS": ["5"]}}
    ddb.put_item(TableName=items, Item=before)
    assert error_of(ddb.update_item, TableName=items, Key=key, AttributeUpdates=update) == \
        ("ValidationException", "Type mismatch for attribute to update")
    assert get(ddb, items, "clash") == before


def test_attribute_updates_with_expected(ddb, items):
    key = {"pk": S("u2")}
    ddb.update_item(TableName=items, Key=key, AttributeUpdates={"v": {"Value": N("1")}},
                    Expected={"v": {"Exists": False}})
    assert error_of(ddb.update_item, TableName=items, Key=key, AttributeUpdates={"v": {"Value": N("2")}},
                    Expected={"v": {"Exists": False}})[0] == CCF
    r = ddb.update_item(TableName=items, Key=key, AttributeUpdates={"v": {"Action": "ADD", "Value": N("1")}},
                        Expected={"v": cond("EQ", N("1"))}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"v": N("1")}
    assert get(ddb, items, "u2") == {"pk": S("u2"), "v": N("2")}


def test_update_with_only_expected_creates_key(ddb, items):
    ddb.update_item(TableName=items, Key={"pk": S("u3")}, Expected={"v": {"ComparisonOperator": "NULL"}})
    assert get(ddb, items, "u3") == {"pk": S("u3")}


def test_attribute_updates_on_key_rejected(ddb, items):
    assert error_of(ddb.update_item, TableName=items, Key={"pk": S("u4")},
                    AttributeUpdates={"pk": {"Value": S("z")}}) == \
        ("ValidationException", INVALID + "Cannot update attribute pk. This attribute is part of the key")


def test_attribute_updates_add_wrong_type_at_runtime(ddb, items):
    ddb.put_item(TableName=items, Item={"pk": S("u5"), "s": S("x")})
    code, _ = error_of(ddb.update_item, TableName=items, Key={"pk": S("u5")},
                       AttributeUpdates={"s": {"Action": "ADD", "Value": N("1")}})
    assert code == "ValidationException"


# --- GetItem and BatchGetItem with AttributesToGet -------------------------------------------------


def test_get_item_attributes_to_get(ddb, items):
    ddb.put_item(TableName=items, Item={"pk": S("g1"), "a": N("1"), "b": N("2"), "c.d": N("3")})
    r = ddb.get_item(TableName=items, Key={"pk": S("g1")}, AttributesToGet=["a", "c.d", "zz"], ConsistentRead=True)
    assert r["Item"] == {"a": N("1"), "c.d": N("3")}


def test_batch_get_attributes_to_get(ddb, items, ranged):
    ddb.put_item(TableName=items, Item={"pk": S("g2"), "a": N("1"), "b": N("2")})
    r = ddb.batch_get_item(RequestItems={
        items: {"Keys": [{"pk": S("g2")}], "AttributesToGet": ["b"], "ConsistentRead": True},
        ranged: {"Keys": [{"pk": S("a"), "sk": N("2")}], "AttributesToGet": ["sk", "tag"]},
    })
    assert r["Responses"] == {items: [{"b": N("2")}], ranged: [{"sk": N("2"), "tag": S("even")}]}


# --- Query and Scan ------------------------------------------------------------------------------


def sks(resp):
    return [int(i["sk"]["N"]) for i in resp["Items"]]


@pytest.mark.parametrize("range_cond,expected", [
    (None, [1, 2, 3, 4, 5, 6, 7, 8]),
    (cond("EQ", N("4")), [4]),
    (cond("LT", N("3")), [1, 2]),
    (cond("LE", N("3")), [1, 2, 3]),
    (cond("GT", N("6")), [7, 8]),
    (cond("GE", N("6")), [6, 7, 8]),
    (cond("BETWEEN", N("2"), N("4")), [2, 3, 4]),
])
def test_query_key_conditions(ddb, ranged, range_cond, expected):
    kc = {"pk": cond("EQ", S("a")), **({"sk": range_cond} if range_cond else {})}
    assert sks(ddb.query(TableName=ranged, KeyConditions=kc)) == expected


def test_query_key_conditions_with_query_filter(ddb, ranged):
    r = ddb.query(TableName=ranged, KeyConditions={"pk": cond("EQ", S("a")), "sk": cond("GT", N("2"))},
                  QueryFilter={"tag": cond("EQ", S("even")), "v": cond("LT", N("70"))}, ScanIndexForward=False)
    assert sks(r) == [6, 4] and r["Count"] == 2 and r["ScannedCount"] == 6


def test_query_filter_or_and_attributes_to_get(ddb, ranged):
    r = ddb.query(TableName=ranged, KeyConditions={"pk": cond("EQ", S("a"))},
                  QueryFilter={"v": cond("GE", N("80")), "tags": cond("CONTAINS", S("y"))},
                  ConditionalOperator="OR", AttributesToGet=["sk", "v"])
    assert r["Items"] == [{"sk": N("3"), "v": N("30")}, {"sk": N("8"), "v": N("80")}]


def test_query_key_conditions_with_filter_expression(ddb, ranged):
    r = ddb.query(TableName=ranged, KeyConditions={"pk": cond("EQ", S("a"))}, FilterExpression="v > :v",
                  ExpressionAttributeValues={":v": N("60")}, ProjectionExpression="sk")
    assert r["Items"] == [{"sk": N("7")}, {"sk": N("8")}]


def test_query_select_count_with_key_conditions(ddb, ranged):
    r = ddb.query(TableName=ranged, KeyConditions={"pk": cond("EQ", S("b"))}, Select="COUNT")
    assert r["Count"] == 1 and "Items" not in r


def test_scan_filter_with_or(ddb, ranged):
    r = ddb.scan(TableName=ranged, ScanFilter={"v": cond("LT", N("20")), "tag": cond("EQ", S("even"))},
                 ConditionalOperator="OR", AttributesToGet=["pk", "sk"])
    got = sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in r["Items"])
    assert got == [("a", 1), ("a", 2), ("a", 4), ("a", 6), ("a", 8), ("b", 1)]
    assert all(set(i) == {"pk", "sk"} for i in r["Items"])


@pytest.mark.parametrize("scan_filter,count", [
    ({"tag": cond("NE", S("odd"))}, 5),  # missing tag counts as not equal
    ({"tag": {"ComparisonOperator": "NULL"}}, 1),
    ({"tags": {"ComparisonOperator": "NOT_NULL"}}, 1),
    ({"tag": cond("NOT_CONTAINS", S("ve"))}, 4),
    ({"tag": cond("BEGINS_WITH", S("od"))}, 4),
    ({"v": cond("IN", N("10"), N("5"), N("99"))}, 2),
    ({"v": cond("BETWEEN", N("30"), N("50"))}, 3),
    ({"v": cond("GT", N("40")), "tag": cond("EQ", S("odd"))}, 2),
])
def test_scan_filter_operators(ddb, ranged, scan_filter, count):
    assert ddb.scan(TableName=ranged, ScanFilter=scan_filter)["Count"] == count


# --- validation -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calls(ddb, items, ranged):
    key = {"pk": S("v1")}
    return {
        "put": (ddb.put_item, {"TableName": items, "Item": key}),
        "delete": (ddb.delete_item, {"TableName": items, "Key": key}),
        "update": (ddb.update_item, {"TableName": items, "Key": key}),
        "get": (ddb.get_item, {"TableName": items, "Key": key}),
        "query": (ddb.query, {"TableName": ranged}),
        "scan": (ddb.scan, {"TableName": ranged}),
    }


EQX = cond("EQ", S("x"))

VALIDATION = [
    ("put", {"Expected": {"a": EQX}, "ConditionExpression": "attribute_exists(pk)"},
     MIXED + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
    ("update", {"AttributeUpdates": {"a": {"Value": S("v")}}, "Expected": {"a": EQX}, "ConditionalOperator": "AND",
                "UpdateExpression": "SET a = :v", "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":v": S("x")}},
     MIXED + "Non-expression parameters: {AttributeUpdates, Expected, ConditionalOperator} Expression parameters: "
             "{UpdateExpression, ConditionExpression}"),
    ("get", {"AttributesToGet": ["a"], "ProjectionExpression": "b"},
     MIXED + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
    ("query", {"KeyConditions": {"pk": cond("EQ", S("a"))}, "QueryFilter": {"a": EQX},
               "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": S("a")}},
     MIXED + "Non-expression parameters: {QueryFilter, KeyConditions} Expression parameters: "
             "{KeyConditionExpression}"),
    ("scan", {"ScanFilter": {"a": EQX}, "ProjectionExpression": "b"},
     MIXED + "Non-expression parameters: {ScanFilter} Expression parameters: {ProjectionExpression}"),
    ("put", {"Expected": {"a": cond("BETWEEN", N("1"))}},
     INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ("delete", {"Expected": {"a": {"Value": S("x"), "ComparisonOperator": "NULL"}}},
     INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator"),
    ("put", {"Expected": {"a": {"Value": S("x"), "AttributeValueList": [S("x")], "ComparisonOperator": "EQ"}}},
     INVALID + "Value and AttributeValueList cannot be used together for Attribute: a"),
    ("put", {"Expected": {"x": {"Exists": True}}},
     INVALID + "Value must be provided when Exists is true for Attribute: x"),
    ("put", {"Expected": {"x": {"Exists": False, "Value": S("x")}}},
     INVALID + "Value cannot be used when Exists is false for Attribute: x"),
    ("put", {"Expected": {"x": {"Exists": True, "ComparisonOperator": "NOT_NULL"}}},
     INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: x"),
    ("put", {"Expected": {"x": {"ComparisonOperator": "GT"}}},
     INVALID + "Value or AttributeValueList must be used with ComparisonOperator: GT for Attribute: x"),
    ("delete", {"Expected": {"x": {"AttributeValueList": [S("a")]}}},
     INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: x"),
    ("put", {"Expected": {"x": cond("LT", {"SS": ["a"]})}},
     INVALID + "ComparisonOperator LT is not valid for SS AttributeValue type"),
    ("scan", {"ScanFilter": {"x": cond("BETWEEN", N("2"), N("1"))}},
     "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
    ("scan", {"ScanFilter": {"x": cond("IN", S("a"), N("1"))}},
     INVALID + "AttributeValues inside AttributeValueList must be of same type"),
    ("scan", {"ConditionalOperator": "OR"}, "ConditionalOperator cannot be used without Filter or Expected"),
    ("scan", {"ConditionalOperator": "OR", "ScanFilter": {"a": EQX}},
     "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    ("put", {"ConditionalOperator": "AND"}, "ConditionalOperator cannot be used without Filter or Expected"),
    ("update", {"ConditionalOperator": "AND", "Expected": {"a": EQX}},
     "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    ("scan", {"AttributesToGet": ["a"], "Select": "ALL_ATTRIBUTES"},
     "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES"),
    ("query", {"KeyConditions": {"pk": cond("EQ", S("a"))}, "AttributesToGet": ["a"], "Select": "COUNT"},
     "Cannot specify the AttributesToGet when choosing to get only the Count"),
    ("get", {"AttributesToGet": ["a", "b", "a"]}, INVALID + "Duplicate value in attribute name: a"),
    ("scan", {"AttributesToGet": ["a", "a"]}, INVALID + "Duplicate value in attribute name: a"),
    ("put", {"Expected": {"a": EQX}, "ExpressionAttributeNames": {"#a": "a"}},
     "ExpressionAttributeNames can only be specified when using expressions"),
    ("put", {"Expected": {"a": EQX}, "ExpressionAttributeValues": {":a": S("a")}},
     "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"),
    ("update", {"AttributeUpdates": {"a": {"Value": S("x")}}, "ExpressionAttributeValues": {":a": S("a")}},
     "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and "
     "ConditionExpression are null"),
    ("scan", {"ScanFilter": {"a": EQX}, "ExpressionAttributeValues": {":a": S("a")}},
     "ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null"),
    ("update", {"AttributeUpdates": {"a": {"Action": "PUT"}}},
     INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ("update", {"AttributeUpdates": {"a": {"Action": "DELETE", "Value": S("x")}}},
     INVALID + "DELETE action with value is not supported for the type S"),
    ("update", {"AttributeUpdates": {"a": {"Action": "ADD", "Value": S("x")}}},
     INVALID + "ADD action is not supported for the type S"),
    ("query", {"KeyConditions": {"pk": cond("EQ", S("a")), "sk": cond("NE", N("1"))}},
     "Attempted conditional constraint is not an indexable operation"),
    ("query", {"KeyConditions": {"pk": cond("GT", S("a"))}}, "Query key condition not supported"),
    ("query", {"KeyConditions": {"sk": cond("EQ", N("1"))}}, "Query condition missed key schema element: pk"),
    ("query", {"KeyConditions": {"pk": cond("EQ", N("1"))}},
     INVALID + "Condition parameter type does not match schema type"),
    ("query", {"KeyConditions": {}}, "Conditions can be of length 1 or 2 only"),
    ("query", {"KeyConditions": {"pk": cond("EQ", S("a"))}, "QueryFilter": {"sk": cond("EQ", N("1"))}},
     "QueryFilter can only contain non-primary key attributes: Primary key attribute: sk"),
    ("query", {}, "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
    ("scan", {"ConditionalOperator": "XOR", "ScanFilter": {"a": EQX, "b": EQX}},
     "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must "
     "satisfy enum value set: [OR, AND]"),
    ("scan", {"AttributesToGet": []},
     "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have "
     "length greater than or equal to 1"),
]


@pytest.mark.parametrize("op,params,msg", VALIDATION)
def test_validation(raw_ddb, calls, op, params, msg):
    fn, base = calls[op]
    fn = getattr(raw_ddb, fn.__name__)
    assert error_of(fn, **base, **params) == ("ValidationException", msg)


def test_batch_get_validation(raw_ddb, items):
    keys = [{"pk": S("g")}]
    assert error_of(raw_ddb.batch_get_item, RequestItems={items: {"Keys": keys, "AttributesToGet": ["a", "a"]}}) == \
        ("ValidationException", INVALID + "Duplicate value in attribute name: a")
    assert error_of(raw_ddb.batch_get_item, RequestItems={
        items: {"Keys": keys, "AttributesToGet": ["a"], "ProjectionExpression": "a"}}) == \
        ("ValidationException",
         MIXED + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")


def test_missing_table_before_key_conditions_schema(raw_ddb):
    code, _ = error_of(raw_ddb.query, TableName="legacy_none", KeyConditions={"z": {"ComparisonOperator": "NULL"}})
    assert code == "ResourceNotFoundException"
