"""Hypothesis strategies of PartiQL statements (every ``?`` is Param(0): the
parser numbers them, so tests compare with the numbers stripped)."""

from __future__ import annotations

from hypothesis import strategies as st

from ddb.partiql.ast import (And, Arith, Between, Call, Cmp, Delete, In, Insert, Is, ListV, Lit, MapV, Not, Or, Param,
                             Path, Select, SetV, Update)

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
numbers = st.from_regex(r"\A-?[0-9]{1,5}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?\Z")
paths = st.builds(lambda head, rest: Path((head, *rest)), names,
                  st.lists(st.one_of(names, st.integers(0, 99)), max_size=3))
scalars = st.one_of(st.builds(Lit, st.just("S"), st.text(max_size=10)), st.builds(Lit, st.just("N"), numbers),
                    st.builds(Lit, st.just("BOOL"), st.booleans()), st.just(Lit("NULL", None)), st.just(Param(0)))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.builds(lambda xs: ListV(tuple(xs)), st.lists(inner, max_size=3)),
    st.builds(lambda xs: SetV(tuple(xs)), st.lists(inner, max_size=3)),
    st.builds(lambda ps: MapV(tuple(ps)), st.lists(st.tuples(st.text(max_size=5), inner), max_size=3))),
    max_leaves=6)
operands = st.one_of(paths, values, st.builds(lambda p: Call("size", (p,)), paths))
leaves = st.one_of(
    st.builds(Cmp, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), operands, operands),
    st.builds(Between, operands, operands, operands),
    st.builds(lambda x, xs: In(x, tuple(xs)), operands, st.lists(operands, min_size=1, max_size=3)),
    st.builds(Is, paths, st.sampled_from(["MISSING", "NULL"]), st.booleans()),
    st.builds(lambda f, p, v: Call(f, (p, v)), st.sampled_from(["begins_with", "contains", "attribute_type"]),
              paths, values),
    st.builds(lambda f, p: Call(f, (p,)), st.sampled_from(["attribute_exists", "attribute_not_exists"]), paths))
conditions = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3))), max_leaves=8)
set_values = st.one_of(
    operands,
    st.builds(Arith, st.sampled_from("+-"), operands, operands),
    st.builds(lambda f, a, b: Call(f, (a, b)), st.sampled_from(["list_append", "if_not_exists", "set_add",
                                                                "set_delete"]), operands, operands))
actions = st.one_of(st.tuples(st.just("SET"), paths, set_values), st.tuples(st.just("REMOVE"), paths))
statements = st.one_of(
    st.builds(Select, names, st.none() | names, st.none() | st.lists(paths, min_size=1, max_size=3).map(tuple),
              st.none() | conditions, st.lists(st.tuples(paths, st.booleans()), max_size=2).map(tuple)),
    st.builds(Insert, names, values),
    st.builds(lambda t, a, w, r: Update(t, tuple(a), w, r), names, st.lists(actions, min_size=1, max_size=3),
              conditions, st.none() | st.sampled_from(["ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])),
    st.builds(Delete, names, conditions, st.none() | st.just("ALL_OLD")))
