"""The expression language: parse errors with DynamoDB's messages, precedence,
every comparator and function, updates, projections and key conditions.

Messages come from DynamoDB's documentation and from test suites that run
against the real service (dynalite's test/*.js; moto's and others' quotes of
real responses)."""

from __future__ import annotations

import base64
import copy

import orjson
import pytest

from ddb.errors import ValidationException
from ddb.expressions import (RESERVED, Context, apply_update, evaluate, parse_condition, parse_key_condition,
                             parse_projection, parse_update, project, resolve, updated_attributes, updated_paths)
from ddb.numbers import OVERFLOW


def N(x: str) -> dict:
    return {"N": x}


def S(x: str) -> dict:
    return {"S": x}


def B(raw: bytes) -> dict:
    return {"B": base64.b64encode(raw).decode()}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


VALUES = {
    ":n1": N("1"), ":n5": N("5"), ":n10": N("10"), ":n10e": N("1E1"), ":n20": N("20"), ":n0": N("0"),
    ":n2": N("2"), ":n3": N("3"), ":n6": N("6"), ":n25": N("2.50"),
    ":s": S("hello"), ":he": S("he"), ":ell": S("ell"), ":z": S("z"), ":a": S("a"), ":x": S("x"), ":v": S("v"),
    ":empty": S(""), ":ffff": S("\uffff"), ":emoji": S("\U0001F600"),
    ":b": B(b"\x01\x02\x03"), ":b01": B(b"\x01"), ":b02": B(b"\x02\x03"), ":bff": B(b"\xff"),
    ":t": {"BOOL": True}, ":f": {"BOOL": False}, ":nul": {"NULL": True},
    ":ss": {"SS": ["b", "a"]}, ":ns": {"NS": ["2.50", "1"]}, ":bs": {"BS": [b64(b"\x02"), b64(b"\x01")]},
    ":l": {"L": [N("1"), S("x"), {"M": {"k": S("v")}}]}, ":mkv": {"M": {"k": S("v")}},
    ":tN": S("N"), ":tS": S("S"), ":tSS": S("SS"), ":tL": S("L"), ":tM": S("M"), ":tNULL": S("NULL"),
    ":tBOOL": S("BOOL"), ":tB": S("B"), ":tBS": S("BS"), ":tNS": S("NS"), ":bad": S("STRING"),
}

ITEM = {
    "pk": S("k"),
    "n": N("10"), "n2": N("10.0"), "neg": N("-5"),
    "s": S("hello"), "s2": S("h\u00e9llo"), "e": S(""), "hi": S("\uffff"),
    "b": B(b"\x01\x02\x03"),
    "t": {"BOOL": True}, "f": {"BOOL": False}, "nul": {"NULL": True},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b64(b"\x01"), b64(b"\x02")]},
    "l": {"L": [N("1"), S("x"), {"M": {"k": S("v")}}]},
    "m": {"M": {"k": S("v"), "n": N("3"), "nest": {"M": {"deep": {"L": [N("7")]}}}}},
}


def ctx(names: dict | None = None, values: dict | None = VALUES) -> Context:
    return Context(names, values)


def error(fn, *args) -> str:
    with pytest.raises(ValidationException) as e:
        fn(*args)
    return e.value.message


def cond_error(text: str, names: dict | None = None, values: dict | None = VALUES,
               kind: str = "ConditionExpression") -> str:
    return error(parse_condition, text, ctx(names, values), kind)


def check(text: str, item: dict | None = ITEM, names: dict | None = None) -> bool:
    ast = parse_condition(text, ctx(names))
    return evaluate(orjson.loads(orjson.dumps(ast)), item)


# --- syntax errors -----------------------------------------------------------------


@pytest.mark.parametrize("text, token, near", [
    ("a =", "<EOF>", "="),
    ("a = ", "<EOF>", "="),
    ("a b", "b", "a b"),
    ("!!!", "!", "!!"),
    ("attribute_type()", ")", "()"),
    ("a = :v AND", "<EOF>", "AND"),
    ("a > 4", "4", "> 4"),
    ("a == :v", "=", "== :v"),
    ("(a = :v", "<EOF>", ":v"),
    ("a = :v)", ")", ":v)"),
    ("a IN ()", ")", "()"),
    ("a IN :v", ":v", "IN :v"),
    ("a BETWEEN :v", "<EOF>", ":v"),
    ("a BETWEEN :v OR :x", "OR", ":v OR :x"),
    ("a[x] = :v", "x", "[x]"),
    ("a.1 = :v", "1", ".1 ="),
    ("NOT", "<EOF>", "NOT"),
    ("and = :v", "and", "and ="),
    ("a = in", "in", "= in"),
    ("a = :v AND AND b = :v", "AND", "AND AND b"),
    ("# = :v", "#", "# ="),
    ("a = \"x\"", "\"", "= \"x"),
    ("(size(a))[0] > a", "[", ")[0"),
    ("a = :v OR", "<EOF>", "OR"),
    ("a <=> :v", ">", "<=> :v"),
    ("a[-1] = :v", "-", "[-1"),
])
def test_condition_syntax_errors(text, token, near):
    assert cond_error(text) == f'Invalid ConditionExpression: Syntax error; token: "{token}", near: "{near}"'


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_expressions(text):
    assert cond_error(text) == "Invalid ConditionExpression: The expression can not be empty;"
    assert error(parse_update, text, ctx()) == "Invalid UpdateExpression: The expression can not be empty;"
    assert error(parse_projection, text, ctx()) == "Invalid ProjectionExpression: The expression can not be empty;"


def test_expression_size_limit():
    ok = "a = :v" + " " * (4096 - 6)
    parse_condition(ok, ctx())
    assert cond_error(ok + " ", kind="FilterExpression") == \
        "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
    # bytes, not characters
    assert "expression size: 4098" in cond_error("a = :v" + "\u00e9" * 2046)


