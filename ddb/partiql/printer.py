"""Statements back to PartiQL text (parse(to_text(s)) == s): for tests, logs
and error messages."""

from __future__ import annotations

from ddb.partiql.ast import (And, Arith, Between, Call, Cmp, Delete, In, Insert, Is, ListV, Lit, MapV, Not, Or,
                             Param, Path, Select, SetV, Statement, Update)


def name(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def path(p: Path) -> str:
    out = name(p.steps[0])  # type: ignore[arg-type]
    for step in p.steps[1:]:
        out += f"[{step}]" if isinstance(step, int) else "." + name(step)
    return out


def expr(e: object) -> str:
    if isinstance(e, Path):
        return path(e)
    if isinstance(e, Lit):
        if e.kind == "S":
            return string(e.value)  # type: ignore[arg-type]
        if e.kind == "BOOL":
            return "TRUE" if e.value else "FALSE"
        return "NULL" if e.kind == "NULL" else str(e.value)
    if isinstance(e, Param):
        return "?"
    if isinstance(e, ListV):
        return "[" + ", ".join(expr(i) for i in e.items) + "]"
    if isinstance(e, SetV):
        return "<<" + ", ".join(expr(i) for i in e.items) + ">>"
    if isinstance(e, MapV):
        return "{" + ", ".join(f"{string(k)}: {expr(v)}" for k, v in e.pairs) + "}"
    if isinstance(e, Call):
        return f"{e.name}(" + ", ".join(expr(a) for a in e.args) + ")"
    if isinstance(e, Arith):
        return f"{expr(e.left)} {e.op} {expr(e.right)}"
    return cond(e)


def cond(c: object) -> str:
    if isinstance(c, Cmp):
        return f"{expr(c.left)} {c.op} {expr(c.right)}"
    if isinstance(c, Between):
        return f"{expr(c.operand)} BETWEEN {expr(c.low)} AND {expr(c.high)}"
    if isinstance(c, In):
        return f"{expr(c.operand)} IN [" + ", ".join(expr(i) for i in c.items) + "]"
    if isinstance(c, Is):
        return f"{path(c.operand)} IS {'NOT ' if c.negated else ''}{c.what}"
    if isinstance(c, Not):
        return "NOT " + _grouped(c.cond)
    if isinstance(c, (And, Or)):
        word = " AND " if isinstance(c, And) else " OR "
        return word.join(_grouped(i) for i in c.items)
    if isinstance(c, Call):
        return expr(c)
    raise TypeError(f"not a condition: {c!r}")


def _grouped(c: object) -> str:
    return f"({cond(c)})" if isinstance(c, (And, Or, Not)) else cond(c)


def to_text(s: Statement) -> str:
    if isinstance(s, Select):
        proj = "*" if s.projection is None else ", ".join(path(p) for p in s.projection)
        out = f"SELECT {proj} FROM {name(s.table)}" + (f".{name(s.index)}" if s.index is not None else "")
        if s.where is not None:
            out += " WHERE " + cond(s.where)
        if s.order:
            out += " ORDER BY " + ", ".join(path(k) + (" DESC" if d else " ASC") for k, d in s.order)
        return out
    if isinstance(s, Insert):
        return f"INSERT INTO {name(s.table)} VALUE {expr(s.value)}"
    if isinstance(s, Update):
        parts = [f"SET {path(a[1])} = {expr(a[2])}" if a[0] == "SET" else f"REMOVE {path(a[1])}" for a in s.actions]
        return f"UPDATE {name(s.table)} " + " ".join(parts) + " WHERE " + cond(s.where) + _returning(s.returning)
    if isinstance(s, Delete):
        return f"DELETE FROM {name(s.table)} WHERE " + cond(s.where) + _returning(s.returning)
    raise TypeError(f"not a statement: {s!r}")


def _returning(values: str | None) -> str:
    if values is None:
        return ""
    which, when = values.split("_")
    return f" RETURNING {'MODIFIED' if which == 'UPDATED' else which} {when} *"
