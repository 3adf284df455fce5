"""Statements compiled to the existing operations' request bodies: which
operation, which key, which expressions; and every compiled body is one the
existing request parsers accept or answer with a ValidationException."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb import items as ddb_items
from ddb import reads as ddb_reads
from ddb.errors import ValidationException
from ddb.expression_eval import evaluate
from ddb.expressions import Context, parse_condition
from ddb.partiql import compile_statement, parse, to_text
from ddb.partiql.ast import Select
from ddb.partiql.compile import (BATCH_READ_KEY, DELETE_RETURNING, NOT_FULL_KEY, WRONG_PARAMETER_COUNT,
                                  check_projected)
from ddb.partiql.parser import param_count
from tests.ddb.partiql.strategies import statements

KEYS = {("t", None): ("pk", "sk"), ("t", "ix"): ("g", None), ("t", "multi"): None, ("h", None): ("id", None)}


def keys_of(table, index):
    return KEYS[(table, index)]


def plan(text, *params, **kw):
    return compile_statement(parse(text), list(params), keys_of, **kw)


def test_partition_key_equality_and_sort_key_condition_are_a_query():
    p = plan("SELECT a.b FROM t WHERE ? = pk AND sk > 3 AND c = 'x'", {"S": "k"})
    assert p.operation == "Query" and not p.write
    assert p.body == {
        "TableName": "t", "ProjectionExpression": "#n2.#n3", "KeyConditionExpression": "#n0 = :v0 AND #n1 > :v1",
        "FilterExpression": "#n4 = :v2",
        "ExpressionAttributeNames": {"#n0": "pk", "#n1": "sk", "#n2": "a", "#n3": "b", "#n4": "c"},
        "ExpressionAttributeValues": {":v0": {"S": "k"}, ":v1": {"N": "3"}, ":v2": {"S": "x"}}}


@pytest.mark.parametrize("where", ["sk = 1", "pk <> 'a'", "pk = 'a' OR sk = 1", "pk IN ['a', b]",
                                   "pk IN ['a', 'b'] AND pk <> 'c'",
                                   "NOT pk = 'a'", "pk = 'a' AND pk = 'b'", "pk = 'a' AND sk = 1 AND sk = 2"])
def test_anything_else_is_a_scan_with_the_whole_filter(where):
    p = plan(f"SELECT * FROM t WHERE {where}")
    assert p.operation == "Scan" and "KeyConditionExpression" not in p.body and "FilterExpression" in p.body


def test_partition_key_in_is_one_query_per_value():
    p = plan("SELECT * FROM t WHERE pk IN ['a', ?, 'a'] AND sk > 1 AND c = 2", {"S": "b"})
    assert p.operation == "Query" and len(p.more) == 1
    assert [b["ExpressionAttributeValues"][":v0"] for b in (p.body, *p.more)] == [{"S": "a"}, {"S": "b"}]
    assert p.body["KeyConditionExpression"] == "#n0 = :v0 AND #n1 > :v1"
    assert p.body["FilterExpression"] == "#n2 = :v2"
    assert len(plan("SELECT * FROM t WHERE pk IN ['a', 'b']").more) == 1


def test_index_reads_use_the_index_key_and_multi_attribute_indexes_scan():
    assert plan("SELECT * FROM t.ix WHERE g = 1").body["KeyConditionExpression"] == "#n0 = :v0"
    p = plan("SELECT * FROM t.multi WHERE g = 1")
    assert p.operation == "Scan" and p.body["IndexName"] == "multi"


def test_order_by_is_scan_index_forward_on_a_query_only():
    assert plan("SELECT * FROM t WHERE pk = 1 ORDER BY sk DESC").body["ScanIndexForward"] is False
    with pytest.raises(ValidationException):
        plan("SELECT * FROM t ORDER BY sk")


def test_insert_is_a_put_that_must_not_overwrite():
    p = plan("INSERT INTO h VALUE {'id': ?, 'n': <<1, 2>>}", {"S": "a"})
    assert p.operation == "PutItem" and p.insert
    assert p.body["Item"] == {"id": {"S": "a"}, "n": {"NS": ["1", "2"]}}
    assert p.body["ConditionExpression"] == "attribute_not_exists(#n0)"
    with pytest.raises(ValidationException):
        plan("INSERT INTO h VALUE [1]")
    with pytest.raises(ValidationException, match="one type"):
        plan("INSERT INTO h VALUE {'id': 'a', 's': <<1, 'x'>>}")


def test_update_needs_the_full_key_and_the_item():
    p = plan("UPDATE t SET n = n - 1, l = list_append(l, ?) SET s = set_delete(s, <<'x'>>) REMOVE r "
             "WHERE sk = 2 AND pk = 'a' AND (n > 0 OR n IS NULL)", {"L": []})
    assert p.operation == "UpdateItem" and p.body["Key"] == {"pk": {"S": "a"}, "sk": {"N": "2"}}
    assert p.body["UpdateExpression"] == "SET #n0 = #n0 - :v0, #n1 = list_append(#n1, :v1) REMOVE #n3 DELETE #n2 :v2"
    assert p.body["ConditionExpression"] == ("attribute_exists(#n4) AND (#n0 > :v3 OR (attribute_not_exists(#n0) "
                                             "OR attribute_type(#n0, :v4)))")
    for where in ("pk = 'a'", "pk = 'a' OR sk = 1", "pk > 'a' AND sk = 1", "pk = sk AND sk = 1"):
        with pytest.raises(ValidationException, match=NOT_FULL_KEY):
            plan(f"UPDATE t SET n = 1 WHERE {where}")


def test_returning_is_return_values_and_from_first_update_is_an_update():
    p = plan("FROM t WHERE pk = 'a' AND sk = 1 SET n = 1 REMOVE m RETURNING MODIFIED OLD *")
    assert p.operation == "UpdateItem" and p.body["ReturnValues"] == "UPDATED_OLD"
    assert p.body["UpdateExpression"] == "SET #n0 = :v0 REMOVE #n1"
    assert plan("DELETE FROM t WHERE pk = 'a' AND sk = 1 RETURNING ALL OLD *").body["ReturnValues"] == "ALL_OLD"
    with pytest.raises(ValidationException) as exc:
        plan("DELETE FROM t WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *")
    assert exc.value.message == DELETE_RETURNING


@pytest.mark.parametrize("where, message", [
    ("attribute_exists('a')", "Operator or function requires a document path; operator or function: "
                              "attribute_exists"),
    ("attribute_not_exists(a, b)", "Incorrect number of operands for operator or function; operator or function: "
                                   "attribute_not_exists, number of operands: 2"),
    ("a = <<>>", "Empty bags are not supported"),
])
def test_function_and_value_errors(where, message):
    with pytest.raises(ValidationException) as exc:
        plan(f"SELECT * FROM t WHERE pk = 1 AND {where}")
    assert exc.value.message == message


def test_delete_conditions_evaluate_with_the_one_evaluator():
    p = plan("DELETE FROM t WHERE pk = 'a' AND sk = 1 AND size(l) BETWEEN 1 AND 2 AND NOT contains(l, 'x') "
             "AND attribute_exists(l) AND attribute_not_exists(z)")
    assert p.operation == "DeleteItem"
    cond = parse_condition(p.body["ConditionExpression"],
                           Context(p.body["ExpressionAttributeNames"], p.body["ExpressionAttributeValues"]))
    assert evaluate(cond, {"l": {"L": [{"S": "y"}]}})
    assert not evaluate(cond, {"l": {"L": [{"S": "x"}]}})
    assert not evaluate(cond, {"l": {"L": []}})


def test_parameters_must_match_the_placeholders():
    for params in ([], [{"S": "a"}, {"S": "b"}]):
        with pytest.raises(ValidationException, match=WRONG_PARAMETER_COUNT):
            compile_statement(parse("SELECT * FROM t WHERE pk = ?"), params, keys_of)


def test_a_batch_read_names_one_item():
    assert plan("SELECT * FROM t WHERE pk = 1 AND sk = 2", full_key=True).operation == "Query"
    for where in ("pk = 1", "pk = 1 AND sk > 2", "a = 1"):
        with pytest.raises(ValidationException) as exc:
            plan(f"SELECT * FROM t WHERE {where}", full_key=True)
        assert exc.value.message == BATCH_READ_KEY


PARSERS = {"Query": ddb_reads.parse_query, "Scan": ddb_reads.parse_scan, "PutItem": ddb_items.parse_put_item,
           "UpdateItem": ddb_items.parse_update_item, "DeleteItem": ddb_items.parse_delete_item}


@given(statements, st.sampled_from([{"S": "p"}, {"N": "1"}, {"L": [{"S": "x"}]}, {"SS": ["a"]}]))
@settings(max_examples=300, deadline=None)
def test_compiled_bodies_are_valid_requests_or_validation_errors(stmt, param):
    stmt = dataclasses.replace(stmt, table="t")
    if isinstance(stmt, Select) and stmt.index is not None:
        stmt = dataclasses.replace(stmt, index="ix")
    try:
        compiled = compile_statement(parse(to_text(stmt)), [param] * param_count(stmt), keys_of)
        PARSERS[compiled.operation](compiled.body)
    except ValidationException:
        pass  # a DynamoDB error, never another exception


def _at(text: str, token: str, after: str = "") -> str:
    """line:column:length of ``token``'s first occurrence after ``after``."""
    start = text.index(token, text.index(after) + len(after) if after else 0)
    return f"1:{start + 1}:{len(token)}"


