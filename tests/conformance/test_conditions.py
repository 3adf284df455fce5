"""ConditionExpression on PutItem, UpdateItem and DeleteItem, and
FilterExpression on Query and Scan, case by case.

Sources: the Developer Guide pages "Condition and filter expressions, operators,
and functions" (Expressions.OperatorsAndFunctions: comparators, BETWEEN, IN,
AND/OR/NOT with NOT > AND > OR precedence, attribute_exists,
attribute_not_exists, attribute_type, begins_with, contains, size) and
"Filter expressions for Query"; behaviour and messages captured against the
real service by the ScyllaDB Alternator suite
(test/alternator/test_condition_expression.py, test_filter_expression.py) and
dynalite (architect/dynalite db/conditionParser.pegjs, test/*.js).
"""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import create_table, error_of
from tests.conformance.values import B, BS, L, M, N, NS, S, SS

_seq = itertools.count()
FAILED = "The conditional request failed"


BOOL_T = {"BOOL": True}
NULL = {"NULL": True}

ITEM = {
    "s": S("hello"),
    "n": N(5),
    "b": B(b"hi there"),
    "hb": B(b"\x80"),
    "u": S("\U0001f600"),
    "t": BOOL_T,
    "z": NULL,
    "l": L(N(2), S("dog"), N(7)),
    "m": M(x=N(2), y=M(m=N(3), n=N(4))),
    "ss": SS("a", "b"),
    "ns": NS(1, 2, 3),
    "bs": BS(b"x", b"y"),
    "e": S(""),
    "big": N("1E100"),
    "neg": N("-1.5"),
    "two": N(2),
    "a1": N(1),
    "a3": N(3),
    "name": S("reserved"),
}


@pytest.fixture(scope="module")
def table(ddb):
    return create_table(ddb, "cond_h", ("pk", "S"))


@pytest.fixture(scope="module")
def key(ddb, table):
    key = {"pk": S("the-item")}
    ddb.put_item(TableName=table, Item={**key, **ITEM})
    return key


def holds(ddb, table, key, cond, values=None, names=None) -> bool:
    """Whether `cond` holds for the item: a conditional PutItem of the very same
    item either goes through (True) or fails its condition (False)."""
    kw = {}
    if values:
        kw["ExpressionAttributeValues"] = values
    if names:
        kw["ExpressionAttributeNames"] = names
    try:
        ddb.put_item(TableName=table, Item={**key, **ITEM}, ConditionExpression=cond, **kw)
        return True
    except ClientError as exc:
        err = exc.response["Error"]
        if err["Code"] == "ConditionalCheckFailedException":
            assert err["Message"] == FAILED
            return False
        raise


def condition_error(ddb, table, key, cond, values=None, names=None):
    kw = {}
    if values:
        kw["ExpressionAttributeValues"] = values
    if names:
        kw["ExpressionAttributeNames"] = names
    return error_of(ddb.put_item, TableName=table, Item={**key, **ITEM}, ConditionExpression=cond, **kw)


def V(v):
    return {":v": v}


# ---------------------------------------------------------------- comparators

COMPARISONS = [
    ("n = :v", V(N(5)), True),
    ("n = :v", V(N(4)), False),
    ("n = :v", V(N("5.000")), True),
    ("n = :v", V(N("0.5E1")), True),
    ("n <> :v", V(N(4)), True),
    ("n <> :v", V(N(5)), False),
    ("n < :v", V(N(6)), True),
    ("n < :v", V(N(5)), False),
    ("n <= :v", V(N(5)), True),
    ("n <= :v", V(N(4)), False),
    ("n > :v", V(N(4)), True),
    ("n > :v", V(N(5)), False),
    ("n >= :v", V(N(5)), True),
    ("n >= :v", V(N(6)), False),
    (":v < n", V(N(4)), True),
    ("neg < :v", V(N("0.5")), True),
    ("neg > :v", V(N(-2)), True),
    ("big > :v", V(N("9" * 38)), True),
    ("s = :v", V(S("hello")), True),
    ("s < :v", V(S("help")), True),
    ("s > :v", V(S("Hello")), True),
    ("s >= :v", V(S("hello")), True),
    ("s > :v", V(S("hello!")), False),
    ("u > :v", V(S("\uffff")), True),
    ("b < :v", V(B(b"hj")), True),
    ("b > :v", V(B(b"hi")), True),
    ("hb > :v", V(B(b"\x7f")), True),
    ("t = :v", V(BOOL_T), True),
    ("t = :v", V({"BOOL": False}), False),
    ("z = :v", V(NULL), True),
    ("l = :v", V(L(N(2), S("dog"), N(7))), True),
    ("l = :v", V(L(N(2), N(7), S("dog"))), False),
    ("m = :v", V(M(y=M(n=N(4), m=N(3)), x=N(2))), True),
    ("ss = :v", V(SS("b", "a")), True),
    ("ss = :v", V(SS("a")), False),
    ("ns = :v", V(NS(3, "2.0", 1)), True),
    ("bs = :v", V(BS(b"y", b"x")), True),
    ("e = :v", V(S("")), True),
    ("n > two", None, True),
    ("a1 < a3", None, True),
]


