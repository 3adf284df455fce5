"""DynamoDB's legacy (pre-expression) request parameters, translated into the
expression ASTs of ``ddb.expressions`` so the router and the nodes evaluate
them exactly as they evaluate expressions.

Parameters (developer guide, "Legacy conditional parameters"):

* ``Expected`` (+ ``ConditionalOperator``) on PutItem, DeleteItem, UpdateItem
  becomes a condition AST (``expected``).
* ``AttributeUpdates`` on UpdateItem becomes an update AST (``attribute_updates``).
* ``KeyConditions`` on Query becomes the structure ``parse_key_condition``
  returns (``key_conditions`` checks each condition, ``bind_key_conditions``
  checks them against the key schema read).
* ``QueryFilter`` / ``ScanFilter`` (+ ``ConditionalOperator``) become a filter
  condition AST (``filter_condition``).
* ``AttributesToGet`` on GetItem, Query, Scan and BatchGetItem becomes a
  projection of top-level paths (``attributes_to_get``).

Operator semantics, mapped as AWS's own DAX client translates them to
expressions (amazon-dax-client, ``DocumentClient`` V1-to-V2 conversion):
EQ ``=``, NE ``<>`` (true when the attribute is missing or of another type),
LE LT GE GT ``<= < >= >`` (false on a missing attribute or another type),
NOT_NULL / NULL ``attribute_exists`` / ``attribute_not_exists`` (existence,
not the NULL type), CONTAINS ``contains`` (substring, set member, list
element), NOT_CONTAINS ``attribute_exists AND NOT contains`` (false on a
missing attribute), BEGINS_WITH ``begins_with``, IN ``IN``, BETWEEN
``BETWEEN``. ``Value`` alone (or with ``Exists: true``) is ``=``;
``Exists: false`` is ``attribute_not_exists``. AttributeUpdates: PUT is SET,
ADD on a number or set is ADD, ADD of a list appends (``SET a =
list_append(if_not_exists(a, []), v)``), DELETE with a set value is DELETE,
DELETE without a value is REMOVE.

Validation messages and their order are DynamoDB's, as recorded by test suites
run against the real service (dynalite's test/*.js, and suites that target
DynamoDB and an emulator alike) and by AWS's DAX client, which repeats the
service's checks. Coral's shape errors (SerializationException) and its
constraint errors ("N validation errors detected: ...") come first
(``constraint_errors``); then the mixing of legacy and expression parameters,
placeholders given without expressions and ConditionalOperator misuse
(``check_params``); then each parameter's own checks.
"""

from __future__ import annotations

from typing import Any

from ddb.errors import ValidationException
from ddb.expression_eval import compare, type_of
from ddb.serialization import boolean_error, list_error, map_error, string_error, struct_error
from ddb.values import validate_value

INVALID = "One or more parameter values were invalid: "

COMPARISON_OPERATORS = ("IN", "NULL", "BETWEEN", "LT", "NOT_CONTAINS", "EQ", "GT", "NOT_NULL", "NE", "LE",
                        "BEGINS_WITH", "GE", "CONTAINS")  # in the order Coral lists the enum
ACTIONS = ("ADD", "PUT", "DELETE")
KEY_OPERATORS = ("EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN")

