"""Legacy request parameters (Expected, ConditionalOperator, AttributeUpdates,
KeyConditions, QueryFilter, ScanFilter, AttributesToGet): their translation
into expression ASTs, what those ASTs evaluate to, and DynamoDB's validation
messages in DynamoDB's order.

Messages come from dynalite's test suite (run against the real service), from
suites that target DynamoDB and an emulator alike, and from AWS's DAX client,
which repeats the service's checks before translating legacy parameters."""

from __future__ import annotations

import copy

import pytest

from ddb import legacy
from ddb.batches import parse_batch_get
from ddb.errors import SerializationException, ValidationException
from ddb.expressions import apply_update, evaluate, project, updated_attributes
from ddb.items import parse_delete_item, parse_get_item, parse_put_item, parse_update_item
from ddb.keys import KeySchema
from ddb.reads import parse_query, parse_scan

INVALID = "One or more parameter values were invalid: "
MIXED = "Can not use both expression and non-expression parameters in the same request: "


def S(x: str) -> dict:
    return {"S": x}


def N(x: str) -> dict:
    return {"N": x}


def cond(op: str, *values: dict) -> dict:
    return {"ComparisonOperator": op, "AttributeValueList": list(values)}


ITEM = {
    "pk": S("k"), "s": S("hello"), "n": N("10"), "e": S(""), "b": {"B": "AQID"},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "l": {"L": [S("x"), N("1"), {"BOOL": True}]},
    "t": {"BOOL": True}, "nul": {"NULL": True}, "m": {"M": {"k": S("v")}},
}


def message(fn, *args) -> str:
    with pytest.raises(ValidationException) as exc:
        fn(*args)
    return exc.value.message


# --- Expected: what each form means ----------------------------------------------------------

EXPECTED_CASES = [
    # Value alone and Exists
    ({"s": {"Value": S("hello")}}, True),
    ({"s": {"Value": S("other")}}, False),
    ({"missing": {"Value": S("x")}}, False),
    ({"s": {"Value": S("hello"), "Exists": True}}, True),
    ({"missing": {"Exists": False}}, True),
    ({"s": {"Exists": False}}, False),
    ({"n": {"Value": N("10.0")}}, True),
    ({"n": {"Value": S("10")}}, False),
    # EQ / NE, Value as the single operand
    ({"s": cond("EQ", S("hello"))}, True),
    ({"s": {"ComparisonOperator": "EQ", "Value": S("hello")}}, True),
    ({"ss": cond("EQ", {"SS": ["b", "a"]})}, True),
    ({"l": cond("EQ", {"L": [S("x"), N("1"), {"BOOL": True}]})}, True),
    ({"s": cond("NE", S("hello"))}, False),
    ({"s": cond("NE", S("other"))}, True),
    ({"missing": cond("NE", S("x"))}, True),
    ({"n": cond("NE", S("10"))}, True),
    # ordered comparisons
    ({"n": cond("LT", N("11"))}, True),
    ({"n": cond("LT", N("10"))}, False),
    ({"n": cond("LE", N("10"))}, True),
    ({"n": cond("GT", N("9.5"))}, True),
    ({"n": cond("GE", N("10"))}, True),
    ({"n": cond("GE", N("10.1"))}, False),
    ({"s": cond("GT", S("hell"))}, True),
    ({"s": cond("LT", N("1"))}, False),
    ({"missing": cond("LT", N("1"))}, False),
    ({"b": cond("GE", {"B": "AQI="})}, True),
    # existence
    ({"s": {"ComparisonOperator": "NOT_NULL"}}, True),
    ({"nul": {"ComparisonOperator": "NOT_NULL"}}, True),
    ({"missing": {"ComparisonOperator": "NOT_NULL"}}, False),
    ({"missing": {"ComparisonOperator": "NULL"}}, True),
    ({"nul": {"ComparisonOperator": "NULL"}}, False),
    # CONTAINS / NOT_CONTAINS
    ({"s": cond("CONTAINS", S("ell"))}, True),
    ({"s": cond("CONTAINS", S("xyz"))}, False),
    ({"ss": cond("CONTAINS", S("a"))}, True),
    ({"ns": cond("CONTAINS", N("2.0"))}, True),
    ({"ns": cond("CONTAINS", S("2"))}, False),
    ({"l": cond("CONTAINS", {"BOOL": True})}, True),
    ({"b": cond("CONTAINS", {"B": "Ag=="})}, True),
    ({"missing": cond("CONTAINS", S("a"))}, False),
    ({"s": cond("NOT_CONTAINS", S("xyz"))}, True),
    ({"s": cond("NOT_CONTAINS", S("ell"))}, False),
    ({"ss": cond("NOT_CONTAINS", S("c"))}, True),
    ({"missing": cond("NOT_CONTAINS", S("a"))}, False),
    # BEGINS_WITH, IN, BETWEEN
    ({"s": cond("BEGINS_WITH", S("he"))}, True),
    ({"s": cond("BEGINS_WITH", S("lo"))}, False),
    ({"n": cond("BEGINS_WITH", S("1"))}, False),
    ({"s": cond("IN", S("a"), S("hello"))}, True),
    ({"s": cond("IN", S("a"), S("b"))}, False),
    ({"n": cond("IN", N("1e1"))}, True),
    ({"n": cond("BETWEEN", N("1"), N("10"))}, True),
    ({"n": cond("BETWEEN", N("11"), N("20"))}, False),
    ({"s": cond("BETWEEN", S("a"), S("z"))}, True),
    ({"missing": cond("BETWEEN", N("1"), N("2"))}, False),
    # several entries are ANDed
    ({"s": {"Value": S("hello")}, "missing": {"Exists": False}, "n": cond("GE", N("10"))}, True),
    ({"s": {"Value": S("hello")}, "missing": {"Exists": False}, "n": cond("GE", N("11"))}, False),
]


