"""Property tests: random update expressions and random conditions, parsed and
evaluated by ddb.expressions, against straightforward reference
implementations on plain Python values."""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddb.errors import ValidationException
from ddb.expressions import Context, apply_update, evaluate, parse_condition, parse_projection, parse_update
from ddb.update import MISSING, WRONG_TYPE
from tests.ddb.strategies import as_decimal, b64, parsed_numbers, spellings

NAMES = ["a", "b", "c", "d", "e"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Python model of a value: ("N", int) | ("S", str) | ("BOOL", bool) | ("SS", frozenset[str])
numbers = st.integers(-20, 20).map(lambda i: ("N", i))
strings = st.text(alphabet=["a", "b", "\u00e9", "\uffff", "\U0001F600"], max_size=3).map(lambda s: ("S", s))
string_sets = st.frozensets(st.sampled_from(["x", "y", "z", "u", "v", "w"]), min_size=1, max_size=4).map(
    lambda s: ("SS", s))
bools = st.booleans().map(lambda b: ("BOOL", b))
values = st.one_of(numbers, strings, string_sets, bools)
items = st.dictionaries(st.sampled_from(NAMES), values, max_size=5)


def to_av(v: tuple) -> dict:
    t, x = v
    if t == "N":
        return {"N": str(x)}
    if t == "SS":
        return {"SS": sorted(x)}
    return {t: x}


def from_av(av: dict) -> tuple:
    (t, x), = av.items()
    if t == "N":
        d = Decimal(x)
        assert d == int(d)
        return ("N", int(d))
    if t == "SS":
        return ("SS", frozenset(x))
    return (t, x)


def to_item(model: dict) -> dict:
    return {"pk": {"S": "key"}, **{k: to_av(v) for k, v in model.items()}}


# --- updates -----------------------------------------------------------------------------


class Values:
    """Allocates :placeholders for literal values."""

    def __init__(self) -> None:
        self.avs: dict[str, dict] = {}

    def add(self, v: tuple) -> str:
        name = f":v{len(self.avs)}"
        self.avs[name] = to_av(v)
        return name


KINDS = ["set_value", "set_path", "set_plus", "set_minus", "set_ine", "remove", "add_n", "add_ss", "delete_ss"]


@st.composite
def updates(draw, model: dict):
    """(expression text, placeholder values, actions) with distinct top-level
    targets, biased towards the attributes the item holds."""
    targets = draw(st.lists(st.sampled_from(sorted(model) + NAMES), min_size=1, max_size=5, unique=True))
    vals = Values()
    clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    actions = []
    for t in targets:
        held = model.get(t, ("",))[0]
        kind = draw(st.sampled_from(KINDS + (["add_ss", "delete_ss"] * 3 if held == "SS" else [])
                                    + (["add_n", "set_plus"] * 2 if held == "N" else [])))
        src = draw(st.sampled_from(NAMES))
        if kind == "set_value":
            v = draw(values)
            clauses["SET"].append(f"{t} = {vals.add(v)}")
            actions.append(("set", t, ("value", v)))
        elif kind == "set_path":
            clauses["SET"].append(f"{t} = {src}")
            actions.append(("set", t, ("path", src)))
        elif kind in ("set_plus", "set_minus"):
            n = draw(numbers)
            op = "+" if kind == "set_plus" else "-"
            if draw(st.booleans()):
                clauses["SET"].append(f"{t} = {src} {op} {vals.add(n)}")
                actions.append(("set", t, ("arith", op, ("path", src), ("value", n))))
            else:
                clauses["SET"].append(f"{t} = {vals.add(n)} {op} {src}")
                actions.append(("set", t, ("arith", op, ("value", n), ("path", src))))
        elif kind == "set_ine":
            v = draw(values)
            clauses["SET"].append(f"{t} = if_not_exists({src}, {vals.add(v)})")
            actions.append(("set", t, ("ine", src, v)))
        elif kind == "remove":
            clauses["REMOVE"].append(t)
            actions.append(("remove", t, None))
        elif kind == "add_n":
            n = draw(numbers)
            clauses["ADD"].append(f"{t} {vals.add(n)}")
            actions.append(("add", t, n))
        elif kind == "add_ss":
            s = draw(string_sets)
            clauses["ADD"].append(f"{t} {vals.add(s)}")
            actions.append(("add", t, s))
        else:
            s = draw(string_sets)
            clauses["DELETE"].append(f"{t} {vals.add(s)}")
            actions.append(("delete", t, s))
    order = draw(st.permutations(["SET", "REMOVE", "ADD", "DELETE"]))
    keyword_case = draw(st.sampled_from([str.upper, str.lower, str.title]))
    text = " ".join(f"{keyword_case(c)} {', '.join(clauses[c])}" for c in order if clauses[c])
    return text, vals.avs, actions


class RefError(Exception):
    pass


def ref_value(old: dict, expr: tuple) -> tuple:
    kind = expr[0]
    if kind == "value":
        return expr[1]
    if kind == "path":
        if expr[1] not in old:
            raise RefError(MISSING)
        return old[expr[1]]
    if kind == "ine":
        return old.get(expr[1], expr[2])
    _, op, left, right = expr
    x = ref_value(old, left)
    if x[0] != "N":
        raise RefError(WRONG_TYPE)
    y = ref_value(old, right)
    if y[0] != "N":
        raise RefError(WRONG_TYPE)
    return ("N", x[1] + y[1] if op == "+" else x[1] - y[1])


def ref_update(old: dict, actions: list) -> dict:
    new = dict(old)
    computed = [(kind, t, ref_value(old, p) if kind == "set" else p) for kind, t, p in actions]
    for kind, t, p in computed:
        cur = old.get(t)
        if kind == "set":
            new[t] = p
        elif kind == "remove":
            new.pop(t, None)
        elif kind == "add":
            if cur is None:
                new[t] = p
            elif cur[0] != p[0]:
                raise RefError(WRONG_TYPE)
            elif p[0] == "N":
                new[t] = ("N", cur[1] + p[1])
            else:
                new[t] = ("SS", cur[1] | p[1])
        else:  # delete
            if cur is None:
                continue
            if cur[0] != "SS":
                raise RefError(WRONG_TYPE)
            rest = cur[1] - p[1]
            if rest:
                new[t] = ("SS", rest)
            else:
                new.pop(t)
    return new


@SETTINGS
@given(st.data())
def test_updates_match_reference(data):
    model = data.draw(items)
    text, avs, actions = data.draw(updates(model))
    ast = parse_update(text, Context(None, avs))
    ast = orjson.loads(orjson.dumps(ast))
    item = to_item(model)
    try:
        expected = ref_update(model, actions)
    except RefError as e:
        try:
            apply_update(ast, item, ("pk",))
        except ValidationException as got:
            assert got.message == str(e)
        else:
            raise AssertionError(f"{text!r} on {model} should fail with {e}")
        return
    new = apply_update(ast, item, ("pk",))
    assert item == to_item(model), "the input item was modified"
    assert new.pop("pk") == {"S": "key"}
    assert {k: from_av(v) for k, v in new.items()} == expected


# --- conditions -------------------------------------------------------------------------------


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


def ordered(x: tuple, y: tuple) -> int | None:
    if x is None or y is None or x[0] != y[0] or x[0] not in ("N", "S"):
        return None
    a, b = (x[1], y[1]) if x[0] == "N" else (utf8(x[1]), utf8(y[1]))
    return (a > b) - (a < b)


def same(x: tuple | None, y: tuple | None) -> bool:
    return x is not None and y is not None and x == y and type(x[1]) is type(y[1])


def size(x: tuple | None) -> tuple | None:
    if x is None or x[0] in ("N", "BOOL"):
        return None
    return ("N", len(utf8(x[1])) if x[0] == "S" else len(x[1]))


@st.composite
def leaves(draw, vals: Values, model: dict):
    """(text, reference predicate on the Python item); literals are often
    values the item holds, so equalities hold often enough to matter."""
    a = draw(st.sampled_from(sorted(model) + NAMES))
    values = globals()["values"]
    if model:
        held = st.sampled_from(sorted(model.values(), key=repr))
        values = st.one_of(values, held, st.just(model[a])) if a in model else st.one_of(values, held)
    kind = draw(st.sampled_from(["cmp", "cmp_path", "ordered", "between", "in", "exists", "not_exists",
                                 "begins_with", "contains", "size", "type"]))
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "<>"]))
        v = draw(values)
        ph = vals.add(v)
        if op == "=":
            return f"{a} = {ph}", lambda it: same(it.get(a), v)
        return f"{a} <> {ph}", lambda it: not same(it.get(a), v)
    if kind == "cmp_path":
        b = draw(st.sampled_from([n for n in NAMES if n != a]))
        op = draw(st.sampled_from(["=", "<>", "<", ">="]))
        if op in ("=", "<>"):
            return f"{a} {op} {b}", lambda it: same(it.get(a), it.get(b)) is (op == "=")

        def pred(it: dict) -> bool:
            c = ordered(it.get(a), it.get(b))
            return c is not None and (c < 0 if op == "<" else c >= 0)
        return f"{a} {op} {b}", pred
    if kind == "ordered":
        op = draw(st.sampled_from(["<", "<=", ">", ">="]))
        v = draw(st.one_of(numbers, strings))
        test = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}[op]
        if draw(st.booleans()):
            return f"{a} {op} {vals.add(v)}", lambda it: ordered(it.get(a), v) is not None and test(
                ordered(it.get(a), v))
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        return f"{vals.add(v)} {flipped} {a}", lambda it: ordered(it.get(a), v) is not None and test(
            ordered(it.get(a), v))
    if kind == "between":
        lo, hi = sorted(draw(st.lists(st.one_of(numbers), min_size=2, max_size=2))) if draw(st.booleans()) else \
            sorted(draw(st.lists(strings, min_size=2, max_size=2)), key=lambda v: utf8(v[1]))

        def pred(it: dict) -> bool:
            x = it.get(a)
            return ordered(x, lo) is not None and ordered(x, lo) >= 0 and ordered(x, hi) <= 0
        return f"{a} BETWEEN {vals.add(lo)} AND {vals.add(hi)}", pred
    if kind == "in":
        cands = draw(st.lists(values, min_size=1, max_size=4))
        return f"{a} IN ({', '.join(vals.add(c) for c in cands)})", \
            lambda it: any(same(it.get(a), c) for c in cands)
    if kind == "exists":
        return f"attribute_exists({a})", lambda it: a in it
    if kind == "not_exists":
        return f"attribute_not_exists({a})", lambda it: a not in it
    if kind == "begins_with":
        v = draw(strings)
        return f"begins_with({a}, {vals.add(v)})", \
            lambda it: it.get(a, ("", ""))[0] == "S" and it[a][1].startswith(v[1])
    if kind == "contains":
        v = draw(st.one_of(strings, st.sampled_from(["x", "y", "q"]).map(lambda s: ("S", s)), numbers))

        def pred(it: dict) -> bool:
            x = it.get(a)
            if x is None or v[0] != "S":
                return False
            return (x[0] == "S" and v[1] in x[1]) or (x[0] == "SS" and v[1] in x[1])
        return f"contains({a}, {vals.add(v)})", pred
    if kind == "size":
        n = draw(st.integers(0, 4))
        op = draw(st.sampled_from(["=", "<", ">="]))
        test = {"=": lambda s: s == n, "<": lambda s: s < n, ">=": lambda s: s >= n}[op]
        return f"size({a}) {op} {vals.add(('N', n))}", \
            lambda it: size(it.get(a)) is not None and test(size(it.get(a))[1])
    t = draw(st.sampled_from(["N", "S", "SS", "BOOL", "L"]))
    return f"attribute_type({a}, {vals.add(('S', t))})", lambda it: a in it and it[a][0] == t