@pytest.mark.parametrize("set_clause, message, token, after", [
    ("t = set_add(ss, <<'x'>>)", "The first argument to SET_ADD must equal the assignment value", "set_add", ""),
    ("ss = set_add(<<'a'>>, <<'b'>>)", "The first argument to SET_ADD must equal the assignment value", "set_add",
     ""),
    ("ss = set_add(ss, 'x')", "The second argument to SET_ADD must be a value with type SET", "ss", "set_add("),
    ("ss = SET_DELETE(ss, ['x'])", "The second argument to SET_DELETE must be a value with type SET", "ss",
     "SET_DELETE("),
    ("ss = set_add(ss)", "SET_ADD must have exactly two arguments", "set_add", ""),
    ("ss = set_add(ss, ?)", "The second argument to SET_ADD must be a value with type SET", "ss", "set_add("),
])
def test_set_function_errors_say_where(set_clause, message, token, after):
    text = f"UPDATE h SET {set_clause} WHERE id = 'a'"
    with pytest.raises(ValidationException) as exc:
        compile_statement(parse(text), [{"L": []}] * text.count("?"), keys_of)
    assert exc.value.message == f"{message} at {_at(text, token, after)}"


def test_set_functions_take_a_set_parameter():
    p = compile_statement(parse("UPDATE h SET ss = set_delete(ss, ?) WHERE id = 'a'"), [{"BS": ["AQ=="]}], keys_of)
    assert p.body["UpdateExpression"] == "DELETE #n0 :v0"


