"""PartiQL statements to the request bodies of the existing operations:
SELECT to Query (an equality on the partition key, a sort key condition) or
Scan (anything else), INSERT to a PutItem that must not overwrite, UPDATE to
an UpdateItem of an item that must exist, DELETE to a DeleteItem; the rest
of a WHERE clause becomes the FilterExpression or ConditionExpression, as
text the expression parsers of `ddb/expressions.py` read, so the one
evaluator decides every condition."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ddb.errors import ValidationException
from ddb.numbers import NOT_NUMERIC, parse_number
from ddb.partiql.ast import (And, Arith, Between, Call, Cmp, Cond, Delete, Expr, In, Insert, Is, ListV, Lit, MapV,
                             Not, Or, Param, Path, Select, SetV, Statement, Update)
from ddb.partiql.lexer import malformed
from ddb.partiql.parser import param_count

# (partition key, sort key) of a table or index; None: an index with
# multi-attribute keys, read by Scan only.
KeysOf = Callable[[str, "str | None"], "tuple[str, str | None] | None"]

WRONG_PARAMETER_COUNT = "Number of parameters in request and statement don't match."
NOT_FULL_KEY = "Where clause does not contain a mandatory equality on all key attributes"
BATCH_READ_KEY = "Select statements within BatchExecuteStatement must specify the primary key in the where clause."
DELETE_RETURNING = "Only RETURNING ALL OLD * is allowed in DELETE statements."
_SORT_OPS = ("=", "<", "<=", ">", ">=")
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}  # `value op key` as `key op' value`
_SET_TYPES = {"S": "SS", "N": "NS", "B": "BS"}


@dataclass
class Plan:
    """One operation and its request body."""
    operation: str  # Query, Scan, PutItem, UpdateItem, DeleteItem
    body: dict
    table: str
    write: bool
    insert: bool = False  # a PutItem whose condition failing means DuplicateItem
    more: list[dict] = field(default_factory=list)  # `pk IN [...]`: the Queries after the first, run in turn


def compile_statement(stmt: Statement, params: list[dict] | None, keys_of: KeysOf, *,
                      full_key: bool = False) -> Plan:
    """The operation that runs ``stmt`` with ``params`` bound to its ``?``s.
    ``full_key``: a SELECT must name one item (BatchExecuteStatement)."""
    if param_count(stmt) != len(params or []):
        raise ValidationException(WRONG_PARAMETER_COUNT)
    e = _Emitter(list(params or []))
    if isinstance(stmt, Select):
        return _select(stmt, e, keys_of, full_key)
    if isinstance(stmt, Insert):
        # Each attribute's value is a root of its own in DynamoDB's messages.
        value = stmt.value
        item = {"M": {k: e.bind(x) for k, x in value.pairs}} if isinstance(value, MapV) else e.bind(value)
        if "M" not in item:
            raise ValidationException("Unexpected value type in INSERT: the VALUE must be a map of attributes")
        hash_key = _table_keys(keys_of, stmt.table)[0]
        body = {"TableName": stmt.table, "Item": item["M"],
                "ConditionExpression": f"attribute_not_exists({e.name(hash_key)})", **e.placeholders()}
        return Plan("PutItem", body, stmt.table, True, insert=True)
    if isinstance(stmt, Update):
        key, rest = _full_key(stmt.where, _table_keys(keys_of, stmt.table), e)
        update = _update_text(stmt.actions, e)
        exists = f"attribute_exists({e.name(next(iter(key)))})"
        condition = " AND ".join([exists, *(_grouped(e.cond(c), c) for c in rest)])
        body = {"TableName": stmt.table, "Key": key, "UpdateExpression": update, "ConditionExpression": condition}
        if stmt.returning is not None:
            body["ReturnValues"] = stmt.returning
        return Plan("UpdateItem", {**body, **e.placeholders()}, stmt.table, True)
    if isinstance(stmt, Delete):
        key, rest = _full_key(stmt.where, _table_keys(keys_of, stmt.table), e)
        body = {"TableName": stmt.table, "Key": key}
        if stmt.returning is not None:
            if stmt.returning != "ALL_OLD":
                raise ValidationException(DELETE_RETURNING)
            body["ReturnValues"] = "ALL_OLD"
        if rest:
            body["ConditionExpression"] = " AND ".join(_grouped(e.cond(c), c) for c in rest)
        return Plan("DeleteItem", {**body, **e.placeholders()}, stmt.table, True)
    raise TypeError(f"not a statement: {stmt!r}")


def check_projected(stmt: Select, projected: frozenset[str]) -> None:
    """A SELECT from a global index may name only the attributes it projects
    (DynamoDB lists the others, in statement order)."""
    missing = list(dict.fromkeys(str(p.steps[0]) for p in stmt.projection or () if p.steps[0] not in projected))
    if missing:
        raise ValidationException(f"One or more parameter values were invalid: Global secondary index {stmt.index} "
                                  f"does not project [{', '.join(missing)}]")


def _table_keys(keys_of: KeysOf, table: str) -> tuple[str, str | None]:
    keys = keys_of(table, None)
    assert keys is not None  # a table's key always has one partition key attribute
    return keys


def _conjuncts(c: Cond | None) -> list[Cond]:
    if c is None:
        return []
    return [x for i in c.items for x in _conjuncts(i)] if isinstance(c, And) else [c]


def _is_value(e: Expr) -> bool:
    return isinstance(e, (Lit, Param, ListV, MapV, SetV))


def _key_term(c: Cond, attr: str, ops: tuple[str, ...]) -> tuple[str, Expr] | None:
    """(op, value) when ``c`` compares the top-level attribute ``attr`` with a value."""
    if not isinstance(c, Cmp) or c.op not in ops:
        return None
    if c.left == Path((attr,)) and _is_value(c.right):
        return c.op, c.right
    if c.right == Path((attr,)) and _is_value(c.left):
        return _FLIPPED[c.op], c.left
    return None


def _full_key(where: Cond, keys: tuple[str, str | None], e: _Emitter) -> tuple[dict, list[Cond]]:
    """The key a WHERE clause names by equalities on every key attribute, and its other conditions."""
    rest = _conjuncts(where)
    key: dict = {}
    for attr in keys:
        if attr is None:
            continue
        term = _take(rest, lambda c: _key_term(c, attr, ("=",)))
        if term is None:
            raise ValidationException(NOT_FULL_KEY)
        key[attr] = e.bind(term[1])
    return key, rest


def _select(s: Select, e: _Emitter, keys_of: KeysOf, full_key: bool) -> Plan:
    keys = keys_of(s.table, s.index)
    if keys is not None and not full_key and not s.order:
        queries = _partition_key_in(s, e, keys)
        if queries is not None:
            return queries
    return _one_read(s, e, keys, full_key)


def _partition_key_in(s: Select, e: _Emitter, keys: tuple[str, str | None]) -> Plan | None:
    """``pk IN [a, b]`` (and no equality on pk): one Query per value, as
    DynamoDB reads it, instead of a Scan of the whole table."""
    conds = _conjuncts(s.where)
    pk = Path((keys[0],))
    if any(_key_term(c, keys[0], ("=",)) for c in conds):
        return None
    found = next((c for c in conds if isinstance(c, In) and c.operand == pk and all(map(_is_value, c.items))), None)
    if found is None:
        return None
    rest = [c for c in conds if c is not found]
    bodies: list[dict] = []
    for value in found.items:
        where = And((*rest, Cmp("=", pk, value))) if rest else Cmp("=", pk, value)
        plan = _one_read(dataclasses.replace(s, where=where), _Emitter(e.params), keys, False)
        if plan.operation != "Query":
            return None
        if plan.body not in bodies:  # a value named twice is read once
            bodies.append(plan.body)
    return Plan("Query", bodies[0], s.table, False, more=bodies[1:])


def _one_read(s: Select, e: _Emitter, keys: tuple[str, str | None] | None, full_key: bool) -> Plan:
    body: dict[str, Any] = {"TableName": s.table}
    if s.index is not None:
        body["IndexName"] = s.index
    rest = _conjuncts(s.where)
    key_text: list[str] = []
    one_item = False  # an equality on every key attribute
    if keys is not None:
        hash_key, range_key = keys
        hash_term = _take(rest, lambda c: _key_term(c, hash_key, ("=",)))
        if hash_term is not None:
            key_text.append(f"{e.name(hash_key)} = {e.value(hash_term[1])}")
            sort = None if range_key is None else _take(rest, lambda c: _sort_condition(c, range_key, e))
            if sort is not None:
                key_text.append(sort[0])
            one_item = range_key is None or (sort is not None and sort[1])
            if _names(rest) & {hash_key, range_key}:  # a filter may not name a key attribute: Scan it all
                key_text, one_item, e, rest = [], False, _Emitter(e.params), _conjuncts(s.where)
    if full_key and (not one_item or s.index is not None):
        raise ValidationException(BATCH_READ_KEY)
    if s.projection is not None:
        body["ProjectionExpression"] = ", ".join(e.path(p) for p in s.projection)
    if key_text:
        body["KeyConditionExpression"] = " AND ".join(key_text)
    if rest:
        body["FilterExpression"] = " AND ".join(_grouped(e.cond(c), c) for c in rest)
    if s.order:
        key_paths = [Path((k,)) for k in keys or () if k is not None]
        if not key_text or len(s.order) != 1 or s.order[0][0] not in key_paths:
            raise ValidationException("ORDER BY is supported only on the key of a table or index whose partition "
                                      "key the WHERE clause names by an equality")
        body["ScanIndexForward"] = not s.order[0][1]
    body.update(e.placeholders())
    return Plan("Query" if key_text else "Scan", body, s.table, False)


def _take(conds: list[Cond], match: Callable[[Cond], Any]) -> Any:
    """The first match of the conditions, removed from them (None: none matches)."""
    for c in conds:
        found = match(c)
        if found is not None:
            conds.remove(c)
            return found
    return None


def _sort_condition(c: Cond, attr: str, e: _Emitter) -> tuple[str, bool] | None:
    """A sort key condition's text, and whether it is an equality."""
    term = _key_term(c, attr, _SORT_OPS)
    if term is not None:
        return f"{e.name(attr)} {term[0]} {e.value(term[1])}", term[0] == "="
    if isinstance(c, Between) and c.operand == Path((attr,)) and _is_value(c.low) and _is_value(c.high):
        return f"{e.name(attr)} BETWEEN {e.value(c.low)} AND {e.value(c.high)}", False
    if (isinstance(c, Call) and c.name == "begins_with" and len(c.args) == 2 and c.args[0] == Path((attr,))
            and _is_value(c.args[1])):
        return f"begins_with({e.name(attr)}, {e.value(c.args[1])})", False
    return None


