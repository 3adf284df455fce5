"""The PartiQL parser: DynamoDB's statements as the Developer Guide writes
them, printed statements parse back to themselves, and malformed ones are
DynamoDB's ValidationException."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb.errors import ValidationException
from ddb.partiql import parse, to_text
from ddb.partiql.ast import (And, Arith, Between, Call, Cmp, Delete, In, Insert, Is, ListV, Lit, MapV, Not, Or, Param,
                             Path, Select, SetV, Update)
from ddb.partiql.parser import param_count
from tests.ddb.partiql.strategies import statements

P = Path


def _strip(node):
    """The node with every parameter numbered 0."""
    if isinstance(node, Param):
        return Param(0)
    if isinstance(node, tuple):
        return tuple(_strip(n) for n in node)
    if dataclasses.is_dataclass(node):
        return type(node)(*(_strip(getattr(node, f.name)) for f in dataclasses.fields(node)))
    return node


@given(statements)
@settings(max_examples=300, deadline=None)
def test_printed_statements_parse_back(stmt):
    text = to_text(stmt)
    parsed = parse(text)
    assert _strip(parsed) == stmt
    assert to_text(parsed) == text
    assert [p.index for p in _params(parsed)] == list(range(param_count(parsed)))


def _params(node):
    if isinstance(node, Param):
        return [node]
    if isinstance(node, tuple):
        return [p for n in node for p in _params(n)]
    if dataclasses.is_dataclass(node):
        return [p for f in dataclasses.fields(node) for p in _params(getattr(node, f.name))]
    return []


def test_developer_guide_statements():
    assert parse('SELECT OrderID, Total FROM "Orders" WHERE OrderID IN [1, 2, 3] ORDER BY OrderID DESC') == Select(
        "Orders", None, (P(("OrderID",)), P(("Total",))), In(P(("OrderID",)), (Lit("N", "1"), Lit("N", "2"),
                                                                               Lit("N", "3"))),
        ((P(("OrderID",)), True),))
    assert parse("select * from Orders.\"idx\" where Address.city = 'x' and not Total < 5;") == Select(
        "Orders", "idx", None, And((Cmp("=", P(("Address", "city")), Lit("S", "x")),
                                    Not(Cmp("<", P(("Total",)), Lit("N", "5"))))))
    assert parse("INSERT INTO Music VALUE {'Artist': ?, 'Awards': -1.5e2, 'Tags': <<'a'>>, 'L': [TRUE, NULL]}") == \
        Insert("Music", MapV((("Artist", Param(0)), ("Awards", Lit("N", "-1.5e2")), ("Tags", SetV((Lit("S", "a"),))),
                              ("L", ListV((Lit("BOOL", True), Lit("NULL", None)))))))
    assert parse("UPDATE Music SET AwardsWon = AwardsWon + 1 REMOVE a.b[2] WHERE Artist = ? AND x IS NOT MISSING") \
        == Update("Music", (("SET", P(("AwardsWon",)), Arith("+", P(("AwardsWon",)), Lit("N", "1"))),
                            ("REMOVE", P(("a", "b", 2)))),
                  And((Cmp("=", P(("Artist",)), Param(0)), Is(P(("x",)), "MISSING", True))))
    assert parse("DELETE FROM Music WHERE a = ? OR a BETWEEN ? AND ? OR begins_with(b, 'x') OR size(c) != 2") == \
        Delete("Music", Or((Cmp("=", P(("a",)), Param(0)), Between(P(("a",)), Param(1), Param(2)),
                            Call("begins_with", (P(("b",)), Lit("S", "x"))),
                            Cmp("<>", Call("size", (P(("c",)),)), Lit("N", "2")))))
    assert parse("SELECT * FROM t WHERE 'it''s' = \"we\"\"ird\"") == Select(
        "t", None, None, Cmp("=", Lit("S", "it's"), P(('we"ird',))))


@pytest.mark.parametrize("text, detail", [
    ("", "Expected data manipulation"),
    ("CREATE TABLE t", "Expected data manipulation"),
    ("SELECT * FROM", "Unexpected end of statement at position 14, expected a name"),
    ("SELECT * FROM t WHERE", "Unexpected end of statement at position 22, expected a value"),
    ("SELECT * FROM t WHERE a = 'x", ""),
    ("SELECT * FROM t WHERE a = 1 /* open", ""),
    ("SELECT * FROM t WHERE a = 1 b", "Unexpected token after expression"),
    ("SELECT * FROM t WHERE a = 1 e5", "Unexpected token after expression"),
    ("SELECT * FROM t WHERE a = 1)", "Unexpected token after expression"),
    ("SELECT * FROM t ORDER BY a WHERE a = 1", "Unexpected token after expression"),
    ("DELETE FROM t WHERE a = 1 ORDER BY a", "Unexpected token after expression"),
    ("INSERT INTO t x VALUE {'a': 1}", "Unexpected token after expression"),
    ("SELECT * FROM t WHERE a IS 1", "Unexpected '1' at position 28, expected MISSING or NULL"),
    ("UPDATE t WHERE a = 1", "Unexpected 'WHERE' at position 10, expected SET or REMOVE"),
    ("DELETE FROM t", "Unexpected end of statement at position 14, expected WHERE"),
    ("INSERT INTO t VALUE {a: 1}", "Unexpected 'a' at position 22, expected a quoted attribute name"),
    ("SELECT * FROM t WHERE a[x] = 1", "Unexpected 'x' at position 25, expected a list index"),
    ("SELECT * FROM t WHERE a[" + "9" * 5000 + "] = 1", "Unexpected '" + "9" * 5000 + "' at position 25, "
                                                        "expected a list index"),
    ("SELECT * FROM t WHERE a = 1 # c", ""),
])
def test_malformed(text, detail):
    with pytest.raises(ValidationException) as exc:
        parse(text)
    assert exc.value.message == "Statement wasn't well formed, can't be processed: " + detail


@pytest.mark.parametrize("text", ['SELECT * FROM "t" t WHERE a = 1', "SELECT * FROM t AS x", "UPDATE t x SET a = 1 WHERE a = 1",
                                  'DELETE FROM t "x" WHERE a = 1'])
def test_aliases_are_refused_by_their_own_message(text):
    with pytest.raises(ValidationException) as exc:
        parse(text)
    assert exc.value.message == "Aliasing is not supported"


def test_comments_and_number_forms():
    assert parse("-- note\nSELECT * FROM t /* a\n note */ -- more\nWHERE a = .73e1 AND b = -.5E+2 -- end") == Select(
        "t", None, None, And((Cmp("=", P(("a",)), Lit("N", ".73e1")), Cmp("=", P(("b",)), Lit("N", "-.5E+2")))))


@pytest.mark.parametrize("text, message", [
    ("SELECT * FROM t WHERE pk = 1 AND EXISTS(ss)", "Unrecognized function: exists at 1:34:6"),
    ("SELECT * FROM t WHERE pk = 1 AND\n set_add(ss, <<'x'>>) = ss", "Unrecognized function: set_add at 2:2:7"),
])
def test_unknown_functions_say_where(text, message):
    with pytest.raises(ValidationException) as exc:
        parse(text)
    assert exc.value.message == message


@given(st.text(max_size=60) | st.lists(st.sampled_from(
    ["SELECT", "*", "FROM", "t", ".", "WHERE", "a", "=", "?", "AND", "OR", "NOT", "(", ")", "[", "]", "{", "}",
     "<<", ">>", "'s'", "1", ",", ":", "IN", "BETWEEN", "IS", "MISSING", "UPDATE", "SET", "REMOVE", "DELETE",
     "INSERT", "INTO", "VALUE", "size", "set_add", "RETURNING", "ALL", "OLD", "+"]), max_size=14).map(" ".join))
@settings(max_examples=500, deadline=None)
def test_any_text_parses_or_is_a_validation_error(text):
    try:
        parse(text)
    except ValidationException:
        pass
