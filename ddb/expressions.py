"""DynamoDB expressions: tokenizer, recursive-descent parser and evaluator.

This covers what the cluster needs now (condition comparisons, AND/OR/NOT,
parentheses, attribute_exists / attribute_not_exists / begins_with, SET and
REMOVE of top-level attributes, projections of top-level names) and is laid
out to grow into the whole language (functions, nested paths, arithmetic,
ADD/DELETE) without changing its AST.

AST (plain JSON, shipped from router to partition leader):
  path      ["name", ...]                      names resolved, no placeholders
  operand   {"path": path} | {"value": <AttributeValue>}
  condition {"cmp": "=", "l": operand, "r": operand}
            {"fn": "attribute_exists", "args": [operand, ...]}
            {"and": [c, c]} | {"or": [c, c]} | {"not": c}
  update    {"set": [[path, operand], ...], "remove": [path, ...]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ddb.errors import ValidationException
from ddb.numbers import to_decimal

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+)|(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)"
                    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><>|<=|>=|[=<>(),.\[\]+\-]))")
COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "begins_with": 2}
# Words that may not appear bare as attribute names here. DynamoDB's full
# list is longer; these are the ones the grammar itself needs.
KEYWORDS = {"AND", "OR", "NOT", "SET", "REMOVE", "ADD", "DELETE", "BETWEEN", "IN"}


@dataclass
class Context:
    """Placeholders given with a request, and which of them were used."""

    names: dict[str, str] | None
    values: dict[str, Any] | None
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    def check_unused(self) -> None:
        unused = sorted(set(self.names or {}) - self.used_names)
        if unused:
            raise ValidationException(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {"
                + ", ".join(unused) + "}")
        unused = sorted(set(self.values or {}) - self.used_values)
        if unused:
            raise ValidationException(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {"
                + ", ".join(unused) + "}")


class _Parser:
    def __init__(self, text: str, ctx: Context, kind: str) -> None:
        self.text = text
        self.ctx = ctx
        self.kind = kind
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                bad = text[pos:].strip()[:1]
                self._syntax(bad, text[pos:].strip()[:10])
            kind_ = m.lastgroup
            self.tokens.append((kind_, m.group(kind_)))
            pos = m.end()
        self.i = 0

    def _syntax(self, token: str, near: str) -> None:
        raise ValidationException(f'Invalid {self.kind}: Syntax error; token: "{token}", near: "{near}"')

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ValidationException(f'Invalid {self.kind}: Syntax error; token: "<EOF>", near: '
                                      f'"{self.tokens[-1][1] if self.tokens else ""}"')
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok[1] != text:
            self._syntax(tok[1], self._near())

    def _near(self) -> str:
        lo = max(0, self.i - 2)
        return " ".join(t for _, t in self.tokens[lo:self.i + 1])

    def at_keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "ident" and tok[1].upper() == word

    def done(self) -> None:
        tok = self.peek()
        if tok is not None:
            self._syntax(tok[1], self._near())

    # --- operands -------------------------------------------------------

    def path(self) -> list[str | int]:
        out: list[str | int] = [self._name()]
        while True:
            tok = self.peek()
            if tok is None or tok[1] not in (".", "["):
                return out
            self.take()
            if tok[1] == ".":
                out.append(self._name())
            else:
                kind, text = self.take()
                if kind != "num":
                    self._syntax(text, self._near())
                out.append(int(text))
                self.expect("]")

    def _name(self) -> str:
        kind, text = self.take()
        if kind == "name":
            names = self.ctx.names or {}
            if text not in names:
                raise ValidationException(
                    f"Invalid {self.kind}: An expression attribute name used in the document path is "
                    f"not defined; attribute name: {text}")
            self.ctx.used_names.add(text)
            return names[text]
        if kind == "ident":
            if text.upper() in KEYWORDS or text.upper() in RESERVED:
                raise ValidationException(
                    f"Invalid {self.kind}: Attribute name is a reserved keyword; reserved keyword: {text}")
            return text
        self._syntax(text, self._near())
        return ""  # unreachable

    def operand(self) -> dict:
        tok = self.peek()
        if tok is not None and tok[0] == "value":
            self.take()
            values = self.ctx.values or {}
            if tok[1] not in values:
                raise ValidationException(
                    f"Invalid {self.kind}: An expression attribute value used in expression is not "
                    f"defined; attribute value: {tok[1]}")
            self.ctx.used_values.add(tok[1])
            return {"value": values[tok[1]]}
        return {"path": self.path()}

    # --- conditions -----------------------------------------------------------

    def condition(self) -> dict:
        left = self._and()
        while self.at_keyword("OR"):
            self.take()
            left = {"or": [left, self._and()]}
        return left

    def _and(self) -> dict:
        left = self._not()
        while self.at_keyword("AND"):
            self.take()
            left = {"and": [left, self._not()]}
        return left

    def _not(self) -> dict:
        if self.at_keyword("NOT"):
            self.take()
            return {"not": self._not()}
        return self._primary()

    def _primary(self) -> dict:
        tok = self.peek()
        if tok is not None and tok[1] == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        if tok is not None and tok[0] == "ident" and tok[1] in FUNCTIONS and \
                self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][1] == "(":
            name = self.take()[1]
            self.expect("(")
            args = [self.operand()]
            while self.peek() is not None and self.peek()[1] == ",":
                self.take()
                args.append(self.operand())
            self.expect(")")
            if len(args) != FUNCTIONS[name]:
                raise ValidationException(f"Invalid {self.kind}: Incorrect number of operands for "
                                          f"operator or function; operator or function: {name}, "
                                          f"number of operands: {len(args)}")
            if name in ("attribute_exists", "attribute_not_exists") and "path" not in args[0]:
                raise ValidationException(f"Invalid {self.kind}: Operator or function requires a "
                                          f"document path; operator or function: {name}")
            return {"fn": name, "args": args}
        left = self.operand()
        kind, op = self.take()
        if op not in COMPARATORS:
            self._syntax(op, self._near())
        return {"cmp": op, "l": left, "r": self.operand()}

    # --- updates ------------------------------------------------------------------

    def update(self) -> dict:
        out: dict[str, list] = {}
        while self.peek() is not None:
            kind, word = self.take()
            clause = word.upper()
            if kind != "ident" or clause not in ("SET", "REMOVE"):
                if kind == "ident" and clause in ("ADD", "DELETE"):
                    raise ValidationException(f"Invalid {self.kind}: the {clause} clause is not "
                                              "supported yet")
                self._syntax(word, self._near())
            if clause.lower() in out:
                raise ValidationException(f'Invalid {self.kind}: The "{clause}" section can only be used once '
                                          "in an update expression;")
            items = out[clause.lower()] = []
            while True:
                if clause == "SET":
                    p = self.path()
                    self.expect("=")
                    items.append([p, self._set_value()])
                else:
                    items.append(self.path())
                tok = self.peek()
                if tok is None or tok[1] != ",":
                    break
                self.take()
        paths = [p for p, _ in out.get("set", [])] + out.get("remove", [])
        for a in range(len(paths)):
            for b in range(a + 1, len(paths)):
                pa, pb = paths[a], paths[b]
                n = min(len(pa), len(pb))
                if pa[:n] == pb[:n]:
                    raise ValidationException(
                        f"Invalid {self.kind}: Two document paths overlap with each other; must remove or "
                        f"rewrite one of these paths; path one: [{', '.join(map(str, pa))}], "
                        f"path two: [{', '.join(map(str, pb))}]")
        return out

    def _set_value(self) -> dict:
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok[1] in ("+", "-"):
            self.take()
            return {"op": tok[1], "l": left, "r": self.operand()}
        return left


def parse_condition(text: str, ctx: Context, kind: str = "ConditionExpression") -> dict:
    _check_text(text, kind)
    p = _Parser(text, ctx, kind)
    out = p.condition()
    p.done()
    return out


def parse_update(text: str, ctx: Context) -> dict:
    _check_text(text, "UpdateExpression")
    p = _Parser(text, ctx, "UpdateExpression")
    return p.update()


def parse_projection(text: str, ctx: Context) -> list[list]:
    _check_text(text, "ProjectionExpression")
    p = _Parser(text, ctx, "ProjectionExpression")
    out = [p.path()]
    while p.peek() is not None:
        p.expect(",")
        out.append(p.path())
    return out


def _check_text(text: Any, kind: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValidationException(f"Invalid {kind}: The expression can not be empty;")


# --- evaluation ---------------------------------------------------------------


def resolve(item: dict | None, path: list) -> dict | None:
    cur: Any = {"M": item} if item is not None else None
    for step in path:
        if cur is None:
            return None
        if isinstance(step, int):
            lst = cur.get("L")
            cur = lst[step] if lst is not None and step < len(lst) else None
        else:
            m = cur.get("M")
            cur = m.get(step) if m is not None else None
    return cur


def _value(item: dict | None, operand: dict) -> dict | None:
    if "value" in operand:
        return operand["value"]
    return resolve(item, operand["path"])


def _compare(a: dict | None, b: dict | None) -> int | None:
    """-1/0/1, or None when not comparable (missing or different types)."""
    if a is None or b is None:
        return None
    (ta, va), = a.items()
    (tb, vb), = b.items()
    if ta != tb:
        return None
    if ta == "N":
        x, y = to_decimal(va), to_decimal(vb)
    elif ta == "S":
        x, y = va.encode(), vb.encode()
    elif ta == "B":
        x, y = va, vb  # base64 text: equality only is meaningful
    else:
        return 0 if _normal(a) == _normal(b) else None
    return (x > y) - (x < y)


def _normal(v: dict) -> Any:
    (t, x), = v.items()
    if t in ("SS", "NS", "BS"):
        return (t, frozenset(x if t != "NS" else (to_decimal(n) for n in x)))
    return (t, repr(x))


def evaluate(cond: dict, item: dict | None) -> bool:
    if "and" in cond:
        return all(evaluate(c, item) for c in cond["and"])
    if "or" in cond:
        return any(evaluate(c, item) for c in cond["or"])
    if "not" in cond:
        return not evaluate(cond["not"], item)
    if "fn" in cond:
        fn, args = cond["fn"], cond["args"]
        if fn == "attribute_exists":
            return resolve(item, args[0]["path"]) is not None
        if fn == "attribute_not_exists":
            return resolve(item, args[0]["path"]) is None
        if fn == "begins_with":
            a, b = _value(item, args[0]), _value(item, args[1])
            if a is None or b is None:
                return False
            (ta, va), = a.items()
            (tb, vb), = b.items()
            return ta == tb and ta in ("S", "B") and va.startswith(vb)
        raise ValidationException(f"unsupported function {fn}")
    op = cond["cmp"]
    a, b = _value(item, cond["l"]), _value(item, cond["r"])
    if op in ("=", "<>"):
        same = a is not None and b is not None and _compare(a, b) == 0
        return same if op == "=" else (not same and a is not None or (a is None) != (b is None))
    c = _compare(a, b)
    if c is None or next(iter(a)) not in ("N", "S", "B"):
        return False
    return {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]


def _arith(item: dict | None, expr: dict) -> dict:
    if "op" not in expr:
        v = _value(item, expr)
        if v is None:
            raise ValidationException("The provided expression refers to an attribute that does not exist "
                                      "in the item")
        return v
    from ddb.numbers import add, sub
    a, b = _arith(item, expr["l"]), _arith(item, expr["r"])
    if "N" not in a or "N" not in b:
        raise ValidationException("An operand in the update expression has an incorrect data type")
    return {"N": add(a["N"], b["N"]) if expr["op"] == "+" else sub(a["N"], b["N"])}


def apply_update(update: dict, item: dict, key_names: tuple[str, ...] = ()) -> dict:
    """The item after `update` (a new dict; `item` is left as it was)."""
    new = dict(item)
    for path, expr in update.get("set", []):
        if path[0] in key_names:
            raise ValidationException(f"One or more parameter values were invalid: Cannot update attribute "
                                      f"{path[0]}. This attribute is part of the key")
        value = _arith(item, expr)
        _assign(new, path, value)
    for path in update.get("remove", []):
        if path[0] in key_names:
            raise ValidationException(f"One or more parameter values were invalid: Cannot update attribute "
                                      f"{path[0]}. This attribute is part of the key")
        _remove(new, path)
    return new


def _assign(item: dict, path: list, value: dict) -> None:
    if len(path) == 1:
        item[path[0]] = value
        return
    parent = resolve(item, path[:-1])
    if parent is None:
        raise ValidationException("The document path provided in the update expression is invalid for update")
    # Copy the containers on the way down so the old item stays untouched.
    container = _copy_path(item, path[:-1])
    last = path[-1]
    if isinstance(last, int):
        lst = container["L"]
        if last < len(lst):
            lst[last] = value
        else:
            lst.append(value)
    else:
        container["M"][last] = value


def _copy_path(item: dict, path: list) -> dict:
    cur_parent: Any = item
    key: Any = path[0]
    node = dict(item[key])
    item[key] = node
    for step in path[1:]:
        if "M" in node:
            node["M"] = dict(node["M"])
            child = dict(node["M"][step])
            node["M"][step] = child
        else:
            node["L"] = list(node["L"])
            child = dict(node["L"][step])
            node["L"][step] = child
        node = child
    if "M" in node:
        node["M"] = dict(node["M"])
    elif "L" in node:
        node["L"] = list(node["L"])
    del cur_parent
    return node


def _remove(item: dict, path: list) -> None:
    if len(path) == 1:
        item.pop(path[0], None)
        return
    if resolve(item, path[:-1]) is None:
        return
    container = _copy_path(item, path[:-1])
    last = path[-1]
    if isinstance(last, int):
        if "L" in container and last < len(container["L"]):
            del container["L"][last]
    elif "M" in container:
        container["M"].pop(last, None)


def project(item: dict, paths: list[list]) -> dict:
    out: dict = {}
    for path in paths:
        v = resolve(item, path)
        if v is None:
            continue
        if len(path) == 1:
            out[path[0]] = v
        else:
            # Nested projections keep the enclosing structure.
            cur = out
            src: Any = item
            for step in path[:-1]:
                src = src[step] if isinstance(src, dict) and step in src else src
                cur = cur.setdefault(step, {"M": {}})["M"] if isinstance(step, str) else cur
            cur[path[-1]] = v
    return out


# A subset of DynamoDB's reserved words (the full list has ~570; the rest
# arrive with the complete expression language).
RESERVED = {
    "ABORT", "ABSOLUTE", "ACTION", "ADD", "AFTER", "AGENT", "AGGREGATE", "ALL", "ALLOCATE", "ALTER",
    "ANALYZE", "AND", "ANY", "ARCHIVE", "ARE", "ARRAY", "AS", "ASC", "ASCII", "ASENSITIVE", "ASSERTION",
    "ASYMMETRIC", "AT", "ATOMIC", "ATTACH", "ATTRIBUTE", "AUTH", "AUTHORIZATION", "AUTHORIZE", "AUTO", "AVG",
    "BACK", "BACKUP", "BASE", "BATCH", "BEFORE", "BEGIN", "BETWEEN", "BIGINT", "BINARY", "BIT", "BLOB",
    "BLOCK", "BOOLEAN", "BOTH", "BREADTH", "BUCKET", "BULK", "BY", "BYTE", "CALL", "CALLED", "CALLING",
    "CAPACITY", "CASCADE", "CASCADED", "CASE", "CAST", "CATALOG", "CHAR", "CHARACTER", "CHECK", "CLASS",
    "CLOB", "CLOSE", "CLUSTER", "CLUSTERED", "CLUSTERING", "CLUSTERS", "COALESCE", "COLLATE", "COLLATION",
    "COLLECTION", "COLUMN", "COLUMNS", "COMBINE", "COMMENT", "COMMIT", "COMPACT", "COMPILE", "COMPRESS",
    "CONDITION", "CONFLICT", "CONNECT", "CONNECTION", "CONSISTENCY", "CONSISTENT", "CONSTRAINT",
    "CONSTRAINTS", "CONSTRUCTOR", "CONSUMED", "CONTINUE", "CONVERT", "COPY", "CORRESPONDING", "COUNT",
    "COUNTER", "CREATE", "CROSS", "CUBE", "CURRENT", "CURSOR", "CYCLE", "DATA", "DATABASE", "DATE",
    "DATETIME", "DAY", "DEALLOCATE", "DEC", "DECIMAL", "DECLARE", "DEFAULT", "DEFERRABLE", "DEFERRED",
    "DEFINE", "DEFINED", "DEFINITION", "DELETE", "DELIMITED", "DEPTH", "DEREF", "DESC", "DESCRIBE",
    "DESCRIPTOR", "DETACH", "DETERMINISTIC", "DIAGNOSTICS", "DIRECTORIES", "DISABLE", "DISCONNECT",
    "DISTINCT", "DISTRIBUTE", "DO", "DOMAIN", "DOUBLE", "DROP", "DUMP", "DURATION", "DYNAMIC", "EACH",
    "ELEMENT", "ELSE", "ELSEIF", "EMPTY", "ENABLE", "END", "EQUAL", "EQUALS", "ERROR", "ESCAPE", "ESCAPED",
    "EVAL", "EVALUATE", "EXCEEDED", "EXCEPT", "EXCEPTION", "EXCEPTIONS", "EXCLUSIVE", "EXEC", "EXECUTE",
    "EXISTS", "EXIT", "EXPLAIN", "EXPLODE", "EXPORT", "EXPRESSION", "EXTENDED", "EXTERNAL", "EXTRACT",
    "FAIL", "FALSE", "FAMILY", "FETCH", "FIELDS", "FILE", "FILTER", "FILTERING", "FINAL", "FINISH", "FIRST",
    "FIXED", "FLATTERN", "FLOAT", "FOR", "FORCE", "FOREIGN", "FORMAT", "FORWARD", "FOUND", "FREE", "FROM",
    "FULL", "FUNCTION", "FUNCTIONS", "GENERAL", "GENERATE", "GET", "GLOB", "GLOBAL", "GO", "GOTO", "GRANT",
    "GREATER", "GROUP", "GROUPING", "HANDLER", "HASH", "HAVE", "HAVING", "HEAP", "HIDDEN", "HOLD", "HOUR",
    "IDENTIFIED", "IDENTITY", "IF", "IGNORE", "IMMEDIATE", "IMPORT", "IN", "INCLUDING", "INCLUSIVE",
    "INCREMENT", "INCREMENTAL", "INDEX", "INDEXED", "INDEXES", "INDICATOR", "INFINITE", "INITIALLY",
    "INLINE", "INNER", "INNTER", "INOUT", "INPUT", "INSENSITIVE", "INSERT", "INSTEAD", "INT", "INTEGER",
    "INTERSECT", "INTERVAL", "INTO", "INVALIDATE", "IS", "ISOLATION", "ITEM", "ITEMS", "ITERATE", "JOIN",
    "KEY", "KEYS", "LAG", "LANGUAGE", "LARGE", "LAST", "LATERAL", "LEAD", "LEADING", "LEAVE", "LEFT",
    "LENGTH", "LESS", "LEVEL", "LIKE", "LIMIT", "LIMITED", "LINES", "LIST", "LOAD", "LOCAL", "LOCALTIME",
    "LOCALTIMESTAMP", "LOCATION", "LOCATOR", "LOCK", "LOCKS", "LOG", "LOGED", "LONG", "LOOP", "LOWER", "MAP",
    "MATCH", "MATERIALIZED", "MAX", "MAXLEN", "MEMBER", "MERGE", "METHOD", "METRICS", "MIN", "MINUS",
    "MINUTE", "MISSING", "MOD", "MODE", "MODIFIES", "MODIFY", "MODULE", "MONTH", "MULTI", "MULTISET",
    "NAME", "NAMES", "NATIONAL", "NATURAL", "NCHAR", "NCLOB", "NEW", "NEXT", "NO", "NONE", "NOT", "NULL",
    "NULLIF", "NUMBER", "NUMERIC", "OBJECT", "OF", "OFFLINE", "OFFSET", "OLD", "ON", "ONLINE", "ONLY",
    "OPAQUE", "OPEN", "OPERATOR", "OPTION", "OR", "ORDER", "ORDINALITY", "OTHER", "OTHERS", "OUT", "OUTER",
    "OUTPUT", "OVER", "OVERLAPS", "OVERRIDE", "OWNER", "PAD", "PARALLEL", "PARAMETER", "PARAMETERS",
    "PARTIAL", "PARTITION", "PARTITIONED", "PARTITIONS", "PATH", "PERCENT", "PERCENTILE", "PERMISSION",
    "PERMISSIONS", "PIPE", "PIPELINED", "PLAN", "POOL", "POSITION", "PRECISION", "PREPARE", "PRESERVE",
    "PRIMARY", "PRIOR", "PRIVATE", "PRIVILEGES", "PROCEDURE", "PROCESSED", "PROJECT", "PROJECTION",
    "PROPERTY", "PROVISIONING", "PUBLIC", "PUT", "QUERY", "QUIT", "QUORUM", "RAISE", "RANDOM", "RANGE",
    "RANK", "RAW", "READ", "READS", "REAL", "REBUILD", "RECORD", "RECURSIVE", "REDUCE", "REF", "REFERENCE",
    "REFERENCES", "REFERENCING", "REGEXP", "REGION", "REINDEX", "RELATIVE", "RELEASE", "REMAINDER",
    "RENAME", "REPEAT", "REPLACE", "REQUEST", "RESET", "RESIGNAL", "RESOURCE", "RESPONSE", "RESTORE",
    "RESTRICT", "RESULT", "RETURN", "RETURNING", "RETURNS", "REVERSE", "REVOKE", "RIGHT", "ROLE", "ROLES",
    "ROLLBACK", "ROLLUP", "ROUTINE", "ROW", "ROWS", "RULE", "RULES", "SAMPLE", "SATISFIES", "SAVE",
    "SAVEPOINT", "SCAN", "SCHEMA", "SCOPE", "SCROLL", "SEARCH", "SECOND", "SECTION", "SEGMENT", "SEGMENTS",
    "SELECT", "SELF", "SEMI", "SENSITIVE", "SEPARATE", "SEQUENCE", "SERIALIZABLE", "SESSION", "SET", "SETS",
    "SHARD", "SHARE", "SHARED", "SHORT", "SHOW", "SIGNAL", "SIMILAR", "SIZE", "SKEWED", "SMALLINT",
    "SNAPSHOT", "SOME", "SOURCE", "SPACE", "SPACES", "SPARSE", "SPECIFIC", "SPECIFICTYPE", "SPLIT", "SQL",
    "SQLCODE", "SQLERROR", "SQLEXCEPTION", "SQLSTATE", "SQLWARNING", "START", "STATE", "STATIC", "STATUS",
    "STORAGE", "STORE", "STORED", "STREAM", "STRING", "STRUCT", "STYLE", "SUB", "SUBMULTISET", "SUBPARTITION",
    "SUBSTRING", "SUBTYPE", "SUM", "SUPER", "SYMMETRIC", "SYNONYM", "SYSTEM", "TABLE", "TABLESAMPLE", "TEMP",
    "TEMPORARY", "TERMINATED", "TEXT", "THAN", "THEN", "THROUGHPUT", "TIME", "TIMESTAMP", "TIMEZONE",
    "TINYINT", "TO", "TOKEN", "TOTAL", "TOUCH", "TRAILING", "TRANSACTION", "TRANSFORM", "TRANSLATE",
    "TRANSLATION", "TREAT", "TRIGGER", "TRIM", "TRUE", "TRUNCATE", "TTL", "TUPLE", "TYPE", "UNDER", "UNDO",
    "UNION", "UNIQUE", "UNIT", "UNKNOWN", "UNLOGGED", "UNNEST", "UNPROCESSED", "UNSIGNED", "UNTIL", "UPDATE",
    "UPPER", "URL", "USAGE", "USE", "USER", "USERS", "USING", "UUID", "VACUUM", "VALUE", "VALUED", "VALUES",
    "VARCHAR", "VARIABLE", "VARIANCE", "VARINT", "VARYING", "VIEW", "VIEWS", "VIRTUAL", "VOID", "WAIT",
    "WHEN", "WHENEVER", "WHERE", "WHILE", "WINDOW", "WITH", "WITHIN", "WITHOUT", "WORK", "WRAPPED", "WRITE",
    "YEAR", "ZONE",
}