# --- semantic errors ---------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("((a = :v))", "The expression has redundant parentheses;"),
    ("((a)) = :v", "The expression has redundant parentheses;"),
    ("NOT ((a = :v))", "The expression has redundant parentheses;"),
    ("a = :v AND (((b = :v)))", "The expression has redundant parentheses;"),
    ("foo(a)", "Invalid function name; function: foo"),
    ("ATTRIBUTE_EXISTS(a)", "Invalid function name; function: ATTRIBUTE_EXISTS"),
    ("if_not_exists(a, :v) = :v", "The function is not allowed in a condition expression; function: if_not_exists"),
    ("list_append(a, :l) = :l", "The function is not allowed in a condition expression; function: list_append"),
    ("size(a)", "The function is not allowed to be used this way in an expression; function: size"),
    ("a = :v AND NOT size(a)", "The function is not allowed to be used this way in an expression; function: size"),
    ("attribute_exists(a) = :t",
     "The function is not allowed to be used this way in an expression; function: attribute_exists"),
    ("size(contains(a, :v)) = :n1",
     "The function is not allowed to be used this way in an expression; function: contains"),
    ("a IN (:v, begins_with(a, :v))",
     "The function is not allowed to be used this way in an expression; function: begins_with"),
    ("begins_with(a)",
     "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"),
    ("begins_with(a, :v, :x)",
     "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 3"),
    ("size(a, b) = :n1",
     "Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"),
    ("attribute_exists(a, b)", "Incorrect number of operands for operator or function; operator or function: "
                               "attribute_exists, number of operands: 2"),
    ("contains(a)",
     "Incorrect number of operands for operator or function; operator or function: contains, number of operands: 1"),
    ("attribute_exists(:v)", "Operator or function requires a document path; operator or function: attribute_exists"),
    ("attribute_not_exists(size(a))",
     "Operator or function requires a document path; operator or function: attribute_not_exists"),
    ("attribute_type(a, :n1)",
     "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"),
    ("attribute_type(a, b)", "Incorrect operand type for operator or function; operator or function: "
                             "attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
    ("attribute_type(a, :bad)",
     "Invalid attribute type name found; type: STRING, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
    ("begins_with(a, :n1)",
     "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
    ("begins_with(:ss, a)",
     "Incorrect operand type for operator or function; operator or function: begins_with, operand type: SS"),
    ("size(:n1) > :n1", "Incorrect operand type for operator or function; operator or function: size, operand type: N"),
    ("size(:t) > :n1",
     "Incorrect operand type for operator or function; operator or function: size, operand type: BOOL"),
    ("size(size(a)) > :n1",
     "Incorrect operand type for operator or function; operator or function: size, operand type: N"),
    ("a < :t", "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"),
    ("a >= :ss", "Incorrect operand type for operator or function; operator or function: >=, operand type: SS"),
    ("a BETWEEN :nul AND :nul",
     "Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: NULL"),
    ("a = a", "The first operand must be distinct from the remaining operands for this operator or function; "
              "operator: =, first operand: [a]"),
    ("a.b[1] <> a.b[1]", "The first operand must be distinct from the remaining operands for this operator or "
                         "function; operator: <>, first operand: [a, b, [1]]"),
    ("contains(a, a)", "The first operand must be distinct from the remaining operands for this operator or "
                       "function; operator: contains, first operand: [a]"),
    ("a BETWEEN :n1 AND :n5", None),
    ("a BETWEEN :n5 AND :n1", "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                              "bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: "
                              "AttributeValue: {N:1}"),
    ("a BETWEEN :z AND :a", "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                            "lower bound operand: AttributeValue: {S:z}, upper bound operand: AttributeValue: {S:a}"),
    ("a BETWEEN :bff AND :b01", "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                                "bound; lower bound operand: AttributeValue: {B:/w==}, upper bound operand: "
                                "AttributeValue: {B:AQ==}"),
    ("a BETWEEN :s AND :n1", "The BETWEEN operator requires same data type for lower and upper bounds; lower bound "
                             "operand: AttributeValue: {S:hello}, upper bound operand: AttributeValue: {N:1}"),
    ("count = :v", "Attribute name is a reserved keyword; reserved keyword: count"),
    ("a.size = :v", "Attribute name is a reserved keyword; reserved keyword: size"),
    ("Absolute = :v", "Attribute name is a reserved keyword; reserved keyword: Absolute"),
    ("attribute_exists(a.comment)", "Attribute name is a reserved keyword; reserved keyword: comment"),
    ("#missing = :v", "An expression attribute name used in the document path is not defined; attribute name: "
                      "#missing"),
    ("a = :missing", "An expression attribute value used in expression is not defined; attribute value: :missing"),
])
def test_condition_semantic_errors(text, message):
    if message is None:
        parse_condition(text, ctx())
    else:
        assert cond_error(text) == f"Invalid ConditionExpression: {message}"


@pytest.mark.parametrize("text, message", [
    # Categories rank: parentheses, unknown function, misused function, reserved word, then the
    # first condition (in source order) with an undefined placeholder, operand count, repeated
    # operand or operand type problem.
    ("foo(a) = :v AND ((b = :v))", "The expression has redundant parentheses;"),
    ("count = :v AND foo(a)", "Invalid function name; function: foo"),
    ("count = :missing", "Attribute name is a reserved keyword; reserved keyword: count"),
    ("a = :missing AND attribute_exists(a) = :v",
     "The function is not allowed to be used this way in an expression; function: attribute_exists"),
    ("#x = :missing",
     "An expression attribute name used in the document path is not defined; attribute name: #x"),
    ("a = :missing AND begins_with(b)",
     "An expression attribute value used in expression is not defined; attribute value: :missing"),
    ("begins_with(b) AND a = :missing",
     "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"),
    ("a < :t AND b = b",
     "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"),
    ("b = b AND a < :t", "The first operand must be distinct from the remaining operands for this operator or "
                         "function; operator: =, first operand: [b]"),
])
def test_condition_error_precedence(text, message):
    assert cond_error(text) == f"Invalid ConditionExpression: {message}"


def test_error_messages_name_the_expression_kind():
    assert cond_error("a = ", kind="FilterExpression").startswith("Invalid FilterExpression: Syntax error;")
    assert cond_error("#q = :v", kind="FilterExpression").startswith("Invalid FilterExpression: An expression")


def test_in_operand_limit():
    hundred = ", ".join([":v"] * 100)
    parse_condition(f"a IN ({hundred})", ctx())
    assert cond_error(f"a IN ({hundred}, :v)") == \
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"


def test_operator_limit():
    parse_condition(" OR ".join(["a = :v"] * 150), ctx())  # 150 comparisons + 149 ORs
    assert cond_error(" OR ".join(["a = :v"] * 151)) == \
        "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"


def test_path_depth_and_index_limits():
    parse_condition("a" + ".b" * 31 + " = :v", ctx())
    assert cond_error("a" + ".b" * 32 + " = :v") == \
        "Invalid ConditionExpression: The document path has too many nesting levels; nesting levels: 33"
    assert cond_error("a[99999999999] = :v") == \
        "Invalid ConditionExpression: List index is not within the allowable range; index: [99999999999]"


def test_deep_nesting_is_refused_cleanly():
    assert check("NOT " * 100 + "n = :n5") is False
    too_deep = "Invalid ConditionExpression: The expression has too many nesting levels"
    assert cond_error("NOT " * 290 + "n = :n5") == too_deep
    assert cond_error("(a = :v AND (a = :v OR " * 70 + "a = :v" + "))" * 70) == too_deep
    deep = "(" * 1500 + "a = :v" + ")" * 1500
    assert cond_error(deep) == "Invalid ConditionExpression: The expression has redundant parentheses;"
    assert cond_error("(" * 4000).startswith('Invalid ConditionExpression: Syntax error; token: "<EOF>"')


def test_a_text_seen_shallow_is_still_refused_with_a_value_that_makes_it_too_deep():
    # The depth walk is skipped for a text known to be shallow enough for any
    # value (values nest 32 levels at most); near the limit every request is walked.
    def nested(levels: int) -> dict:
        value: dict = {"S": "x"}
        for _ in range(levels - 1):
            value = {"M": {"a": value}}
        return value

    too_deep = "Invalid ConditionExpression: The expression has too many nesting levels"
    for nots, deep_ok in ((100, True), (176, False), (236, False)):
        text = "NOT " * nots + "a = :v"
        for _ in range(2):  # the second time, the text is known
            parse_condition(text, Context(None, {":v": {"S": "x"}}))
            if deep_ok:
                parse_condition(text, Context(None, {":v": nested(32)}))
            else:
                with pytest.raises(ValidationException) as e:
                    parse_condition(text, Context(None, {":v": nested(32)}))
                assert e.value.message == too_deep


def test_every_reserved_word_is_rejected_bare_and_accepted_as_a_name():
    assert len(RESERVED) == 573
    for word in sorted(RESERVED):
        if word in ("AND", "OR", "NOT", "BETWEEN", "IN"):
            continue  # the grammar's own keywords: a syntax error instead
        for spelled in (word, word.lower()):
            assert cond_error(f"{spelled} = :v") == \
                f"Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: {spelled}"
    assert parse_condition("#w = :v", ctx({"#w": "count"})) == {"cmp": "=", "l": {"path": ["count"]},
                                                              "r": {"value": S("v")}}


# --- AST shape and precedence ---------------------------------------------------------


def _cmp(name: str, value: str) -> dict:
    return {"cmp": "=", "l": {"path": [name]}, "r": {"value": VALUES[value]}}


@pytest.mark.parametrize("text, ast", [
    ("a = :n1 OR b = :n2 AND c = :n3", {"or": [_cmp("a", ":n1"), {"and": [_cmp("b", ":n2"), _cmp("c", ":n3")]}]}),
    ("a = :n1 AND b = :n2 OR c = :n3", {"or": [{"and": [_cmp("a", ":n1"), _cmp("b", ":n2")]}, _cmp("c", ":n3")]}),
    ("(a = :n1 OR b = :n2) AND c = :n3", {"and": [{"or": [_cmp("a", ":n1"), _cmp("b", ":n2")]}, _cmp("c", ":n3")]}),
    ("NOT a = :n1 AND b = :n2", {"and": [{"not": _cmp("a", ":n1")}, _cmp("b", ":n2")]}),
    ("NOT (a = :n1 AND b = :n2)", {"not": {"and": [_cmp("a", ":n1"), _cmp("b", ":n2")]}}),
    ("NOT NOT a = :n1", {"not": {"not": _cmp("a", ":n1")}}),
    ("a = :n1 AND b = :n2 AND c = :n3", {"and": [_cmp("a", ":n1"), _cmp("b", ":n2"), _cmp("c", ":n3")]}),
    ("a = :n1 AND (b = :n2 AND c = :n3)",
     {"and": [_cmp("a", ":n1"), {"and": [_cmp("b", ":n2"), _cmp("c", ":n3")]}]}),
    ("a BETWEEN :n1 AND :n2 AND b = :n3",
     {"and": [{"between": [{"path": ["a"]}, {"value": N("1")}, {"value": N("2")}]}, _cmp("b", ":n3")]}),
    ("(a) = :n1", _cmp("a", ":n1")),
    ("(a = :n1)", _cmp("a", ":n1")),
    ("a iN (:n1, :n2)", {"in": [{"path": ["a"]}, {"value": N("1")}, {"value": N("2")}]}),
    ("size(a.b[2]) >= :n1", {"cmp": ">=", "l": {"size": {"path": ["a", "b", 2]}}, "r": {"value": N("1")}}),
    ("#x[0].#y = :n1", {"cmp": "=", "l": {"path": ["x.y", 0, "[3]"]}, "r": {"value": N("1")}}),
    ("attribute_exists ( a . b [ 1 ] )", {"fn": "attribute_exists", "args": [{"path": ["a", "b", 1]}]}),
])
def test_condition_ast(text, ast):
    got = parse_condition(text, ctx({"#x": "x.y", "#y": "[3]"}))
    assert got == ast
    assert orjson.loads(orjson.dumps(got)) == got


# --- evaluation ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    # numbers compare numerically
    ("n = :n10", True), ("n = :n10e", True), ("n2 = :n10", True), ("n = n2", True), ("n <> :n10", False),
    ("n <> :n5", True), ("n < :n20", True), ("n <= :n10", True), ("n > :n5", True), ("n >= :n20", False),
    ("neg < :n5", True), ("neg > :n0", False),
    # strings by UTF-8 bytes (U+FFFF sorts before an astral character, unlike UTF-16)
    ("s = :s", True), ("s < :z", True), ("s > :he", True), ("s <= :he", False), ("hi < :emoji", True),
    ("hi = :ffff", True), ("e = :empty", True), ("e < :a", True),
    # binaries bytewise
    ("b = :b", True), ("b > :b01", True), ("b < :bff", True), ("b > :b02", False),
    # different types never compare; <> is their negation
    ("n = :s", False), ("n <> :s", True), ("n < :s", False), ("s >= :n5", False), ("t = :s", False),
    # absent attributes
    ("absent = :n10", False), ("absent <> :n10", True), ("absent < :n10", False), ("absent >= :n10", False),
    # booleans, null, sets, lists, maps: = and <> only
    ("t = :t", True), ("t = :f", False), ("f <> :t", True), ("nul = :nul", True),
    ("ss = :ss", True), ("ns = :ns", True), ("bs = :bs", True), ("ss <> :ss", False), ("ss = :ns", False),
    ("l = :l", True), ("l <> :l", False), ("m.nest = m.nest", None), ("l[2] = :mkv", True),
    # nested paths
    ("m.k = :v", True), ("m.n > :n1", True), ("m.nest.deep[0] = :n6", False), ("l[0] = :n1", True),
    ("l[1] = :x", True), ("l[2].k = :v", True), ("l[3] = :n1", False), ("m.k.x = :v", False), ("s[0] = :s", False),
    ("m[0] = :v", False), ("l.k = :v", False),
])
def test_comparisons(text, expected):
    if expected is None:
        assert "distinct" in cond_error(text)
    else:
        assert check(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("attribute_exists(n)", True), ("attribute_exists(absent)", False), ("attribute_not_exists(absent)", True),
    ("attribute_not_exists(n)", False), ("attribute_exists(m.nest.deep[0])", True),
    ("attribute_exists(l[9])", False), ("attribute_exists(nul)", True), ("attribute_exists(e)", True),
    ("attribute_type(n, :tN)", True), ("attribute_type(ss, :tSS)", True), ("attribute_type(n, :tS)", False),
    ("attribute_type(l, :tL)", True), ("attribute_type(m, :tM)", True), ("attribute_type(nul, :tNULL)", True),
    ("attribute_type(t, :tBOOL)", True), ("attribute_type(b, :tB)", True), ("attribute_type(bs, :tBS)", True),
    ("attribute_type(ns, :tNS)", True), ("attribute_type(absent, :tN)", False),
    ("begins_with(s, :he)", True), ("begins_with(s, :s)", True), ("begins_with(s, :z)", False),
    ("begins_with(s, :empty)", True), ("begins_with(b, :b01)", True), ("begins_with(b, :b02)", False),
    ("begins_with(n, :he)", False), ("begins_with(s, :b01)", False), ("begins_with(absent, :he)", False),
    ("begins_with(s, m.k)", False), ("begins_with(m.k, :v)", True),
    ("contains(s, :ell)", True), ("contains(s, :z)", False), ("contains(ss, :a)", True), ("contains(ss, :z)", False),
    ("contains(ns, :n25)", True), ("contains(ns, :n2)", False), ("contains(bs, :b01)", True),
    ("contains(b, :b02)", True), ("contains(l, :x)", True), ("contains(l, :mkv)", True), ("contains(l, :a)", False),
    ("contains(n, :n1)", False), ("contains(absent, :a)", False), ("contains(ss, :ss)", False),
    ("contains(ss, :n1)", False), ("contains(l, m.k)", False), ("contains(m, :v)", False),
    ("size(s) = :n5", True), ("size(s2) = :n6", True), ("size(ss) = :n2", True), ("size(l) = :n3", True),
    ("size(m) = :n3", True), ("size(b) = :n3", True), ("size(e) = :n0", True), ("size(n) > :n0", False),
    ("size(n) <> :n0", True), ("size(absent) < :n10", False), ("size(t) = :n1", False),
    ("size(m.nest.deep) = :n1", True), ("size(s) > size(ss)", True), ("size(s) BETWEEN :n1 AND :n5", True),
    ("size(l) IN (:n1, :n3)", True),
    ("n BETWEEN :n5 AND :n20", True), ("n BETWEEN :n10 AND :n10", True), ("n BETWEEN :n1 AND :n5", False),
    ("n BETWEEN :n5 AND m.n", False), ("n BETWEEN m.n AND :n20", True), ("s BETWEEN :he AND :z", True),
    ("n BETWEEN :he AND :z", False), ("absent BETWEEN :n1 AND :n5", False), ("b BETWEEN :b01 AND :bff", True),
    ("n IN (:n5, :n10e)", True), ("s IN (:n5, :he)", False), ("absent IN (:n1, :s)", False), ("ss IN (:ss)", True),
    ("l IN (:a, :l)", True), ("n IN (n2)", True),
])
def test_functions_between_in(text, expected):
    assert check(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("n = :n10 OR n = :n5 AND s = :z", True),       # OR binds loosest
    ("(n = :n10 OR n = :n5) AND s = :z", False),
    ("NOT n = :n5 AND n = :n5", False),             # NOT binds tightest
    ("NOT (n = :n5 AND n = :n5)", True),
    ("NOT absent = :n5", True), ("NOT NOT n = :n10", True),
    ("n = :n5 OR s = :s OR t = :f", True), ("n = :n10 AND s = :s AND t = :f", False),
    ("NOT attribute_exists(absent) AND NOT (s = :z OR n < :n5)", True),
])
def test_logic(text, expected):
    assert check(text) is expected