@pytest.mark.parametrize("expected,result", EXPECTED_CASES)
def test_expected_evaluates_as_documented(expected, result):
    ast = legacy.expected({"Expected": copy.deepcopy(expected)})
    assert evaluate(ast, ITEM) is result


@pytest.mark.parametrize("op,result", [("AND", False), ("OR", True)])
def test_conditional_operator_joins_expected(op, result):
    body = {"Expected": {"s": {"Value": S("hello")}, "n": cond("LT", N("1"))}, "ConditionalOperator": op}
    assert evaluate(legacy.expected(body), ITEM) is result


@pytest.mark.parametrize("expected,result", [
    ({"pk": {"Exists": False}}, True),
    ({"pk": {"Value": S("k")}}, False),
    ({"a": cond("NE", S("x"))}, True),
    ({"a": {"ComparisonOperator": "NULL"}}, True),
    ({"a": cond("NOT_CONTAINS", S("x"))}, False),
])
def test_expected_against_no_item(expected, result):
    assert evaluate(legacy.expected({"Expected": expected}), None) is result


def test_expected_ast_shapes():
    assert legacy.expected({"Expected": {"a": {"Value": S("x")}}}) == \
        {"cmp": "=", "l": {"path": ["a"]}, "r": {"value": S("x")}}
    assert legacy.expected({"Expected": {"a": {"Exists": False}}}) == \
        {"fn": "attribute_not_exists", "args": [{"path": ["a"]}]}
    assert legacy.expected({"Expected": {"a.b": cond("BETWEEN", N("1"), N("2"))}}) == \
        {"between": [{"path": ["a.b"]}, {"value": N("1")}, {"value": N("2")}]}
    assert legacy.expected({"Expected": {"a": cond("IN", S("x"), S("y"))}}) == \
        {"in": [{"path": ["a"]}, {"value": S("x")}, {"value": S("y")}]}
    assert legacy.expected({"Expected": {"a": cond("NOT_CONTAINS", S("x"))}}) == \
        {"and": [{"fn": "attribute_exists", "args": [{"path": ["a"]}]},
                 {"not": {"fn": "contains", "args": [{"path": ["a"]}, {"value": S("x")}]}}]}
    assert legacy.expected({"Expected": {"a": {"Value": S("x")}, "b": {"Exists": False}},
                            "ConditionalOperator": "OR"})["or"][1] == \
        {"fn": "attribute_not_exists", "args": [{"path": ["b"]}]}
    assert legacy.expected({}) is None and legacy.expected({"Expected": {}}) is None


def test_expected_numbers_are_normalised():
    ast = legacy.expected({"Expected": {"n": {"Value": N("0010.00")}}})
    assert ast["r"] == {"value": N("10")}


# --- Expected: validation -----------------------------------------------------------------