def test_check_projected_lists_what_a_global_index_lacks_in_statement_order():
    check_projected(parse("SELECT a, b.c FROM t.ix"), frozenset({"a", "b"}))
    with pytest.raises(ValidationException) as exc:
        check_projected(parse("SELECT z, a, y.q, z FROM t.ix"), frozenset({"a"}))
    assert exc.value.message == ("One or more parameter values were invalid: Global secondary index ix does not "
                                 "project [z, y]")


@pytest.mark.parametrize("text, message", [
    ("SELECT * FROM h WHERE id = 1e126", "Number overflow. Attempting to store a number with magnitude larger than "
                                        "supported range under root"),
    ("INSERT INTO h VALUE {'id': 1, 'm': {'x': 1e-131}}", "Number underflow. Attempting to store a number with "
                                                          "magnitude smaller than supported range under root.x"),
    ("INSERT INTO h VALUE {'id': 1, 'l': [1, 123456789012345678901234567890123456789]}",
     "Attempting to store more than 38 significant digits in a Number under root[1]"),
    ("SELECT * FROM h WHERE id = 1e2147483648", "Statement wasn't well formed, can't be processed: "),
    ("SELECT * FROM h WHERE id = 1e" + "9" * 5000, "Statement wasn't well formed, can't be processed: "),
])
def test_number_literals_out_of_range_say_where(text, message):
    with pytest.raises(ValidationException) as exc:
        plan(text)
    assert exc.value.message == message


@pytest.mark.parametrize("param", [{"N": "1e99999999999"}, {"L": [{"N": "1"}, {"N": "1e99999999999"}]},
                                   {"M": {"x": {"N": "1e99999999999"}}}, {"NS": ["1", "1e99999999999"]}])
def test_parameters_whose_numbers_cannot_be_read(param):
    with pytest.raises(ValidationException) as exc:
        plan("SELECT * FROM h WHERE id = ?", param)
    assert exc.value.message == "The parameter cannot be converted to a numeric value: 1e99999999999"