@st.composite
def conditions(draw, vals: Values, model: dict, depth: int = 0):
    """A fully parenthesized condition tree: (text, predicate)."""
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(leaves(vals, model))
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        text, pred = draw(conditions(vals, model, depth + 1))
        return f"NOT ({text})", lambda it: not pred(it)
    (lt, lp), (rt, rp) = draw(conditions(vals, model, depth + 1)), draw(conditions(vals, model, depth + 1))
    if kind == "and":
        return f"({lt}) AND ({rt})", lambda it: lp(it) and rp(it)
    return f"({lt}) OR ({rt})", lambda it: lp(it) or rp(it)


@SETTINGS
@given(items, st.data())
def test_conditions_match_reference(model, data):
    vals = Values()
    text, pred = data.draw(conditions(vals, model))
    ast = parse_condition(text, Context(None, vals.avs))
    ast = orjson.loads(orjson.dumps(ast))
    assert evaluate(ast, to_item(model)) is pred(model), text


@SETTINGS
@given(items, st.data())
def test_precedence_matches_pythons_not_and_or(model, data):
    """NOT binds tighter than AND, AND tighter than OR: the same as Python's
    not/and/or, so the unparenthesized expression evaluates like Python."""
    vals = Values()
    n = data.draw(st.integers(1, 6))
    parts, py = [], []
    for i in range(n):
        if i:
            op = data.draw(st.sampled_from(["AND", "OR"]))
            parts.append(op)
            py.append(op.lower())
        if data.draw(st.booleans()):
            parts.append("NOT")
            py.append("not")
        text, pred = data.draw(leaves(vals, model))
        parts.append(text)
        py.append(str(pred(model)))
    ast = parse_condition(" ".join(parts), Context(None, vals.avs))
    # py holds only True/False/and/or/not
    assert evaluate(ast, to_item(model)) is eval(" ".join(py)), " ".join(parts)  # noqa: S307