def test_conditions_on_no_item():
    assert check("attribute_not_exists(pk)", None) is True
    assert check("attribute_exists(pk)", None) is False
    assert check("a <> :x", None) is True
    assert check("a = :x OR NOT size(a) > :n0", None) is True


@pytest.mark.parametrize("item", [
    {"a": {"N": "not a number"}}, {"a": {"S": 5}}, {"a": "plain"}, {"a": {"L": "x"}}, {"a": {}},
    {"a": {"S": "x", "N": "1"}}, {"a": {"B": "%%%"}}, {"a": {"SS": "abc"}}, {"a": {"M": []}}, {"a": None},
])
def test_evaluation_never_raises_on_odd_items(item):
    for text in ("a = :n1", "a < :n1", "a <> :s", "size(a) > :n0", "contains(a, :a)", "begins_with(a, :a)",
                 "a BETWEEN :n1 AND :n5", "a IN (:n1, :s)", "attribute_type(a, :tS)", "attribute_exists(a.b[0])",
                 "a[0].x = :n1"):
        assert check(text, item) in (True, False)


def test_resolve():
    assert resolve(ITEM, ["m", "nest", "deep", 0]) == N("7")
    assert resolve(ITEM, ["l", 2, "k"]) == S("v")
    assert resolve(ITEM, ["l", -1]) is None
    assert resolve(ITEM, ["s", 0]) is None
    assert resolve(None, ["a"]) is None
    assert resolve(ITEM, []) is None


