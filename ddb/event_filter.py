"""Lambda event filtering (an event source mapping's FilterCriteria) applied to
DynamoDB stream records. Pure: patterns in, yes/no out.

Sources: Lambda developer guide, invocation-eventfiltering.html ("Filter rule
syntax": exact values, null, empty string, equals-ignore-case, AND across
fields, OR within a list and across ``$or`` alternatives, anything-but,
numeric equals and ranges, exists, prefix, suffix; up to 5 filters per
mapping by default, a record passes when any filter matches and is dropped
otherwise) and with-ddb-filtering.html (patterns address the record, e.g.
``{"dynamodb": {"Keys": {"CustomerName": {"S": ["AnyCompany Industries"]}}}}``).
The botocore ``lambda`` model caps a Pattern at 4,096 characters; AWS answers
a malformed one with InvalidParameterValueException "Invalid filter pattern
definition." (localstack's AWS-validated test_dynamodb_invalid_event_filter).

Behaviour checked against AWS by localstack's AWS-validated
test_dynamodb_event_filter cases: the attribute's type key is part of the
path (``{"presentKey": ["x"]}`` does not match ``{"presentKey": {"S": "x"}}``);
``numeric`` never matches an ``N`` value (stream numbers are strings), but
does match ``ApproximateCreationDateTime`` (a number in the record); exists
looks only at leaves, so ``{"exists": false}`` matches an attribute whose
value is an object and ``{"exists": true}`` does not; eventName can be
filtered on, although one version of the guide says only ``dynamodb`` can.
As in EventBridge, which the syntax comes from: a value inside an array
matches when any element does, and an absent field matches only
``{"exists": false}``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ddb.errors import DynamoDBError

MAX_FILTERS = 5  # the default quota (raisable to 10 on AWS)
MAX_PATTERN = 4096
INVALID_PATTERN = "Invalid filter pattern definition."
_OPERATORS = ("prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case")
_ABSENT = object()


class InvalidParameterValueException(DynamoDBError):
    """Lambda's error for a bad parameter; its front end renders Lambda's wire form."""

    code = "InvalidParameterValueException"


def _invalid() -> InvalidParameterValueException:
    return InvalidParameterValueException(INVALID_PATTERN)


# ---------------------------------------------------------------- validation


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, Decimal)) and not isinstance(x, bool)


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (str, bool)) or _is_number(x)


def _check_numeric(spec: Any) -> None:
    if not isinstance(spec, list) or len(spec) not in (2, 4):
        raise _invalid()
    ops, nums = spec[0::2], spec[1::2]
    if not all(op in ("=", "<", "<=", ">", ">=") for op in ops) or not all(_is_number(n) for n in nums):
        raise _invalid()
    if len(spec) == 4 and not (ops[0] in (">", ">=") and ops[1] in ("<", "<=") and nums[0] < nums[1]):
        raise _invalid()


def _check_rule(rule: Any) -> None:
    if _is_scalar(rule):
        return
    if not isinstance(rule, dict) or len(rule) != 1:
        raise _invalid()
    (op, arg), = rule.items()
    if op not in _OPERATORS:
        raise _invalid()
    if op in ("prefix", "suffix", "equals-ignore-case"):
        ok = isinstance(arg, str)
    elif op == "exists":
        ok = isinstance(arg, bool)
    elif op == "numeric":
        _check_numeric(arg)
        ok = True
    else:  # anything-but: a value, a list of values, or one prefix/suffix/equals-ignore-case
        if isinstance(arg, list):
            ok = bool(arg) and all(isinstance(a, str) or _is_number(a) for a in arg)
        elif isinstance(arg, dict):
            ok = len(arg) == 1 and next(iter(arg)) in ("prefix", "suffix", "equals-ignore-case") \
                and isinstance(next(iter(arg.values())), str)
        else:
            ok = isinstance(arg, str) or _is_number(arg)
    if not ok:
        raise _invalid()


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise _invalid()
    for key, sub in pattern.items():
        if key == "$or":
            if not isinstance(sub, list) or len(sub) < 2:
                raise _invalid()
            for alternative in sub:
                _check_pattern(alternative)
        elif isinstance(sub, dict):
            _check_pattern(sub)
        elif isinstance(sub, list) and sub:
            for rule in sub:
                _check_rule(rule)
        else:
            raise _invalid()


def parse_pattern(text: Any) -> dict[str, Any]:
    """One Filter's Pattern, checked: a JSON object whose leaves are non-empty
    lists of values or operator objects."""
    if not isinstance(text, str) or not text or len(text) > MAX_PATTERN:
        raise _invalid()
    try:
        pattern = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise _invalid() from exc
    _check_pattern(pattern)
    return pattern


def parse_filter_criteria(criteria: Any, *, max_filters: int = MAX_FILTERS) -> list[dict[str, Any]]:
    """FilterCriteria ``{"Filters": [{"Pattern": "..."}]}`` as checked patterns
    (an empty list: every record passes)."""
    if criteria is None:
        return []
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise _invalid()
    if len(filters) > max_filters:
        raise InvalidParameterValueException(
            f"The number of filters in FilterCriteria exceeds the limit of {max_filters}.")
    return [parse_pattern(f.get("Pattern") if isinstance(f, dict) else None) for f in filters]


# ---------------------------------------------------------------- matching


def _same(expected: Any, value: Any) -> bool:
    """Exact match: same JSON type and value (numbers by value)."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if _is_number(expected):
        return _is_number(value) and Decimal(str(expected)) == Decimal(str(value))
    return type(expected) is type(value) and expected == value