# --- value semantics -----------------------------------------------------------------------------

scalar_avs = st.one_of(
    parsed_numbers().flatmap(spellings).map(lambda n: {"N": n}),
    st.text(max_size=4).map(lambda s: {"S": s}),
    st.binary(max_size=4).map(lambda b: {"B": b64(b)}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.frozensets(st.text(min_size=1, max_size=3), min_size=1, max_size=4).map(lambda s: {"SS": list(s)}),
    st.frozensets(st.integers(-50, 50), min_size=1, max_size=4).map(lambda s: {"NS": [str(i) for i in s]}),
    st.frozensets(st.binary(min_size=1, max_size=3), min_size=1, max_size=4).map(
        lambda s: {"BS": [b64(b) for b in s]}),
)
avs = st.recursive(scalar_avs, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda xs: {"L": xs}),
    st.dictionaries(st.text(max_size=3), inner, max_size=3).map(lambda m: {"M": m})), max_leaves=8)


def respelled(av: dict) -> dict:
    """The same value written differently: sets in another order, numbers
    with spare zeros and an exponent, map keys in another order."""
    (t, x), = av.items()
    if t == "N":
        return {"N": f"{as_decimal_text(x)}"}
    if t in ("SS", "BS"):
        return {t: list(reversed(x))}
    if t == "NS":
        return {t: [f"{n}.000e0" for n in reversed(x)]}
    if t == "L":
        return {"L": [respelled(e) for e in x]}
    if t == "M":
        return {"M": {k: respelled(x[k]) for k in reversed(list(x))}}
    return av