# --- update expressions: parsing --------------------------------------------------------


UPDATE_VALUES = {
    ":a": S("a"), ":b": N("1"), ":c": B(b"a"), ":d": {"BOOL": False}, ":e": {"NULL": True},
    ":f": {"SS": ["a"]}, ":g": {"NS": ["1"]}, ":h": {"BS": [b64(b"a")]}, ":i": {"M": {}}, ":j": {"L": []},
}


def update_error(text: str, names: dict | None = None, values: dict | None = UPDATE_VALUES) -> str:
    return error(parse_update, text, ctx(names, values))


@pytest.mark.parametrize("text", [
    "whatever", "set a", "add a", "delete a", "set a=set", "remove a = b", "add a = b", "delete a = b",
    "delete a b", "delete a if_not_exist(b)", "add abort b", "add a if_not_exist(b)", "remove a b", "set a b",
    "set :a = b", "add :a b", "delete :a b", "remove :a", "set a = b / c", "set a = b * c", 'set a[1] = "eight"',
    "set a[1] = 1", "SET a = if_not_exist(a, 100)", "SET if_not_exist(a, b) = a", "set (a = (b + c))",
    "set a = (b.c).d + e", "set a = (b.c)[0] + e", "set a = b + c + d", "SET a = :a,", "SET a = :a REMOVE",
])
def test_update_syntax_errors(text):
    assert update_error(text).startswith("Invalid UpdateExpression: Syntax error; token: ")


@pytest.mark.parametrize("text, token, near", [
    ("ADD numx", "<EOF>", "numx"),
    ("SET note = :b +", "<EOF>", "+"),
    ("SET numx = numx * :b", "*", "numx * :b"),
    ("ADD numx 1", "1", "numx 1"),
    ("DELETE setx a", "a", "setx a"),
    ("whatever", "whatever", "whatever"),
])
def test_update_syntax_error_messages(text, token, near):
    assert update_error(text) == f'Invalid UpdateExpression: Syntax error; token: "{token}", near: "{near}"'


@pytest.mark.parametrize("text", [
    "set a = (b + c)", "set a = ((b.c.d)+(e))", "SET a = if_not_exists(a, :b) + :b", "set a = (b) + c",
    "set a = ((b))", "SET a=:b,b=:a", "add a :b, b :f delete c :g remove d, e set f = g",
    "SET a = list_append(if_not_exists(a, :j), :j)", "SET a = if_not_exists(a, list_append(b, :j))",
    "ADD mapx.num :b", "DELETE mapx.colors :f", "SET lst[0].x = :a", "SET a = b - c",
])
def test_update_syntax_accepted(text):
    parse_update(text, ctx(None, UPDATE_VALUES))


@pytest.mark.parametrize("text, message", [
    (" set #c = :c set abOrt = true ", "Attribute name is a reserved keyword; reserved keyword: abOrt"),
    (" remove Absolute ", "Attribute name is a reserved keyword; reserved keyword: Absolute"),
    ("set #c = if_not_exist(:c) set c = d", "Invalid function name; function: if_not_exist"),
    ("set a = #c set c = :d", 'The "SET" section can only be used once in an update expression;'),
    ("remove #d set a = b remove e", 'The "REMOVE" section can only be used once in an update expression;'),
    ("add #d :e set a = b add e :f", 'The "ADD" section can only be used once in an update expression;'),
    ("delete #d :e set a = b delete #e :f", 'The "DELETE" section can only be used once in an update expression;'),
    ("SET #c = if_not_exists(:c)",
     "An expression attribute name used in the document path is not defined; attribute name: #c"),
    ("SET #a = if_not_exists(:c)",
     "An expression attribute value used in expression is not defined; attribute value: :c"),
    ("SET a = size(b)", "The function is not allowed in an update expression; function: size"),
    ("SET a = contains(b, :a)", "The function is not allowed in an update expression; function: contains"),
    ("SET a = attribute_exists(b)", "The function is not allowed in an update expression; function: attribute_exists"),
    ("SET a = list_append(list_append(a, :j), :j)",
     "The function is not allowed to be used this way in an expression; function: list_append"),
    ("SET a = list_append(a, :j) + :b",
     "The function is not allowed to be used this way in an expression; function: list_append"),
    ("set a = if_not_exists(c)",
     "Incorrect number of operands for operator or function; operator or function: if_not_exists, number of "
     "operands: 1"),
    ("set a = list_append(c)",
     "Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"),
    ("set a = if_not_exists(:a, c)",
     "Operator or function requires a document path; operator or function: if_not_exists"),
    ("set a = if_not_exists(if_not_exists(a, b), c)",
     "Operator or function requires a document path; operator or function: if_not_exists"),
    ("set a = if_not_exists(b, b)", "The first operand must be distinct from the remaining operands for this "
                                    "operator or function; operator: if_not_exists, first operand: [b]"),
])
def test_update_errors(text, message):
    assert update_error(text, {"#a": "a", "#b": "b"}, {":a": S("a"), ":b": S("a"), ":j": {"L": []}}) == \
        f"Invalid UpdateExpression: {message}"