EXPECTED_ERRORS = [
    ({"a": {}}, INVALID + "Value must be provided when Exists is null for Attribute: a"),
    ({"a": {"Exists": True}}, INVALID + "Value must be provided when Exists is true for Attribute: a"),
    ({"a": {"Exists": False, "Value": S("x")}}, INVALID + "Value cannot be used when Exists is false for Attribute: a"),
    ({"a": {"Value": S("x"), "AttributeValueList": [S("x")], "ComparisonOperator": "EQ"}},
     INVALID + "Value and AttributeValueList cannot be used together for Attribute: a"),
    ({"a": {"Value": S("x"), "AttributeValueList": []}},
     INVALID + "Value and AttributeValueList cannot be used together for Attribute: a"),
    ({"a": {"Exists": True, "ComparisonOperator": "LT"}},
     INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: a"),
    ({"a": {"ComparisonOperator": "LT"}},
     INVALID + "Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a"),
    ({"a": {"AttributeValueList": [S("x")]}},
     INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
    ({"a": {"Exists": True, "AttributeValueList": [S("x")]}},
     INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
    ({"a": cond("EQ")}, INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator"),
    ({"a": cond("NULL", S("x"))}, INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator"),
    ({"a": cond("IN")}, INVALID + "Invalid number of argument(s) for the IN ComparisonOperator"),
    ({"a": cond("BETWEEN", N("1"), N("2"), N("3"))},
     INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ({"a": {"Value": S("x"), "ComparisonOperator": "BETWEEN"}},
     INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ({"a": {"Value": S("x"), "ComparisonOperator": "NULL"}},
     INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator"),
    ({"a": cond("IN", S("b"), N("1"))}, INVALID + "AttributeValues inside AttributeValueList must be of same type"),
    ({"a": cond("LT", {"SS": ["a"]})}, INVALID + "ComparisonOperator LT is not valid for SS AttributeValue type"),
    ({"a": cond("BETWEEN", S("b"), S("a"))},
     "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
    ({"a": {"Value": {"SS": []}}}, INVALID + "An string set  may not be empty"),
    ({"ok": {"Exists": False}, "a": {"Exists": True}},
     INVALID + "Value must be provided when Exists is true for Attribute: a"),
]


@pytest.mark.parametrize("expected,msg", EXPECTED_ERRORS)
def test_expected_errors(expected, msg):
    assert message(legacy.expected, {"Expected": expected}) == msg


# --- filters and their operand checks ----------------------------------------------------

FILTER_ERRORS = [
    (cond("EQ"), "Invalid number of argument(s) for the EQ ComparisonOperator"),
    ({"ComparisonOperator": "NE"}, "Invalid number of argument(s) for the NE ComparisonOperator"),
    (cond("LE", S("a"), S("a")), "Invalid number of argument(s) for the LE ComparisonOperator"),
    (cond("CONTAINS"), "Invalid number of argument(s) for the CONTAINS ComparisonOperator"),
    (cond("NOT_CONTAINS", S("a"), S("a")), "Invalid number of argument(s) for the NOT_CONTAINS ComparisonOperator"),
    (cond("BEGINS_WITH"), "Invalid number of argument(s) for the BEGINS_WITH ComparisonOperator"),
    (cond("NOT_NULL", S("a")), "Invalid number of argument(s) for the NOT_NULL ComparisonOperator"),
    (cond("BETWEEN", S("a")), "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    (cond("IN"), "Invalid number of argument(s) for the IN ComparisonOperator"),
    (cond("GT", {"BOOL": True}), "ComparisonOperator GT is not valid for BOOL AttributeValue type"),
    (cond("GE", {"NULL": True}), "ComparisonOperator GE is not valid for NULL AttributeValue type"),
    (cond("IN", {"L": []}), "ComparisonOperator IN is not valid for L AttributeValue type"),
    (cond("CONTAINS", {"SS": ["a"]}), "ComparisonOperator CONTAINS is not valid for SS AttributeValue type"),
    (cond("NOT_CONTAINS", {"M": {}}), "ComparisonOperator NOT_CONTAINS is not valid for M AttributeValue type"),
    (cond("BEGINS_WITH", N("1")), "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
    (cond("BETWEEN", {"NS": ["1"]}, {"NS": ["1"]}),
     "ComparisonOperator BETWEEN is not valid for NS AttributeValue type"),
    (cond("BETWEEN", S("a"), N("1")), "AttributeValues inside AttributeValueList must be of same type"),
]


@pytest.mark.parametrize("entry,msg", FILTER_ERRORS)
def test_filter_operand_errors(entry, msg):
    assert message(legacy.filter_condition, {"a": entry}) == INVALID + msg


@pytest.mark.parametrize("entry", [cond("EQ", {"M": {}}), cond("NE", {"L": []}), cond("CONTAINS", {"BOOL": True}),
                                   cond("CONTAINS", {"NULL": True}), cond("BEGINS_WITH", {"B": "YQ=="})])
def test_filter_operand_types_accepted(entry):
    assert legacy.filter_condition({"a": entry}) is not None


def test_between_bounds_in_order():
    assert message(legacy.filter_condition, {"a": cond("BETWEEN", N("2"), N("1"))}) == \
        "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
    assert legacy.filter_condition({"a": cond("BETWEEN", N("1"), N("1"))})


def test_filter_values_are_validated():
    assert message(legacy.filter_condition, {"a": cond("EQ", {})}) == \
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    assert message(legacy.filter_condition, {"a": cond("EQ", {"NS": ["1", "1"]})}) == \
        "Input collection contains duplicates"


@pytest.mark.parametrize("op,result", [("AND", False), ("OR", True), (None, False)])
def test_filter_conditional_operator(op, result):
    ast = legacy.filter_condition({"s": cond("EQ", S("hello")), "n": cond("GT", N("100"))}, op)
    assert evaluate(ast, ITEM) is result


def test_filter_none_when_empty():
    assert legacy.filter_condition(None) is None and legacy.filter_condition({}) is None


# --- AttributeUpdates -------------------------------------------------------------------------

OLD = {"pk": S("k"), "n": N("5"), "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2", "3"]},
       "s": S("x"), "l": {"L": [S("a")]}}

UPDATE_CASES = [
    ({"s": {"Action": "PUT", "Value": S("y")}}, {**OLD, "s": S("y")}),
    ({"s": {"Value": S("y")}}, {**OLD, "s": S("y")}),  # PUT is the default action
    ({"new": {"Action": "PUT", "Value": {"M": {"a": N("1")}}}}, {**OLD, "new": {"M": {"a": N("1")}}}),
    ({"n": {"Action": "ADD", "Value": N("-7")}}, {**OLD, "n": N("-2")}),
    ({"new": {"Action": "ADD", "Value": N("3")}}, {**OLD, "new": N("3")}),
    ({"ss": {"Action": "ADD", "Value": {"SS": ["b", "c"]}}}, {**OLD, "ss": {"SS": ["a", "b", "c"]}}),
    ({"new": {"Action": "ADD", "Value": {"NS": ["1"]}}}, {**OLD, "new": {"NS": ["1"]}}),
    ({"l": {"Action": "ADD", "Value": {"L": [N("1")]}}}, {**OLD, "l": {"L": [S("a"), N("1")]}}),
    ({"new": {"Action": "ADD", "Value": {"L": [N("1")]}}}, {**OLD, "new": {"L": [N("1")]}}),
    ({"s": {"Action": "DELETE"}}, {k: v for k, v in OLD.items() if k != "s"}),
    ({"missing": {"Action": "DELETE"}}, OLD),
    ({"ns": {"Action": "DELETE", "Value": {"NS": ["1", "4"]}}}, {**OLD, "ns": {"NS": ["2", "3"]}}),
    ({"ss": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}}}, {k: v for k, v in OLD.items() if k != "ss"}),
    ({"missing": {"Action": "DELETE", "Value": {"SS": ["a"]}}}, OLD),
    ({"s": {"Value": S("y")}, "n": {"Action": "ADD", "Value": N("1")}, "l": {"Action": "DELETE"}},
     {**{k: v for k, v in OLD.items() if k != "l"}, "s": S("y"), "n": N("6")}),
    ({}, OLD),
]


@pytest.mark.parametrize("updates,new", UPDATE_CASES)
def test_attribute_updates_apply_as_documented(updates, new):
    ast = legacy.attribute_updates(copy.deepcopy(updates))
    assert apply_update(ast, copy.deepcopy(OLD), ("pk",)) == new


def test_attribute_updates_ast():
    ast = legacy.attribute_updates({"a": {"Value": S("x")}, "b": {"Action": "ADD", "Value": N("1")},
                                    "c": {"Action": "DELETE", "Value": {"SS": ["x"]}}, "d": {"Action": "DELETE"}})
    assert ast == {"set": [[["a"], {"value": S("x")}]], "add": [[["b"], N("1")]],
                   "delete": [[["c"], {"SS": ["x"]}]], "remove": [["d"]], "legacy": True}
    assert legacy.attribute_updates(None) == {} and legacy.attribute_updates({"a": None}) == {}


def test_attribute_updates_updated_new():
    ast = legacy.attribute_updates({"n": {"Action": "ADD", "Value": N("1")}, "l": {"Action": "ADD",
                                                                                   "Value": {"L": [N("2")]}}})
    new = apply_update(ast, OLD, ("pk",))
    assert updated_attributes(ast, new) == {"n": N("6"), "l": {"L": [S("a"), N("2")]}}


@pytest.mark.parametrize("updates,msg", [
    ({"a": {"Action": "PUT"}}, INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ({"a": {}}, INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ({"a": {"Action": "ADD"}}, INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ({"a": {"Action": "DELETE", "Value": S("x")}},
     INVALID + "DELETE action with value is not supported for the type S"),
    ({"a": {"Action": "DELETE", "Value": N("1")}},
     INVALID + "DELETE action with value is not supported for the type N"),
    ({"a": {"Action": "DELETE", "Value": {"L": []}}},
     INVALID + "DELETE action with value is not supported for the type L"),
    ({"a": {"Action": "ADD", "Value": S("x")}}, INVALID + "ADD action is not supported for the type S"),
    ({"a": {"Action": "ADD", "Value": {"B": "YQ=="}}}, INVALID + "ADD action is not supported for the type B"),
    ({"a": {"Action": "ADD", "Value": {"BOOL": True}}}, INVALID + "ADD action is not supported for the type BOOL"),
    ({"a": {"Action": "ADD", "Value": {"NULL": True}}}, INVALID + "ADD action is not supported for the type NULL"),
    ({"a": {"Action": "ADD", "Value": {"M": {}}}}, INVALID + "ADD action is not supported for the type M"),
    ({"a": {"Action": "PUT", "Value": {"NULL": False}}},
     INVALID + "Null attribute value types must have the value of true"),
])
def test_attribute_updates_errors(updates, msg):
    assert message(legacy.attribute_updates, updates) == msg


@pytest.mark.parametrize("updates", [
    {"s": {"Action": "ADD", "Value": N("1")}},
    {"n": {"Action": "ADD", "Value": {"NS": ["1"]}}},
    {"ss": {"Action": "ADD", "Value": {"NS": ["1"]}}},
    {"ns": {"Action": "ADD", "Value": N("1")}},
    {"ss": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
    {"n": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
    {"s": {"Action": "ADD", "Value": {"L": [N("1")]}}},
])
def test_attribute_updates_type_mismatch_at_apply(updates):
    # AttributeUpdates name the clash as DynamoDB does for them (dynalite's tests, run against DynamoDB) ...
    ast = legacy.attribute_updates(updates)
    assert message(apply_update, ast, OLD, ("pk",)) == "Type mismatch for attribute to update"


def test_update_expression_type_mismatch_keeps_its_message():
    # ... while the same clash in an UpdateExpression is an operand of the wrong type.
    ast = {"add": [[["s"], N("1")]]}
    assert message(apply_update, ast, OLD, ("pk",)) == "An operand in the update expression has an incorrect data type"


# --- KeyConditions ----------------------------------------------------------------------------

RANGE = KeySchema("pk", "S", "sk", "N")
HASH = KeySchema("pk", "S")


@pytest.mark.parametrize("op,values,expected", [
    ("EQ", [N("1")], {"op": "=", "values": [N("1")]}),
    ("LT", [N("1")], {"op": "<", "values": [N("1")]}),
    ("LE", [N("1")], {"op": "<=", "values": [N("1")]}),
    ("GT", [N("1")], {"op": ">", "values": [N("1")]}),
    ("GE", [N("1")], {"op": ">=", "values": [N("1")]}),
    ("BETWEEN", [N("1"), N("2")], {"op": "BETWEEN", "values": [N("1"), N("2")]}),
    ("BEGINS_WITH", [S("a")], {"op": "begins_with", "values": [S("a")]}),
])
def test_key_conditions_become_key_condition(op, values, expected):
    conds = legacy.key_conditions({"pk": cond("EQ", S("p")), "sk": cond(op, *values)})
    out = legacy.bind_key_conditions(conds, "pk", "sk")
    assert out == {"hash": ["pk", S("p")], "range": {"name": "sk", **expected}}


def test_key_conditions_hash_only():
    conds = legacy.key_conditions({"pk": cond("EQ", S("p"))})
    assert legacy.bind_key_conditions(conds, "pk", "sk") == {"hash": ["pk", S("p")], "range": None}
    assert legacy.bind_key_conditions(conds, "pk", None) == {"hash": ["pk", S("p")], "range": None}


@pytest.mark.parametrize("conditions,msg", [
    ({}, "Conditions can be of length 1 or 2 only"),
    ({"a": cond("NULL"), "b": cond("NULL"), "c": cond("NULL")}, "Conditions can be of length 1 or 2 only"),
    ({"a": cond("EQ"), "b": cond("NULL"), "c": cond("NULL")},
     INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator"),
    ({"a": cond("IN", S("b"), N("1"))}, INVALID + "AttributeValues inside AttributeValueList must be of same type"),
    ({"a": cond("BETWEEN", S("b"), S("a"))},
     "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
])
def test_key_conditions_errors(conditions, msg):
    assert message(legacy.key_conditions, conditions) == msg


@pytest.mark.parametrize("conditions,schema,msg", [
    ({"z": cond("NULL")}, RANGE, "Query condition missed key schema element: pk"),
    ({"pk": cond("EQ", S("a")), "x": cond("NULL")}, RANGE, "Query condition missed key schema element: sk"),
    ({"pk": cond("EQ", S("a")), "x": cond("EQ", S("a"))}, HASH, "Query key condition not supported"),
    ({"pk": cond("NULL")}, HASH, "Attempted conditional constraint is not an indexable operation"),
    ({"pk": cond("NE", S("a"))}, HASH, "Attempted conditional constraint is not an indexable operation"),
    ({"pk": cond("IN", S("a"))}, HASH, "Attempted conditional constraint is not an indexable operation"),
    ({"pk": cond("EQ", S("a")), "sk": cond("CONTAINS", N("1"))}, RANGE,
     "Attempted conditional constraint is not an indexable operation"),
    ({"pk": cond("EQ", S("a")), "sk": cond("NOT_NULL")}, RANGE,
     "Attempted conditional constraint is not an indexable operation"),
    ({"pk": cond("LE", S("a"))}, HASH, "Query key condition not supported"),
    ({"pk": cond("BEGINS_WITH", S("a"))}, RANGE, "Query key condition not supported"),
    ({"pk": cond("BETWEEN", S("a"), S("b"))}, HASH, "Query key condition not supported"),
])
def test_key_conditions_against_schema(conditions, schema, msg):
    conds = legacy.key_conditions(conditions)
    assert message(legacy.bind_key_conditions, conds, schema.hash_key, schema.range_key) == msg


# --- whole requests: mixing, placeholders, ConditionalOperator -------------------------------

PUT = {"TableName": "legacy_t", "Item": {"pk": S("a")}}
KEY = {"TableName": "legacy_t", "Key": {"pk": S("a")}}
QUERY = {"TableName": "legacy_t", "KeyConditions": {"pk": cond("EQ", S("a"))}}
SCAN = {"TableName": "legacy_t"}
EQX = cond("EQ", S("x"))
EAV = {":v": S("x")}

REQUEST_ERRORS = [
    (parse_put_item, {**PUT, "Expected": {"a": {"Value": S("x")}}, "ConditionExpression": "a = :v",
                      "ExpressionAttributeValues": EAV},
     MIXED + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
    (parse_put_item, {**PUT, "Expected": {"a": EQX}, "ConditionalOperator": "AND",
                      "ConditionExpression": "attribute_exists(pk)"},
     MIXED + "Non-expression parameters: {Expected, ConditionalOperator} Expression parameters: "
             "{ConditionExpression}"),
    (parse_delete_item, {**KEY, "ConditionalOperator": "AND", "ConditionExpression": "attribute_exists(pk)"},
     MIXED + "Non-expression parameters: {ConditionalOperator} Expression parameters: {ConditionExpression}"),
    (parse_update_item, {**KEY, "AttributeUpdates": {"a": {"Value": S("v")}}, "Expected": {"a": EQX},
                         "ConditionalOperator": "AND", "UpdateExpression": "SET a = :v",
                         "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": EAV},
     MIXED + "Non-expression parameters: {AttributeUpdates, Expected, ConditionalOperator} Expression parameters: "
             "{UpdateExpression, ConditionExpression}"),
    (parse_update_item, {**KEY, "AttributeUpdates": {"a": {"Value": S("v")}},
                         "ConditionExpression": "attribute_exists(pk)"},
     MIXED + "Non-expression parameters: {AttributeUpdates} Expression parameters: {ConditionExpression}"),
    (parse_update_item, {**KEY, "Expected": {"a": EQX, "b": EQX}, "UpdateExpression": "SET c = :v",
                         "ExpressionAttributeValues": EAV},
     MIXED + "Non-expression parameters: {Expected} Expression parameters: {UpdateExpression}"),
    (parse_get_item, {**KEY, "AttributesToGet": ["a"], "ProjectionExpression": "b"},
     MIXED + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
    (parse_scan, {**SCAN, "AttributesToGet": ["a"], "ScanFilter": {"a": EQX}, "ConditionalOperator": "AND",
                  "FilterExpression": "a = :v", "ProjectionExpression": "b", "ExpressionAttributeValues": EAV},
     MIXED + "Non-expression parameters: {AttributesToGet, ScanFilter, ConditionalOperator} Expression "
             "parameters: {ProjectionExpression, FilterExpression}"),
    (parse_scan, {**SCAN, "ScanFilter": {"a": EQX}, "ProjectionExpression": "b"},
     MIXED + "Non-expression parameters: {ScanFilter} Expression parameters: {ProjectionExpression}"),
    (parse_scan, {**SCAN, "ConditionalOperator": "AND", "FilterExpression": "a = :v",
                  "ExpressionAttributeValues": {**EAV, ":unused": S("y")}},
     MIXED + "Non-expression parameters: {ConditionalOperator} Expression parameters: {FilterExpression}"),
    (parse_query, {**QUERY, "QueryFilter": {"a": EQX}, "ConditionalOperator": "AND",
                   "KeyConditionExpression": "pk = :p", "FilterExpression": "a = :v", "ProjectionExpression": "b",
                   "ExpressionAttributeValues": {":p": S("a"), **EAV}},
     MIXED + "Non-expression parameters: {QueryFilter, ConditionalOperator, KeyConditions} Expression parameters: "
             "{ProjectionExpression, FilterExpression, KeyConditionExpression}"),
    (parse_query, {"TableName": "legacy_t", "AttributesToGet": ["a"], "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": S("a")}},
     MIXED + "Non-expression parameters: {AttributesToGet} Expression parameters: {KeyConditionExpression}"),
    (parse_query, {**QUERY, "QueryFilter": {"a": EQX}, "AttributesToGet": ["a"], "FilterExpression": "a = :v",
                   "ExpressionAttributeValues": EAV},
     MIXED + "Non-expression parameters: {AttributesToGet, QueryFilter} Expression parameters: {FilterExpression}"),
    # placeholders without an expression that could use them
    (parse_put_item, {**PUT, "Expected": {"a": {"Value": S("x")}}, "ExpressionAttributeNames": {"#a": "a"}},
     "ExpressionAttributeNames can only be specified when using expressions"),
    (parse_put_item, {**PUT, "Expected": {"a": {"Value": S("x")}}, "ExpressionAttributeValues": EAV},
     "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"),
    (parse_delete_item, {**KEY, "ExpressionAttributeValues": EAV},
     "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"),
    (parse_update_item, {**KEY, "AttributeUpdates": {"a": {"Value": S("x")}}, "ExpressionAttributeValues": EAV},
     "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and "
     "ConditionExpression are null"),
    (parse_scan, {**SCAN, "ScanFilter": {"a": EQX}, "ExpressionAttributeValues": EAV},
     "ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null"),
    (parse_scan, {**SCAN, "ProjectionExpression": "a", "ExpressionAttributeValues": EAV},
     "ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null"),
    (parse_query, {**QUERY, "ExpressionAttributeValues": EAV},
     "ExpressionAttributeValues can only be specified when using expressions: FilterExpression and "
     "KeyConditionExpression are null"),
    (parse_query, {**QUERY, "ExpressionAttributeNames": {"#a": "a"}},
     "ExpressionAttributeNames can only be specified when using expressions"),
    (parse_get_item, {**KEY, "AttributesToGet": ["a"], "ExpressionAttributeNames": {"#a": "a"}},
     "ExpressionAttributeNames can only be specified when using expressions"),
    # ConditionalOperator needs two or more conditions
    (parse_scan, {**SCAN, "ConditionalOperator": "AND"},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_scan, {**SCAN, "ConditionalOperator": "OR", "ScanFilter": {}},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_scan, {**SCAN, "ConditionalOperator": "AND", "AttributesToGet": ["a", "b"]},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_scan, {**SCAN, "ConditionalOperator": "AND", "ScanFilter": {"a": EQX}},
     "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    (parse_query, {**QUERY, "ConditionalOperator": "AND"},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_query, {"TableName": "legacy_t", "ConditionalOperator": "AND"},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_query, {**QUERY, "ConditionalOperator": "AND", "QueryFilter": {"a": EQX}},
     "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    (parse_put_item, {**PUT, "ConditionalOperator": "AND"},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_put_item, {**PUT, "ConditionalOperator": "AND", "Expected": {"a": EQX}},
     "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    (parse_delete_item, {**KEY, "ConditionalOperator": "OR", "Expected": {"a": EQX}},
     "ConditionalOperator can only be used when Filter or Expected has two or more elements"),
    (parse_update_item, {**KEY, "ConditionalOperator": "AND", "AttributeUpdates": {"a": {"Value": S("v")}}},
     "ConditionalOperator cannot be used without Filter or Expected"),
    (parse_update_item, {**KEY, "ConditionalOperator": "AND"},
     "ConditionalOperator cannot be used without Filter or Expected"),
    # Select with AttributesToGet
    (parse_scan, {**SCAN, "AttributesToGet": ["a"], "Select": "ALL_ATTRIBUTES"},
     "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES"),
    (parse_scan, {**SCAN, "AttributesToGet": ["a"], "Select": "COUNT"},
     "Cannot specify the AttributesToGet when choosing to get only the Count"),
    (parse_query, {**QUERY, "AttributesToGet": ["a"], "Select": "ALL_PROJECTED_ATTRIBUTES", "IndexName": "idx"},
     "Cannot specify the AttributesToGet when choosing to get ALL_PROJECTED_ATTRIBUTES"),
    (parse_query, {**QUERY, "Select": "SPECIFIC_ATTRIBUTES"},
     "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
    # duplicates in AttributesToGet; a Scan reports them before its filter, a Query after
    (parse_get_item, {**KEY, "AttributesToGet": ["a", "b", "a"]},
     INVALID + "Duplicate value in attribute name: a"),
    (parse_scan, {**SCAN, "AttributesToGet": ["a", "a"], "ScanFilter": {"a": cond("EQ", {})}},
     INVALID + "Duplicate value in attribute name: a"),
    (parse_query, {**QUERY, "AttributesToGet": ["a", "a"], "QueryFilter": {"a": cond("EQ", {})}},
     "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    (parse_query, {**QUERY, "AttributesToGet": ["a", "a"], "QueryFilter": {}},
     INVALID + "Duplicate value in attribute name: a"),
    # each parameter's own checks, in the request's order
    (parse_query, {"TableName": "legacy_t", "KeyConditions": {"pk": cond("EQ")}},
     INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator"),
    (parse_query, {"TableName": "legacy_t", "KeyConditions": {}}, "Conditions can be of length 1 or 2 only"),
    (parse_query, {"TableName": "legacy_t", "KeyConditions": {"pk": cond("EQ")}, "ExclusiveStartKey": {"a": {}}},
     "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    (parse_query, {"TableName": "legacy_t"},
     "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
    (parse_scan, {**SCAN, "ScanFilter": {"a": cond("BETWEEN", S("a"))}},
     INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    (parse_update_item, {"TableName": "legacy_t", "Key": {"pk": {"NULL": False}}, "Expected": {"a": {}},
                         "AttributeUpdates": {"a": {}}},
     INVALID + "Null attribute value types must have the value of true"),
    (parse_update_item, {**KEY, "Expected": {"a": {}}, "AttributeUpdates": {"a": {}}},
     INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    (parse_update_item, {**KEY, "Expected": {"a": {}}, "AttributeUpdates": {"a": {"Value": S("x")}}},
     INVALID + "Value must be provided when Exists is null for Attribute: a"),
    (parse_put_item, {"TableName": "legacy_t", "Item": {"a": {}}, "Expected": {"a": {}}},
     "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    (parse_put_item, {**PUT, "Expected": {"a": {"ComparisonOperator": "LT"}}},
     INVALID + "Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a"),
    (parse_batch_get, {"RequestItems": {"legacy_t": {"Keys": [{"pk": S("a")}], "AttributesToGet": ["a", "a"]}}},
     INVALID + "Duplicate value in attribute name: a"),
    (parse_batch_get, {"RequestItems": {"legacy_t": {"Keys": [{"pk": S("a")}], "AttributesToGet": ["a"],
                                                     "ProjectionExpression": "a"}}},
     MIXED + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
    # Coral's constraint messages
    (parse_scan, {**SCAN, "ConditionalOperator": "AN"},
     "1 validation error detected: Value 'AN' at 'conditionalOperator' failed to satisfy constraint: Member must "
     "satisfy enum value set: [OR, AND]"),
    (parse_scan, {**SCAN, "AttributesToGet": []},
     "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have "
     "length greater than or equal to 1"),
    (parse_query, {**QUERY, "QueryFilter": {"a": {}, "b": {"ComparisonOperator": ""}}},
     "2 validation errors detected: Value null at 'queryFilter.a.member.comparisonOperator' failed to satisfy "
     "constraint: Member must not be null; Value '' at 'queryFilter.b.member.comparisonOperator' failed to satisfy "
     "constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, "
     "LE, BEGINS_WITH, GE, CONTAINS]"),
    (parse_query, {"TableName": "legacy_t", "KeyConditions": {"pk": {}}},
     "1 validation error detected: Value null at 'keyConditions.pk.member.comparisonOperator' failed to satisfy "
     "constraint: Member must not be null"),
    (parse_put_item, {**PUT, "Expected": {"a": {"ComparisonOperator": "XX", "Value": S("x")}}},
     "1 validation error detected: Value 'XX' at 'expected.a.member.comparisonOperator' failed to satisfy "
     "constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, "
     "LE, BEGINS_WITH, GE, CONTAINS]"),
    (parse_update_item, {**KEY, "AttributeUpdates": {"a": {"Action": "SET", "Value": S("x")}}},
     "1 validation error detected: Value 'SET' at 'attributeUpdates.a.member.action' failed to satisfy "
     "constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"),
    (parse_get_item, {**KEY, "AttributesToGet": []},
     "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have "
     "length greater than or equal to 1"),
    (parse_batch_get, {"RequestItems": {"legacy_t": {"Keys": [{"pk": S("a")}], "AttributesToGet": []}}},
     "1 validation error detected: Value '[]' at 'requestItems.legacy_t.member.attributesToGet' failed to satisfy "
     "constraint: Member must have length greater than or equal to 1"),
    (parse_put_item, {"TableName": "a", "Item": {}, "ConditionalOperator": "X"},
     "2 validation errors detected: Value 'a' at 'tableName' failed to satisfy constraint: Member must have length "
     "greater than or equal to 3; Value 'X' at 'conditionalOperator' failed to satisfy constraint: Member must "
     "satisfy enum value set: [OR, AND]"),
]


@pytest.mark.parametrize("parse,body,msg", REQUEST_ERRORS)
def test_request_errors(parse, body, msg):
    assert message(parse, copy.deepcopy(body)) == msg


@pytest.mark.parametrize("parse,body", [
    (parse_put_item, {**PUT, "Expected": {"a": 5}}),
    (parse_put_item, {**PUT, "Expected": []}),
    (parse_put_item, {**PUT, "Expected": {"a": {"Exists": "yes"}}}),
    (parse_put_item, {**PUT, "Expected": {"a": {"Value": {"S": 5}}}}),
    (parse_scan, {**SCAN, "ScanFilter": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": "x"}}}),
    (parse_scan, {**SCAN, "AttributesToGet": "a"}),
    (parse_scan, {**SCAN, "AttributesToGet": [1]}),
    (parse_scan, {**SCAN, "ConditionalOperator": 1}),
    (parse_update_item, {**KEY, "AttributeUpdates": {"a": {"Action": 1}}}),
])
def test_wrong_shapes_are_serialization_errors(parse, body):
    with pytest.raises(SerializationException):
        parse(copy.deepcopy(body))


# --- whole requests: what they become ------------------------------------------------------------

def test_put_with_expected():
    req = parse_put_item({**PUT, "Expected": {"a": {"Exists": False}, "b": EQX}, "ConditionalOperator": "OR"})
    assert req.condition == {"or": [{"fn": "attribute_not_exists", "args": [{"path": ["a"]}]},
                                    {"cmp": "=", "l": {"path": ["b"]}, "r": {"value": S("x")}}]}
    assert parse_put_item(dict(PUT)).condition is None


def test_delete_with_expected():
    req = parse_delete_item({**KEY, "Expected": {"a": {"Value": S("x")}}})
    assert req.condition == {"cmp": "=", "l": {"path": ["a"]}, "r": {"value": S("x")}}


def test_update_with_attribute_updates_and_expected():
    req = parse_update_item({**KEY, "AttributeUpdates": {"a": {"Value": S("x")}},
                             "Expected": {"a": {"ComparisonOperator": "NULL"}}, "ReturnValues": "UPDATED_NEW"})
    assert req.update == {"set": [[["a"], {"value": S("x")}]], "legacy": True}
    assert req.condition == {"fn": "attribute_not_exists", "args": [{"path": ["a"]}]}
    assert parse_update_item(dict(KEY)).update == {}


def test_update_of_key_attribute_rejected_on_bind():
    req = parse_update_item({**KEY, "AttributeUpdates": {"pk": {"Value": S("x")}}})
    assert message(req.bind, HASH) == INVALID + "Cannot update attribute pk. This attribute is part of the key"
    req = parse_update_item({"TableName": "legacy_t", "Key": {"pk": S("a"), "sk": N("1")},
                             "AttributeUpdates": {"d": {"Value": N("1")}, "sk": {"Action": "DELETE"}}})
    assert message(req.bind, RANGE) == INVALID + "Cannot update attribute sk. This attribute is part of the key"


def test_get_with_attributes_to_get():
    req = parse_get_item({**KEY, "AttributesToGet": ["a", "b.c"]})
    assert req.projection == [["a"], ["b.c"]]
    assert project({"a": N("1"), "b.c": N("2"), "b": {"M": {"c": N("3")}}}, req.projection) == \
        {"a": N("1"), "b.c": N("2")}


def test_batch_get_with_attributes_to_get():
    gets = parse_batch_get({"RequestItems": {"legacy_t": {"Keys": [{"pk": S("a")}], "AttributesToGet": ["x"]}}})
    assert gets[0].projection == [["x"]]
    assert gets[0].unprocessed([]) == {"Keys": [], "AttributesToGet": ["x"]}


def test_scan_with_filter_and_attributes_to_get():
    req = parse_scan({**SCAN, "ScanFilter": {"a": EQX, "b": cond("NOT_NULL")}, "ConditionalOperator": "OR",
                      "AttributesToGet": ["a"]})
    assert req.select == "SPECIFIC_ATTRIBUTES" and req.projection == [["a"]]
    assert req.filter == {"or": [{"cmp": "=", "l": {"path": ["a"]}, "r": {"value": S("x")}},
                                 {"fn": "attribute_exists", "args": [{"path": ["b"]}]}]}


def test_scan_attributes_to_get_with_specific_select():
    assert parse_scan({**SCAN, "AttributesToGet": ["a"], "Select": "SPECIFIC_ATTRIBUTES"}).projection == [["a"]]


def test_query_with_key_conditions_and_filter():
    req = parse_query({"TableName": "legacy_t", "KeyConditions": {"pk": cond("EQ", S("a")),
                                                                  "sk": cond("BETWEEN", N("1"), N("5"))},
                       "QueryFilter": {"v": cond("GT", N("3"))}, "AttributesToGet": ["v"]})
    req.bind(RANGE)
    assert req.key_condition == {"hash": ["pk", S("a")],
                                 "range": {"op": "BETWEEN", "name": "sk", "values": [N("1"), N("5")]}}
    assert req.filter == {"cmp": ">", "l": {"path": ["v"]}, "r": {"value": N("3")}}
    assert req.projection == [["v"]] and req.select == "SPECIFIC_ATTRIBUTES"


def test_query_key_conditions_with_expression_filter_and_projection():
    req = parse_query({**QUERY, "FilterExpression": "a = :v", "ProjectionExpression": "a",
                       "ExpressionAttributeValues": EAV})
    req.bind(HASH)
    assert req.key_condition == {"hash": ["pk", S("a")], "range": None}
    assert req.filter is not None and req.projection == [["a"]]


def test_query_unused_values_with_key_conditions():
    req = parse_query({**QUERY, "FilterExpression": "a = :v", "ExpressionAttributeValues": {**EAV, ":w": S("y")}})
    assert message(req.bind, HASH) == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"


@pytest.mark.parametrize("key_conditions,schema,msg", [
    ({"pk": cond("EQ", N("1"))}, HASH,
     INVALID + "Condition parameter type does not match schema type"),
    ({"pk": cond("EQ", S("a")), "sk": cond("GT", S("1"))}, RANGE,
     INVALID + "Condition parameter type does not match schema type"),
    ({"sk": cond("EQ", N("1"))}, RANGE, "Query condition missed key schema element: pk"),
])
def test_query_key_conditions_bind_errors(key_conditions, schema, msg):
    req = parse_query({"TableName": "legacy_t", "KeyConditions": key_conditions})
    assert message(req.bind, schema) == msg


@pytest.mark.parametrize("attr", ["pk", "sk"])
def test_query_filter_may_not_name_a_key(attr):
    req = parse_query({"TableName": "legacy_t", "KeyConditions": {"pk": cond("EQ", S("a"))},
                       "QueryFilter": {attr: cond("EQ", S("a") if attr == "pk" else N("1"))}})
    assert message(req.bind, RANGE) == \
        f"QueryFilter can only contain non-primary key attributes: Primary key attribute: {attr}"


def test_legacy_requests_are_not_mutated_beyond_number_normalisation():
    body = {**PUT, "Expected": {"n": {"Value": N("1.50")}}}
    parse_put_item(body)
    assert body["Expected"] == {"n": {"Value": N("1.5")}}
