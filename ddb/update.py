"""Applying a parsed UpdateExpression (see ``ddb.expressions``) to an item.

Semantics, as DynamoDB applies an update:

* Every operand of every SET reads the item as it was *before* the update
  (``SET a = b, b = a`` swaps).
* All actions address the original item: list indexes in SET, REMOVE, ADD and
  DELETE refer to the list as it was, so ``REMOVE l[0], l[2]`` removes the
  first and third elements, and a SET or ADD past the end of a list appends,
  in index order (dynalite's "update nested attributes" test, run against
  DynamoDB, pins this: ``SET c[4] = .., c[2] = .. ADD c[8] .., c[6] ..`` on a
  two-element list appends the values for 2, 4, 6 and 8 in that order).
* The parent of every target must exist and be a map (for ``.name``) or a
  list (for ``[n]``), else "The document path provided in the update
  expression is invalid for update"; removing or deleting from a missing
  element of an existing parent does nothing.
* ADD: numbers add (a missing attribute counts as 0), sets take the union (a
  missing attribute becomes the set). DELETE: set difference; a set left
  empty is removed, since DynamoDB keeps no empty sets.
* AttributeUpdates (``"legacy"`` in the AST) clash with the stored type in
  other words than an expression: "Type mismatch for attribute to update"
  (dynalite's AttributeUpdates tests, run against DynamoDB).
* UPDATED_OLD / UPDATED_NEW return only what the update touched, projected
  like a ProjectionExpression of the updated paths (``updated_attributes``):
  ``SET b.c = ..`` returns ``{"b": {"M": {"c": ..}}}``, not all of ``b``.
"""

from __future__ import annotations

from typing import Any

from ddb import expression_eval as values
from ddb.errors import ValidationException
from ddb.numbers import add, sub

INVALID_PATH = "The document path provided in the update expression is invalid for update"
WRONG_TYPE = "An operand in the update expression has an incorrect data type"
MISSING = "The provided expression refers to an attribute that does not exist in the item"
LEGACY_MISMATCH = "Type mismatch for attribute to update"


def updated_paths(update: dict) -> list[list]:
    """Every document path an update writes or removes."""
    return ([p for p, _ in update.get("set", [])] + list(update.get("remove", []))
            + [p for p, _ in update.get("add", [])] + [p for p, _ in update.get("delete", [])])


def updated_attributes(update: dict, item: dict | None) -> dict | None:
    """What ReturnValues UPDATED_OLD (item = the old item) or UPDATED_NEW
    (item = the new item) returns: the updated paths projected out of the
    item, or None when that leaves nothing."""
    if not item:
        return None
    return values.project(item, updated_paths(update)) or None


def apply_update(update: dict, item: dict, key_names: tuple[str, ...] = ()) -> dict:
    """The item after ``update`` (a new dict; ``item`` is left as it was).

    Raises ValidationException as DynamoDB does: updating a key attribute,
    an operand that does not exist or has the wrong type, an invalid path,
    or a number out of range."""
    try:
        return _apply_update(update, item, key_names)
    except ValidationException as e:
        if update.get("legacy") and e.message == WRONG_TYPE:
            raise ValidationException(LEGACY_MISMATCH) from None
        raise


def _apply_update(update: dict, item: dict, key_names: tuple[str, ...]) -> dict:
    actions: list[tuple[list, str, Any]] = []
    for path, expr in update.get("set", []):
        actions.append((path, "set", expr))
    for path in update.get("remove", []):
        actions.append((path, "remove", None))
    for path, value in update.get("add", []):
        actions.append((path, "add", value))
    for path, value in update.get("delete", []):
        actions.append((path, "delete", value))
    for path, _, _ in actions:
        if path and path[0] in key_names:
            raise ValidationException(f"One or more parameter values were invalid: Cannot update attribute "
                                      f"{path[0]}. This attribute is part of the key")
    # SET values read the old item, before anything changes.
    actions = [(path, kind, _value(item, payload) if kind == "set" else payload) for path, kind, payload in actions]
    tree: dict = {}
    for path, kind, payload in actions:
        _check_parent(item, path)
        node = tree
        for step in path[:-1]:
            nxt = node.get(step)
            if not isinstance(nxt, dict):
                nxt = node[step] = {}
            node = nxt
        node[path[-1]] = (kind, payload)
    try:
        return _apply_map(item, tree)
    except (TypeError, AttributeError, KeyError) as e:  # malformed stored data, never a crash
        raise ValidationException(WRONG_TYPE) from e