@pytest.mark.parametrize("cond,values,expected", COMPARISONS)
def test_comparison(ddb, table, key, cond, values, expected):
    assert holds(ddb, table, key, cond, values) is expected


DIFFERENT_TYPES = [
    ("n = :v", V(S("5")), False),
    ("n <> :v", V(S("5")), True),
    ("n < :v", V(S("6")), False),
    ("n >= :v", V(S("0")), False),
    ("s = :v", V(B(b"hello")), False),
    ("ss = :v", V(L(S("a"), S("b"))), False),
    ("l < :v", V(N(1)), False),
    (":v < l", V(N(1)), False),
    ("t > :v", V(N(0)), False),
]


@pytest.mark.parametrize("cond,values,expected", DIFFERENT_TYPES)
def test_comparison_of_different_types(ddb, table, key, cond, values, expected):
    assert holds(ddb, table, key, cond, values) is expected


MISSING = [
    ("q = :v", V(N(1)), False),
    ("q <> :v", V(N(1)), True),
    ("q < :v", V(N(1)), False),
    ("q <= :v", V(N(1)), False),
    ("q > :v", V(N(1)), False),
    ("q >= :v", V(N(1)), False),
    (":v < q", V(N(1)), False),
    ("q = z2", None, False),
    ("q <> z2", None, True),
    ("q < z2", None, False),
    ("q BETWEEN :v AND :v", V(N(1)), False),
    ("q IN (:v)", V(N(1)), False),
    ("m.q = :v", V(N(1)), False),
    ("l[9] = :v", V(N(1)), False),
    ("s.x = :v", V(N(1)), False),
]


@pytest.mark.parametrize("cond,values,expected", MISSING)
def test_comparison_with_missing_attribute(ddb, table, key, cond, values, expected):
    assert holds(ddb, table, key, cond, values) is expected


NESTED = [
    ("m.x = :v", V(N(2)), True),
    ("m.y.n = :v", V(N(4)), True),
    ("l[1] = :v", V(S("dog")), True),
    ("l[0] < l[2]", None, True),
    ("m.x < l[0]", None, False),
    ("m.x = l[0]", None, True),
    ("#k = :v", V(S("reserved")), True),
    ("#m.#y.#n = :v", V(N(4)), True),
]


@pytest.mark.parametrize("cond,values,expected", NESTED)
def test_nested_paths_and_names(ddb, table, key, cond, values, expected):
    names = {k: v for k, v in {"#k": "name", "#m": "m", "#y": "y", "#n": "n"}.items() if k in cond}
    assert holds(ddb, table, key, cond, values, names or None) is expected


# ---------------------------------------------------------------- BETWEEN and IN

BETWEEN = [
    ("n BETWEEN :a AND :b", {":a": N(1), ":b": N(5)}, True),
    ("n BETWEEN :a AND :b", {":a": N(5), ":b": N(5)}, True),
    ("n BETWEEN :a AND :b", {":a": N(6), ":b": N(9)}, False),
    ("n between :a and :b", {":a": N(0), ":b": N(10)}, True),
    ("s BETWEEN :a AND :b", {":a": S("aardvark"), ":b": S("zebra")}, True),
    ("s BETWEEN :a AND :b", {":a": S("hello"), ":b": S("hello")}, True),
    ("s BETWEEN :a AND :b", {":a": S("help"), ":b": S("zebra")}, False),
    ("b BETWEEN :a AND :b", {":a": B(b"a"), ":b": B(b"z")}, True),
    ("n BETWEEN :a AND :b", {":a": S("0"), ":b": S("9")}, False),
    ("two BETWEEN a1 AND a3", None, True),
    ("n BETWEEN a1 AND a3", None, False),
    ("two BETWEEN a3 AND a1", None, False),
    ("two BETWEEN :a AND a3", {":a": S("x")}, False),
]


@pytest.mark.parametrize("cond,values,expected", BETWEEN)
def test_between(ddb, table, key, cond, values, expected):
    assert holds(ddb, table, key, cond, values) is expected


IN = [
    ("n IN (:a, :b)", {":a": N(4), ":b": N(5)}, True),
    ("n IN (:a, :b)", {":a": N(4), ":b": N(6)}, False),
    ("n IN (:a)", {":a": N(5)}, True),
    ("n IN (:a, :b)", {":a": S("dog"), ":b": N(5)}, True),
    ("n in (:a, :b)", {":a": N(1), ":b": N("5.0")}, True),
    ("s IN (:a)", {":a": S("hello")}, True),
    ("l IN (:a)", {":a": L(N(2), S("dog"), N(7))}, True),
    ("ss IN (:a)", {":a": SS("b", "a")}, True),
    ("n IN (two, a3)", None, False),
    ("two IN (a1, a3, :v)", {":v": N(2)}, True),
]


@pytest.mark.parametrize("cond,values,expected", IN)
def test_in(ddb, table, key, cond, values, expected):
    assert holds(ddb, table, key, cond, values) is expected


