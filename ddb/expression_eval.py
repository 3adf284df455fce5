"""DynamoDB values in expressions: document paths, comparison, the condition
functions, condition evaluation and projections.

Semantics (developer guide, "Comparison operator and function reference"):

* ``=`` holds for the same type and value: numbers numerically, strings and
  binaries exactly, sets as sets (numbers numerically), lists element by
  element, maps key by key. ``<>`` is its negation, so it holds when an
  operand is missing or the types differ.
* ``< <= > >=`` and ``BETWEEN`` compare two numbers, two strings (by UTF-8
  bytes) or two binaries (bytewise); anything else, including a missing
  attribute, is false.
* ``size`` is the UTF-8 length of a string, the length of a binary, or the
  element count of a set, list or map; other types have no size.
* Evaluation never raises on odd stored data: it is simply not matched.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any

from ddb.numbers import to_decimal

ATTRIBUTE_TYPES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")
SET_TYPES = ("SS", "NS", "BS")


# --- values: resolution, comparison, functions ------------------------------------------


def resolve(item: dict | None, path: list) -> dict | None:
    """The AttributeValue at ``path`` in ``item``, or None when there is none."""
    if not isinstance(item, dict) or not path:
        return None
    cur: Any = None
    for n, step in enumerate(path):
        if n == 0:
            if not isinstance(step, str):
                return None
            cur = item.get(step)
        elif isinstance(step, int):
            lst = cur.get("L") if isinstance(cur, dict) else None
            if not isinstance(lst, list) or not 0 <= step < len(lst):
                return None
            cur = lst[step]
        else:
            m = cur.get("M") if isinstance(cur, dict) else None
            if not isinstance(m, dict):
                return None
            cur = m.get(step)
        if not isinstance(cur, dict):
            return None
    return cur


def type_of(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        t = next(iter(value))
        if t in ATTRIBUTE_TYPES:
            return t
    return None


def _decimal(text: Any) -> Decimal | None:
    try:
        return to_decimal(text)
    except Exception:  # noqa: BLE001 - malformed stored data compares as nothing
        return None


def _bytes(text: Any) -> bytes | None:
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None


def _utf8(text: Any) -> bytes | None:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else None


def scalar_key(t: str, v: Any) -> Any:
    """A hashable value equal for equal scalars of type t (N numerically)."""
    if t in ("N", "NS"):
        d = _decimal(v)
        return ("N", v) if d is None else d
    if t in ("B", "BS"):
        b = _bytes(v)
        return ("B", v) if b is None else b
    return v if isinstance(v, (str, bool)) else repr(v)


def equal(a: Any, b: Any) -> bool:
    """DynamoDB's ``=``: same type and same value (numbers numerically, sets
    as sets, lists and maps element by element)."""
    t = type_of(a)
    if t is None or t != type_of(b):
        return False
    x, y = a[t], b[t]
    if t in ("N", "B", "S", "BOOL", "NULL"):
        return scalar_key(t, x) == scalar_key(t, y)
    if t in SET_TYPES:
        if not isinstance(x, list) or not isinstance(y, list):
            return False
        return {scalar_key(t, e) for e in x} == {scalar_key(t, e) for e in y}
    if t == "L":
        return isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and \
            all(equal(e, f) for e, f in zip(x, y))
    return isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys() and \
        all(equal(x[k], y[k]) for k in x)


def compare(a: Any, b: Any) -> int | None:
    """-1/0/1 for two numbers, strings (UTF-8 bytes) or binaries (bytes) of
    the same type; None when they do not compare."""
    t = type_of(a)
    if t not in ("N", "S", "B") or t != type_of(b):
        return None
    if t == "N":
        x, y = _decimal(a[t]), _decimal(b[t])
    elif t == "S":
        x, y = _utf8(a[t]), _utf8(b[t])
    else:
        x, y = _bytes(a[t]), _bytes(b[t])
    if x is None or y is None:
        return None
    return (x > y) - (x < y)


def size_of(value: Any) -> dict | None:
    """size(): UTF-8 length of a string, bytes of a binary, elements of a
    set, list or map; nothing for other types."""
    t = type_of(value)
    v = value[t] if t else None
    if t == "S" and isinstance(v, str):
        n = len(_utf8(v))
    elif t == "B":
        raw = _bytes(v)
        if raw is None:
            return None
        n = len(raw)
    elif t in ("SS", "NS", "BS", "L", "M") and isinstance(v, (list, dict)):
        n = len(v)
    else:
        return None
    return {"N": str(n)}


def _contains(a: Any, b: Any) -> bool:
    ta, tb = type_of(a), type_of(b)
    if ta is None or tb is None:
        return False
    x, y = a[ta], b[tb]
    if ta == "S" and tb == "S":
        return isinstance(x, str) and isinstance(y, str) and y in x
    if ta == "B" and tb == "B":
        hay, needle = _bytes(x), _bytes(y)
        return hay is not None and needle is not None and needle in hay
    if ta in SET_TYPES and tb == ta[0] and isinstance(x, list):
        key = scalar_key(tb, y)
        return any(scalar_key(tb, e) == key for e in x)
    if ta == "L" and isinstance(x, list):
        return any(equal(e, b) for e in x)
    return False


def _begins_with(a: Any, b: Any) -> bool:
    ta = type_of(a)
    if ta not in ("S", "B") or ta != type_of(b):
        return False
    if ta == "S":
        x, y = a[ta], b[ta]
        return isinstance(x, str) and isinstance(y, str) and x.startswith(y)
    hay, prefix = _bytes(a[ta]), _bytes(b[ta])
    return hay is not None and prefix is not None and hay.startswith(prefix)


# --- evaluation -------------------------------------------------------------------------


def _operand(item: dict | None, operand: dict) -> dict | None:
    if "path" in operand:
        return resolve(item, operand["path"])
    if "value" in operand:
        return operand["value"]
    if "size" in operand:
        return size_of(_operand(item, operand["size"]))
    return None


_ORDERED = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}


def _eval(cond: dict, item: dict | None) -> bool:
    if "and" in cond:
        return all(_eval(c, item) for c in cond["and"])
    if "or" in cond:
        return any(_eval(c, item) for c in cond["or"])
    if "not" in cond:
        return not _eval(cond["not"], item)
    if "cmp" in cond:
        op = cond["cmp"]
        a, b = _operand(item, cond["l"]), _operand(item, cond["r"])
        if op == "=":
            return equal(a, b)
        if op == "<>":
            return not equal(a, b)
        c = compare(a, b)
        return c is not None and _ORDERED[op](c)
    if "between" in cond:
        x, low, high = (_operand(item, o) for o in cond["between"])
        lo, hi = compare(x, low), compare(x, high)
        return lo is not None and hi is not None and lo >= 0 and hi <= 0
    if "in" in cond:
        x, *candidates = (_operand(item, o) for o in cond["in"])
        return any(equal(x, c) for c in candidates)
    fn, args = cond["fn"], cond["args"]
    if fn == "attribute_exists":
        return _operand(item, args[0]) is not None
    if fn == "attribute_not_exists":
        return _operand(item, args[0]) is None
    a, b = _operand(item, args[0]), _operand(item, args[1])
    if fn == "attribute_type":
        return a is not None and isinstance(b, dict) and type_of(a) == b.get("S")
    if fn == "begins_with":
        return _begins_with(a, b)
    if fn == "contains":
        return _contains(a, b)
    return False


def evaluate(cond: dict, item: dict | None) -> bool:
    """Whether ``item`` (None: no item) satisfies the condition AST. Missing
    attributes and mismatched types make a comparison false (``<>`` true); a
    malformed item never raises."""
    try:
        return _eval(cond, item if isinstance(item, dict) else None)
    except Exception:  # noqa: BLE001 - odd stored data must not fail a request
        return False


# --- projections ------------------------------------------------------------------------


def _path_tree(paths: list[list]) -> dict:
    """Paths as a trie; True marks a projected leaf."""
    root: dict = {}
    for path in paths:
        if not path:
            continue
        node = root
        for step in path[:-1]:
            nxt = node.get(step)
            if nxt is True:
                break
            if nxt is None:
                nxt = node[step] = {}
            node = nxt
        else:
            node[path[-1]] = True
    return root


def _project_map(attrs: dict, tree: dict) -> dict:
    out: dict = {}
    for key, sub in tree.items():
        if not isinstance(key, str):
            continue
        value = attrs.get(key)
        if not isinstance(value, dict):
            continue
        if sub is True:
            out[key] = value
        else:
            part = _project_value(value, sub)
            if part is not None:
                out[key] = part
    return out


def _project_value(value: dict, tree: dict) -> dict | None:
    m = value.get("M")
    if isinstance(m, dict):
        part = _project_map(m, tree)
        return {"M": part} if part else None
    lst = value.get("L")
    if isinstance(lst, list):
        out = []
        for index in sorted(k for k in tree if isinstance(k, int) and not isinstance(k, bool)):
            if 0 <= index < len(lst) and isinstance(lst[index], dict):
                sub = tree[index]
                part = lst[index] if sub is True else _project_value(lst[index], sub)
                if part is not None:
                    out.append(part)
        return {"L": out} if out else None
    return None


def project(item: dict | None, paths: list[list]) -> dict:
    """The parts of ``item`` the paths name, keeping their nesting: maps keep
    the projected keys, lists keep the projected elements in index order
    (compacted), and a path that names nothing contributes nothing."""
    if not isinstance(item, dict):
        return {}
    return _project_map(item, _path_tree(paths))