@pytest.mark.parametrize("text, one, two", [
    ("set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)", "[c, [1], a]", "[c]"),
    ("set c.b.#c = a, c = a, #d = a", "[c, b, c]", "[c]"),
    ("set a = b remove a, #c, #d", "[a]", "[a]"),
    ("set #c[3].#d = a, #c[3] = a", "[c, [3], [3]]", "[c, [3]]"),
    ("remove c, #c.a, #d", "[c]", "[c, a]"),
    ("remove a, #c, a, #d", "[a]", "[a]"),
    ("SET fieldx = :s, fieldx = :o", "[fieldx]", "[fieldx]"),
    ("SET #f = :s, fieldx = :o", "[fieldx]", "[fieldx]"),
    ("SET lst[0] = :s, lst[0].ok = :s", "[lst, [0]]", "[lst, [0], ok]"),
    ("ADD a.b :n REMOVE a", "[a, b]", "[a]"),
])
def test_update_overlapping_paths(text, one, two):
    values = {":s": S("x"), ":o": S("y"), ":n": N("1")}
    assert update_error(text, {"#c": "c", "#d": "[3]", "#f": "fieldx"}, values) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these "
        f"paths; path one: {one}, path two: {two}")


@pytest.mark.parametrize("text, one, two", [
    ("set #c[3].#d = a, #c.#d[3] = if_not_exists(a)", "[c, [3], [3]]", "[c, [3], [3]]"),
    ("remove a.#c set a[1] = #d", "[a, c]", "[a, [1]]"),
])
def test_update_conflicting_paths(text, one, two):
    assert update_error(text, {"#b": "b", "#c": "c", "#d": "[3]"}) == (
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these "
        f"paths; path one: {one}, path two: {two}")


@pytest.mark.parametrize("text, value, clause, type_name", [
    ("set b = list_append(:a, a), c = if_not_exists(a) add a.b :a", S("a"), "ADD", "STRING"),
    ("delete a.b :a", S("a"), "DELETE", "STRING"),
    ("add a.b :a", {"NULL": True}, "ADD", "NULL"),
    ("delete a.b :a", {"NULL": True}, "DELETE", "NULL"),
    ("add a.b :a", {"BOOL": False}, "ADD", "BOOLEAN"),
    ("delete a.b :a", {"BOOL": False}, "DELETE", "BOOLEAN"),
    ("add a.b :a", B(b"a"), "ADD", "BINARY"),
    ("delete a.b :a", B(b"a"), "DELETE", "BINARY"),
    ("add a.b :a", {"M": {"a": {"L": [N("1")]}}}, "ADD", "MAP"),
    ("delete a.b :a", {"M": {}}, "DELETE", "MAP"),
    ("add a.b :a", {"L": [N("1")]}, "ADD", "LIST"),
    ("delete a.b :a", {"L": [N("1")]}, "DELETE", "LIST"),
    ("delete a.b :a", N("1"), "DELETE", "NUMBER"),
])
def test_add_delete_operand_types(text, value, clause, type_name):
    assert update_error(text, None, {":a": value, ":b": S("a")}) == (
        f"Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {clause}, "
        f"operand type: {type_name}, typeSet: ALLOWED_FOR_{clause}_OPERAND")


@pytest.mark.parametrize("text, operator, type_name", [
    ("set a = list_append(:a, a)", "list_append", "S"), ("set a = list_append(a, :b)", "list_append", "N"),
    ("set a = list_append(:c, a)", "list_append", "B"), ("set a = list_append(:d, a)", "list_append", "BOOL"),
    ("set a = list_append(:e, a)", "list_append", "NULL"), ("set a = list_append(:f, a)", "list_append", "SS"),
    ("set a = list_append(:g, a)", "list_append", "NS"), ("set a = list_append(:h, a)", "list_append", "BS"),
    ("set a = list_append(:i, a)", "list_append", "M"),
    ("set a = a + :a", "+", "S"), ("set a = :a + :c", "+", "S"), ("set a = :c + a", "+", "B"),
    ("set a = a + :d", "+", "BOOL"), ("set a = a + :e", "+", "NULL"), ("set a = a + :f", "+", "SS"),
    ("set a = a + :g", "+", "NS"), ("set a = a + :h", "+", "BS"), ("set a = a + :i", "+", "M"),
    ("set a = a + :j", "+", "L"), ("set a = a - :a", "-", "S"), ("set a = :c - a", "-", "B"),
    ("set a = a - :j", "-", "L"),
])
def test_update_function_operand_types(text, operator, type_name):
    assert update_error(text) == ("Invalid UpdateExpression: Incorrect operand type for operator or function; "
                                  f"operator or function: {operator}, operand type: {type_name}")


def test_update_ast():
    ast = parse_update("SET a = :b, b.c[2] = if_not_exists(b, :b) + :b, c = list_append(c, :j) "
                       "REMOVE d[1], e ADD f :b DELETE g :f", ctx(None, UPDATE_VALUES))
    assert ast == {
        "set": [[["a"], {"value": N("1")}],
                [["b", "c", 2], {"op": "+", "l": {"if_not_exists": [["b"], {"value": N("1")}]},
                                 "r": {"value": N("1")}}],
                [["c"], {"list_append": [{"path": ["c"]}, {"value": {"L": []}}]}]],
        "remove": [["d", 1], ["e"]],
        "add": [[["f"], N("1")]],
        "delete": [[["g"], {"SS": ["a"]}]],
    }
    assert orjson.loads(orjson.dumps(ast)) == ast
    assert updated_paths(ast) == [["a"], ["b", "c", 2], ["c"], ["d", 1], ["e"], ["f"], ["g"]]


def test_update_operator_limit():
    parse_update("SET " + ",".join(f"a{i}=a{i}+:b" for i in range(300)), ctx(None, UPDATE_VALUES))
    assert update_error("SET " + ",".join(f"a{i}=a{i}+:b" for i in range(301))) == \
        "Invalid UpdateExpression: The expression contains too many operators; operator count: 301"


def test_placeholders_are_tracked_across_expressions():
    c = Context({"#a": "a", "#b": "b", "#unused": "z"}, {":a": S("a"), ":b": S("b")})
    parse_update("SET #a = :a", c)
    parse_condition("#b <> :b", c)
    with pytest.raises(ValidationException) as e:
        c.check_unused()
    assert e.value.message == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"
    c = Context(None, {":a": S("a"), ":z": S("z"), ":y": S("y")})
    parse_condition("a = :a", c)
    with pytest.raises(ValidationException) as e:
        c.check_unused()
    assert e.value.message == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y, :z}"


@pytest.mark.parametrize("names, values, message", [
    ({"a": "a"}, None, 'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'),
    ({"#a-b": "a"}, None, 'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"'),
    ({"#": "a"}, None, 'ExpressionAttributeNames contains invalid key: Syntax error; key: "#"'),
    (None, {"b": S("a")}, 'ExpressionAttributeValues contains invalid key: Syntax error; key: "b"'),
    (None, {":\u00e9": S("a")}, 'ExpressionAttributeValues contains invalid key: Syntax error; key: ":\u00e9"'),
])
def test_placeholder_keys_are_checked(names, values, message):
    with pytest.raises(ValidationException) as e:
        Context(names, values)
    assert e.value.message == message