def test_in_with_99_values(ddb, table, key):
    values = {f":v{i}": N(i) for i in range(99)}
    cond = "n IN ({})".format(", ".join(values))
    assert holds(ddb, table, key, cond, values) is True
    values = {f":v{i}": N(i + 10) for i in range(99)}
    assert holds(ddb, table, key, "n IN ({})".format(", ".join(values)), values) is False


# ---------------------------------------------------------------- AND, OR, NOT and precedence

FIVE_SIX_SEVEN = {":five": N(5), ":six": N(6), ":seven": N(7)}

LOGIC = [
    ("n = :five AND s = :hello", True),
    ("n = :five AND s = :six", False),
    ("n = :six OR s = :hello", True),
    ("n = :six OR n = :seven", False),
    ("NOT n = :six", True),
    ("NOT n = :five", False),
    ("NOT NOT n = :five", True),
    ("NOT NOT NOT NOT n = :five", True),
    ("n = :five aNd s = :hello", True),
    ("n = :six oR s = :hello", True),
    ("nOt n = :six", True),
    # AND binds tighter than OR
    ("n = :five OR n = :six AND n = :seven", True),
    ("n = :six AND n = :seven OR n = :five", True),
    ("(n = :five OR n = :six) AND n = :seven", False),
    # NOT binds tighter than AND and OR
    ("NOT n = :six AND n = :six", False),
    ("NOT n = :five OR n = :five", True),
    ("NOT (n = :five AND s = :hello)", False),
    ("NOT (n = :six OR s = :six)", True),
    ("n = :five AND (n = :six OR s = :hello)", True),
    ("(n = :six OR s = :hello) AND (n = :five AND (s = :hello OR n = :six))", True),
    # BETWEEN's AND is not the logical AND
    ("n BETWEEN :five AND :seven AND n < :six", True),
    ("n BETWEEN :six AND :seven OR n = :five", True),
    ("attribute_exists(n) AND NOT attribute_exists(q)", True),
    ("attribute_exists(q) OR attribute_not_exists(q)", True),
    ("NOT attribute_exists(n) OR size(s) > :six", False),
]


@pytest.mark.parametrize("cond,expected", LOGIC)
def test_logic_and_precedence(ddb, table, key, cond, expected):
    values = {k: v for k, v in {**FIVE_SIX_SEVEN, ":hello": S("hello")}.items() if k in cond}
    assert holds(ddb, table, key, cond, values) is expected


def test_unused_values_are_checked_before_short_circuit(ddb, table, key):
    # The right side of the OR is never evaluated, but its placeholders count as used.
    assert holds(ddb, table, key, "n = :five OR #q = :other", {":five": N(5), ":other": N(1)}, {"#q": "q"}) is True


# ---------------------------------------------------------------- functions

FUNCTIONS = [
    ("attribute_exists(n)", None, True),
    ("attribute_exists(q)", None, False),
    ("attribute_exists (n)", None, True),
    ("attribute_exists(z)", None, True),
    ("attribute_exists(e)", None, True),
    ("attribute_exists(m.x)", None, True),
    ("attribute_exists(m.q)", None, False),
    ("attribute_exists(m.y.n)", None, True),
    ("attribute_exists(l[2])", None, True),
    ("attribute_exists(l[3])", None, False),
    ("attribute_exists(s.x)", None, False),
    ("attribute_not_exists(q)", None, True),
    ("attribute_not_exists(n)", None, False),
    ("attribute_not_exists(m.q)", None, True),
    ("attribute_not_exists(l[0])", None, False),
    ("begins_with(s, :v)", V(S("hel")), True),
    ("begins_with(s, :v)", V(S("hello")), True),
    ("begins_with(s, :v)", V(S("Hel")), False),
    ("begins_with(s, :v)", V(S("hello!")), False),
    ("begins_with(b, :v)", V(B(b"hi")), True),
    ("begins_with(b, :v)", V(B(b"ho")), False),
    ("begins_with(n, :v)", V(S("5")), False),
    ("begins_with(q, :v)", V(S("x")), False),
    ("begins_with(:v, s)", V(S("hellohi")), True),
    ("begins_with(l[1], :v)", V(S("do")), True),
    ("contains(s, :v)", V(S("ell")), True),
    ("contains(s, :v)", V(S("xyz")), False),
    ("contains(b, :v)", V(B(b"there")), True),
    ("contains(ss, :v)", V(S("a")), True),
    ("contains(ss, :v)", V(S("c")), False),
    ("contains(ns, :v)", V(N(2)), True),
    ("contains(ns, :v)", V(N("2.0")), True),
    ("contains(ns, :v)", V(S("2")), False),
    ("contains(bs, :v)", V(B(b"x")), True),
    ("contains(l, :v)", V(S("dog")), True),
    ("contains(l, :v)", V(N(7)), True),
    ("contains(l, :v)", V(N(8)), False),
    ("contains(n, :v)", V(N(5)), False),
    ("contains(q, :v)", V(S("a")), False),
    ("contains(m, :v)", V(S("x")), False),
    ("size(s) = :v", V(N(5)), True),
    ("size(e) = :v", V(N(0)), True),
    ("size(b) = :v", V(N(8)), True),
    ("size(l) = :v", V(N(3)), True),
    ("size(m) = :v", V(N(2)), True),
    ("size(m.y) = :v", V(N(2)), True),
    ("size(ss) = :v", V(N(2)), True),
    ("size(ns) = :v", V(N(3)), True),
    ("size(bs) = :v", V(N(2)), True),
    ("size(n) = :v", V(N(1)), False),
    ("size(t) = :v", V(N(1)), False),
    ("size(z) = :v", V(N(1)), False),
    ("size(q) = :v", V(N(0)), False),
    ("size(s) = :v", V(S("5")), False),
    ("size(s) <> :v", V(N(4)), True),
    ("size(s) < :v", V(N(7)), True),
    ("size(s) <= :v", V(N(5)), True),
    ("size(s) > :v", V(N(2)), True),
    ("size(s) >= :v", V(N(6)), False),
    ("size(s) = n", None, True),
    ("size(l) > size(m)", None, True),
    ("size(s) BETWEEN :v AND n", V(N(1)), True),
    ("size(s) IN (:v)", V(N(5)), True),
]


