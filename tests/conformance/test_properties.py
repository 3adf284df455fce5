"""Property tests through the real cluster: random requests against a plain
Python model of what the DynamoDB documentation says they do.

1. UpdateItem with random SET / REMOVE / ADD / DELETE actions on a handful of
   top-level attributes agrees with a direct evaluation on Python values
   (Developer Guide, "Update expressions": every operand is read from the item
   as it was before the update; ADD to a missing attribute starts from zero or
   the empty set; DELETE of the last elements removes the attribute; reading a
   missing attribute or applying an operator to the wrong type fails the whole
   update and leaves the item as it was).
2. Query with a random key condition, direction and Limit, paged with
   ExclusiveStartKey, returns exactly the items a Python filter and sort give
   (numbers in numeric order, strings in UTF-8 byte order).

Each test reuses one table and a fresh partition key per example.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance.conftest import create_table

_seq = itertools.count()

SETTINGS = settings(max_examples=40, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def upd_table(ddb):
    return create_table(ddb, "prop_update", ("pk", "S"))


@pytest.fixture(scope="module")
def num_table(ddb):
    return create_table(ddb, "prop_query_n", ("pk", "S"), ("sk", "N"))


@pytest.fixture(scope="module")
def str_table(ddb):
    return create_table(ddb, "prop_query_s", ("pk", "S"), ("sk", "S"))


# ---------------------------------------------------------------- Python values <-> AttributeValues
#
# Model values: Decimal (N), str (S), ("SS", frozenset[str]), ("NS", frozenset[Decimal]), list (L of N/S).


def to_av(v):
    if isinstance(v, Decimal):
        return {"N": str(v)}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, list):
        return {"L": [to_av(x) for x in v]}
    kind, members = v
    if kind == "SS":
        return {"SS": sorted(members)}
    return {"NS": [str(x) for x in sorted(members)]}


def from_av(av):
    (kind, x), = av.items()
    if kind == "N":
        return Decimal(x)
    if kind == "S":
        return x
    if kind == "L":
        return [from_av(e) for e in x]
    if kind == "SS":
        return ("SS", frozenset(x))
    if kind == "NS":
        return ("NS", frozenset(Decimal(e) for e in x))
    raise AssertionError(f"unexpected type {kind}")


def is_num(v):
    return isinstance(v, Decimal)


def is_set(v, kind=None):
    return isinstance(v, tuple) and (kind is None or v[0] == kind)


# ---------------------------------------------------------------- strategies

ATTRS = ["n1", "n2", "s1", "ss1", "ns1", "l1"]

numbers = st.builds(lambda i, scale: Decimal(i).scaleb(-scale), st.integers(-999, 999), st.sampled_from([0, 0, 1, 2]))
strings = st.text(alphabet="abcxyz", min_size=0, max_size=4)
string_sets = st.frozensets(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3).map(lambda s: ("SS", s))
number_sets = st.frozensets(st.integers(1, 5).map(Decimal), min_size=1, max_size=3).map(lambda s: ("NS", s))
lists = st.lists(st.one_of(numbers, strings), max_size=3)
any_value = st.one_of(numbers, strings, string_sets, number_sets, lists)
# Each attribute usually holds "its" type, so that most updates are valid; sometimes another.
TYPED = {"n1": numbers, "n2": numbers, "s1": strings, "ss1": string_sets, "ns1": number_sets, "l1": lists}


ALL_KINDS = ["set", "set_plus", "set_minus", "set_if_not_exists", "set_append", "set_prepend", "set_copy", "remove",
             "add_number", "add_set", "delete_set"]
_NUMBER_KINDS = ["set", "set_plus", "set_minus", "set_if_not_exists", "add_number", "remove", "set_copy"]
_SET_KINDS = ["add_set", "delete_set", "set", "remove", "set_if_not_exists"]
FITTING = {"n1": _NUMBER_KINDS, "n2": _NUMBER_KINDS, "s1": ["set", "set_if_not_exists", "remove", "set_copy"],
           "ss1": _SET_KINDS, "ns1": _SET_KINDS,
           "l1": ["set_append", "set_prepend", "set", "remove", "set_if_not_exists"]}


class Fail(Exception):
    """The reference says DynamoDB refuses this update."""


@st.composite
def update_plans(draw):
    """A random initial item and a random update on distinct top-level attributes."""
    initial = {}
    for attr in ATTRS:
        if draw(st.integers(0, 3)):
            initial[attr] = draw(st.one_of(TYPED[attr], TYPED[attr], any_value))
    touched = draw(st.lists(st.sampled_from(ATTRS), min_size=1, max_size=4, unique=True))
    actions = []
    for attr in touched:
        kind = draw(st.one_of(st.sampled_from(FITTING[attr]), st.sampled_from(FITTING[attr]),
                              st.sampled_from(ALL_KINDS)))
        if kind in ("set", "set_if_not_exists"):
            operand = draw(any_value)
        elif kind in ("set_plus", "set_minus", "add_number"):
            operand = draw(numbers)
        elif kind in ("set_append", "set_prepend"):
            operand = draw(lists)
        elif kind in ("add_set", "delete_set"):
            operand = draw(st.one_of(TYPED[attr] if attr in ("ss1", "ns1") else string_sets, string_sets,
                                     number_sets))
        elif kind == "set_copy":
            operand = draw(st.sampled_from(ATTRS))  # a source attribute, read from the old item
            if operand in touched and operand != attr:
                kind, operand = "set", draw(any_value)  # keep paths from overlapping
        else:
            operand = None
        use_name = draw(st.booleans())
        actions.append((attr, kind, operand, use_name))
    order = draw(st.permutations(["SET", "REMOVE", "ADD", "DELETE"]))
    lowercase = draw(st.booleans())
    return initial, actions, order, lowercase


def reference(initial: dict, actions) -> dict:
    """What the item looks like after the update, or raise Fail."""
    old = dict(initial)
    new = dict(initial)

    def read(attr):
        if attr not in old:
            raise Fail(f"{attr} missing")
        return old[attr]

    for attr, kind, operand, _ in actions:
        if kind == "set":
            new[attr] = operand
        elif kind == "set_copy":
            new[attr] = read(operand)
        elif kind in ("set_plus", "set_minus"):
            current = read(attr)
            if not is_num(current):
                raise Fail("arithmetic on a non-number")
            new[attr] = current + operand if kind == "set_plus" else current - operand
        elif kind == "set_if_not_exists":
            new[attr] = old.get(attr, operand)
        elif kind in ("set_append", "set_prepend"):
            current = read(attr)
            if not isinstance(current, list):
                raise Fail("list_append of a non-list")
            new[attr] = current + operand if kind == "set_append" else operand + current
        elif kind == "remove":
            new.pop(attr, None)
        elif kind == "add_number":
            current = old.get(attr, Decimal(0))
            if not is_num(current):
                raise Fail("ADD number to a non-number")
            new[attr] = current + operand
        elif kind == "add_set":
            current = old.get(attr, (operand[0], frozenset()))
            if not is_set(current, operand[0]):
                raise Fail("ADD set to another type")
            new[attr] = (operand[0], current[1] | operand[1])
        elif kind == "delete_set":
            if attr not in old:
                continue
            current = old[attr]
            if not is_set(current, operand[0]):
                raise Fail("DELETE from another type")
            rest = current[1] - operand[1]
            if rest:
                new[attr] = (operand[0], rest)
            else:
                new.pop(attr, None)
    return new


def render(actions, order, lowercase):
    """UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues."""
    names, values, sections = {}, {}, {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}

    def path(attr, use_name):
        if not use_name:
            return attr
        names[f"#{attr}"] = attr
        return f"#{attr}"

    for i, (attr, kind, operand, use_name) in enumerate(actions):
        p = path(attr, use_name)
        v = f":v{i}"
        if kind == "set":
            values[v] = to_av(operand)
            sections["SET"].append(f"{p} = {v}")
        elif kind == "set_copy":
            sections["SET"].append(f"{p} = {path(operand, use_name)}")
        elif kind == "set_plus":
            values[v] = to_av(operand)
            sections["SET"].append(f"{p} = {p} + {v}")
        elif kind == "set_minus":
            values[v] = to_av(operand)
            sections["SET"].append(f"{p} = {p} - {v}")
        elif kind == "set_if_not_exists":
            values[v] = to_av(operand)
            sections["SET"].append(f"{p} = if_not_exists({p}, {v})")
        elif kind == "set_append":
            values[v] = to_av(operand)
            sections["SET"].append(f"{p} = list_append({p}, {v})")
        elif kind == "set_prepend":
            values[v] = to_av(operand)
            sections["SET"].append(f"{p} = list_append({v}, {p})")
        elif kind == "remove":
            sections["REMOVE"].append(p)
        elif kind == "add_number" or kind == "add_set":
            values[v] = to_av(operand)
            sections["ADD"].append(f"{p} {v}")
        elif kind == "delete_set":
            values[v] = to_av(operand)
            sections["DELETE"].append(f"{p} {v}")
    parts = []
    for section in order:
        if sections[section]:
            keyword = section.lower() if lowercase else section
            parts.append(f"{keyword} " + ", ".join(sections[section]))
    return " ".join(parts), names, values


def model_of(item):
    return {k: from_av(v) for k, v in item.items() if k != "pk"}


@SETTINGS
@given(plan=update_plans())
def test_random_update_expressions_match_the_reference(ddb, upd_table, plan):
    initial, actions, order, lowercase = plan
    key = {"pk": {"S": f"p{next(_seq)}"}}
    ddb.put_item(TableName=upd_table, Item={**key, **{k: to_av(v) for k, v in initial.items()}})
    expr, names, values = render(actions, order, lowercase)
    kw = {"UpdateExpression": expr, "ReturnValues": "ALL_NEW"}
    if names:
        kw["ExpressionAttributeNames"] = names
    if values:
        kw["ExpressionAttributeValues"] = values
    try:
        expected = reference(initial, actions)
    except Fail:
        expected = None
    if expected is None:
        with pytest.raises(ClientError) as exc:
            ddb.update_item(TableName=upd_table, Key=key, **kw)
        assert exc.value.response["Error"]["Code"] == "ValidationException", expr
        expected = initial
    else:
        r = ddb.update_item(TableName=upd_table, Key=key, **kw)
        assert model_of(r["Attributes"]) == expected, expr
        for av in r["Attributes"].values():
            if "N" in av:
                assert "e" not in av["N"].lower()  # numbers come back in plain notation
    got = ddb.get_item(TableName=upd_table, Key=key, ConsistentRead=True)["Item"]
    assert model_of(got) == expected, expr


# ---------------------------------------------------------------- Query against a Python filter and sort

OPS = ["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]

sort_numbers = st.builds(lambda i, scale: Decimal(i).scaleb(-scale), st.integers(-300, 300), st.sampled_from([0, 1, 2]))
sort_strings = st.text(alphabet=["a", "b", "B", "z", "0", "\u00e9", "\uffff", "\U0001f600"], min_size=1, max_size=4)


def matches(op, sk, a, b):
    if op == "=":
        return sk == a
    if op == "<":
        return sk < a
    if op == "<=":
        return sk <= a
    if op == ">":
        return sk > a
    if op == ">=":
        return sk >= a
    if op == "BETWEEN":
        return a <= sk <= b
    return sk.startswith(a)


@st.composite
def query_plans(draw, numeric: bool):
    keys_st = sort_numbers if numeric else sort_strings
    keys = draw(st.lists(keys_st, min_size=0, max_size=25, unique_by=(lambda d: d) if numeric else
                         (lambda s: s.encode())))
    ops = OPS[:-1] if numeric else OPS
    op = draw(st.sampled_from(ops))
    operand = st.one_of(st.sampled_from(keys), keys_st) if keys else keys_st  # often an existing key
    a, b = draw(operand), draw(operand)
    if op == "BETWEEN":
        lo, hi = sorted([a, b], key=(lambda d: d) if numeric else (lambda s: s.encode()))
        a, b = lo, hi
    forward = draw(st.booleans())
    limit = draw(st.one_of(st.none(), st.integers(1, 8)))
    return keys, op, a, b, forward, limit


def write_items(ddb, table, pk, keys, numeric):
    requests = [{"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"N": str(k)} if numeric else {"S": k},
                                         "v": {"N": str(i)}}}} for i, k in enumerate(keys)]
    for start in range(0, len(requests), 25):
        r = ddb.batch_write_item(RequestItems={table: requests[start:start + 25]})
        assert not r.get("UnprocessedItems")


def run_query(ddb, table, pk, op, a, b, forward, limit, numeric):
    def av(x):
        return {"N": str(x)} if numeric else {"S": x}

    values = {":pk": {"S": pk}, ":a": av(a)}
    if op == "BETWEEN":
        cond = "sk BETWEEN :a AND :b"
        values[":b"] = av(b)
    elif op == "begins_with":
        cond = "begins_with(sk, :a)"
    else:
        cond = f"sk {op} :a"
    kw = {"KeyConditionExpression": f"pk = :pk AND {cond}", "ExpressionAttributeValues": values,
          "ScanIndexForward": forward, "ConsistentRead": True}
    if limit:
        kw["Limit"] = limit
    got, start, pages = [], None, 0
    while True:
        r = ddb.query(TableName=table, **kw, **({"ExclusiveStartKey": start} if start else {}))
        pages += 1
        assert r["Count"] == len(r["Items"]) == r["ScannedCount"]
        if limit:
            assert len(r["Items"]) <= limit
        got += r["Items"]
        start = r.get("LastEvaluatedKey")
        if start is not None:
            assert set(start) == {"pk", "sk"} and r["Items"] and start["sk"] == r["Items"][-1]["sk"]
        if not start:
            return got, pages
        assert pages < 100


def check_query(ddb, table, plan, numeric):
    keys, op, a, b, forward, limit = plan
    pk = f"q{next(_seq)}"
    write_items(ddb, table, pk, keys, numeric)
    got, pages = run_query(ddb, table, pk, op, a, b, forward, limit, numeric)
    order = (lambda d: d) if numeric else (lambda s: s.encode())  # DynamoDB orders strings by UTF-8 bytes
    if op == "begins_with":
        selected = [k for k in keys if k.startswith(a)]
    else:
        selected = [k for k in keys if matches(op, order(k), order(a), order(b))]
    expected = sorted(selected, key=order, reverse=not forward)
    got_keys = [Decimal(i["sk"]["N"]) if numeric else i["sk"]["S"] for i in got]
    assert got_keys == expected, (op, a, b, forward, limit)
    if limit and expected:
        assert pages >= -(-len(expected) // limit)
    for item in got:
        assert item["v"] == {"N": str(keys.index(Decimal(item["sk"]["N"]) if numeric else item["sk"]["S"]))}


@SETTINGS
@given(plan=query_plans(numeric=True))
def test_query_numeric_sort_keys_match_a_python_filter_and_sort(ddb, num_table, plan):
    check_query(ddb, num_table, plan, numeric=True)


@SETTINGS
@given(plan=query_plans(numeric=False))
def test_query_string_sort_keys_match_a_python_filter_and_sort(ddb, str_table, plan):
    check_query(ddb, str_table, plan, numeric=False)