def _names(conds: list[Cond]) -> set[str]:
    """The top-level attributes the conditions read."""
    out: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, Path):
            out.add(node.steps[0])  # type: ignore[arg-type]
        elif isinstance(node, (tuple, list)):
            for n in node:
                walk(n)
        elif hasattr(node, "__dataclass_fields__"):
            for f in node.__dataclass_fields__:
                walk(getattr(node, f))
    walk(conds)
    return out


def _grouped(text: str, c: Cond) -> str:
    return f"({text})" if isinstance(c, Or) else text


def _update_text(actions: tuple[tuple, ...], e: _Emitter) -> str:
    clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    for action in actions:
        if action[0] == "REMOVE":
            clauses["REMOVE"].append(e.path(action[1]))
            continue
        _, target, value = action
        if isinstance(value, Call) and value.name in ("set_add", "set_delete"):
            clause = "ADD" if value.name == "set_add" else "DELETE"
            clauses[clause].append(f"{e.path(target)} {e.value(_set_operand(value, target, e))}")
            continue
        clauses["SET"].append(f"{e.path(target)} = {e.update_operand(value)}")
    return " ".join(f"{k} " + ", ".join(v) for k, v in clauses.items() if v)


_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)$")


def _readable(text: object) -> bool:
    """Whether Java's BigDecimal reads the number: its exponent is a 32-bit integer."""
    exponent = _EXPONENT.search(text) if isinstance(text, str) else None
    if exponent is None:
        return True
    digits = exponent.group(1).lstrip("+-").lstrip("0")
    return len(digits) <= 10 and -(1 << 31) <= int(exponent.group(1)) < 1 << 31