def _value(item: dict, expr: dict) -> dict:
    """A SET operand's value, read from the item before the update."""
    if "value" in expr:
        return expr["value"]
    if "path" in expr:
        found = values.resolve(item, expr["path"])
        if found is None:
            raise ValidationException(MISSING)
        return found
    if "if_not_exists" in expr:
        path, fallback = expr["if_not_exists"]
        found = values.resolve(item, path)
        return found if found is not None else _value(item, fallback)
    if "op" in expr:
        left = _value(item, expr["l"])
        if "N" not in left:
            raise ValidationException(WRONG_TYPE)
        right = _value(item, expr["r"])
        if "N" not in right:
            raise ValidationException(WRONG_TYPE)
        return {"N": add(left["N"], right["N"]) if expr["op"] == "+" else sub(left["N"], right["N"])}
    if "list_append" in expr:
        first, second = expr["list_append"]
        left = _value(item, first)
        if "L" not in left:
            raise ValidationException(WRONG_TYPE)
        right = _value(item, second)
        if "L" not in right:
            raise ValidationException(WRONG_TYPE)
        return {"L": list(left["L"]) + list(right["L"])}
    raise ValidationException(f"Unsupported update operand {sorted(expr)}")


def _check_parent(item: dict, path: list) -> None:
    if len(path) == 1:
        return
    parent = values.resolve(item, path[:-1])
    container = "L" if isinstance(path[-1], int) else "M"
    if parent is None or container not in parent:
        raise ValidationException(INVALID_PATH)


def _apply_map(attrs: dict, tree: dict) -> dict:
    out = dict(attrs)
    for key, sub_tree in tree.items():
        current = attrs.get(key)
        if isinstance(sub_tree, tuple):
            new = _leaf(current, *sub_tree)
            if new is None:
                out.pop(key, None)
            else:
                out[key] = new
        else:
            out[key] = _apply_container(current, sub_tree)
    return out


def _apply_container(value: Any, tree: dict) -> dict:
    if isinstance(value, dict) and isinstance(value.get("M"), dict):
        return {"M": _apply_map(value["M"], tree)}
    if isinstance(value, dict) and isinstance(value.get("L"), list):
        return {"L": _apply_list(value["L"], tree)}
    raise ValidationException(INVALID_PATH)


def _apply_list(items: list, tree: dict) -> list:
    out = []
    for index, element in enumerate(items):
        sub_tree = tree.get(index)
        if sub_tree is None:
            out.append(element)
        elif isinstance(sub_tree, tuple):
            new = _leaf(element, *sub_tree)
            if new is not None:
                out.append(new)
        else:
            out.append(_apply_container(element, sub_tree))
    for index in sorted(k for k in tree if k >= len(items)):
        sub_tree = tree[index]
        if not isinstance(sub_tree, tuple):
            raise ValidationException(INVALID_PATH)
        new = _leaf(None, *sub_tree)
        if new is not None:
            out.append(new)
    return out


def _leaf(current: dict | None, kind: str, payload: Any) -> dict | None:
    """The new value of one target (None: no value)."""
    if kind == "set":
        return payload
    if kind == "remove":
        return None
    t = values.type_of(payload)
    if kind == "add":
        if current is None:
            return payload
        if values.type_of(current) != t:
            raise ValidationException(WRONG_TYPE)
        if t == "N":
            return {"N": add(current["N"], payload["N"])}
        return {t: _union(t, current[t], payload[t])}
    # delete
    if current is None:
        return None
    if values.type_of(current) != t:
        raise ValidationException(WRONG_TYPE)
    drop = {values.scalar_key(t, e) for e in payload[t]}
    kept = [e for e in current[t] if values.scalar_key(t, e) not in drop]
    return {t: kept} if kept else None


def _union(t: str, current: list, extra: list) -> list:
    out = list(current)
    seen = {values.scalar_key(t, e) for e in current}
    for e in extra:
        key = values.scalar_key(t, e)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
