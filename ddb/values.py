"""Validation of attribute values in DynamoDB's JSON form, walked once, in place.

Items stay as the plain dicts orjson produces from the wire (``{"S": "x"}``,
``{"N": "1.5"}``, ``{"L": [...]}``...). Validation walks a value once, rewrites
numbers to DynamoDB's canonical form in place (``{"N": "01.50"}`` becomes
``{"N": "1.5"}``) and returns the same object, so nothing is converted to Python
objects on the hot path.

DynamoDB reports two kinds of error and this module keeps their precedence:

* SerializationException: the JSON has the wrong shape for the AttributeValue
  structure (``{"S": 5}``, bad base64). Coral raises these while it parses the
  whole request, so one anywhere in the value wins over any validation error.
  They are raised the moment they are found.
* ValidationException: well-formed but invalid (``{"NULL": false}``, an empty
  set, a bad number). The walk remembers the first and raises it at the end.

Messages are DynamoDB's, as captured by dynalite's suite run against the real
service (architect/dynalite test/helpers.js, test/putItem.js,
validations/index.js), including its typos ("An string set  may not be empty",
"dectected", "]of type BS"). Since 2020-05-18 empty strings and binaries are
allowed outside keys, including inside sets (developer guide, "Sets").

Guesses, where no capture was found: a ``null`` attribute value or list element
is reported as an empty AttributeValue; ``null`` set members and an empty
attribute name use the messages below. Coral drops JSON ``null`` members and
unknown members of a structure, so ``{"S": "a", "X": 1}`` is ``{"S": "a"}`` and
is stored that way.
"""

from __future__ import annotations

from typing import Any, Callable

from ddb.binary import b64_length, b64decode_strict
from ddb.errors import ValidationException, render_value
from ddb.numbers import format_number, parse_number
from ddb.size import utf8_length, value_size
from ddb.serialization import (
    boolean_error,
    list_error,
    map_error,
    string_error,
    struct_error,
)

MAX_DEPTH = 32  # a top-level attribute is level 1; level 33 is rejected

EMPTY_VALUE = (
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
)
MULTIPLE_TYPES = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
NULL_NOT_TRUE = (
    "One or more parameter values were invalid: Null attribute value types must have the value of true"
)
EMPTY_SS = "One or more parameter values were invalid: An string set  may not be empty"
EMPTY_NS = "One or more parameter values were invalid: An number set  may not be empty"
EMPTY_BS = "One or more parameter values were invalid: Binary sets should not be empty"
NS_DUPLICATES = "Input collection contains duplicates"
NESTING = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
EMPTY_NAME = "One or more parameter values were invalid: An attribute name cannot be empty"
# Names of attributes, nested map keys included: at most 65,535 UTF-8 bytes. The
# service's own message, for PutItem, UpdateItem and expression attribute names
# alike (measured: ExtendDB/extenddb issue 365).
MAX_NAME_BYTES = 65_535
NAME_TOO_LARGE = "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"
_SHORT_NAME = MAX_NAME_BYTES // 4  # no name of this many characters or fewer can be too large
NULL_IN_SS = "One or more parameter values were invalid: An string set may not have a null member"
NULL_IN_NS = "The parameter cannot be converted to a numeric value"
NULL_IN_BS = "One or more parameter values were invalid: Binary sets may not contain null or empty values"

TYPES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
KEY_TYPES = frozenset(("S", "N", "B"))

__all__ = [  # b64decode_strict and b64_length live in ddb.binary; re-exported for callers
    "attribute_type", "b64_length", "b64decode_strict", "check_name_size", "check_nesting", "nesting_depth",
    "validate_expression_attribute_values", "validate_item", "validate_value", "validate_sized_item",
]


def check_name_size(name: str) -> None:
    """Refuse an attribute name over 65,535 bytes, at once (a request error
    that no later check may hide); a length test is all most names cost."""
    if len(name) > _SHORT_NAME and utf8_length(name) > MAX_NAME_BYTES:
        raise ValidationException(NAME_TOO_LARGE)


