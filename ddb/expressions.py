"""DynamoDB expressions: tokenizer, parsers, validation and the condition evaluator.

Covers the whole expression language of the DynamoDB API:

* ConditionExpression / FilterExpression: ``= <> < <= > >=``, ``BETWEEN``,
  ``IN``, ``AND``/``OR``/``NOT`` (NOT binds tighter than AND, AND tighter than
  OR), parentheses, and the functions ``attribute_exists``,
  ``attribute_not_exists``, ``attribute_type``, ``begins_with``, ``contains``
  and ``size`` (an operand).
* KeyConditionExpression: the condition grammar, restricted to what Query can
  use (``parse_key_condition``).
* UpdateExpression: ``SET`` (``+``, ``-``, ``if_not_exists``, ``list_append``),
  ``REMOVE``, ``ADD``, ``DELETE``; parsed here, applied by ``ddb.update``.
* ProjectionExpression: comma-separated document paths; ``project`` applies it.

Modules: this one is the public API (parse_* functions, Context, key
conditions, and re-exports); ``ddb.expression_syntax`` tokenizes, parses and
checks (a recursive-descent parser builds raw trees and raises only syntax
errors; a checker resolves ``#name``/``:value`` placeholders and reports
DynamoDB's semantic errors in DynamoDB's order); ``ddb.expression_eval``
holds value semantics, the condition evaluator and projections;
``ddb.update`` applies updates; ``ddb.reserved`` lists the reserved words.

AST (plain JSON data, shipped router -> partition leader with orjson):

  path       ["name", 0, "name", ...]     names resolved; ints are list indexes
  operand    {"path": path} | {"value": AttributeValue} | {"size": operand}
  condition  {"cmp": "=", "l": operand, "r": operand}     (= <> < <= > >=)
             {"between": [operand, low, high]}
             {"in": [operand, candidate, ...]}
             {"fn": name, "args": [operand, ...]}         attribute_exists,
                 attribute_not_exists, attribute_type, begins_with, contains
             {"and": [c, c, ...]} | {"or": [c, c, ...]} | {"not": c}
  set value  operand | {"op": "+"|"-", "l": v, "r": v}
             | {"if_not_exists": [path, v]} | {"list_append": [v, v]}
             (v: a set value; operands are only {"path"} or {"value"} here)
  update     {"set": [[path, set value], ...], "remove": [path, ...],
              "add": [[path, AttributeValue], ...],
              "delete": [[path, AttributeValue], ...]}   (absent clauses omitted)
  projection [path, ...]
  key condition (parse_key_condition)
             {"hash": [name, AttributeValue],
              "range": None | {"op": "=", "<", "<=", ">", ">=", "BETWEEN" or
                               "begins_with", "name": name,
                               "values": [AttributeValue, ...]}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ddb import expression_syntax as _syntax
from ddb.errors import ValidationException
from ddb.expression_eval import ATTRIBUTE_TYPES, SET_TYPES, compare, equal, evaluate, project, resolve, size_of, type_of
from ddb.expression_syntax import (COMPARATORS, CONDITION_FUNCTIONS, MAX_EXPRESSION_BYTES, MAX_IN_OPERANDS,
                                   MAX_OPERATORS, MAX_PATH_DEPTH, UPDATE_FUNCTIONS)
from ddb.reserved import RESERVED
from ddb.update import apply_update, updated_attributes, updated_paths
from ddb.serialization import string_error
from ddb.values import check_name_size, validate_expression_attribute_values

__all__ = [
    "ATTRIBUTE_TYPES", "COMPARATORS", "CONDITION_FUNCTIONS", "Context", "MAX_EXPRESSION_BYTES", "MAX_IN_OPERANDS",
    "MAX_OPERATORS", "MAX_PATH_DEPTH", "RESERVED", "SET_TYPES", "UPDATE_FUNCTIONS", "apply_update", "compare",
    "equal", "evaluate", "parse_condition", "parse_key_condition", "parse_projection", "parse_update", "project",
    "resolve", "size_of", "type_of", "updated_attributes", "updated_paths",
]


_NAME_KEY = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_KEY = re.compile(r":[A-Za-z0-9_]+")
# Placeholder keys seen valid ("#f", ":v"): clients send the same few, the pattern runs once per key.
_GOOD_NAME_KEYS: set[str] = set()
_GOOD_VALUE_KEYS: set[str] = set()
_GOOD_KEYS_MAX = 4096


@dataclass
class Context:
    """Placeholders given with a request, and which of them were used."""

    names: dict[str, str] | None
    values: dict[str, Any] | None
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        """Placeholder keys must be ``#`` or ``:`` and then ``[A-Za-z0-9_]+``;
        names must be attribute names (not empty, at most 65,535 bytes)."""
        for param, keys, pattern, good in (("ExpressionAttributeNames", self.names, _NAME_KEY, _GOOD_NAME_KEYS),
                                           ("ExpressionAttributeValues", self.values, _VALUE_KEY, _GOOD_VALUE_KEYS)):
            for key in keys or {}:
                if key in good:
                    continue
                if not isinstance(key, str) or not pattern.fullmatch(key):
                    raise ValidationException(f'{param} contains invalid key: Syntax error; key: "{key}"')
                if len(good) < _GOOD_KEYS_MAX:
                    good.add(key)
        for key, name in (self.names or {}).items():
            if name is None or name == "":  # the service's message (AWS SDK users quote it verbatim)
                raise ValidationException(f"ExpressionAttributeNames contains invalid value: Empty attribute name "
                                          f"for key {key}")
            if type(name) is not str:
                raise string_error(name)
            check_name_size(name)

    def check_unused(self) -> None:
        # The used sets only ever hold keys of their dicts: equal sizes, nothing unused.
        names, values = self.names, self.values
        if (not names or len(self.used_names) == len(names)) and (not values or len(self.used_values) == len(values)):
            return
        unused = sorted(set(names or {}) - self.used_names)
        if unused:
            raise ValidationException(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {"
                + ", ".join(unused) + "}")
        unused = sorted(set(self.values or {}) - self.used_values)
        if unused:
            raise ValidationException(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {"
                + ", ".join(unused) + "}")


# --- public parsers ------------------------------------------------------------------


def request_context(body: dict, has_expression: bool) -> Context:
    """The placeholders of a request, checked as DynamoDB checks them before
    parsing any expression."""
    names = body.get("ExpressionAttributeNames")
    values = body.get("ExpressionAttributeValues")
    if names is not None and not has_expression:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    if values is not None and not has_expression:
        raise ValidationException("ExpressionAttributeValues can only be specified when using expressions")
    if values is not None:
        if not values:
            raise ValidationException("ExpressionAttributeValues must not be empty")
        values = validate_expression_attribute_values(values)
    if names is not None and not names:
        raise ValidationException("ExpressionAttributeNames must not be empty")
    return Context(names, values)


def parse_condition(text: str, ctx: Context, kind: str = "ConditionExpression") -> dict:
    """A ConditionExpression (or FilterExpression / KeyConditionExpression:
    ``kind`` names it in error messages) as a condition AST."""
    return _syntax.condition(text, ctx, kind)


def parse_update(text: str, ctx: Context) -> dict:
    """An UpdateExpression as an update AST (see the module docstring)."""
    return _syntax.update(text, ctx)


def parse_projection(text: str, ctx: Context) -> list[list]:
    """A ProjectionExpression as a list of paths."""
    return _syntax.projection(text, ctx)


_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def parse_key_condition(text: str, ctx: Context, hash_key: str, range_key: str | None) -> dict:
    """A Query's KeyConditionExpression, checked against the key schema read:
    ``{"hash": [name, value], "range": None | {"op", "name", "values"}}``.

    Errors follow DynamoDB: first the condition grammar's own (prefixed
    "Invalid KeyConditionExpression: "), then what a key condition may not
    contain, then the key schema checks."""
    conditions = key_conditions(text, ctx)
    if len(conditions) > 2:
        raise ValidationException("Conditions can be of length 1 or 2 only")
    if hash_key not in conditions:
        raise ValidationException(f"Query condition missed key schema element: {hash_key}")
    if len(conditions) == 2:
        if range_key is None:
            raise ValidationException("Query key condition not supported")
        if range_key not in conditions:
            raise ValidationException(f"Query condition missed key schema element: {range_key}")
    op, values = conditions[hash_key]
    if op != "=":
        raise ValidationException("Query key condition not supported")
    out: dict = {"hash": [hash_key, values[0]], "range": None}
    if range_key is not None and range_key in conditions:
        op, values = conditions[range_key]
        out["range"] = {"op": op, "name": range_key, "values": values}
    return out


def key_conditions(text: str, ctx: Context) -> dict[str, tuple[str, list]]:
    """The conditions of a KeyConditionExpression by attribute: ``{name: (operator, values)}``."""
    ast = parse_condition(text, ctx, "KeyConditionExpression")
    conditions: dict[str, tuple[str, list]] = {}
    pending = [ast]
    while pending:  # depth-first, left to right
        node = pending.pop()
        if "and" in node:
            pending.extend(reversed(node["and"]))
            continue
        name, values, op = _key_term(node)
        if name in conditions:
            raise ValidationException("KeyConditionExpressions must only contain one condition per key")
        conditions[name] = (op, values)
    return conditions


def _key_term(node: dict) -> tuple[str, list, str]:
    """One condition of a key condition: (attribute, values, operator)."""
    for word in ("or", "not", "in"):
        if word in node:
            raise ValidationException(f"Invalid operator used in KeyConditionExpression: {word.upper()}")
    if node.get("cmp") == "<>":
        raise ValidationException("Invalid operator used in KeyConditionExpression: <>")
    if "fn" in node:
        fn = node["fn"]
        if fn != "begins_with":
            raise ValidationException(f"Invalid operator used in KeyConditionExpression: {fn}")
        args, op = node["args"], "begins_with"
    elif "between" in node:
        args, op = node["between"], "BETWEEN"
    else:
        args, op = [node["l"], node["r"]], node["cmp"]
    if op in ("begins_with", "BETWEEN") and "path" not in args[0]:
        raise ValidationException(f"Invalid condition in KeyConditionExpression: {op} operator must have the key "
                                  "attribute as its first operand")
    name, at = None, 0
    for i, arg in enumerate(args):
        if "path" in arg:
            if name is not None:
                raise ValidationException("Invalid condition in KeyConditionExpression: Multiple attribute names "
                                          "used in one condition")
            if len(arg["path"]) > 1:
                raise ValidationException("KeyConditionExpressions cannot have conditions on nested attributes")
            name, at = arg["path"][0], i
        elif "size" in arg:
            raise ValidationException("KeyConditionExpressions cannot contain nested operations")
    if name is None:
        raise ValidationException("Invalid condition in KeyConditionExpression: No key attribute specified")
    if at != 0:
        op = _FLIPPED[op]
    return name, [arg["value"] for i, arg in enumerate(args) if i != at], op