@pytest.mark.parametrize("cond,values,expected", FUNCTIONS)
def test_functions(ddb, table, key, cond, values, expected):
    assert holds(ddb, table, key, cond, values) is expected


TYPE_OF = {"s": "S", "n": "N", "b": "B", "t": "BOOL", "z": "NULL", "l": "L", "m": "M", "ss": "SS", "ns": "NS",
           "bs": "BS"}


@pytest.mark.parametrize("attr,type_name", sorted(TYPE_OF.items()))
def test_attribute_type(ddb, table, key, attr, type_name):
    assert holds(ddb, table, key, f"attribute_type({attr}, :t)", {":t": S(type_name)}) is True
    wrong = "S" if type_name != "S" else "N"
    assert holds(ddb, table, key, f"attribute_type({attr}, :t)", {":t": S(wrong)}) is False


def test_attribute_type_of_missing_attribute(ddb, table, key):
    assert holds(ddb, table, key, "attribute_type(q, :t)", {":t": S("S")}) is False


def test_attribute_type_of_nested_value(ddb, table, key):
    assert holds(ddb, table, key, "attribute_type(m.y, :t) AND attribute_type(l[1], :s)",
                 {":t": S("M"), ":s": S("S")}) is True


@pytest.mark.xfail(strict=True, reason="attribute_type(:v, :t) is rejected with 'Operator or function requires a "
                   "document path'; DynamoDB accepts an expression attribute value as the first operand")
def test_attribute_type_of_a_value(ddb, table, key):
    assert holds(ddb, table, key, "attribute_type(:v, :t)", {":v": N(0), ":t": S("N")}) is True


# ---------------------------------------------------------------- condition errors

CE = "Invalid ConditionExpression: "