# Number of values each operator takes (None: one or more).
_ARITY = {"NULL": 0, "NOT_NULL": 0, "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "CONTAINS": 1,
          "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "IN": None, "BETWEEN": 2}
_SCALARS = ("S", "N", "B")
# Value types each operator accepts (EQ and NE take any type, lists and maps included).
_TYPES = {"LE": _SCALARS, "LT": _SCALARS, "GE": _SCALARS, "GT": _SCALARS, "IN": _SCALARS, "BETWEEN": _SCALARS,
          "BEGINS_WITH": ("S", "B"), "CONTAINS": ("S", "N", "B", "BOOL", "NULL"),
          "NOT_CONTAINS": ("S", "N", "B", "BOOL", "NULL")}
_CMP = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_KEY_OPS = {"EQ": "=", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">", "BEGINS_WITH": "begins_with",
            "BETWEEN": "BETWEEN"}

# Where each legacy parameter sits in Coral's constraint messages, and what its entries are.
_CONDITION_MAPS = {"QueryFilter": "queryFilter", "ScanFilter": "scanFilter", "KeyConditions": "keyConditions"}


def _present(body: dict, name: str) -> bool:
    """Coral drops JSON nulls: a parameter sent as null is absent."""
    return body.get(name) is not None


def _enum_error(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    return (f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(allowed)}]")


def _shape(value: Any) -> None:
    """Raise a SerializationException for a value of the wrong JSON shape; its
    validation errors are reported later, in DynamoDB's order."""
    try:
        validate_value(value)
    except ValidationException:
        pass


def _value_list(entry: dict) -> list:
    values = entry.get("AttributeValueList")
    if values is None:
        return []
    if type(values) is not list:
        raise list_error(values)
    for v in values:
        _shape(v)
    return values


# --- phase 1: shapes and constraints -----------------------------------------------------


def constraint_errors(body: dict, params: tuple[str, ...], where: str = "") -> list[str]:
    """Coral's checks of the legacy parameters in ``params``: a wrong JSON
    shape raises SerializationException at once; enum, null and length
    violations are returned for the caller's "N validation errors detected"
    message. ``where`` prefixes the member paths (BatchGetItem's
    ``requestItems.<table>.member.``)."""
    errors: list[str] = []
    for param in params:
        value = body.get(param)
        if value is None:
            continue
        if param == "ConditionalOperator":
            if not isinstance(value, str):
                raise string_error(value)
            if value not in ("AND", "OR"):
                errors.append(_enum_error(value, "conditionalOperator", ("OR", "AND")))
        elif param == "AttributesToGet":
            if type(value) is not list:
                raise list_error(value)
            for name in value:
                if not isinstance(name, str):
                    raise string_error(name)
            if not value:
                errors.append(f"Value '[]' at '{where}attributesToGet' failed to satisfy constraint: Member must "
                              "have length greater than or equal to 1")
        elif param in _CONDITION_MAPS:
            errors += _condition_map_errors(value, _CONDITION_MAPS[param])
        elif param == "Expected":
            errors += _expected_errors(value)
        elif param == "AttributeUpdates":
            errors += _update_errors(value)
    return errors


def _entries(value: Any, of: str) -> list[tuple[str, dict]]:
    if type(value) is not dict:
        raise map_error(value, of)
    out = []
    for name, entry in value.items():
        if entry is None:
            continue
        if type(entry) is not dict:
            raise struct_error(entry, of)
        out.append((name, entry))
    return out


def _operator_errors(entry: dict, where: str, required: bool) -> list[str]:
    op = entry.get("ComparisonOperator")
    if op is None:
        return [f"Value null at '{where}' failed to satisfy constraint: Member must not be null"] if required else []
    if not isinstance(op, str):
        raise string_error(op)
    return [] if op in COMPARISON_OPERATORS else [_enum_error(op, where, COMPARISON_OPERATORS)]


def _condition_map_errors(value: Any, member: str) -> list[str]:
    errors: list[str] = []
    for name, entry in _entries(value, "Condition"):
        errors += _operator_errors(entry, f"{member}.{name}.member.comparisonOperator", True)
        _value_list(entry)
    return errors


def _expected_errors(value: Any) -> list[str]:
    errors: list[str] = []
    for name, entry in _entries(value, "ExpectedAttributeValue"):
        errors += _operator_errors(entry, f"expected.{name}.member.comparisonOperator", False)
        exists = entry.get("Exists")
        if exists is not None and not isinstance(exists, bool):
            raise boolean_error(exists)
        if entry.get("Value") is not None:
            _shape(entry["Value"])
        _value_list(entry)
    return errors


def _update_errors(value: Any) -> list[str]:
    errors: list[str] = []
    for name, entry in _entries(value, "AttributeValueUpdate"):
        action = entry.get("Action")
        if action is not None:
            if not isinstance(action, str):
                raise string_error(action)
            if action not in ACTIONS:
                errors.append(_enum_error(action, f"attributeUpdates.{name}.member.action", ACTIONS))
        if entry.get("Value") is not None:
            _shape(entry["Value"])
    return errors


# --- phase 2: how the parameters are combined -----------------------------------------------


def check_params(body: dict, legacy: tuple[str, ...], expressions: tuple[str, ...],
                 conditions: str | None = None) -> None:
    """The request-level rules, in DynamoDB's order:

    1. legacy and expression parameters may not be mixed (KeyConditions
       counts only against KeyConditionExpression);
    2. ExpressionAttributeNames / Values need an expression that can use them;
    3. ConditionalOperator needs ``conditions`` (Expected, QueryFilter or
       ScanFilter) with two or more entries.

    ``legacy`` and ``expressions`` list the operation's parameters in the
    order DynamoDB names them in its message."""
    get = body.get  # (every request passes here: plain lookups, no helper calls)
    used = [p for p in expressions if get(p) is not None]
    if used:
        mixed = [p for p in legacy if get(p) is not None
                 and (p != "KeyConditions" or "KeyConditionExpression" in used)]
        if mixed:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same request: "
                f"Non-expression parameters: {{{', '.join(mixed)}}} Expression parameters: {{{', '.join(used)}}}")
    elif get("ExpressionAttributeNames") is not None:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    if get("ExpressionAttributeValues") is not None and (not used or used == ["ProjectionExpression"]):
        with_values = [p for p in expressions if p != "ProjectionExpression"]
        if with_values:
            raise ValidationException("ExpressionAttributeValues can only be specified when using expressions: "
                                      f"{' and '.join(with_values)} {'are' if len(with_values) > 1 else 'is'} "
                                      "null")
    if get("ConditionalOperator") is not None:
        entries = body.get(conditions) if conditions else None
        if not entries:
            raise ValidationException("ConditionalOperator cannot be used without Filter or Expected")
        if len(entries) < 2:
            raise ValidationException("ConditionalOperator can only be used when Filter or Expected has two or "
                                      "more elements")