def as_decimal_text(text: str) -> str:
    d = Decimal(text)
    return f"{d:E}" if d else "0.0"


@SETTINGS
@given(avs)
def test_equality_ignores_spelling_and_set_order(av):
    values = {":v": respelled(av), ":w": {"S": "other"}}
    item = {"a": av, "l": {"L": [{"N": "0"}, av]}}

    def holds(text: str) -> bool:
        return evaluate(parse_condition(text, Context(None, values)), item)
    assert holds("a = :v") and not holds("a <> :v")
    assert holds("a IN (:w, :v)") and holds("contains(l, :v)")
    assert holds("a <> :w") is (av != {"S": "other"})


@SETTINGS
@given(parsed_numbers(), parsed_numbers(), st.data())
def test_number_comparisons_match_decimal(x, y, data):
    a, b = data.draw(spellings(x)), data.draw(spellings(y))
    dx, dy = as_decimal(x), as_decimal(y)
    item = {"a": {"N": a}}
    for op, expected in (("=", dx == dy), ("<>", dx != dy), ("<", dx < dy), ("<=", dx <= dy), (">", dx > dy),
                         (">=", dx >= dy)):
        ast = parse_condition(f"a {op} :v", Context(None, {":v": {"N": b}}))
        assert evaluate(ast, item) is expected, (a, op, b)


# --- robustness ---------------------------------------------------------------------------------

garbage = st.lists(st.sampled_from(list("ab#:v01 ()[].,=<>+-\u00e9") + [
    " AND ", " OR ", "NOT ", " BETWEEN ", " IN ", "size", "SET ", "REMOVE ", "ADD ", "DELETE ", "if_not_exists",
    "begins_with", "attribute_exists", "list_append", ":v0", "#a"]), max_size=25).map("".join)


@SETTINGS
@given(garbage)
def test_any_text_parses_or_fails_with_a_validation_exception(text):
    for parse in (parse_condition, parse_update, parse_projection):
        try:
            ast = parse(text, Context({"#a": "a"}, {":v": {"N": "1"}, ":v0": {"SS": ["x"]}}))
        except ValidationException as e:
            assert e.message.startswith("Invalid "), e.message
        else:
            assert orjson.loads(orjson.dumps(ast)) == ast
            if parse is parse_condition:
                assert evaluate(ast, {"a": {"N": "1"}, "b": {"L": []}}) in (True, False)
            elif parse is parse_update:
                try:
                    apply_update(ast, {"a": {"N": "1"}, "b": {"L": []}})
                except ValidationException:
                    pass
