"""Type checks of whole requests, compiled from DynamoDB's own service model.

DynamoDB's front end (Coral, Jackson underneath) deserialises the complete
request into the operation's input shape before any validation runs, so a
JSON value of the wrong type anywhere (``"ReadCapacityUnits": "5"``, a number
in ``ExpressionAttributeNames``) is a SerializationException that wins over
every ValidationException. This module gives the router the same first step:
`compile_model` turns a botocore-format service model (the one the AWS SDKs
are generated from, shipped with botocore: a well-kept, complete source of
every operation's shape) into one checker per operation, built once.

Checkers are closures per shape: a request is walked once, members that are
absent or ``null`` cost nothing (Coral drops JSON nulls), and each scalar is
one ``type(x) is`` test. Unknown members are ignored, as Coral ignores them.
Constraints (lengths, ranges, enums, required members) stay with the
operations' parsers in ``ddb``, which answer DynamoDB's ValidationExceptions.

Messages follow ``ddb.serialization``; where a structure, map or list sits
inside another list or map (``Item.a``, ``RequestItems.t``, ``Keys.0``) Coral
reports it differently from a member of a structure, and so does this module.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ddb.errors import SerializationException
from ddb.serialization import (
    MODEL,
    blob_error,
    boolean_error,
    integer_error,
    list_error,
    string_error,
    struct_error,
)

Check = Callable[[Any], None]

# What Coral says when a map or list nested in a map or list is a scalar
# (dynalite's suite, run against the service: test/helpers.js, castMsg).
CAST = ("class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class "
        "java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class "
        "are in module java.base of loader 'bootstrap')")

_INT_RANGE = {"integer": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
_JAVA = {"string": "java.lang.String", "boolean": "java.lang.Boolean", "integer": "java.lang.Integer",
         "long": "java.lang.Long", "double": "java.lang.Double", "float": "java.lang.Float",
         "blob": "java.nio.ByteBuffer", "timestamp": "java.util.Date"}


def _ok(value: Any) -> None:
    return None


def _string(value: Any) -> None:
    if type(value) is not str:
        raise string_error(value)


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise boolean_error(value)


def _blob(value: Any) -> None:
    if type(value) is not str:  # the base64 text itself is checked where it is decoded (ddb.binary)
        raise blob_error(value)


def _integer(kind: str) -> Check:
    java = kind.capitalize()
    lo, hi = _INT_RANGE[kind]

    def check(value: Any) -> None:
        if type(value) is not int or not lo <= value <= hi:
            raise integer_error(value, java)
    return check


def _number(java: str) -> Check:
    def check(value: Any) -> None:
        if type(value) is not int and type(value) is not float:
            raise integer_error(value, java)
    return check


class _Compiler:
    """Builds each (shape, position) checker once; recursive shapes
    (AttributeValue inside M and L) go through one-element cells."""

    def __init__(self, shapes: Mapping[str, Mapping[str, Any]]) -> None:
        self.shapes = shapes
        self.cells: dict[tuple[str, bool], list[Check]] = {}
        self.members: list[dict[str, Any]] = []  # structures' member tables, cells until `resolve`

    def cell(self, name: str, nested: bool) -> list[Check]:
        """`nested`: the value is an element of a list or a map, not a member of a structure."""
        key = (name, nested)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [_ok]
            cell[0] = self.build(name, nested)
        return cell

    def resolve(self) -> None:
        """Once every shape is built: structures call their members' checkers directly."""
        for members in self.members:
            for m, cell in members.items():
                members[m] = cell[0]

    def java(self, name: str) -> str:
        """The Java type Coral names in its collection messages."""
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            return f"{MODEL}.{name}"
        if kind == "list":
            return f"java.util.List<{self.java(shape['member']['shape'])}>"
        if kind == "map":
            return f"java.util.Map<java.lang.String, {self.java(shape['value']['shape'])}>"
        return _JAVA.get(kind, "java.lang.Object")

    def build(self, name: str, nested: bool) -> Check:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            return self.structure(name, shape, nested)
        if kind == "list":
            return self.list(shape, nested)
        if kind == "map":
            return self.map(shape, nested)
        if kind == "string":
            return _string
        if kind == "boolean":
            return _boolean
        if kind in _INT_RANGE:
            return _integer(kind)
        if kind in ("double", "float"):
            return _number(kind.capitalize())
        if kind == "timestamp":
            return _number("Date")
        if kind == "blob":
            return _blob
        return _ok

    def structure(self, name: str, shape: Mapping[str, Any], nested: bool) -> Check:
        members: dict[str, Any] = {m: self.cell(spec["shape"], False) for m, spec in shape.get("members", {}).items()}
        self.members.append(members)
        get = members.get

        def check(value: Any) -> None:
            if type(value) is not dict:
                if type(value) is list:
                    raise struct_error(value, name)
                raise SerializationException("Unexpected value type in payload" if nested
                                             else "Unexpected field type")
            for member, v in value.items():
                if v is not None:
                    c = get(member)
                    if c is _string:  # inline: most members, and each AttributeValue's S, are strings
                        if type(v) is not str:
                            raise string_error(v)
                    elif c is not None:
                        c(v)
        return check

    def list(self, shape: Mapping[str, Any], nested: bool) -> Check:
        element = self.cell(shape["member"]["shape"], True)

        def check(value: Any) -> None:
            if type(value) is not list:
                if nested and type(value) is not dict:
                    raise SerializationException(CAST)
                raise list_error(value)
            c = element[0]
            for v in value:
                if v is not None:
                    c(v)
        return check

    def map(self, shape: Mapping[str, Any], nested: bool) -> Check:
        of = f"Unrecognized collection type java.util.Map<java.lang.String, {self.java(shape['value']['shape'])}>"
        element = self.cell(shape["value"]["shape"], True)

        def check(value: Any) -> None:
            if type(value) is not dict:
                if type(value) is list:
                    raise SerializationException(of)
                raise SerializationException(CAST if nested else "Unexpected field type")
            c = element[0]
            for v in value.values():
                if v is not None:
                    c(v)
        return check


def compile_model(model: Mapping[str, Any]) -> dict[str, Check]:
    """Operation name -> checker of its whole input; raises SerializationException."""
    compiler = _Compiler(model["shapes"])
    out: dict[str, Check] = {}
    for op, spec in model["operations"].items():
        shape = spec.get("input", {}).get("shape")
        out[op] = compiler.cell(shape, False)[0] if shape else _ok
    compiler.resolve()
    return out


__all__ = ["CAST", "Check", "compile_model"]