# --- conditions ---------------------------------------------------------------------------


def _check_operands(op: str, values: list) -> None:
    """The values an operator was given: how many, of one type, of a type the
    operator takes, and BETWEEN's bounds in order."""
    arity = _ARITY[op]
    if (arity is None and not values) or (arity is not None and len(values) != arity):
        raise ValidationException(f"{INVALID}Invalid number of argument(s) for the {op} ComparisonOperator")
    types = [type_of(v) for v in values]
    if len(set(types)) > 1:
        raise ValidationException(f"{INVALID}AttributeValues inside AttributeValueList must be of same type")
    allowed = _TYPES.get(op)
    if allowed is not None:
        for t in types:
            if t not in allowed:
                raise ValidationException(f"{INVALID}ComparisonOperator {op} is not valid for {t} AttributeValue "
                                          "type")
    if op == "BETWEEN" and (compare(values[0], values[1]) or 0) > 0:
        raise ValidationException("The BETWEEN condition was provided a range where the lower bound is greater "
                                  "than the upper bound")


def _term(name: str, op: str, values: list) -> dict:
    """One legacy condition as a condition AST."""
    path = {"path": [name]}
    if op in _CMP:
        return {"cmp": _CMP[op], "l": path, "r": {"value": values[0]}}
    if op == "NULL":
        return {"fn": "attribute_not_exists", "args": [path]}
    if op == "NOT_NULL":
        return {"fn": "attribute_exists", "args": [path]}
    if op == "CONTAINS":
        return {"fn": "contains", "args": [path, {"value": values[0]}]}
    if op == "NOT_CONTAINS":
        return {"and": [{"fn": "attribute_exists", "args": [path]},
                        {"not": {"fn": "contains", "args": [path, {"value": values[0]}]}}]}
    if op == "BEGINS_WITH":
        return {"fn": "begins_with", "args": [path, {"value": values[0]}]}
    if op == "IN":
        return {"in": [path, *({"value": v} for v in values)]}
    if op == "BETWEEN":
        return {"between": [path, {"value": values[0]}, {"value": values[1]}]}
    raise ValueError(f"unknown comparison operator {op}")