# --- update expressions: applying ---------------------------------------------------------


BASE = {
    "pk": S("k"), "n": N("10"), "s": S("str"), "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]},
    "bs": {"BS": [b64(b"\x01")]}, "l": {"L": [S("x"), S("y"), S("z"), S("w")]},
    "m": {"M": {"k": S("v"), "n": N("3"), "l": {"L": [N("1"), {"SS": ["q"]}]}}},
}
APPLY_VALUES = {
    ":one": N("1"), ":two": N("2"), ":neg": N("-0.5"), ":v": S("v"), ":w": S("w"), ":ss": {"SS": ["b", "c"]},
    ":ssa": {"SS": ["a", "b"]}, ":ns": {"NS": ["2.0", "3"]}, ":bs": {"BS": [b64(b"\x01"), b64(b"\x02")]},
    ":l": {"L": [N("1")]}, ":m": {"M": {"x": S("y")}}, ":zero": N("0"), ":q": {"SS": ["q"]},
}


def apply(text: str, item: dict | None = None, key_names: tuple[str, ...] = ("pk",)) -> dict:
    ast = orjson.loads(orjson.dumps(parse_update(text, ctx(None, APPLY_VALUES))))
    return apply_update(ast, copy.deepcopy(BASE if item is None else item), key_names)


def changed(text: str, item: dict | None = None) -> dict:
    """The attributes the update changed or added (None: removed)."""
    base = BASE if item is None else item
    new = apply(text, item)
    out = {k: v for k, v in new.items() if base.get(k) != v}
    out.update({k: None for k in base if k not in new})
    return out


@pytest.mark.parametrize("text, expected", [
    ("SET a = :v", {"a": S("v")}),
    ("SET s = :v", {"s": S("v")}),
    ("SET s = n, n = s", {"s": N("10"), "n": S("str")}),  # values come from the old item
    ("SET n = n + :one", {"n": N("11")}),
    ("SET n = :one - n", {"n": N("-9")}),
    ("SET n = n + :neg", {"n": N("9.5")}),
    ("SET c = if_not_exists(c, :zero) + :one", {"c": N("1")}),
    ("SET n = if_not_exists(n, :zero) + :one", {"n": N("11")}),
    ("SET a = if_not_exists(s, :v)", {"a": S("str")}),
    ("SET l = list_append(l, :l)", {"l": {"L": [S("x"), S("y"), S("z"), S("w"), N("1")]}}),
    ("SET l = list_append(:l, l)", {"l": {"L": [N("1"), S("x"), S("y"), S("z"), S("w")]}}),
    ("SET c = list_append(if_not_exists(c, :l), :l)", {"c": {"L": [N("1"), N("1")]}}),
    ("SET m.k = :w", {"m": {"M": {"k": S("w"), "n": N("3"), "l": {"L": [N("1"), {"SS": ["q"]}]}}}}),
    ("SET m.fresh = :m", {"m": {"M": {"k": S("v"), "n": N("3"), "l": {"L": [N("1"), {"SS": ["q"]}]},
                                    "fresh": {"M": {"x": S("y")}}}}}),
    ("SET m.l[0] = :two", {"m": {"M": {"k": S("v"), "n": N("3"), "l": {"L": [N("2"), {"SS": ["q"]}]}}}}),
    ("SET l[1] = :v", {"l": {"L": [S("x"), S("v"), S("z"), S("w")]}}),
    ("SET l[10] = :v", {"l": {"L": [S("x"), S("y"), S("z"), S("w"), S("v")]}}),
    ("SET l[9] = :v, l[7] = :w", {"l": {"L": [S("x"), S("y"), S("z"), S("w"), S("w"), S("v")]}}),
    ("SET l[0] = l[1], l[1] = l[0]", {"l": {"L": [S("y"), S("x"), S("z"), S("w")]}}),
    ("REMOVE s", {"s": None}),
    ("REMOVE absent", {}),
    ("REMOVE m.k", {"m": {"M": {"n": N("3"), "l": {"L": [N("1"), {"SS": ["q"]}]}}}}),
    ("REMOVE m.absent", {}),
    ("REMOVE l[0], l[2]", {"l": {"L": [S("y"), S("w")]}}),
    ("REMOVE l[2], l[0]", {"l": {"L": [S("y"), S("w")]}}),
    ("REMOVE l[9]", {}),
    ("REMOVE l[0] SET l[1] = :v", {"l": {"L": [S("v"), S("z"), S("w")]}}),
    ("REMOVE l[1] SET l[6] = :v", {"l": {"L": [S("x"), S("z"), S("w"), S("v")]}}),
    ("ADD n :one", {"n": N("11")}),
    ("ADD c :one", {"c": N("1")}),
    ("ADD c :neg", {"c": N("-0.5")}),
    ("ADD ss :ss", {"ss": {"SS": ["a", "b", "c"]}}),
    ("ADD c :ss", {"c": {"SS": ["b", "c"]}}),
    ("ADD ns :ns", {"ns": {"NS": ["1", "2", "3"]}}),
    ("ADD bs :bs", {"bs": {"BS": [b64(b"\x01"), b64(b"\x02")]}}),
    ("ADD m.n :two", {"m": {"M": {"k": S("v"), "n": N("5"), "l": {"L": [N("1"), {"SS": ["q"]}]}}}}),
    ("ADD m.l[1] :ss", {"m": {"M": {"k": S("v"), "n": N("3"), "l": {"L": [N("1"), {"SS": ["q", "b", "c"]}]}}}}),
    ("ADD l[8] :one", {"l": {"L": [S("x"), S("y"), S("z"), S("w"), N("1")]}}),
    ("DELETE ss :ss", {"ss": {"SS": ["a"]}}),
    ("DELETE ss :ssa", {"ss": None}),
    ("DELETE ns :ns", {"ns": {"NS": ["1"]}}),
    ("DELETE bs :bs", {"bs": None}),
    ("DELETE absent :ss", {}),
    ("DELETE m.l[1] :q", {"m": {"M": {"k": S("v"), "n": N("3"), "l": {"L": [N("1")]}}}}),
    ("DELETE m.l[5] :q", {}),
    ("SET a = :v REMOVE s ADD n :one DELETE ss :ss",
     {"a": S("v"), "s": None, "n": N("11"), "ss": {"SS": ["a"]}}),
])
def test_apply(text, expected):
    assert changed(text) == expected


def test_update_creates_an_item_from_its_key():
    key = {"pk": S("new")}
    assert apply("SET v = :v ADD c :one, tags :ss", key) == {"pk": S("new"), "v": S("v"), "c": N("1"),
                                                             "tags": {"SS": ["b", "c"]}}
    assert apply("REMOVE gone DELETE tags :ss", key) == key


def test_nested_updates_inside_list_elements():
    item = {"pk": S("k"), "lm": {"L": [{"M": {"a": N("1")}}, {"M": {"a": N("2")}}, {"M": {"a": N("3")}}]}}
    assert apply("SET lm[1].a = :two, lm[0].b = :one", item)["lm"] == {"L": [
        {"M": {"a": N("1"), "b": N("1")}}, {"M": {"a": N("2")}}, {"M": {"a": N("3")}}]}
    # indexes address the list as it was: element 2 is updated even though element 0 goes
    assert apply("REMOVE lm[0] SET lm[2].a = :v ADD lm[1].a :one", item)["lm"] == {"L": [
        {"M": {"a": N("3")}}, {"M": {"a": S("v")}}]}
    assert apply("REMOVE lm[1].a, lm[2]", item)["lm"] == {"L": [{"M": {"a": N("1")}}, {"M": {}}]}