CONDITION_ERRORS = [
    ("n BETWEEN :a AND :b", {":a": N(5), ":b": N(1)},
     CE + "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
          "lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"),
    ("n BETWEEN :a AND :b", {":a": N(2), ":b": S("dog")},
     CE + "The BETWEEN operator requires same data type for lower and upper bounds; "
          "lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {S:dog}"),
    ("n IN ()", None, CE + 'Syntax error; token: ")", near: "()"'),
    ("n", None, CE + 'Syntax error; token: "<EOF>", near: "n"'),
    ("n =", None, CE + 'Syntax error; token: "<EOF>", near: "="'),
    ("n == :v", V(N(1)), CE + 'Syntax error; token: "=", near: "== :v"'),
    ("n = :v AND", V(N(1)), CE + 'Syntax error; token: "<EOF>", near: "AND"'),
    ("((n = :v))", V(N(1)), CE + "The expression has redundant parentheses;"),
    ("foo(n)", None, CE + "Invalid function name; function: foo"),
    ("ATTRIBUTE_EXISTS(n)", None, CE + "Invalid function name; function: ATTRIBUTE_EXISTS"),
    ("if_not_exists(n, n) = :v", V(N(1)),
     CE + "The function is not allowed in a condition expression; function: if_not_exists"),
    ("list_append(l, l) = :v", V(N(1)),
     CE + "The function is not allowed in a condition expression; function: list_append"),
    ("size(s)", None, CE + "The function is not allowed to be used this way in an expression; function: size"),
    ("attribute_exists(n) = :v", V(BOOL_T),
     CE + "The function is not allowed to be used this way in an expression; function: attribute_exists"),
    ("attribute_exists(:v)", V(N(1)),
     CE + "Operator or function requires a document path; operator or function: attribute_exists"),
    ("attribute_not_exists(:v)", V(N(1)),
     CE + "Operator or function requires a document path; operator or function: attribute_not_exists"),
    ("attribute_exists(n, s)", None,
     CE + "Incorrect number of operands for operator or function; operator or function: attribute_exists, "
          "number of operands: 2"),
    ("size(s, s) = :v", V(N(5)),
     CE + "Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"),
    ("begins_with(s)", None,
     CE + "Incorrect number of operands for operator or function; operator or function: begins_with, "
          "number of operands: 1"),
    ("begins_with(s, :v)", V(N(2)),
     CE + "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
    ("size(:v) = :v", V(N(2)),
     CE + "Incorrect operand type for operator or function; operator or function: size, operand type: N"),
    ("attribute_type(n, :v)", V(N(1)),
     CE + "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"),
    ("name = :v", V(N(1)), CE + "Attribute name is a reserved keyword; reserved keyword: name"),
    ("attribute_exists(Status)", None, CE + "Attribute name is a reserved keyword; reserved keyword: Status"),
    ("n = :nope", V(N(1)),
     CE + "An expression attribute value used in expression is not defined; attribute value: :nope"),
    ("#nope = :v", V(N(1)),
     CE + "An expression attribute name used in the document path is not defined; attribute name: #nope"),
    ("n = :v", {":v": N(1), ":unused": N(2)}, "Value provided in ExpressionAttributeValues unused in expressions: "
                                              "keys: {:unused}"),
    ("contains(s, s)", None,
     CE + "The first operand must be distinct from the remaining operands for this operator or function; "
          "operator: contains, first operand: [s]"),
    ("n = n", None,
     CE + "The first operand must be distinct from the remaining operands for this operator or function; "
          "operator: =, first operand: [n]"),
]


@pytest.mark.parametrize("cond,values,message", CONDITION_ERRORS)
def test_condition_errors(ddb, table, key, cond, values, message):
    assert condition_error(ddb, table, key, cond, values) == ("ValidationException", message)


def test_attribute_type_with_unknown_type_name(ddb, table, key):
    code, msg = condition_error(ddb, table, key, "attribute_type(n, :t)", {":t": S("DOG")})
    assert code == "ValidationException"
    assert msg.startswith(CE + "Invalid attribute type name found; type: DOG, valid types: {"), msg


def test_unused_expression_attribute_name(ddb, table, key):
    code, msg = condition_error(ddb, table, key, "#a = :v", V(N(1)), {"#a": "n", "#b": "s"})
    assert (code, msg) == ("ValidationException", "Value provided in ExpressionAttributeNames unused in expressions: "
                                                   "keys: {#b}")


@pytest.mark.parametrize("cond", ["n < :v", ":v >= n", "n BETWEEN :v AND :v"])
def test_ordering_a_list_value_from_the_request_is_an_error(ddb, table, key, cond):
    code, _ = condition_error(ddb, table, key, cond, V(L(N(1), N(2))))
    assert code == "ValidationException"


def test_attribute_type_second_operand_must_be_a_value(ddb, table, key):
    code, _ = condition_error(ddb, table, key, "attribute_type(n, s)")
    assert code == "ValidationException"


def test_empty_condition(raw_ddb, table, key):
    code, msg = error_of(raw_ddb.put_item, TableName=table, Item={**key, **ITEM}, ConditionExpression="")
    assert (code, msg) == ("ValidationException", CE + "The expression can not be empty;")


def test_condition_errors_do_not_write(ddb, table, key):
    condition_error(ddb, table, key, "n = :nope", V(N(1)))
    got = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert got["n"] == N(5)


# ---------------------------------------------------------------- conditions against a missing item

ON_MISSING = [
    ("attribute_not_exists(pk)", None, True),
    ("attribute_exists(pk)", None, False),
    ("attribute_not_exists(anything)", None, True),
    ("NOT attribute_exists(pk)", None, True),
    ("q <> :v", V(N(1)), True),
    ("q = :v", V(N(1)), False),
    ("q <> z2", None, True),
    ("size(q) < :v", V(N(1)), False),
    ("begins_with(q, :v)", V(S("a")), False),
    ("pk = :v", V(S("whatever")), False),
]


@pytest.mark.parametrize("cond,values,expected", ON_MISSING)
def test_put_condition_on_missing_item(ddb, table, cond, values, expected):
    new_key = {"pk": S(f"missing{next(_seq)}")}
    kw = {"ExpressionAttributeValues": values} if values else {}
    if expected:
        ddb.put_item(TableName=table, Item={**new_key, "a": N(1)}, ConditionExpression=cond, **kw)
        assert "Item" in ddb.get_item(TableName=table, Key=new_key, ConsistentRead=True)
    else:
        code, msg = error_of(ddb.put_item, TableName=table, Item={**new_key, "a": N(1)}, ConditionExpression=cond,
                             **kw)
        assert (code, msg) == ("ConditionalCheckFailedException", FAILED)
        assert "Item" not in ddb.get_item(TableName=table, Key=new_key, ConsistentRead=True)


def test_put_if_absent_only_once(ddb, table):
    new_key = {"pk": S(f"once{next(_seq)}")}
    ddb.put_item(TableName=table, Item={**new_key, "v": N(1)}, ConditionExpression="attribute_not_exists(pk)")
    code, _ = error_of(ddb.put_item, TableName=table, Item={**new_key, "v": N(2)},
                       ConditionExpression="attribute_not_exists(pk)")
    assert code == "ConditionalCheckFailedException"
    assert ddb.get_item(TableName=table, Key=new_key, ConsistentRead=True)["Item"]["v"] == N(1)


def test_update_condition_on_missing_item_creates_nothing(ddb, table):
    new_key = {"pk": S(f"missing{next(_seq)}")}
    code, msg = error_of(ddb.update_item, TableName=table, Key=new_key, UpdateExpression="SET a = :v",
                         ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues=V(N(1)))
    assert (code, msg) == ("ConditionalCheckFailedException", FAILED)
    assert "Item" not in ddb.get_item(TableName=table, Key=new_key, ConsistentRead=True)


def test_update_with_attribute_not_exists_creates_item(ddb, table):
    new_key = {"pk": S(f"missing{next(_seq)}")}
    ddb.update_item(TableName=table, Key=new_key, UpdateExpression="SET a = :v",
                    ConditionExpression="attribute_not_exists(pk)", ExpressionAttributeValues=V(N(1)))
    assert ddb.get_item(TableName=table, Key=new_key, ConsistentRead=True)["Item"] == {**new_key, "a": N(1)}


def test_delete_condition_on_missing_item(ddb, table):
    code, msg = error_of(ddb.delete_item, TableName=table, Key={"pk": S(f"missing{next(_seq)}")},
                         ConditionExpression="attribute_exists(pk)")
    assert (code, msg) == ("ConditionalCheckFailedException", FAILED)


# ---------------------------------------------------------------- conditions on UpdateItem and DeleteItem


@pytest.fixture
def victim(ddb, table):
    k = {"pk": S(f"v{next(_seq)}")}
    ddb.put_item(TableName=table, Item={**k, "n": N(5), "s": S("x")})
    return k


def test_update_applies_when_condition_holds(ddb, table, victim):
    ddb.update_item(TableName=table, Key=victim, UpdateExpression="SET n = :six", ConditionExpression="n = :five",
                    ExpressionAttributeValues={":five": N(5), ":six": N(6)})
    assert ddb.get_item(TableName=table, Key=victim, ConsistentRead=True)["Item"]["n"] == N(6)


def test_update_condition_sees_the_old_item(ddb, table, victim):
    kw = {"UpdateExpression": "SET n = :six", "ConditionExpression": "n = :five",
          "ExpressionAttributeValues": {":five": N(5), ":six": N(6)}}
    ddb.update_item(TableName=table, Key=victim, **kw)
    code, msg = error_of(ddb.update_item, TableName=table, Key=victim, **kw)
    assert (code, msg) == ("ConditionalCheckFailedException", FAILED)


def test_update_refused_leaves_item_unchanged(ddb, table, victim):
    code, _ = error_of(ddb.update_item, TableName=table, Key=victim, UpdateExpression="SET n = :v REMOVE s",
                       ConditionExpression="s = :other", ExpressionAttributeValues={":v": N(9), ":other": S("y")})
    assert code == "ConditionalCheckFailedException"
    assert ddb.get_item(TableName=table, Key=victim, ConsistentRead=True)["Item"] == {**victim, "n": N(5), "s": S("x")}


def test_update_condition_and_update_share_placeholders(ddb, table, victim):
    ddb.update_item(TableName=table, Key=victim, UpdateExpression="SET #n = #n + :one",
                    ConditionExpression="#n < :ten", ExpressionAttributeNames={"#n": "n"},
                    ExpressionAttributeValues={":one": N(1), ":ten": N(10)})
    assert ddb.get_item(TableName=table, Key=victim, ConsistentRead=True)["Item"]["n"] == N(6)


def test_optimistic_locking_with_a_version(ddb, table, victim):
    for version in range(3):
        ddb.update_item(TableName=table, Key=victim, UpdateExpression="SET ver = :new",
                        ConditionExpression="attribute_not_exists(ver) OR ver = :old",
                        ExpressionAttributeValues={":old": N(version - 1), ":new": N(version)})
    code, _ = error_of(ddb.update_item, TableName=table, Key=victim, UpdateExpression="SET ver = :new",
                       ConditionExpression="attribute_not_exists(ver) OR ver = :old",
                       ExpressionAttributeValues={":old": N(0), ":new": N(1)})
    assert code == "ConditionalCheckFailedException"


def test_delete_applies_when_condition_holds(ddb, table, victim):
    ddb.delete_item(TableName=table, Key=victim, ConditionExpression="n = :v", ExpressionAttributeValues=V(N(5)))
    assert "Item" not in ddb.get_item(TableName=table, Key=victim, ConsistentRead=True)


def test_delete_refused_keeps_the_item(ddb, table, victim):
    code, msg = error_of(ddb.delete_item, TableName=table, Key=victim, ConditionExpression="n = :v",
                         ExpressionAttributeValues=V(N(2)))
    assert (code, msg) == ("ConditionalCheckFailedException", FAILED)
    assert "Item" in ddb.get_item(TableName=table, Key=victim, ConsistentRead=True)


def test_put_condition_replaces_item(ddb, table, victim):
    ddb.put_item(TableName=table, Item={**victim, "new": S("y")}, ConditionExpression="s = :x",
                 ExpressionAttributeValues={":x": S("x")})
    assert ddb.get_item(TableName=table, Key=victim, ConsistentRead=True)["Item"] == {**victim, "new": S("y")}


@pytest.mark.parametrize("op", ["put", "update", "delete"])
def test_condition_errors_on_every_write(ddb, table, victim, op):
    kw = {"ConditionExpression": "n = :v", "ExpressionAttributeValues": {":v": N(1), ":u": N(2)}}
    if op == "put":
        call, kw = ddb.put_item, {**kw, "Item": victim}
    elif op == "update":
        call, kw = ddb.update_item, {**kw, "Key": victim}
    else:
        call, kw = ddb.delete_item, {**kw, "Key": victim}
    code, msg = error_of(call, TableName=table, **kw)
    assert (code, msg) == ("ValidationException", "Value provided in ExpressionAttributeValues unused in "
                                                   "expressions: keys: {:u}")


# ---------------------------------------------------------------- FilterExpression on Query and Scan


@pytest.fixture(scope="module")
def ftable(ddb):
    name = create_table(ddb, "cond_filter", ("pk", "S"), ("sk", "N"))
    for i in range(1, 11):
        item = {"pk": S("f"), "sk": N(i), "n": N(i * 10), "s": S(f"item{i:02d}"),
                "tag": S("even" if i % 2 == 0 else "odd"), "l": L(*[N(j) for j in range(i % 3)])}
        if i % 3 == 0:
            item["opt"] = S("x") if i != 9 else N(9)
        if i <= 4:
            item["ss"] = SS(*[f"t{j}" for j in range(i)])
        ddb.put_item(TableName=name, Item=item)
    for i in range(1, 4):
        ddb.put_item(TableName=name, Item={"pk": S("g"), "sk": N(i), "n": N(i * 10), "tag": S("even")})
    return name


FILTERS = [
    ("n > :v", {":v": N(70)}, [8, 9, 10]),
    ("n = :v", {":v": N(30)}, [3]),
    ("n <> :v", {":v": N(30)}, [1, 2, 4, 5, 6, 7, 8, 9, 10]),
    ("tag = :v", {":v": S("even")}, [2, 4, 6, 8, 10]),
    ("n BETWEEN :a AND :b", {":a": N(25), ":b": N(50)}, [3, 4, 5]),
    ("n IN (:a, :b, :c)", {":a": N(10), ":b": N(50), ":c": N(999)}, [1, 5]),
    ("attribute_exists(opt)", None, [3, 6, 9]),
    ("attribute_not_exists(opt)", None, [1, 2, 4, 5, 7, 8, 10]),
    ("attribute_type(opt, :t)", {":t": S("N")}, [9]),
    ("begins_with(s, :p)", {":p": S("item0")}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ("contains(s, :p)", {":p": S("1")}, [1, 10]),
    ("contains(ss, :v)", {":v": S("t2")}, [3, 4]),
    ("contains(l, :v)", {":v": N(1)}, [2, 5, 8]),
    ("size(l) = :v", {":v": N(0)}, [3, 6, 9]),
    ("size(ss) >= :v", {":v": N(2)}, [2, 3, 4]),
    ("size(s) = :v", {":v": N(6)}, list(range(1, 11))),
    ("NOT tag = :v AND n > :n", {":v": S("even"), ":n": N(40)}, [5, 7, 9]),
    ("tag = :v OR n = :n", {":v": S("odd"), ":n": N(40)}, [1, 3, 4, 5, 7, 9]),
    ("tag = :v OR n = :n AND s = :s", {":v": S("odd"), ":n": N(40), ":s": S("nope")}, [1, 3, 5, 7, 9]),
    ("(tag = :v OR n = :n) AND s = :s", {":v": S("odd"), ":n": N(40), ":s": S("item04")}, [4]),
    ("#t = :v", {":v": S("odd")}, [1, 3, 5, 7, 9]),
    ("q = :v", {":v": N(1)}, []),
]


def query_all(ddb, table, **kw):
    kw.setdefault("ConsistentRead", True)  # the fixture's writes were just acknowledged
    items, start, scanned = [], None, 0
    while True:
        r = ddb.query(TableName=table, **kw, **({"ExclusiveStartKey": start} if start else {}))
        items += r["Items"]
        scanned += r["ScannedCount"]
        assert r["Count"] == len(r["Items"])
        start = r.get("LastEvaluatedKey")
        if not start:
            return items, scanned


def filter_kwargs(cond, values):
    kw = {"FilterExpression": cond}
    if values:
        kw["ExpressionAttributeValues"] = values
    if "#t" in cond:
        kw["ExpressionAttributeNames"] = {"#t": "tag"}
    return kw


@pytest.mark.parametrize("cond,values,expected", FILTERS)
def test_query_filter(ddb, ftable, cond, values, expected):
    kw = filter_kwargs(cond, values)
    kw["ExpressionAttributeValues"] = {**kw.get("ExpressionAttributeValues", {}), ":pk": S("f")}
    items, scanned = query_all(ddb, ftable, KeyConditionExpression="pk = :pk", **kw)
    assert [int(i["sk"]["N"]) for i in items] == expected
    assert scanned == 10


@pytest.mark.parametrize("cond,values,expected", FILTERS)
def test_scan_filter(ddb, ftable, cond, values, expected):
    kw = filter_kwargs(f"pk = :pk AND ({cond})", values)
    kw["ExpressionAttributeValues"] = {**kw.get("ExpressionAttributeValues", {}), ":pk": S("f")}
    kw.setdefault("ConsistentRead", True)
    items, start = [], None
    while True:
        r = ddb.scan(TableName=ftable, **kw, **({"ExclusiveStartKey": start} if start else {}))
        items += r["Items"]
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert sorted(int(i["sk"]["N"]) for i in items) == expected


def test_scan_filter_on_key_attributes(ddb, ftable):
    items, scanned, start = [], 0, None
    while True:
        r = ddb.scan(TableName=ftable, FilterExpression="pk = :g AND sk >= :two", ConsistentRead=True,
                     ExpressionAttributeValues={":g": S("g"), ":two": N(2)},
                     **({"ExclusiveStartKey": start} if start else {}))
        assert r["Count"] == len(r["Items"])
        items += r["Items"]
        scanned += r["ScannedCount"]
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert sorted(int(i["sk"]["N"]) for i in items) == [2, 3]
    assert scanned == 13


@pytest.mark.parametrize("cond,attr", [("sk > :v", "sk"), ("pk = :pk AND n > :v", "pk"),
                                       ("attribute_exists(sk) OR n > :v", "sk")])
def test_query_filter_cannot_use_key_attributes(ddb, ftable, cond, attr):
    code, msg = error_of(ddb.query, TableName=ftable, KeyConditionExpression="pk = :pk", FilterExpression=cond,
                         ExpressionAttributeValues={":pk": S("f"), ":v": N(1)})
    assert (code, msg) == ("ValidationException",
                           f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {attr}")


def test_query_filter_counts(ddb, ftable):
    r = ddb.query(TableName=ftable, ConsistentRead=True, KeyConditionExpression="pk = :pk", FilterExpression="tag = :t",
                  ExpressionAttributeValues={":pk": S("f"), ":t": S("odd")})
    assert r["Count"] == 5 and r["ScannedCount"] == 10


def test_query_filter_with_limit_counts_before_filtering(ddb, ftable):
    r = ddb.query(TableName=ftable, ConsistentRead=True, KeyConditionExpression="pk = :pk", FilterExpression="attribute_exists(opt)",
                  ExpressionAttributeValues={":pk": S("f")}, Limit=5)
    assert [int(i["sk"]["N"]) for i in r["Items"]] == [3]
    assert r["ScannedCount"] == 5 and r["LastEvaluatedKey"]["sk"] == N(5)


def test_query_filter_with_select_count(ddb, ftable):
    r = ddb.query(TableName=ftable, ConsistentRead=True, KeyConditionExpression="pk = :pk", FilterExpression="tag = :t",
                  ExpressionAttributeValues={":pk": S("f"), ":t": S("even")}, Select="COUNT")
    assert r["Count"] == 5 and "Items" not in r


def test_filter_and_projection_together(ddb, ftable):
    r = ddb.query(TableName=ftable, ConsistentRead=True, KeyConditionExpression="pk = :pk", FilterExpression="n = :n",
                  ProjectionExpression="s", ExpressionAttributeValues={":pk": S("f"), ":n": N(20)})
    assert r["Items"] == [{"s": S("item02")}]


@pytest.mark.parametrize("op", ["query", "scan"])
@pytest.mark.parametrize("cond,values,message", [
    ("n = :nope", {":x": N(1)},
     "Invalid FilterExpression: An expression attribute value used in expression is not defined; "
     "attribute value: :nope"),
    ("n =", None, 'Invalid FilterExpression: Syntax error; token: "<EOF>", near: "="'),
    ("name = :x", {":x": N(1)}, "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: name"),
    ("size(n)", None, "Invalid FilterExpression: The function is not allowed to be used this way in an expression; "
                      "function: size"),
    ("foo(n)", None, "Invalid FilterExpression: Invalid function name; function: foo"),
])
def test_filter_errors(ddb, ftable, op, cond, values, message):
    kw = {"FilterExpression": cond, "ExpressionAttributeValues": {**(values or {})}}
    if op == "query":
        kw["KeyConditionExpression"] = "pk = :pk"
        kw["ExpressionAttributeValues"][":pk"] = S("f")
        call = ddb.query
    else:
        call = ddb.scan
    if not kw["ExpressionAttributeValues"]:
        del kw["ExpressionAttributeValues"]
    assert error_of(call, TableName=ftable, **kw) == ("ValidationException", message)


def test_condition_expression_over_4096_bytes_is_rejected(ddb, table, key):
    cond = "attribute_exists(a" + "b" * (4097 - len("attribute_exists(a)")) + ")"
    assert len(cond) == 4097
    code, msg = condition_error(ddb, table, key, cond)
    assert (code, msg) == ("ValidationException", CE + "Expression size has exceeded the maximum allowed size; "
                                                       "expression size: 4097")


def test_filter_expression_over_4096_bytes_is_rejected(ddb, ftable):
    cond = "attribute_exists(a" + "b" * (4097 - len("attribute_exists(a)")) + ")"
    code, msg = error_of(ddb.scan, TableName=ftable, FilterExpression=cond)
    assert (code, msg) == ("ValidationException", "Invalid FilterExpression: Expression size has exceeded the maximum "
                                                   "allowed size; expression size: 4097")
