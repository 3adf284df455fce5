"""The statements and expressions of DynamoDB's PartiQL subset (immutable, so
a printed statement that parses back compares equal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Path:
    """An attribute, then map keys (str) and list indexes (int)."""
    steps: tuple[str | int, ...]


@dataclass(frozen=True)
class Lit:
    """A scalar literal: kind S (text), N (the number as written), BOOL or NULL."""
    kind: str
    value: str | bool | None


@dataclass(frozen=True)
class Param:
    """The index-th `?`, counted from 0 in the order they appear."""
    index: int


@dataclass(frozen=True)
class ListV:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class MapV:
    pairs: tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class SetV:
    """`<<...>>`: a string, number or binary set, by its members' type."""
    items: tuple[Value, ...]


Value = Union[Lit, Param, ListV, MapV, SetV]


@dataclass(frozen=True)
class Call:
    """A function: begins_with, contains, attribute_type, size (conditions);
    list_append, if_not_exists, set_add, set_delete (UPDATE's SET)."""
    name: str
    args: tuple[Expr, ...]
    # Where the name and the first argument are (line:column:length), for
    # DynamoDB's messages; not part of the statement's meaning.
    at: tuple[str, str] = field(default=("", ""), compare=False)


@dataclass(frozen=True)
class Arith:
    op: str  # + or -
    left: Expr
    right: Expr


Expr = Union[Path, Lit, Param, ListV, MapV, SetV, Call, Arith]


@dataclass(frozen=True)
class Cmp:
    op: str  # = <> < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Between:
    operand: Expr
    low: Expr
    high: Expr


@dataclass(frozen=True)
class In:
    operand: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Is:
    """`x IS [NOT] MISSING` or `x IS [NOT] NULL`."""
    operand: Path
    what: str  # MISSING or NULL
    negated: bool


@dataclass(frozen=True)
class Not:
    cond: Cond


@dataclass(frozen=True)
class And:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Cond, ...]


Cond = Union[Cmp, Between, In, Is, Not, And, Or, Call]


@dataclass(frozen=True)
class Select:
    table: str
    index: str | None
    projection: tuple[Path, ...] | None  # None: *
    where: Cond | None
    order: tuple[tuple[Path, bool], ...] = ()  # (key, descending)


@dataclass(frozen=True)
class Insert:
    table: str
    value: Value


@dataclass(frozen=True)
class Update:
    table: str
    actions: tuple[tuple, ...]  # ("SET", Path, Expr) or ("REMOVE", Path)
    where: Cond
    returning: str | None = None  # RETURNING as ReturnValues: ALL_OLD, ALL_NEW, UPDATED_OLD, UPDATED_NEW


@dataclass(frozen=True)
class Delete:
    table: str
    where: Cond
    returning: str | None = None


Statement = Union[Select, Insert, Update, Delete]