def _numeric(spec: list, value: Any) -> bool:
    if not _is_number(value):
        return False
    v = Decimal(str(value))
    for op, n in zip(spec[0::2], spec[1::2]):
        n = Decimal(str(n))
        if not {"=": v == n, "<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n}[op]:
            return False
    return True


def _text_op(op: str, arg: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if op == "prefix":
        return value.startswith(arg)
    if op == "suffix":
        return value.endswith(arg)
    return _equal_ignoring_case(value, arg)


def _equal_ignoring_case(a: str, b: str) -> bool:
    """As Java's String.equalsIgnoreCase compares (assumed: AWS's pattern
    engine, aws/event-ruler, is Java): character by character, equal after
    upper- or lower-casing."""
    return len(a) == len(b) and all(x == y or x.upper() == y.upper() or x.lower() == y.lower()
                                    for x, y in zip(a, b))


def _rule(rule: Any, value: Any) -> bool:
    """One rule against one present leaf value."""
    if not isinstance(rule, dict):
        return _same(rule, value)
    (op, arg), = rule.items()
    if op == "exists":
        return arg
    if op == "numeric":
        return _numeric(arg, value)
    if op == "anything-but":
        if isinstance(arg, dict):
            (inner, text), = arg.items()
            return isinstance(value, str) and not _text_op(inner, text, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_same(x, value) for x in excluded)
    return _text_op(op, arg, value)


def _leaf(rules: list, value: Any) -> bool:
    """A rule list (OR) against the event's value at that place."""
    if isinstance(value, list):
        leaves = [v for v in value if not isinstance(v, (dict, list))]
        if leaves:
            return any(_rule(r, v) for r in rules for v in leaves)
        value = _ABSENT
    if value is _ABSENT or isinstance(value, dict):  # no leaf here
        return any(isinstance(r, dict) and r.get("exists") is False for r in rules)
    return any(_rule(r, value) for r in rules)


def _object(pattern: dict, node: Any) -> bool:
    """Every field of the pattern (AND) against the event node."""
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_object(alt, node) for alt in sub):
                return False
            continue
        child = node.get(key, _ABSENT) if isinstance(node, dict) else _ABSENT
        if isinstance(sub, dict):
            objects = [c for c in child if isinstance(c, dict)] if isinstance(child, list) else [child]
            if not any(_object(sub, c) for c in objects or [_ABSENT]):
                return False
        elif not _leaf(sub, child):
            return False
    return True


def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether one checked pattern matches a record."""
    return _object(pattern, record)


def passes(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """Whether a mapping delivers ``record``: no filters, or any filter matches (OR)."""
    return not patterns or any(_object(p, record) for p in patterns)