# ---------------------------------------------------------------- the walk


class _Walk:
    """Remembers the first validation error while the walk keeps looking for
    serialization errors, which take precedence."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: str | None = None

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message


def _check_s(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not str:
        raise string_error(x)
    return x


def _check_n(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not str:
        raise string_error(x)
    try:
        return format_number(parse_number(x))
    except ValidationException as exc:
        walk.fail(exc.message or "")
        return x


def _check_b(x: Any, depth: int, walk: _Walk) -> Any:
    b64decode_strict(x)
    return x


def _check_bool(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not bool:
        raise boolean_error(x)
    return x


def _check_null(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not bool:
        raise boolean_error(x)
    if not x:
        walk.fail(NULL_NOT_TRUE)
    return x


def _check_ss(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not list:
        raise list_error(x)
    for member in x:
        if member is None:
            walk.fail(NULL_IN_SS)
        elif type(member) is not str:
            raise string_error(member)
    if not x:
        walk.fail(EMPTY_SS)
    elif len(set(x)) != len(x):
        walk.fail(
            "One or more parameter values were invalid: "
            f"Input collection {render_value(x)} contains duplicates."
        )
    return x


def _check_ns(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not list:
        raise list_error(x)
    for member in x:
        if member is not None and type(member) is not str:
            raise string_error(member)
    if not x:
        walk.fail(EMPTY_NS)
        return x
    out = []
    for member in x:
        if member is None:
            walk.fail(NULL_IN_NS)
            return x
        try:
            out.append(format_number(parse_number(member)))
        except ValidationException as exc:
            walk.fail(exc.message or "")
            return x
    # Duplicates are judged on values: "1" and "1.0" collide.
    if len(set(out)) != len(out):
        walk.fail(NS_DUPLICATES)
        return x
    return out if out != x else x


def _check_bs(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not list:
        raise list_error(x)
    for member in x:
        if member is None:
            walk.fail(NULL_IN_BS)
        else:
            b64decode_strict(member)
    if not x:
        walk.fail(EMPTY_BS)
    elif len(set(x)) != len(x):
        # Strict base64 has one spelling per byte string, so text equality is byte equality.
        walk.fail(
            "One or more parameter values were invalid: "
            f"Input collection {render_value(x)}of type BS contains duplicates."
        )
    return x


def _check_l(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not list:
        raise list_error(x)
    for element in x:
        _value(element, depth + 1, walk)
    return x


def _check_m(x: Any, depth: int, walk: _Walk) -> Any:
    if type(x) is not dict:
        raise map_error(x)
    for name, element in x.items():
        if len(name) > _SHORT_NAME:
            check_name_size(name)
        _value(element, depth + 1, walk)
    return x


_CHECKERS: dict[str, Callable[[Any, int, _Walk], Any]] = {
    "S": _check_s,
    "N": _check_n,
    "B": _check_b,
    "BOOL": _check_bool,
    "NULL": _check_null,
    "SS": _check_ss,
    "NS": _check_ns,
    "BS": _check_bs,
    "L": _check_l,
    "M": _check_m,
}


def _value(v: Any, depth: int, walk: _Walk) -> Any:
    if type(v) is not dict:
        if v is None:
            walk.fail(EMPTY_VALUE)
            return v
        raise struct_error(v)
    if depth > MAX_DEPTH:
        walk.fail(NESTING)
        return v
    if len(v) == 1:  # the common case: exactly one member
        for kind, x in v.items():
            check = _CHECKERS.get(kind)
            if check is not None and x is not None:
                new = check(x, depth, walk)
                if new is not x:
                    v[kind] = new
                return v
    present = []
    for kind in list(v):
        if kind in _CHECKERS and v[kind] is not None:
            present.append(kind)
        else:
            del v[kind]  # Coral drops unknown members and JSON nulls
    if not present:
        walk.fail(EMPTY_VALUE)
        return v
    for kind in present:
        x = v[kind]
        new = _CHECKERS[kind](x, depth, walk)
        if new is not x:
            v[kind] = new
    if len(present) > 1:
        walk.fail(MULTIPLE_TYPES)
    return v


def validate_value(value: Any, *, path_desc: str | None = None, depth: int = 1) -> dict[str, Any]:
    """Validate one AttributeValue (and normalise its numbers in place); return it.

    ``depth`` is the nesting level the value will occupy (1 for a top-level
    attribute). ``path_desc`` says where the value came from; it is attached to
    a ValidationException as ``path`` so callers can phrase the error the way
    DynamoDB does for that parameter.
    """
    walk = _Walk()
    out = _value(value, depth, walk)
    if walk.error is not None:
        raise ValidationException(walk.error, path=path_desc)
    return out


def validate_item(item: Any) -> dict[str, Any]:
    """Validate an item (a map of attribute name to AttributeValue) in place; return it.

    Keys, key types and the 400 KB limit are checked elsewhere (``ddb.keys``,
    ``ddb.size``) because they need the table schema or come later in
    DynamoDB's order.
    """
    return validate_sized_item(item)[0]


def validate_sized_item(item: Any) -> tuple[dict[str, Any], int]:
    """`validate_item`, and the item's size (``ddb.size.item_size``) counted in
    the same walk: a written item is walked once, not once more for its size.
    The size is for the caller to check where DynamoDB's order puts the 400 KB
    limit (after the key)."""
    if type(item) is not dict:
        raise map_error(item)
    walk = _Walk()
    size = 0
    for name, value in item.items():
        if not name:
            walk.fail(EMPTY_NAME)
        elif len(name) > _SHORT_NAME:
            check_name_size(name)
        if type(value) is dict and len(value) == 1:  # the common case, a string, checked and sized inline
            s = value.get("S")
            if type(s) is str:
                size += (len(name) if name.isascii() else utf8_length(name)) + (
                    len(s) if s.isascii() else utf8_length(s))
                continue
        _value(value, 1, walk)
        if walk.error is None:  # (an invalid value has no size; the item is refused below)
            size += utf8_length(name) + value_size(value)
    if walk.error is not None:
        raise ValidationException(walk.error)
    return item, size


def validate_expression_attribute_values(values: Any) -> dict[str, Any]:
    """Validate ExpressionAttributeValues, wrapping errors as DynamoDB does:
    ``ExpressionAttributeValues contains invalid value: <error> for key :v``."""
    if type(values) is not dict:
        raise map_error(values)
    first: tuple[str, str] | None = None
    for key, value in values.items():
        walk = _Walk()
        _value(value, 1, walk)
        if walk.error is not None and first is None:
            first = (key, walk.error)
    if first is not None:
        key, error = first
        raise ValidationException(
            f"ExpressionAttributeValues contains invalid value: {error} for key {key}", path=key
        )
    return values


def attribute_type(value: dict[str, Any]) -> str:
    """The type descriptor of a validated AttributeValue: ``"S"``, ``"NS"``, ``"M"``..."""
    for kind in value:
        return kind
    raise ValueError("empty AttributeValue")


def check_nesting(item: dict[str, Any], names: Any) -> None:
    """Refuse an item whose attributes `names` nest deeper than DynamoDB's 32
    levels (an update can nest a value into a deep path: both may be legal)."""
    for name in names:
        value = item.get(name)
        if value is not None and nesting_depth(value) > MAX_DEPTH:
            raise ValidationException(NESTING)


def nesting_depth(value: dict[str, Any]) -> int:
    """Levels a validated value occupies: 1 for a scalar or set, +1 per L/M level."""
    kind = attribute_type(value)
    if kind == "M":
        inner = value["M"].values()
    elif kind == "L":
        inner = value["L"]
    else:
        return 1
    return 1 + max((nesting_depth(v) for v in inner), default=0)