def _check_literal(text: str, at: str) -> None:
    """A number literal DynamoDB can read and store; the message names where it sits."""
    if not _readable(text):
        raise malformed("")
    try:
        parse_number(text)
    except ValidationException as exc:
        raise ValidationException(f"{exc.message} under {at}") from None


def _check_parameter(value: Any) -> None:
    """A parameter's numbers, read as DynamoDB reads them (one it cannot read is its own message)."""
    if not isinstance(value, dict):
        return
    for kind, inner in value.items():
        if kind in ("N", "NS"):
            for text in [inner] if kind == "N" else inner if isinstance(inner, list) else []:
                if not _readable(text):
                    raise ValidationException(f"{NOT_NUMERIC}: {text}")
        elif kind == "L" and isinstance(inner, list):
            for child in inner:
                _check_parameter(child)
        elif kind == "M" and isinstance(inner, dict):
            for child in inner.values():
                _check_parameter(child)


def _set_operand(call: Call, target: Path, e: _Emitter) -> Expr:
    """set_add's or set_delete's set, checked as DynamoDB checks it."""
    name, (name_at, first_at) = call.name.upper(), call.at
    if len(call.args) != 2:
        raise ValidationException(f"{name} must have exactly two arguments at {name_at}")
    if call.args[0] != target:
        raise ValidationException(f"The first argument to {name} must equal the assignment value at {name_at}")
    value = call.args[1]
    if not (isinstance(value, SetV) or isinstance(value, Param) and next(iter(e.params[value.index]), "")
            in _SET_TYPES.values()):
        raise ValidationException(f"The second argument to {name} must be a value with type SET at {first_at}")
    return value