def test_apply_does_not_mutate_its_input():
    item = copy.deepcopy(BASE)
    ast = parse_update("SET m.l[0] = :two, l[9] = :v REMOVE m.k, l[0] ADD ss :ss, m.n :one DELETE ns :ns",
                       ctx(None, APPLY_VALUES))
    frozen = copy.deepcopy(ast)
    new = apply_update(ast, item, ("pk",))
    assert item == BASE and ast == frozen
    assert new["m"]["M"]["l"]["L"][0] == N("2") and "k" not in new["m"]["M"]


@pytest.mark.parametrize("text, message", [
    ("SET a = absent", "The provided expression refers to an attribute that does not exist in the item"),
    ("SET a = m.absent", "The provided expression refers to an attribute that does not exist in the item"),
    ("SET a = list_append(absent, :l)",
     "The provided expression refers to an attribute that does not exist in the item"),
    ("SET a = absent + :one", "The provided expression refers to an attribute that does not exist in the item"),
    ("SET a = s + :one", "An operand in the update expression has an incorrect data type"),
    ("SET a = :one - ss", "An operand in the update expression has an incorrect data type"),
    ("SET a = list_append(n, :l)", "An operand in the update expression has an incorrect data type"),
    ("SET a = list_append(:l, m)", "An operand in the update expression has an incorrect data type"),
    ("ADD s :one", "An operand in the update expression has an incorrect data type"),
    ("ADD ss :ns", "An operand in the update expression has an incorrect data type"),
    ("ADD n :ss", "An operand in the update expression has an incorrect data type"),
    ("DELETE ss :ns", "An operand in the update expression has an incorrect data type"),
    ("DELETE n :ns", "An operand in the update expression has an incorrect data type"),
    ("SET absent.x = :v", "The document path provided in the update expression is invalid for update"),
    ("SET absent[0] = :v", "The document path provided in the update expression is invalid for update"),
    ("SET s.x = :v", "The document path provided in the update expression is invalid for update"),
    ("SET m[0] = :v", "The document path provided in the update expression is invalid for update"),
    ("SET l.x = :v", "The document path provided in the update expression is invalid for update"),
    ("SET l[9].x = :v", "The document path provided in the update expression is invalid for update"),
    ("REMOVE absent.x", "The document path provided in the update expression is invalid for update"),
    ("REMOVE m[0]", "The document path provided in the update expression is invalid for update"),
    ("REMOVE l.x", "The document path provided in the update expression is invalid for update"),
    ("ADD absent.x :one", "The document path provided in the update expression is invalid for update"),
    ("DELETE l.x :ss", "The document path provided in the update expression is invalid for update"),
    ("SET pk = :v", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part "
                    "of the key"),
    ("REMOVE pk", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of "
                  "the key"),
    ("ADD pk.x :one", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is "
                      "part of the key"),
    ("REMOVE a SET b = absent DELETE pk :ss", "One or more parameter values were invalid: Cannot update attribute "
                                               "pk. This attribute is part of the key"),
])
def test_apply_errors(text, message):
    assert error(apply, text) == message


def test_arithmetic_range_errors_come_from_numbers():
    big = {**BASE, "n": N("9" * 38 + "0" * 88)}
    assert error(apply, "SET n = n + :one", big) == OVERFLOW
    assert error(apply, "ADD n :one", big) == OVERFLOW


def test_sort_key_is_protected_too():
    with pytest.raises(ValidationException) as e:
        apply("DELETE sk :ss", {"pk": S("k"), "sk": {"SS": ["b"]}}, ("pk", "sk"))
    assert "Cannot update attribute sk" in e.value.message


# --- ReturnValues UPDATED_OLD / UPDATED_NEW ----------------------------------------------------


def test_updated_attributes_follow_dynalites_nested_case():
    # dynalite test/updateItem.js "should update nested attributes", run against DynamoDB.
    key = {"a": S("k")}
    old = {**key, "b": {"M": {"a": N("1"), "b": N("2"), "c": N("3")}}, "c": {"L": [N("1"), N("3")]}}
    ast = parse_update("set b.c=((c[1])+(b.a)),b.a = a,c[1] = a, c[4] = b.a - b.b, c[2] = b.c "
                       "add c[8] :b, c[6] :a", ctx(None, {":a": N("2"), ":b": {"SS": ["a"]}}))
    new = apply_update(ast, old, ("x",))
    assert new == {**key, "b": {"M": {"a": key["a"], "b": N("2"), "c": N("4")}},
                   "c": {"L": [N("1"), key["a"], N("3"), N("-1"), N("2"), {"SS": ["a"]}]}}
    assert updated_attributes(ast, new) == {"b": {"M": {"a": key["a"], "c": N("4")}},
                                            "c": {"L": [key["a"], N("3"), N("2")]}}
    assert updated_attributes(ast, old) == {"b": {"M": {"a": N("1"), "c": N("3")}}, "c": {"L": [N("3")]}}


def test_updated_attributes():
    ast = parse_update("SET a = :v, s = :w REMOVE n ADD ss :ss", ctx(None, APPLY_VALUES))
    new = apply_update(ast, BASE, ("pk",))
    assert updated_attributes(ast, new) == {"a": S("v"), "s": S("w"), "ss": {"SS": ["a", "b", "c"]}}
    assert updated_attributes(ast, BASE) == {"s": S("str"), "n": N("10"), "ss": {"SS": ["a", "b"]}}
    gone = parse_update("REMOVE absent", ctx())
    assert updated_attributes(gone, BASE) is None
    assert updated_attributes(ast, None) is None


# --- projections ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, paths", [
    ("a", [["a"]]),
    ("a, b.c, #n[1]", [["a"], ["b", "c"], ["name", 1]]),
    ("a.b, a.c", [["a", "b"], ["a", "c"]]),
    ("l[0], l[1]", [["l", 0], ["l", 1]]),
    (" a ,b ", [["a"], ["b"]]),
])
def test_projection_paths(text, paths):
    assert parse_projection(text, ctx({"#n": "name"})) == paths


@pytest.mark.parametrize("text, message", [
    ("a, a", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: "
             "[a], path two: [a]"),
    ("a.b, a", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: "
               "[a, b], path two: [a]"),
    ("a, a.b[1]", "Two document paths overlap with each other; must remove or rewrite one of these paths; path "
                  "one: [a], path two: [a, b, [1]]"),
    ("a.b, a[0]", "Two document paths conflict with each other; must remove or rewrite one of these paths; path "
                  "one: [a, b], path two: [a, [0]]"),
    ("a,", 'Syntax error; token: "<EOF>", near: ","'),
    ("a b", 'Syntax error; token: "b", near: "a b"'),
    (":v", 'Syntax error; token: ":v", near: ":v"'),
    ("a[0", 'Syntax error; token: "<EOF>", near: "0"'),
    ("size(a)", 'Syntax error; token: "(", near: "size(a"'),
    ("count", "Attribute name is a reserved keyword; reserved keyword: count"),
    ("#x", "An expression attribute name used in the document path is not defined; attribute name: #x"),
    ("count, #x", "Attribute name is a reserved keyword; reserved keyword: count"),
])
def test_projection_errors(text, message):
    assert error(parse_projection, text, ctx()) == f"Invalid ProjectionExpression: {message}"