def _combine(terms: list[dict], operator: str | None) -> dict | None:
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return {"or" if operator == "OR" else "and": terms}


def _validated(values: list) -> list:
    return [validate_value(v) for v in values]


def _condition(entry: dict) -> tuple[str, list]:
    """A QueryFilter / ScanFilter / KeyConditions entry, checked: (operator, values)."""
    values = _validated(entry.get("AttributeValueList") or [])
    op = entry["ComparisonOperator"]
    _check_operands(op, values)
    return op, values


def filter_condition(conditions: dict | None, operator: str | None = None) -> dict | None:
    """QueryFilter / ScanFilter (+ ConditionalOperator) as a condition AST;
    None when there is no condition."""
    if not conditions:
        return None
    terms = []
    for name, entry in conditions.items():
        if entry is None:
            continue
        op, values = _condition(entry)
        terms.append(_term(name, op, values))
    return _combine(terms, operator)


def _expected_term(name: str, entry: dict) -> dict:
    has_list = "AttributeValueList" in entry and entry["AttributeValueList"] is not None
    value = entry.get("Value")
    if value is not None:
        value = validate_value(value)
    values = _validated(entry["AttributeValueList"]) if has_list else []
    if has_list and value is not None:
        raise ValidationException(f"{INVALID}Value and AttributeValueList cannot be used together for Attribute: "
                                  f"{name}")
    op = entry.get("ComparisonOperator")
    exists = entry.get("Exists")
    if op is not None:
        if exists is not None:
            raise ValidationException(f"{INVALID}Exists and ComparisonOperator cannot be used together for "
                                      f"Attribute: {name}")
        if op not in ("NULL", "NOT_NULL") and not has_list and value is None:
            raise ValidationException(f"{INVALID}Value or AttributeValueList must be used with ComparisonOperator: "
                                      f"{op} for Attribute: {name}")
        if not has_list and value is not None:
            values = [value]
        _check_operands(op, values)
        return _term(name, op, values)
    if has_list:
        raise ValidationException(f"{INVALID}AttributeValueList can only be used with a ComparisonOperator for "
                                  f"Attribute: {name}")
    if exists is None or exists:
        if value is None:
            raise ValidationException(f"{INVALID}Value must be provided when Exists is "
                                      f"{'null' if exists is None else 'true'} for Attribute: {name}")
        return _term(name, "EQ", [value])
    if value is not None:
        raise ValidationException(f"{INVALID}Value cannot be used when Exists is false for Attribute: {name}")
    return _term(name, "NULL", [])


def expected(body: dict) -> dict | None:
    """``Expected`` (+ ``ConditionalOperator``) as a condition AST; None
    without Expected."""
    entries = body.get("Expected")
    if not entries:
        return None
    terms = [_expected_term(name, entry if entry is not None else {}) for name, entry in entries.items()]
    return _combine(terms, body.get("ConditionalOperator"))


# --- KeyConditions -------------------------------------------------------------------------