@dataclass
class _Emitter:
    """Expression text with placeholders: one ``#nK`` per attribute name,
    one ``:vK`` per value (the parameters bound)."""
    params: list[dict]
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict] = field(default_factory=dict)

    def placeholders(self) -> dict:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = {v: k for k, v in self.names.items()}
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out

    def name(self, attr: str) -> str:
        if attr not in self.names:
            self.names[attr] = f"#n{len(self.names)}"
        return self.names[attr]

    def value(self, v: Expr) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = self.bind(v)
        return key

    def path(self, p: Path) -> str:
        out = self.name(p.steps[0])  # type: ignore[arg-type]
        for step in p.steps[1:]:
            out += f"[{step}]" if isinstance(step, int) else "." + self.name(step)
        return out

    def bind(self, v: Expr, at: str = "root") -> dict:
        """A value as a DynamoDB AttributeValue (``at``: where it sits in the
        literal, which DynamoDB names when a number is out of range)."""
        if isinstance(v, Param):
            _check_parameter(self.params[v.index])
            return self.params[v.index]
        if isinstance(v, Lit):
            if v.kind == "NULL":
                return {"NULL": True}
            if v.kind == "N":
                _check_literal(str(v.value), at)
            return {v.kind: v.value}
        if isinstance(v, ListV):
            return {"L": [self.bind(x, f"{at}[{i}]") for i, x in enumerate(v.items)]}
        if isinstance(v, MapV):
            return {"M": {k: self.bind(x, f"{at}.{k}") for k, x in v.pairs}}
        if isinstance(v, SetV):
            if not v.items:
                raise ValidationException("Empty bags are not supported")
            members = [self.bind(i) for i in v.items]
            kinds = {next(iter(m)) for m in members if isinstance(m, dict) and len(m) == 1}
            if len(kinds) != 1 or next(iter(kinds)) not in _SET_TYPES or len(members) != len(
                    [m for m in members if isinstance(m, dict) and len(m) == 1]):
                raise ValidationException("A set must hold members of one type: strings, numbers or binaries")
            kind = next(iter(kinds))
            return {_SET_TYPES[kind]: [m[kind] for m in members]}
        raise ValidationException("Unexpected path where a value is expected")

    def operand(self, x: Expr) -> str:
        if isinstance(x, Path):
            return self.path(x)
        if isinstance(x, Call):
            if x.name != "size" or len(x.args) != 1 or not isinstance(x.args[0], Path):
                raise ValidationException(f"Unsupported function in this position: {x.name}")
            return f"size({self.path(x.args[0])})"
        if isinstance(x, Arith):
            raise ValidationException("Arithmetic is supported only in the SET clause of UPDATE")
        return self.value(x)

    def update_operand(self, x: Expr) -> str:
        if isinstance(x, Arith):
            return f"{self.update_operand(x.left)} {x.op} {self.update_operand(x.right)}"
        if isinstance(x, Call) and x.name in ("list_append", "if_not_exists"):
            return f"{x.name}(" + ", ".join(self.update_operand(a) for a in x.args) + ")"
        return self.operand(x)

    def cond(self, c: Cond) -> str:
        if isinstance(c, Cmp):
            return f"{self.operand(c.left)} {c.op} {self.operand(c.right)}"
        if isinstance(c, Between):
            return f"{self.operand(c.operand)} BETWEEN {self.operand(c.low)} AND {self.operand(c.high)}"
        if isinstance(c, In):
            return f"{self.operand(c.operand)} IN (" + ", ".join(self.operand(i) for i in c.items) + ")"
        if isinstance(c, Is):
            p = self.path(c.operand)
            if c.what == "MISSING":
                return f"attribute_exists({p})" if c.negated else f"attribute_not_exists({p})"
            null = self.value(Lit("S", "NULL"))
            if c.negated:
                return f"(attribute_exists({p}) AND NOT attribute_type({p}, {null}))"
            return f"(attribute_not_exists({p}) OR attribute_type({p}, {null}))"
        if isinstance(c, Not):
            inner = self.cond(c.cond)
            return f"NOT ({inner})" if isinstance(c.cond, (And, Or)) else f"NOT {inner}"
        if isinstance(c, And):
            return " AND ".join(_grouped(self.cond(i), i) for i in c.items)
        if isinstance(c, Or):
            return " OR ".join(self.cond(i) for i in c.items)
        if isinstance(c, Call):
            arity = {"begins_with": 2, "contains": 2, "attribute_type": 2, "attribute_exists": 1,
                     "attribute_not_exists": 1}.get(c.name)
            if arity is None:
                raise ValidationException(f"Unsupported function in a condition: {c.name}")
            if len(c.args) != arity:
                raise ValidationException(f"Incorrect number of operands for operator or function; operator or "
                                          f"function: {c.name}, number of operands: {len(c.args)}")
            if arity == 1 and not isinstance(c.args[0], Path):
                raise ValidationException(f"Operator or function requires a document path; operator or function: "
                                          f"{c.name}")
            return f"{c.name}(" + ", ".join(self.operand(a) for a in c.args) + ")"
        raise ValidationException("Unsupported condition")