@pytest.mark.parametrize("paths, expected", [
    ([["s"], ["n"]], {"s": S("str"), "n": N("10")}),
    ([["absent"]], {}),
    ([["m", "k"]], {"m": {"M": {"k": S("v")}}}),
    ([["m", "k"], ["m", "n"]], {"m": {"M": {"k": S("v"), "n": N("3")}}}),
    ([["m", "absent"]], {}),
    ([["m", "l", 1]], {"m": {"M": {"l": {"L": [{"SS": ["q"]}]}}}}),
    ([["l", 2], ["l", 0]], {"l": {"L": [S("x"), S("z")]}}),
    ([["l", 3], ["l", 9]], {"l": {"L": [S("w")]}}),
    ([["l", 9]], {}),
    ([["l", 0, "x"]], {}),
    ([["s", "x"], ["n", 0]], {}),
    ([["m"], ["m", "k"]], {"m": BASE["m"]}),
    ([], {}),
])
def test_project(paths, expected):
    assert project(BASE, paths) == expected


def test_projection_end_to_end():
    paths = parse_projection("#k, m.l[1], l[3], l[1], absent", ctx({"#k": "pk"}))
    assert project(BASE, paths) == {"pk": S("k"), "m": {"M": {"l": {"L": [{"SS": ["q"]}]}}},
                                    "l": {"L": [S("y"), S("w")]}}
    assert project(None, paths) == {}


# --- key conditions ------------------------------------------------------------------------------


KEY_VALUES = {":p": S("p"), ":s": N("1"), ":a": N("1"), ":b": N("5"), ":pre": S("ab"), ":tS": S("S")}


def key(text: str, range_key: str | None = "sk", names: dict | None = None) -> dict:
    return parse_key_condition(text, ctx(names, KEY_VALUES), "pk", range_key)


@pytest.mark.parametrize("text, rng", [
    ("pk = :p", None),
    ("pk = :p AND sk = :s", {"op": "=", "name": "sk", "values": [N("1")]}),
    ("sk = :s AND pk = :p", {"op": "=", "name": "sk", "values": [N("1")]}),
    (":p = pk AND :s > sk", {"op": "<", "name": "sk", "values": [N("1")]}),
    ("pk = :p AND sk < :s", {"op": "<", "name": "sk", "values": [N("1")]}),
    ("pk = :p AND sk <= :s", {"op": "<=", "name": "sk", "values": [N("1")]}),
    ("pk = :p AND :s <= sk", {"op": ">=", "name": "sk", "values": [N("1")]}),
    ("pk = :p AND sk > :s", {"op": ">", "name": "sk", "values": [N("1")]}),
    ("pk = :p AND sk >= :s", {"op": ">=", "name": "sk", "values": [N("1")]}),
    ("pk = :p AND sk BETWEEN :a AND :b", {"op": "BETWEEN", "name": "sk", "values": [N("1"), N("5")]}),
    ("pk = :p AND begins_with(sk, :pre)", {"op": "begins_with", "name": "sk", "values": [S("ab")]}),
    ("(pk = :p) AND (sk >= :s)", {"op": ">=", "name": "sk", "values": [N("1")]}),
    ("#h = :p and #r > :s", {"op": ">", "name": "sk", "values": [N("1")]}),
])
def test_key_conditions(text, rng):
    got = key(text, names={"#h": "pk", "#r": "sk"} if "#" in text else None)
    assert got == {"hash": ["pk", S("p")], "range": rng}


@pytest.mark.parametrize("text, message, range_key", [
    ("pk = :p OR sk = :s", "Invalid operator used in KeyConditionExpression: OR", "sk"),
    ("NOT pk = :p", "Invalid operator used in KeyConditionExpression: NOT", "sk"),
    ("pk IN (:p)", "Invalid operator used in KeyConditionExpression: IN", "sk"),
    ("pk <> :p", "Invalid operator used in KeyConditionExpression: <>", "sk"),
    ("attribute_exists(pk)", "Invalid operator used in KeyConditionExpression: attribute_exists", "sk"),
    ("attribute_not_exists(pk)", "Invalid operator used in KeyConditionExpression: attribute_not_exists", "sk"),
    ("pk = :p AND contains(sk, :s)", "Invalid operator used in KeyConditionExpression: contains", "sk"),
    ("attribute_type(pk, :tS)", "Invalid operator used in KeyConditionExpression: attribute_type", "sk"),
    ("size(pk) = :s", "KeyConditionExpressions cannot contain nested operations", "sk"),
    ("pk = :p AND sk BETWEEN size(a) AND size(b)", "KeyConditionExpressions cannot contain nested operations", "sk"),
    (":a BETWEEN :a AND :b AND pk = :p",
     "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first "
     "operand", "sk"),
    ("begins_with(:pre, sk) AND pk = :p",
     "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first "
     "operand", "sk"),
    ("pk = sk", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition", "sk"),
    ("begins_with(pk, sk)",
     "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition", "sk"),
    ("pk.x = :p", "KeyConditionExpressions cannot have conditions on nested attributes", "sk"),
    ("pk[0] = :p", "KeyConditionExpressions cannot have conditions on nested attributes", "sk"),
    (":a = :b", "Invalid condition in KeyConditionExpression: No key attribute specified", "sk"),
    ("pk = :p AND pk = :p", "KeyConditionExpressions must only contain one condition per key", "sk"),
    ("sk > :a AND sk < :b AND pk = :p", "KeyConditionExpressions must only contain one condition per key", "sk"),
    ("pk = :p AND sk = :s AND x = :a", "Conditions can be of length 1 or 2 only", "sk"),
    ("x = :p", "Query condition missed key schema element: pk", "sk"),
    ("sk = :s", "Query condition missed key schema element: pk", "sk"),
    ("pk = :p AND x = :a", "Query condition missed key schema element: sk", "sk"),
    ("pk = :p AND sk = :s", "Query key condition not supported", None),
    ("pk < :p", "Query key condition not supported", "sk"),
    ("begins_with(pk, :pre)", "Query key condition not supported", None),
    ("pk BETWEEN :a AND :b AND sk = :s", "Query key condition not supported", "sk"),
    ("pk = :p AND sk BETWEEN :b AND :a",
     "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower "
     "bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}", "sk"),
    ("pk = ", 'Invalid KeyConditionExpression: Syntax error; token: "<EOF>", near: "="', "sk"),
    ("a > 4", 'Invalid KeyConditionExpression: Syntax error; token: "4", near: "> 4"', "sk"),
    ("attribute_type(a, b)", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
                             "operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}",
     "sk"),
    ("((pk = :p))", "Invalid KeyConditionExpression: The expression has redundant parentheses;", "sk"),
])
def test_key_condition_errors(text, message, range_key):
    assert error(key, text, range_key) == message


def test_a_cached_parse_is_bound_afresh_to_each_requests_names_and_values():
    text = "SET #a = :v, n = n + :one"
    first = parse_update(text, Context({"#a": "x"}, {":v": {"S": "1"}, ":one": {"N": "1"}}))
    second = parse_update(text, Context({"#a": "y"}, {":v": {"S": "2"}, ":one": {"N": "2"}}))
    assert first != second and "1" in orjson.dumps(first).decode() and '"y"' in orjson.dumps(second).decode()
    assert parse_update(text, Context({"#a": "x"}, {":v": {"S": "1"}, ":one": {"N": "1"}})) == first
    for _ in range(2):  # errors are found every time, not cached away
        with pytest.raises(ValidationException, match="attribute value: :one"):
            parse_update(text, Context({"#a": "x"}, {":v": {"S": "1"}}))
        with pytest.raises(ValidationException, match="Syntax error"):
            parse_update("SET = :v", Context(None, {":v": {"S": "1"}}))