def key_conditions(conditions: dict) -> dict[str, tuple[str, list]]:
    """KeyConditions checked on their own (values, operands, one or two
    conditions): ``{attribute: (operator, values)}`` for ``bind_key_conditions``."""
    out: dict[str, tuple[str, list]] = {}
    for name, entry in conditions.items():
        if entry is None:
            continue
        out[name] = _condition(entry)
    if not 1 <= len(out) <= 2:
        raise ValidationException("Conditions can be of length 1 or 2 only")
    return out


def bind_key_conditions(conditions: dict[str, tuple[str, list]], hash_key: str, range_key: str | None) -> dict:
    """KeyConditions against the key schema read, as ``parse_key_condition``
    returns a KeyConditionExpression: ``{"hash": [name, value], "range": ...}``."""
    if len(conditions) == 2 and range_key is None:
        raise ValidationException("Query key condition not supported")
    if hash_key not in conditions:
        raise ValidationException(f"Query condition missed key schema element: {hash_key}")
    if len(conditions) == 2 and range_key not in conditions:
        raise ValidationException(f"Query condition missed key schema element: {range_key}")
    for op, _ in conditions.values():
        if op not in KEY_OPERATORS:
            raise ValidationException("Attempted conditional constraint is not an indexable operation")
    op, values = conditions[hash_key]
    if op != "EQ":
        raise ValidationException("Query key condition not supported")
    out: dict = {"hash": [hash_key, values[0]], "range": None}
    if range_key is not None and range_key in conditions:
        op, values = conditions[range_key]
        out["range"] = {"op": _KEY_OPS[op], "name": range_key, "values": values}
    return out


def check_query_filter(conditions: dict | None, hash_key: str, range_key: str | None) -> None:
    """A QueryFilter may not name a key attribute of the table or index read."""
    if not conditions:
        return
    for key in (hash_key, range_key):
        if key is not None and conditions.get(key) is not None:
            raise ValidationException(f"QueryFilter can only contain non-primary key attributes: Primary key "
                                      f"attribute: {key}")


# --- AttributeUpdates ----------------------------------------------------------------------


def attribute_updates(updates: dict | None) -> dict:
    """``AttributeUpdates`` as an update AST (absent clauses omitted)."""
    out: dict[str, list] = {}
    for name, entry in (updates or {}).items():
        if entry is None:
            continue
        action = entry.get("Action") or "PUT"
        value = entry.get("Value")
        if value is not None:
            value = validate_value(value)
        if value is None and action != "DELETE":
            raise ValidationException(f"{INVALID}Only DELETE action is allowed when no attribute value is "
                                      "specified")
        t = type_of(value) if value is not None else None
        if action == "DELETE" and value is not None and t not in ("SS", "NS", "BS"):
            raise ValidationException(f"{INVALID}DELETE action with value is not supported for the type {t}")
        if action == "ADD" and t not in ("N", "SS", "NS", "BS", "L"):
            raise ValidationException(f"{INVALID}ADD action is not supported for the type {t}")
        path = [name]
        if action == "PUT":
            out.setdefault("set", []).append([path, {"value": value}])
        elif action == "ADD" and t == "L":
            # ADD of a list appends to the list, or creates it.
            out.setdefault("set", []).append(
                [path, {"list_append": [{"if_not_exists": [path, {"value": {"L": []}}]}, {"value": value}]}])
        elif action == "ADD":
            out.setdefault("add", []).append([path, value])
        elif value is not None:
            out.setdefault("delete", []).append([path, value])
        else:
            out.setdefault("remove", []).append(path)
    if out:
        out["legacy"] = True  # apply_update answers a type clash in AttributeUpdates' words
    return out


# --- AttributesToGet -----------------------------------------------------------------------


def attributes_to_get(names: list | None) -> list[list] | None:
    """``AttributesToGet`` as a projection of top-level attributes (a name is
    taken as it is: ``a.b`` names the attribute called "a.b"); None without it."""
    if names is None:
        return None
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValidationException(f"{INVALID}Duplicate value in attribute name: {name}")
        seen.add(name)
    return [[name] for name in names]
