"""UpdateItem's UpdateExpression, case by case: SET (arithmetic, if_not_exists,
list_append, nested paths, list elements), REMOVE, ADD, DELETE, and the
errors DynamoDB raises for bad expressions and bad operands.

Sources: the Developer Guide page "Update expressions"
(Expressions.UpdateExpressions), "Naming rules and data types" for the number
range, and behaviour captured against the real service by dynalite
(architect/dynalite test/updateItem.js) and the ScyllaDB Alternator suite
(test/alternator/test_update_expression.py, test_number.py).
"""

from __future__ import annotations

import itertools

import pytest

from tests.conformance.conftest import create_table, error_of
from tests.conformance.values import B, BS, L, M, N, NS, S, SS

_seq = itertools.count()

OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
WRONG_TYPE = "An operand in the update expression has an incorrect data type"
NO_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
BAD_PATH = "The document path provided in the update expression is invalid for update"
OVERLAP = ("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
           "these paths; path one: {}, path two: {}")
CONFLICT = ("Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of "
            "these paths; path one: {}, path two: {}")


@pytest.fixture(scope="module")
def t(ddb):
    return create_table(ddb, "upd_expr_h", ("pk", "S"))


@pytest.fixture(scope="module")
def tr(ddb):
    return create_table(ddb, "upd_expr_hr", ("pk", "S"), ("sk", "N"))


def new_item(ddb, table, attrs: dict | None) -> dict:
    """Put a fresh item (or nothing, for attrs=None) and return its key."""
    key = {"pk": {"S": f"u{next(_seq)}"}}
    if attrs is not None:
        ddb.put_item(TableName=table, Item={**key, **attrs})
    return key


def update(ddb, table, key, expr, values=None, names=None, **kw):
    if values:
        kw["ExpressionAttributeValues"] = values
    if names:
        kw["ExpressionAttributeNames"] = names
    return ddb.update_item(TableName=table, Key=key, UpdateExpression=expr, **kw)


def update_error(ddb, table, key, expr, values=None, names=None, **kw) -> tuple[str, str]:
    """(code, message) of an UpdateItem that must fail."""
    return error_of(update, ddb=ddb, table=table, key=key, expr=expr, values=values, names=names, **kw)


def stored(ddb, table, key):
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if item is not None:
        item = {k: v for k, v in item.items() if k != "pk"}
    return item


def canon(value):
    """Sets compare as sorted lists (DynamoDB keeps no order in a set)."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canon(v) for v in value]
    return value


def check(ddb, table, initial, expr, values, names, expected):
    key = new_item(ddb, table, initial)
    update(ddb, table, key, expr, values, names)
    assert canon(stored(ddb, table, key)) == canon(expected)


# ---------------------------------------------------------------- SET

SILLY = "3can include any character!.#="
DEEP = M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(5), N(7))))))

SET_CASES = [
    ("new attribute", {}, "SET a = :v", {":v": S("x")}, None, {"a": S("x")}),
    ("on missing item", None, "SET a = :v", {":v": S("x")}, None, {"a": S("x")}),
    ("replaces type", {"a": N(1)}, "SET a = :v", {":v": S("x")}, None, {"a": S("x")}),
    ("merges with other attributes", {"a": S("hi")}, "SET b = :v", {":v": S("x")}, None,
     {"a": S("hi"), "b": S("x")}),
    ("copies an attribute", {"a": S("hello")}, "SET b = a", None, None, {"a": S("hello"), "b": S("hello")}),
    ("copies a nested value", {"a": M(c=M(x=N(7)))}, "SET z = a.c.x", None, None,
     {"a": M(c=M(x=N(7))), "z": N(7)}),
    ("self assignment", {"a": S("hi")}, "SET a = a", None, None, {"a": S("hi")}),
    ("two actions", {}, "SET a = :v, b = :w", {":v": N(1), ":w": N(2)}, None, {"a": N(1), "b": N(2)}),
    ("lowercase keyword", {}, "set a = :v", {":v": N(4)}, None, {"a": N(4)}),
    ("mixed case keyword and spacing", {}, "  sEt   a=:v  ", {":v": N(5)}, None, {"a": N(5)}),
    ("plus", {"n": N(5)}, "SET n = n + :d", {":d": N(3)}, None, {"n": N(8)}),
    ("value plus path", {"n": N(5)}, "SET n = :d + n", {":d": N(4)}, None, {"n": N(9)}),
    ("minus", {"n": N(5)}, "SET n = n - :d", {":d": N(3)}, None, {"n": N(2)}),
    ("minus going negative", {"n": N(5)}, "SET n = :d - n", {":d": N(3)}, None, {"n": N(-2)}),
    ("two values", {}, "SET n = :a + :b", {":a": N("0.1"), ":b": N("0.2")}, None, {"n": N("0.3")}),
    ("two paths", {"a": N(2), "b": N(3)}, "SET c = a + b", None, None, {"a": N(2), "b": N(3), "c": N(5)}),
    ("result zero", {"n": N("1.5")}, "SET n = n + :d", {":d": N("-1.5")}, None, {"n": N(0)}),
    ("big integers exactly", {}, "SET b = :a + :b", {":a": N(1), ":b": N("10000000000000000000000")}, None,
     {"b": N("10000000000000000000001")}),
    ("if_not_exists missing", {}, "SET a = if_not_exists(a, :v)", {":v": N(1)}, None, {"a": N(1)}),
    ("if_not_exists present", {"a": N(7)}, "SET a = if_not_exists(a, :v)", {":v": N(1)}, None, {"a": N(7)}),
    ("if_not_exists copies other", {"a": N(7)}, "SET b = if_not_exists(a, :v)", {":v": N(1)}, None,
     {"a": N(7), "b": N(7)}),
    ("counter idiom first", {}, "SET c = if_not_exists(c, :zero) + :one", {":zero": N(0), ":one": N(1)}, None,
     {"c": N(1)}),
    ("counter idiom again", {"c": N(4)}, "SET c = if_not_exists(c, :zero) + :one", {":zero": N(0), ":one": N(1)},
     None, {"c": N(5)}),
    ("nested if_not_exists", {}, "SET a = if_not_exists(b, if_not_exists(c, :v))", {":v": N(3)}, None, {"a": N(3)}),
    ("if_not_exists nested path", {"m": M(x=N(1))}, "SET y = if_not_exists(m.x, :v), z = if_not_exists(m.q, :v)",
     {":v": N(9)}, None, {"m": M(x=N(1)), "y": N(1), "z": N(9)}),
    ("list_append at end", {"l": L(N(1), N(2))}, "SET l = list_append(l, :v)", {":v": L(N(3))}, None,
     {"l": L(N(1), N(2), N(3))}),
    ("list_append at front", {"l": L(N(1), N(2))}, "SET l = list_append(:v, l)", {":v": L(N(0))}, None,
     {"l": L(N(0), N(1), N(2))}),
    ("list_append two values", {}, "SET l = list_append(:a, :b)", {":a": L(N(4), S("hello")), ":b": L(S("hi"))},
     None, {"l": L(N(4), S("hello"), S("hi"))}),
    ("list_append with if_not_exists", {}, "SET l = list_append(if_not_exists(l, :empty), :v)",
     {":empty": L(), ":v": L(S("a"))}, None, {"l": L(S("a"))}),
    ("list_append of empty list", {"l": L()}, "SET l = list_append(l, :v)", {":v": L(N(1))}, None,
     {"l": L(N(1))}),
    ("list_append two paths", {"a": L(N(1)), "b": L(N(2))}, "SET c = list_append(a, b)", None, None,
     {"a": L(N(1)), "b": L(N(2)), "c": L(N(1), N(2))}),
    ("nested map new key", {"m": M(x=N(1))}, "SET m.y = :v", {":v": N(2)}, None, {"m": M(x=N(1), y=N(2))}),
    ("nested map replace", {"m": M(x=N(1))}, "SET m.x = :v", {":v": S("s")}, None, {"m": M(x=S("s"))}),
    ("nested map two deep", {"m": M(kid=M(k=N(1)))}, "SET m.kid.k = :v", {":v": N(2)}, None,
     {"m": M(kid=M(k=N(2)))}),
    ("nested value replaced by scalar", {"m": M(b=N(3), c=M(one=N(1)))}, "SET m.c = :v", {":v": N(7)}, None,
     {"m": M(b=N(3), c=N(7))}),
    ("list element replace", {"l": L(S("a"), S("b"), S("c"))}, "SET l[1] = :v", {":v": S("x")}, None,
     {"l": L(S("a"), S("x"), S("c"))}),
    ("list element past end appends", {"l": L(S("a"), S("b"), S("c"))}, "SET l[7] = :v", {":v": S("x")}, None,
     {"l": L(S("a"), S("b"), S("c"), S("x"))}),
    ("several past end append in index order", {"l": L(S("a"))},
     "SET l[84] = :w, l[17] = :x, l[50] = :y", {":w": S("w"), ":x": S("x"), ":y": S("y")}, None,
     {"l": L(S("a"), S("x"), S("y"), S("w"))}),
    ("list in list", {"l": L(L(N(1), N(2)))}, "SET l[0][1] = :v", {":v": N(9)}, None, {"l": L(L(N(1), N(9)))}),
    ("deep mixed path", {"a": DEEP}, "SET a.c[1].#n.y[1] = :v", {":v": N(9)}, {"#n": "x"},
     {"a": M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(9), N(7))))))}),
    ("reserved word through name", {}, "SET #n = :v", {":v": S("x")}, {"#n": "name"}, {"name": S("x")}),
    ("dot inside a name is literal", {}, "SET #d = :v", {":v": N(3)}, {"#d": "a.b"}, {"a.b": N(3)}),
    ("any characters through a name", {}, "SET #123 = :v", {":v": N(6)}, {"#123": SILLY}, {SILLY: N(6)}),
    ("names on both sides", {"a": S("hello")}, "SET #one = #two", None, {"#one": "c", "#two": "a"},
     {"a": S("hello"), "c": S("hello")}),
    ("value placeholder spellings", {}, "SET a = :_, b = :123", {":_": N(11), ":123": N(10)}, None,
     {"a": N(11), "b": N(10)}),
    ("alphanumeric attribute names", {}, "SET Alpha_Numeric_123 = :v, A123_ = :v", {":v": N(2)}, None,
     {"Alpha_Numeric_123": N(2), "A123_": N(2)}),
    ("empty list map string binary", {}, "SET d = :l, e = :m, f = :s, g = :b",
     {":l": L(), ":m": M(), ":s": S(""), ":b": B(b"")}, None, {"d": L(), "e": M(), "f": S(""), "g": B(b"")}),
    ("reads happen before writes", {"x": S("old")}, "REMOVE x SET z = x", None, None, {"z": S("old")}),
    ("copy then remove source", {"b": S("v")}, "SET c = b REMOVE b", None, None, {"c": S("v")}),
    ("minus on a name placeholder", {"n": N(2)}, "SET #nn = :seven - #n", {":seven": N(7)},
     {"#nn": "nn", "#n": "n"}, {"n": N(2), "nn": N(5)}),
    ("non overlapping nested updates", {"a": M(x=N(3), y=N(4), c=M(y=N(3))), "b": M(x=N(1), y=N(2))},
     "SET a.b = :v1, a.c.d = :v2, b.x = :v3 REMOVE a.x, b.y", {":v1": N(10), ":v2": S("dog"), ":v3": N(17)}, None,
     {"a": M(y=N(4), b=N(10), c=M(y=N(3), d=S("dog"))), "b": M(x=N(17))}),
    ("list_append keeps nested values", {"l": L(S("x"))}, "SET l = list_append(l, :v)",
     {":v": L(L(S("hi")), M(k=SS("a")))}, None, {"l": L(S("x"), L(S("hi")), M(k=SS("a")))}),
    ("set to a set value", {}, "SET s = :v", {":v": SS("b", "a")}, None, {"s": SS("a", "b")}),
]


@pytest.mark.parametrize("initial,expr,values,names,expected",
                         [pytest.param(*c[1:], id=c[0]) for c in SET_CASES])
def test_set(ddb, t, initial, expr, values, names, expected):
    check(ddb, t, initial, expr, values, names, expected)


def test_set_reads_key_attributes(ddb, tr):
    key = {"pk": {"S": "keys"}, "sk": {"N": "7"}}
    update(ddb, tr, key, "SET n = #p, nn = #s + #s", names={"#p": "pk", "#s": "sk"})
    item = ddb.get_item(TableName=tr, Key=key, ConsistentRead=True)["Item"]
    assert item == {**key, "n": {"S": "keys"}, "nn": {"N": "14"}}


# ---------------------------------------------------------------- REMOVE

REMOVE_CASES = [
    ("one attribute", {"a": N(1), "b": N(2)}, "REMOVE a", {"b": N(2)}),
    ("two attributes", {"a": N(1), "b": N(2), "c": N(3)}, "REMOVE a, b", {"c": N(3)}),
    ("lowercase", {"a": N(1), "b": N(2)}, "remove a", {"b": N(2)}),
    ("missing attribute is a no-op", {"a": N(1)}, "REMOVE zz", {"a": N(1)}),
    ("nested map key", {"m": M(x=N(1), y=N(2))}, "REMOVE m.x", {"m": M(y=N(2))}),
    ("last map key leaves empty map", {"m": M(b=N(1))}, "REMOVE m.b", {"m": M()}),
    ("missing nested leaf is a no-op", {"m": M(x=N(3))}, "REMOVE m.y", {"m": M(x=N(3))}),
    ("list element shifts the rest", {"l": L(S("a"), S("b"), S("c"))}, "REMOVE l[1]", {"l": L(S("a"), S("c"))}),
    ("two list elements by original index", {"l": L(S("a"), S("b"), S("c"), S("d"))}, "REMOVE l[0], l[2]",
     {"l": L(S("b"), S("d"))}),
    ("list element past the end is a no-op", {"l": L(N(4), N(5), N(6))}, "REMOVE l[17]",
     {"l": L(N(4), N(5), N(6))}),
    ("only list element leaves empty list", {"l": L(N(1))}, "REMOVE l[0]", {"l": L()}),
    ("remove then set uses original indexes", {"l": L(*map(N, range(2, 8)))}, "REMOVE l[1] SET l[3] = :v",
     {"l": L(N(2), N(4), N(17), N(6), N(7))}),
    ("set then remove, same result", {"l": L(*map(N, range(2, 8)))}, "SET l[3] = :v REMOVE l[1]",
     {"l": L(N(2), N(4), N(17), N(6), N(7))}),
    ("deep nested", {"a": M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(5), N(7))), q=N(2))))},
     "REMOVE a.c[1].x.y[1], a.c[1].q", {"a": M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(7))))))}),
    ("through a name", {"name": N(1), "b": N(2)}, "REMOVE #n", {"b": N(2)}),
]


@pytest.mark.parametrize("initial,expr,expected", [pytest.param(*c[1:], id=c[0]) for c in REMOVE_CASES])
def test_remove(ddb, t, initial, expr, expected):
    values = {":v": N(17)} if ":v" in expr else None
    names = {"#n": "name"} if "#n" in expr else None
    check(ddb, t, initial, expr, values, names, expected)


def test_remove_nested_path_on_missing_item_is_not_an_error(ddb, t):
    key = new_item(ddb, t, None)
    update(ddb, t, key, "REMOVE x.y")
    update(ddb, t, key, "REMOVE x[0]")


# ---------------------------------------------------------------- ADD

ADD_CASES = [
    ("number", {"n": N(3)}, "ADD n :v", {":v": N(4)}, {"n": N(7)}),
    ("negative number", {"n": N(3)}, "ADD n :v", {":v": N(-5)}, {"n": N(-2)}),
    ("decimal", {"n": N("0.1")}, "ADD n :v", {":v": N("0.2")}, {"n": N("0.3")}),
    ("to missing attribute", {"a": S("hello")}, "ADD n :v", {":v": N(7)}, {"a": S("hello"), "n": N(7)}),
    ("to missing item", None, "ADD n :v", {":v": N(8)}, {"n": N(8)}),
    ("string set", {"s": SS("dog", "cat")}, "ADD s :v", {":v": SS("pig")}, {"s": SS("cat", "dog", "pig")}),
    ("string set union drops duplicates", {"s": SS("a", "b")}, "ADD s :v", {":v": SS("b", "c")},
     {"s": SS("a", "b", "c")}),
    ("number set", {"s": NS(1, 2)}, "ADD s :v", {":v": NS(2, 3)}, {"s": NS(1, 2, 3)}),
    ("number set compares numerically", {"s": NS("1.5")}, "ADD s :v", {":v": NS("1.50", "2")},
     {"s": NS("1.5", "2")}),
    ("binary set", {"s": BS(b"\x01")}, "ADD s :v", {":v": BS(b"\x02", b"\x01")}, {"s": BS(b"\x01", b"\x02")}),
    ("set to missing attribute", {}, "ADD s :v", {":v": SS("x")}, {"s": SS("x")}),
    ("set to missing item", None, "ADD s :v", {":v": NS(5)}, {"s": NS(5)}),
    ("two actions", {"a": N(1)}, "ADD a :one, b :one", {":one": N(1)}, {"a": N(2), "b": N(1)}),
    ("nested map member", {"m": M(c=N(1))}, "ADD m.c :v", {":v": N(2)}, {"m": M(c=N(3))}),
    ("lowercase", {"n": N(1)}, "add n :v", {":v": N(1)}, {"n": N(2)}),
]


@pytest.mark.parametrize("initial,expr,values,expected", [pytest.param(*c[1:], id=c[0]) for c in ADD_CASES])
def test_add(ddb, t, initial, expr, values, expected):
    check(ddb, t, initial, expr, values, None, expected)


# ---------------------------------------------------------------- DELETE

DELETE_CASES = [
    ("some elements", {"s": SS("dog", "cat", "mouse")}, SS("cat", "mouse"), {"s": SS("dog")}),
    ("absent element is a no-op", {"s": SS("dog")}, SS("pig"), {"s": SS("dog")}),
    ("last element removes the attribute", {"s": SS("dog"), "b": S("hi")}, SS("dog"), {"b": S("hi")}),
    ("all elements remove the attribute", {"s": NS(1, 2)}, NS(2, 1), {}),
    ("missing attribute is a no-op", {"b": S("hi")}, SS("dog"), {"b": S("hi")}),
    ("number set", {"s": NS(1, 2, 3)}, NS(1, 4), {"s": NS(2, 3)}),
    ("number set compares numerically", {"s": NS("1.5", "2")}, NS("1.50"), {"s": NS("2")}),
    ("binary set", {"s": BS(b"a", b"b")}, BS(b"a"), {"s": BS(b"b")}),
]


@pytest.mark.parametrize("initial,value,expected", [pytest.param(*c[1:], id=c[0]) for c in DELETE_CASES])
def test_delete(ddb, t, initial, value, expected):
    check(ddb, t, initial, "DELETE s :v", {":v": value}, None, expected)


def test_all_four_sections_together(ddb, t):
    check(ddb, t, {"b": N(1), "n": N(1), "s": SS("x", "y")},
          "DELETE s :d ADD n :one REMOVE b SET a = :v",
          {":d": SS("x"), ":one": N(1), ":v": S("set")}, None,
          {"n": N(2), "s": SS("y"), "a": S("set")})


# ---------------------------------------------------------------- numbers at the 38-digit edge

MAX = "9.9999999999999999999999999999999999999E+125"

NUMBER_CASES = [
    ("carry to 1E38", "9" * 38, "+", "1", "1" + "0" * 38),
    ("38 digit difference", "12345678901234567890123456789012345678", "-", "12345678901234567890123456789012345677",
     "1"),
    ("smallest plus smallest", "1E-130", "+", "1E-130", "0." + "0" * 129 + "2"),
    ("smallest minus smallest", "1E-130", "-", "1E-130", "0"),
    ("1E125 doubled", "1E125", "+", "1E125", "2" + "0" * 125),
    ("38 significant digits after the point", "1", "+", "1E-37", "1." + "0" * 36 + "1"),
    ("largest minus itself", MAX, "-", MAX, "0"),
]


@pytest.mark.parametrize("a,op,b,result", [pytest.param(*c[1:], id=c[0]) for c in NUMBER_CASES])
def test_arithmetic_at_the_edge(ddb, t, a, op, b, result):
    check(ddb, t, {"n": N(a)}, f"SET n = n {op} :b", {":b": N(b)}, None, {"n": N(result)})


NUMBER_ERRORS = [
    ("overflow past the largest", MAX, "+", "1E+125", OVERFLOW),
    ("negative overflow", "-" + MAX, "-", "1E+125", OVERFLOW),
    ("9e125 plus 9e125", "9e125", "+", "9e125", OVERFLOW),
    ("39 digits from a carry into precision", "12345678901234567890123456789012345678", "+", "0.1", OVERFLOW),
    ("1e50 plus 1 needs 51 digits", "1e50", "+", "1", OVERFLOW),
    ("1e50 minus 1 needs 50 digits", "1e50", "-", "1", OVERFLOW),
    ("1 plus 1E-38 needs 39 digits", "1", "+", "1E-38", OVERFLOW),
    ("difference below the smallest", "1.5E-130", "-", "1E-130", UNDERFLOW),
]


@pytest.mark.parametrize("a,op,b,message", [pytest.param(*c[1:], id=c[0]) for c in NUMBER_ERRORS])
def test_arithmetic_range_errors(ddb, t, a, op, b, message):
    key = new_item(ddb, t, {"n": N(a)})
    before = stored(ddb, t, key)
    code, msg = update_error(ddb, t, key, f"SET n = n {op} :b", {":b": N(b)})
    assert (code, msg) == ("ValidationException", message)
    assert stored(ddb, t, key) == before


def test_add_overflow(ddb, t):
    key = new_item(ddb, t, {"n": N(MAX)})
    assert update_error(ddb, t, key, "ADD n :b", {":b": N("1E125")}) == ("ValidationException", OVERFLOW)


def test_add_at_the_edge(ddb, t):
    check(ddb, t, {"n": N("9" * 38)}, "ADD n :one", {":one": N(1)}, None, {"n": N("1" + "0" * 38)})


# ---------------------------------------------------------------- static errors (the item does not matter)


def static_error(ddb, t, expr, values=None, names=None):
    return update_error(ddb, t, new_item(ddb, t, None), expr, values, names)


V = {":v": N(1)}
V2 = {":v": N(1), ":w": N(2)}


def operand_type(action: str, kind: str) -> str:
    """DynamoDB's message for an ADD/DELETE operand of the wrong type (the typeSet suffix is in
    messages captured from the service, e.g. dynamoid's and DynamoDB Local's)."""
    return (f"Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {action}, "
            f"operand type: {kind}, typeSet: ALLOWED_FOR_{action}_OPERAND")

STATIC_ERRORS = [
    # overlapping and conflicting paths
    ("set and remove same", "SET a = :v REMOVE a", V, None, OVERLAP.format("[a]", "[a]")),
    ("remove and set same", "REMOVE a SET a = :v", V, None, OVERLAP.format("[a]", "[a]")),
    ("set twice", "SET a = :v, a = :w", V2, None, OVERLAP.format("[a]", "[a]")),
    ("set twice through names", "SET #a1 = :v, #a2 = :w", V2, {"#a1": "a", "#a2": "a"},
     OVERLAP.format("[a]", "[a]")),
    ("parent then child", "SET m = :v, m.x = :w", V2, None, OVERLAP.format("[m]", "[m, x]")),
    ("child then parent", "SET m.x = :v, m = :w", V2, None, OVERLAP.format("[m, x]", "[m]")),
    ("deep child then parent", "SET c.b.#c = :v, c = :w", V2, {"#c": "c"}, OVERLAP.format("[c, b, c]", "[c]")),
    ("list element twice", "SET a[1] = :v, a[1] = :w", V2, None, OVERLAP.format("[a, [1]]", "[a, [1]]")),
    ("list element and inside it", "SET a[1] = :v, a[1][1] = :w", V2, None,
     OVERLAP.format("[a, [1]]", "[a, [1], [1]]")),
    ("remove parent and child", "REMOVE c, c.a", None, None, OVERLAP.format("[c]", "[c, a]")),
    ("remove twice", "REMOVE a, b, a", None, None, OVERLAP.format("[a]", "[a]")),
    ("add and set same", "SET a = :v ADD a :w", V2, None, OVERLAP.format("[a]", "[a]")),
    ("map and list access", "SET a.b = :v, a[1] = :w", V2, None, CONFLICT.format("[a, b]", "[a, [1]]")),
    ("remove map set list", "REMOVE a.b SET a[1] = :v", V, None, CONFLICT.format("[a, b]", "[a, [1]]")),
    # key attributes
    ("set the key", "SET pk = :v", V, None,
     "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
    ("remove the key", "REMOVE pk", None, None,
     "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
    ("add to the key", "ADD pk :v", V, None,
     "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
    ("delete from the key", "DELETE pk :v", {":v": SS("a")}, None,
     "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
    ("key through a name", "SET #k = :v", V, {"#k": "pk"},
     "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
    # placeholders
    ("undefined value", "SET a = :nope", V, None,
     "Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
     "attribute value: :nope"),
    ("no values at all", "SET a = :v", None, None,
     "Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
     "attribute value: :v"),
    ("undefined name", "SET #nope = :v", V, {"#a": "a"},
     "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; "
     "attribute name: #nope"),
    ("no names at all", "SET #a = :v", V, None,
     "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; "
     "attribute name: #a"),
    ("unused value", "SET a = :v", {**V, ":extra": N(2)}, None,
     "Value provided in ExpressionAttributeValues unused in expressions: keys: {:extra}"),
    ("unused name", "SET #a = :v", V, {"#a": "a", "#extra": "b"},
     "Value provided in ExpressionAttributeNames unused in expressions: keys: {#extra}"),
    # reserved words
    ("reserved word", "SET name = :v", V, None,
     "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name"),
    ("reserved word keeps its case", "REMOVE Absolute", None, None,
     "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Absolute"),
    ("reserved word nested", "SET m.status = :v", V, None,
     "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"),
    ("reserved word on the right", "SET a = size", None, None,
     "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: size"),
    # sections
    ("two SET sections", "SET a = :v SET b = :w", V2, None,
     'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'),
    ("two SET sections interleaved", "SET a = :v REMOVE c SET b = :w", V2, None,
     'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'),
    ("two REMOVE sections", "REMOVE a SET b = :v REMOVE c", V, None,
     'Invalid UpdateExpression: The "REMOVE" section can only be used once in an update expression;'),
    ("two ADD sections", "ADD a :v SET b = :w ADD c :v", V2, None,
     'Invalid UpdateExpression: The "ADD" section can only be used once in an update expression;'),
    ("two DELETE sections", "DELETE a :s SET b = :w DELETE c :s", {":s": SS("x"), ":w": N(1)}, None,
     'Invalid UpdateExpression: The "DELETE" section can only be used once in an update expression;'),
    # syntax errors name the token where parsing stopped and its neighbours
    ("three operands", "SET a = :v + :w + :v", V2, None,
     'Invalid UpdateExpression: Syntax error; token: "+", near: ":w + :v"'),
    ("multiplication", "SET a = b * c", None, None, 'Invalid UpdateExpression: Syntax error; token: "*", near: "b * c"'),
    ("division", "SET a = b / c", None, None, 'Invalid UpdateExpression: Syntax error; token: "/", near: "b / c"'),
    ("keyword alone", "SET", None, None, 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "SET"'),
    ("missing value", "SET a =", None, None, 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "="'),
    ("missing equals", "SET a", None, None, 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "a"'),
    ("trailing comma", "SET a = :v,", V, None, 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'),
    ("remove with value", "REMOVE a = b", None, None,
     'Invalid UpdateExpression: Syntax error; token: "=", near: "a = b"'),
    ("unknown section", "HELLO b = :v", V, None,
     'Invalid UpdateExpression: Syntax error; token: "HELLO", near: "HELLO b"'),
    ("name starting with underscore", "SET _123 = :v", V, None,
     'Invalid UpdateExpression: Syntax error; token: "_", near: "SET _123"'),
    ("value on the left", "SET :v = :w", V2, None, 'Invalid UpdateExpression: Syntax error; token: ":v", near: "SET :v ="'),
    ("value as list index", "SET a[:i] = :v", {**V, ":i": N(1)}, None,
     'Invalid UpdateExpression: Syntax error; token: ":i", near: "[:i]"'),
    ("plus inside a function", "SET c = if_not_exists(c, :v+:w)", V2, None,
     'Invalid UpdateExpression: Syntax error; token: "+", near: ":v+:w"'),
    ("add without value", "ADD a", None, None, 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "a"'),
    ("dash in a bare name", "SET hi-there = :v", V, None,
     'Invalid UpdateExpression: Syntax error; token: "-", near: "hi-there"'),
    # functions
    ("if_not_exists needs a path", "SET a = if_not_exists(:v, a)", V, None,
     "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"),
    ("if_not_exists of a function", "SET a = if_not_exists(if_not_exists(a, :v), :w)", V2, None,
     "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"),
    ("if_not_exists one operand", "SET a = if_not_exists(a)", None, None,
     "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: "
     "if_not_exists, number of operands: 1"),
    ("list_append one operand", "SET a = list_append(:l)", {":l": L()}, None,
     "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: "
     "list_append, number of operands: 1"),
    ("list_append three operands", "SET a = list_append(:l, :l, :l)", {":l": L()}, None,
     "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: "
     "list_append, number of operands: 3"),
    ("unknown function", "SET a = f(b)", None, None, "Invalid UpdateExpression: Invalid function name; function: f"),
    ("function names are case sensitive", "SET a = LIST_APPEND(:l, :l)", {":l": L()}, None,
     "Invalid UpdateExpression: Invalid function name; function: LIST_APPEND"),
    ("size is a condition function", "SET a = size(b)", None, None,
     "Invalid UpdateExpression: The function is not allowed in an update expression; function: size"),
    ("nested list_append", "SET a = list_append(list_append(:l, :l), :l)", {":l": L()}, None,
     "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; "
     "function: list_append"),
    # operand types known from the request
    ("list_append of a string", "SET a = list_append(:s, a)", {":s": S("x")}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: "
     "list_append, operand type: S"),
    ("list_append of a number", "SET a = list_append(a, :n)", {":n": N(1)}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: "
     "list_append, operand type: N"),
    ("list_append of a map", "SET a = list_append(:m, a)", {":m": M()}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: "
     "list_append, operand type: M"),
    ("plus a string", "SET a = a + :s", {":s": S("x")}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, "
     "operand type: S"),
    ("plus a set", "SET a = a + :s", {":s": NS(1)}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, "
     "operand type: NS"),
    ("minus a list", "SET a = a - :l", {":l": L()}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: -, "
     "operand type: L"),
    ("minus a bool", "SET a = :b - a", {":b": {"BOOL": True}}, None,
     "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: -, "
     "operand type: BOOL"),
    ("add a string", "ADD a :s", {":s": S("x")}, None,
     operand_type("ADD", "STRING")),
    ("add a list", "ADD a :l", {":l": L(N(1))}, None,
     operand_type("ADD", "LIST")),
    ("add a map", "ADD a :m", {":m": M(a=L(N(1)))}, None,
     operand_type("ADD", "MAP")),
    ("add a binary", "ADD a :b", {":b": B(b"a")}, None,
     operand_type("ADD", "BINARY")),
    ("add a bool", "ADD a :b", {":b": {"BOOL": False}}, None,
     operand_type("ADD", "BOOLEAN")),
    ("add a null", "ADD a :b", {":b": {"NULL": True}}, None,
     operand_type("ADD", "NULL")),
    ("delete a number", "DELETE a :n", {":n": N(1)}, None,
     operand_type("DELETE", "NUMBER")),
    ("delete a string", "DELETE a :s", {":s": S("x")}, None,
     operand_type("DELETE", "STRING")),
    ("delete a list", "DELETE a :l", {":l": L(N(1))}, None,
     operand_type("DELETE", "LIST")),
]


@pytest.mark.parametrize("expr,values,names,message",
                         [pytest.param(*c[1:], id=c[0]) if type(c) is tuple else c for c in STATIC_ERRORS])
def test_static_errors(ddb, t, expr, values, names, message):
    assert static_error(ddb, t, expr, values, names) == ("ValidationException", message)


def test_cannot_update_sort_key(ddb, tr):
    key = {"pk": {"S": "k"}, "sk": {"N": "1"}}
    code, msg = update_error(ddb, tr, key, "SET sk = :v", V)
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: Cannot update "
                                                   "attribute sk. This attribute is part of the key")


def test_errors_leave_the_item_unchanged(ddb, t):
    key = new_item(ddb, t, {"a": N(1)})
    update_error(ddb, t, key, "SET a = :v REMOVE a", V)
    assert stored(ddb, t, key) == {"a": N(1)}


# ---------------------------------------------------------------- errors that depend on the item

ITEM = {"s": S("str"), "n": N(1), "l": L(N(1)), "m": M(x=N(1)), "ss": SS("a"), "ns": NS(1)}

ITEM_ERRORS = [
    ("copy of missing attribute", "SET a = nope", None, NO_ATTRIBUTE),
    ("arithmetic on missing attribute", "SET n2 = nope + :one", {":one": N(1)}, NO_ATTRIBUTE),
    ("list_append of missing attribute", "SET l2 = list_append(nope, :l)", {":l": L()}, NO_ATTRIBUTE),
    ("read of attribute set in the same expression", "SET x = :v, y = x", {":v": N(1)}, NO_ATTRIBUTE),
    ("arithmetic on a string", "SET n2 = s + :one", {":one": N(1)}, WRONG_TYPE),
    ("arithmetic on a list", "SET n2 = :one - l", {":one": N(1)}, WRONG_TYPE),
    ("list_append of a number attribute", "SET l2 = list_append(n, :l)", {":l": L()}, WRONG_TYPE),
    ("list_append of a map attribute", "SET l2 = list_append(:l, m)", {":l": L()}, WRONG_TYPE),
    ("add number to a string", "ADD s :one", {":one": N(1)}, WRONG_TYPE),
    ("add number to a set", "ADD ns :one", {":one": N(1)}, WRONG_TYPE),
    ("add number set to string set", "ADD ss :v", {":v": NS(1)}, WRONG_TYPE),
    ("add set to a number", "ADD n :v", {":v": NS(1)}, WRONG_TYPE),
    ("add set to a list", "ADD l :v", {":v": NS(3)}, WRONG_TYPE),
    ("delete number set from string set", "DELETE ss :v", {":v": NS(1)}, WRONG_TYPE),
    ("delete from a number", "DELETE n :v", {":v": NS(1)}, WRONG_TYPE),
    ("delete from a string", "DELETE s :v", {":v": SS("s")}, WRONG_TYPE),
    ("set into a string", "SET s.c = :v", {":v": N(1)}, BAD_PATH),
    ("set map key into a list", "SET l.c = :v", {":v": N(1)}, BAD_PATH),
    ("set index into a string", "SET s[0] = :v", {":v": N(1)}, BAD_PATH),
    ("set index into a map", "SET m[0] = :v", {":v": N(1)}, BAD_PATH),
    ("set under a missing attribute", "SET nope.c = :v", {":v": N(1)}, BAD_PATH),
    ("set under a missing nested map", "SET m.y.z = :v", {":v": N(1)}, BAD_PATH),
    ("set index of a missing attribute", "SET nope[0] = :v", {":v": N(1)}, BAD_PATH),
    ("remove inside a string", "REMOVE s.c", None, BAD_PATH),
    ("remove map key of a list", "REMOVE l.c", None, BAD_PATH),
    ("remove under a missing attribute", "REMOVE nope.c", None, BAD_PATH),
    ("remove index of a map", "REMOVE m[0]", None, BAD_PATH),
    ("remove index of a missing attribute", "REMOVE nope[0]", None, BAD_PATH),
    ("add under a missing attribute", "ADD nope.c :one", {":one": N(1)}, BAD_PATH),
]


@pytest.mark.parametrize("expr,values,message", [pytest.param(*c[1:], id=c[0]) for c in ITEM_ERRORS])
def test_item_errors(ddb, t, expr, values, message):
    key = new_item(ddb, t, ITEM)
    assert update_error(ddb, t, key, expr, values) == ("ValidationException", message)
    assert canon(stored(ddb, t, key)) == canon(ITEM)


@pytest.mark.parametrize("expr", ["SET c.c = :v", "SET b[0] = :v"])
def test_nested_set_on_missing_item(ddb, t, expr):
    key = new_item(ddb, t, None)
    assert update_error(ddb, t, key, expr, V) == ("ValidationException", BAD_PATH)
    assert stored(ddb, t, key) is None


def test_copy_on_missing_item(ddb, t):
    key = new_item(ddb, t, None)
    assert update_error(ddb, t, key, "SET c = z") == ("ValidationException", NO_ATTRIBUTE)


# ---------------------------------------------------------------- request-level validation


def test_empty_expression(raw_ddb, t):
    code, msg = error_of(raw_ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, UpdateExpression="")
    assert (code, msg) == ("ValidationException", "Invalid UpdateExpression: The expression can not be empty;")


def test_empty_expression_attribute_values(raw_ddb, t):
    code, msg = error_of(raw_ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, UpdateExpression="REMOVE a",
                         ExpressionAttributeValues={})
    assert (code, msg) == ("ValidationException", "ExpressionAttributeValues must not be empty")


def test_empty_expression_attribute_names(raw_ddb, t):
    code, msg = error_of(raw_ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, UpdateExpression="REMOVE a",
                         ExpressionAttributeNames={})
    assert (code, msg) == ("ValidationException", "ExpressionAttributeNames must not be empty")


def test_value_placeholder_without_colon(ddb, t):
    code, msg = update_error(ddb, t, {"pk": {"S": "e"}}, "SET a = :v", {":v": N(1), "b": N(2)})
    assert (code, msg) == ("ValidationException", 'ExpressionAttributeValues contains invalid key: Syntax error; key: "b"')


def test_name_placeholder_without_hash(ddb, t):
    code, msg = update_error(ddb, t, {"pk": {"S": "e"}}, "SET #a = :v", V, {"#a": "a", "a": "a"})
    assert (code, msg) == ("ValidationException", 'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"')


@pytest.mark.parametrize("value,message", [
    (SS(), "One or more parameter values were invalid: An string set  may not be empty"),
    (NS(), "One or more parameter values were invalid: An number set  may not be empty"),
    ({"NULL": False}, "One or more parameter values were invalid: Null attribute value types must have the value of true"),
])
def test_invalid_expression_attribute_value(raw_ddb, t, value, message):
    code, msg = error_of(raw_ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, UpdateExpression="SET a = :v",
                         ExpressionAttributeValues={":v": value})
    assert (code, msg) == ("ValidationException", f"ExpressionAttributeValues contains invalid value: {message} for key :v")


def test_invalid_number_in_expression_attribute_value(raw_ddb, t):
    code, msg = error_of(raw_ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, UpdateExpression="SET a = :v",
                         ExpressionAttributeValues={":v": {"N": "b"}})
    assert (code, msg) == ("ValidationException", "ExpressionAttributeValues contains invalid value: "
                                                   "The parameter cannot be converted to a numeric value: b for key :v")


def test_expression_with_attribute_updates(ddb, t):
    code, msg = error_of(ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, UpdateExpression="SET a = :v",
                         ExpressionAttributeValues=V, AttributeUpdates={"b": {"Value": N(1), "Action": "PUT"}})
    assert (code, msg) == ("ValidationException", "Can not use both expression and non-expression parameters in the "
                                                   "same request: Non-expression parameters: {AttributeUpdates} "
                                                   "Expression parameters: {UpdateExpression}")


def test_values_without_any_expression(ddb, t):
    code, msg = error_of(ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, ExpressionAttributeValues=V)
    assert (code, msg) == ("ValidationException", "ExpressionAttributeValues can only be specified when using "
                                                   "expressions: UpdateExpression and ConditionExpression are null")


def test_names_without_any_expression(ddb, t):
    code, msg = error_of(ddb.update_item, TableName=t, Key={"pk": {"S": "e"}}, ExpressionAttributeNames={"#a": "a"})
    assert (code, msg) == ("ValidationException", "ExpressionAttributeNames can only be specified when using expressions")


# ---------------------------------------------------------------- expression size (Developer Guide, quotas: 4 KB)


def test_update_expression_of_4096_bytes_is_accepted(ddb, t):
    name = "a" + "b" * (4096 - len("SET  = :v") - 1)
    expr = f"SET {name} = :v"
    assert len(expr.encode()) == 4096
    check(ddb, t, {}, expr, V, None, {name: N(1)})


def test_update_expression_over_4096_bytes_is_rejected(ddb, t):
    name = "a" + "b" * (4097 - len("SET  = :v") - 1)
    code, msg = static_error(ddb, t, f"SET {name} = :v", V)
    assert (code, msg) == ("ValidationException", "Invalid UpdateExpression: Expression size has exceeded the maximum "
                                                   "allowed size; expression size: 4097")
