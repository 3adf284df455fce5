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

Parsing runs in two steps, as DynamoDB reports errors: a recursive-descent
parser builds a raw tree and raises only syntax errors; a checker then walks
the tree in source order, resolves ``#name``/``:value`` placeholders, and
collects semantic errors by category, reporting the first error of the most
important category (the category order is the one dynalite's parsers encode,
which its test suite pins against the real service).

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

import base64
import binascii
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, NamedTuple

from ddb.errors import ValidationException
from ddb.numbers import to_decimal
from ddb.reserved import RESERVED

MAX_EXPRESSION_BYTES = 4096
MAX_OPERATORS = 300
MAX_IN_OPERANDS = 100
MAX_PATH_DEPTH = 32
MAX_LIST_INDEX = 2**31 - 1

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
# Condition functions and their operand counts (size is an operand, not a condition).
CONDITION_FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2,
                       "begins_with": 2, "contains": 2, "size": 1}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
# Words the grammar itself reserves: never a path element or a function name.
CONDITION_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
UPDATE_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
ATTRIBUTE_TYPES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")
SET_TYPES = ("SS", "NS", "BS")

REDUNDANT_PARENS = "The expression has redundant parentheses;"
_TYPE_NAMES = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "NULL": "NULL", "BOOL": "BOOLEAN",
               "L": "LIST", "M": "MAP"}


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


# --- tokenizer -------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<name>#[A-Za-z0-9_]+)"
    r"|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<num>[0-9]+)"
    r"|(?P<op><>|<=|>=|[=<>(),.\[\]+\-])")


class _Tok(NamedTuple):
    kind: str  # name value ident num op bad eof
    text: str
    start: int
    end: int


def _tokenize(text: str) -> list[_Tok]:
    """Every character belongs to a token: one DynamoDB does not know becomes
    a one-character "bad" token, which the parser reports as a syntax error
    where it meets it."""
    toks: list[_Tok] = []
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            toks.append(_Tok("bad", text[pos], pos, pos + 1))
            pos += 1
            continue
        if m.lastgroup != "ws":
            toks.append(_Tok(m.lastgroup, m.group(), pos, m.end()))
        pos = m.end()
    end = toks[-1].end if toks else 0  # the end, before any trailing whitespace
    toks.append(_Tok("eof", "<EOF>", end, end))
    return toks


class _Syntax(Exception):
    def __init__(self, at: int) -> None:
        super().__init__(at)
        self.at = at


class _TooManyOperators(Exception):
    pass


# --- parser: raw trees, syntax errors only ----------------------------------------
#
# Raw nodes are dicts with a "k" kind:
#   path   {"k": "path", "elems": [("ident"|"name"|"index", text), ...]}
#   value  {"k": "value", "name": ":v"}
#   func   {"k": "func", "name": str, "args": [operand, ...]}
#          (any operand may carry "parens": how many parentheses wrap it)
#   cmp    {"k": "cmp", "op": str, "l": operand, "r": operand}
#   between/in/fcond (a function used as a condition)/and/or/not/group
#   arith  {"k": "arith", "op": "+"|"-", "l": operand, "r": operand}  (SET values)


class _Parser:
    def __init__(self, text: str, keywords: frozenset[str], max_parens: int) -> None:
        self.text = text
        self.keywords = keywords
        self.max_parens = max_parens  # parentheses allowed around one operand
        self.toks = _tokenize(text)
        self.i = 0
        self.furthest = 0  # furthest failure of an abandoned alternative (PEG style)
        self.ops = 0

    # -- helpers

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def fail(self, at: int | None = None) -> None:
        raise _Syntax(max(self.i if at is None else at, self.furthest))

    def attempt(self, fn: Callable[[], dict]) -> dict | None:
        """Run one alternative; on a syntax error rewind and return None."""
        start, ops = self.i, self.ops
        try:
            return fn()
        except _Syntax as e:
            self.furthest = max(self.furthest, e.at)
            self.i, self.ops = start, ops
            return None

    @staticmethod
    def is_op(tok: _Tok, text: str) -> bool:
        return tok.kind == "op" and tok.text == text

    @staticmethod
    def word(tok: _Tok) -> str | None:
        return tok.text.upper() if tok.kind == "ident" else None

    def expect(self, text: str) -> None:
        if not self.is_op(self.peek(), text):
            self.fail()
        self.i += 1

    def done(self) -> None:
        if self.peek().kind != "eof":
            self.fail()

    def count_op(self) -> None:
        self.ops += 1
        if self.ops > MAX_OPERATORS:
            raise _TooManyOperators()

    def syntax_message(self, at: int) -> str:
        """DynamoDB's: the token where reading stopped, and the text from the
        token before it to the token after it."""
        at = min(at, len(self.toks) - 1)
        tok = self.toks[at]
        start = self.toks[at - 1].start if at > 0 else tok.start
        end = self.toks[at + 1].end if at + 1 < len(self.toks) else tok.end
        return f'Syntax error; token: "{tok.text}", near: "{self.text[start:end]}"'

    # -- operands

    def path(self) -> dict:
        elems = [self.path_element()]
        while True:
            tok = self.peek()
            if self.is_op(tok, "."):
                self.i += 1
                elems.append(self.path_element())
            elif self.is_op(tok, "["):
                self.i += 1
                num = self.peek()
                if num.kind != "num":
                    self.fail()
                self.i += 1
                self.expect("]")
                elems.append(("index", num.text))
            else:
                return {"k": "path", "elems": elems}

    def path_element(self) -> tuple[str, str]:
        tok = self.peek()
        if tok.kind == "name":
            self.i += 1
            return ("name", tok.text)
        if tok.kind == "ident" and tok.text.upper() not in self.keywords:
            self.i += 1
            return ("ident", tok.text)
        self.fail()
        raise AssertionError  # unreachable

    def operand(self, depth: int = 0) -> dict:
        """A path, a :value, a function call, or one of those in parentheses.
        One frame per nesting level: function arguments recurse here directly."""
        tok = self.peek()
        if self.is_op(tok, "("):
            if depth >= self.max_parens:
                self.fail()
            self.i += 1
            inner = self.operand(depth + 1)
            self.expect(")")
            return {**inner, "parens": inner.get("parens", 0) + 1}
        if tok.kind == "value":
            self.i += 1
            return {"k": "value", "name": tok.text}
        if tok.kind == "ident" and tok.text.upper() not in self.keywords and self.is_op(self.peek(1), "("):
            self.i += 2
            self.count_op()
            args = [self.operand()]
            while self.is_op(self.peek(), ","):
                self.i += 1
                args.append(self.operand())
            self.expect(")")
            return {"k": "func", "name": tok.text, "args": args}
        return self.path()

    # -- conditions: AND/OR/NOT/parentheses by operator precedence, without
    #    recursion (a 4 KB expression may nest hundreds of levels deep)

    _PRECEDENCE = {"OR": 1, "AND": 2}

    def condition(self) -> dict:
        nodes: list[dict] = []
        ops: list[str] = []  # "(", "NOT", "AND", "OR"
        expect_term = True
        while True:
            tok = self.peek()
            if expect_term:
                if self.word(tok) == "NOT":
                    self.i += 1
                    self.count_op()
                    ops.append("NOT")
                    continue
                if self.is_op(tok, "("):
                    # "(a) = :v" (a parenthesized operand) is tried before "(a = :v)".
                    atom = self.attempt(self.atom)
                    if atom is None:
                        self.i += 1
                        ops.append("(")
                        continue
                else:
                    atom = self.atom()
                nodes.append(atom)
                self._reduce_nots(nodes, ops)
                expect_term = False
                continue
            word = self.word(tok)
            if word in ("AND", "OR"):
                self._reduce(nodes, ops, word)
                self.count_op()
                ops.append(word)
                self.i += 1
                expect_term = True
                continue
            if self.is_op(tok, ")") and "(" in ops:
                self._reduce(nodes, ops, "(")
                ops.pop()
                self.i += 1
                inner = nodes.pop()
                if inner["k"] == "group":  # "((c))": keep one level, remember the excess
                    nodes.append({"k": "group", "c": inner["c"], "redundant": True})
                else:
                    nodes.append({"k": "group", "c": inner, "redundant": False})
                self._reduce_nots(nodes, ops)
                continue
            break
        if "(" in ops:
            self.fail()
        self._reduce(nodes, ops, None)
        return nodes[0]

    @staticmethod
    def _reduce_nots(nodes: list[dict], ops: list[str]) -> None:
        while ops and ops[-1] == "NOT":
            ops.pop()
            nodes.append({"k": "not", "c": nodes.pop()})

    def _reduce(self, nodes: list[dict], ops: list[str], incoming: str | None) -> None:
        while ops and ops[-1] != "(":
            top = ops[-1]
            if incoming in self._PRECEDENCE and self._PRECEDENCE[top] < self._PRECEDENCE[incoming]:
                break
            ops.pop()
            right, left = nodes.pop(), nodes.pop()
            kind = top.lower()
            if left["k"] == kind:
                nodes.append({"k": kind, "items": left["items"] + [right]})
            else:
                nodes.append({"k": kind, "items": [left, right]})

    def atom(self) -> dict:
        x = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in COMPARATORS:
            self.i += 1
            self.count_op()
            return {"k": "cmp", "op": tok.text, "l": x, "r": self.operand()}
        word = self.word(tok)
        if word == "BETWEEN":
            self.i += 1
            self.count_op()
            low = self.operand()
            if self.word(self.peek()) != "AND":
                self.fail()
            self.i += 1
            return {"k": "between", "x": x, "lo": low, "hi": self.operand()}
        if word == "IN":
            self.i += 1
            self.count_op()
            self.expect("(")
            items = [self.operand()]
            while self.is_op(self.peek(), ","):
                self.i += 1
                items.append(self.operand())
            self.expect(")")
            return {"k": "in", "x": x, "items": items}
        if x["k"] == "func" and not x.get("parens"):
            return {"k": "fcond", "f": x}
        self.fail()
        raise AssertionError  # unreachable

    # -- update expressions

    def update(self) -> list[tuple[str, list]]:
        sections = []
        while True:
            word = self.word(self.peek())
            if word not in UPDATE_CLAUSES:
                self.fail()
            self.i += 1
            actions = [self.action(word)]
            while self.is_op(self.peek(), ","):
                self.i += 1
                actions.append(self.action(word))
            sections.append((word, actions))
            if self.peek().kind == "eof":
                return sections

    def action(self, clause: str) -> tuple[dict, dict | None]:
        path = self.path()
        if clause == "SET":
            self.expect("=")
            return path, self.set_value()
        if clause == "REMOVE":
            return path, None
        tok = self.peek()
        if tok.kind != "value":
            self.fail()
        self.i += 1
        return path, {"k": "value", "name": tok.text}

    def set_value(self) -> dict:
        if self.is_op(self.peek(), "("):
            node = self.attempt(self.set_term)  # "(a) + b"
            if node is not None:
                return node
            self.i += 1  # "(a + b)"
            node = self.set_term()
            self.expect(")")
            return node
        return self.set_term()

    def set_term(self) -> dict:
        x = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.i += 1
            self.count_op()
            return {"k": "arith", "op": tok.text, "l": x, "r": self.operand()}
        return x

    # -- projections

    def projection(self) -> list[dict]:
        paths = [self.path()]
        while self.is_op(self.peek(), ","):
            self.i += 1
            paths.append(self.path())
        return paths


def _check_text(text: Any, kind: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValidationException(f"Invalid {kind}: The expression can not be empty;")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EXPRESSION_BYTES:
        raise ValidationException(
            f"Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: {size}")


def _parse(text: Any, kind: str, keywords: frozenset[str], max_parens: int,
           rule: Callable[[_Parser], Any]) -> Any:
    _check_text(text, kind)
    p = _Parser(text, keywords, max_parens)
    try:
        raw = rule(p)
        p.done()
    except _Syntax as e:
        raise ValidationException(f"Invalid {kind}: {p.syntax_message(e.at)}") from None
    except _TooManyOperators:
        raise ValidationException(f"Invalid {kind}: The expression contains too many operators; "
                                  f"operator count: {MAX_OPERATORS + 1}") from None
    except RecursionError:
        raise ValidationException(f"Invalid {kind}: The expression has too many nesting levels") from None
    return raw


# --- checker: placeholders, semantic errors, the final AST -------------------------


def _path_str(path: list) -> str:
    return "[" + ", ".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path) + "]"


def _show(value: dict) -> str:
    """An AttributeValue as DynamoDB prints it in BETWEEN errors: {N:5}."""
    t = _type_of(value)
    v = value[t] if t else value
    if isinstance(v, bool):
        v = "true" if v else "false"
    elif isinstance(v, list):
        v = ",".join(map(str, v))
    return "{" + f"{t}:{v}" + "}"


class _Checker:
    """Walks a raw tree in source order; records the first error of each
    category and raises the first of the most important category."""

    def __init__(self, ctx: Context, kind: str, order: tuple[str, ...], group: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.kind = kind
        self.order = order
        # Condition-level categories: when an atomic condition ends, the first
        # of these seen so far (in this order) becomes the "condition" error.
        self.group = group
        self.first: dict[str, str] = {}

    def add(self, category: str, message: str) -> None:
        self.first.setdefault(category, message)

    def lock(self) -> None:
        if "condition" in self.first:
            return
        for category in self.group:
            if category in self.first:
                self.first["condition"] = self.first[category]
                return

    def raise_first(self) -> None:
        self.lock()
        for category in self.order:
            if category in self.first:
                raise ValidationException(f"Invalid {self.kind}: {self.first[category]}")

    # -- names, values, paths

    def path(self, raw: dict, category: str) -> list:
        out: list = []
        names = self.ctx.names or {}
        for kind, text in raw["elems"]:
            if kind == "ident":
                if text.upper() in RESERVED:
                    self.add("reserved", f"Attribute name is a reserved keyword; reserved keyword: {text}")
                out.append(text)
            elif kind == "name":
                if text in names:
                    self.ctx.used_names.add(text)
                    out.append(names[text])
                else:
                    self.add(category, "An expression attribute name used in the document path is not "
                                       f"defined; attribute name: {text}")
                    out.append(None)
            else:
                index = int(text)
                if index > MAX_LIST_INDEX:
                    self.add(category, f"List index is not within the allowable range; index: [{text}]")
                    index = MAX_LIST_INDEX
                out.append(index)
        if len(out) > MAX_PATH_DEPTH:
            self.add(category, f"The document path has too many nesting levels; nesting levels: {len(out)}")
        return out

    def value(self, raw: dict, category: str) -> dict | None:
        name = raw["name"]
        values = self.ctx.values or {}
        if name in values:
            self.ctx.used_values.add(name)
            return values[name]
        self.add(category, f"An expression attribute value used in expression is not defined; attribute value: {name}")
        return None

    @staticmethod
    def static_type(raw: dict, final: dict) -> str | None:
        """The type an operand is known to have before any item is read."""
        if raw["k"] == "value":
            return _type_of(final.get("value"))
        if raw["k"] == "func" and raw["name"] == "size":
            return "N"
        return None

    def distinct(self, operator: str, raws: list[dict], finals: list[dict], category: str) -> None:
        if raws[0]["k"] != "path" or None in finals[0]["path"]:
            return
        first = finals[0]["path"]
        for raw, final in zip(raws[1:], finals[1:]):
            if raw["k"] == "path" and final["path"] == first:
                self.add(category, "The first operand must be distinct from the remaining operands for this "
                                   f"operator or function; operator: {operator}, first operand: {_path_str(first)}")
                return

    def wrong_type(self, operator: str, operand_type: str) -> None:
        self.add("function", "Incorrect operand type for operator or function; operator or function: "
                             f"{operator}, operand type: {operand_type}")

    # -- conditions

    def condition(self, raw: dict) -> dict:
        k = raw["k"]
        if k in ("and", "or"):
            return {k: [self.condition(c) for c in raw["items"]]}
        if k == "not":
            return {"not": self.condition(raw["c"])}
        if k == "group":
            if raw["redundant"]:
                self.add("parens", REDUNDANT_PARENS)
            return self.condition(raw["c"])
        if k == "fcond":
            f = raw["f"]
            if f["name"] == "size":
                self.misused("size")
            out = self.function(f)
            self.lock()
            return out
        if k == "cmp":
            raws = [raw["l"], raw["r"]]
            finals = [self.operand(r) for r in raws]
            self.misuse(raws)
            self.distinct(raw["op"], raws, finals, "distinct")
            if raw["op"] not in ("=", "<>"):
                self.ordered(raw["op"], raws, finals)
            self.lock()
            return {"cmp": raw["op"], "l": finals[0], "r": finals[1]}
        if k == "between":
            raws = [raw["x"], raw["lo"], raw["hi"]]
            finals = [self.operand(r) for r in raws]
            self.misuse(raws)
            self.distinct("BETWEEN", raws, finals, "distinct")
            self.ordered("BETWEEN", raws, finals)
            self.bounds(raws[1:], finals[1:])
            self.lock()
            return {"between": finals}
        # IN
        raws = [raw["x"], *raw["items"]]
        finals = [self.operand(r) for r in raws]
        self.misuse(raws)
        self.distinct("IN", raws, finals, "distinct")
        if len(raws) - 1 > MAX_IN_OPERANDS:
            self.add("function", f"The IN operator is provided with too many operands; number of operands: "
                                 f"{len(raws) - 1}")
        self.lock()
        return {"in": finals}

    def operand(self, raw: dict) -> dict:
        if raw.get("parens", 0) >= 2:
            self.add("parens", REDUNDANT_PARENS)
        if raw["k"] == "path":
            return {"path": self.path(raw, "attr")}
        if raw["k"] == "value":
            return {"value": self.value(raw, "attr")}
        return self.function(raw)

    def misused(self, name: str) -> None:
        self.add("misused", f"The function is not allowed to be used this way in an expression; function: {name}")

    def misuse(self, raws: list[dict]) -> None:
        """Only size() may stand where an operand is expected."""
        for raw in raws:
            if raw["k"] == "func" and raw["name"] != "size":
                self.misused(raw["name"])
                return

    def ordered(self, operator: str, raws: list[dict], finals: list[dict]) -> None:
        """< <= > >= and BETWEEN compare numbers, strings and binaries only."""
        for raw, final in zip(raws, finals):
            t = self.static_type(raw, final)
            if t is not None and t not in ("N", "S", "B"):
                self.wrong_type(operator, t)
                return

    def bounds(self, raws: list[dict], finals: list[dict]) -> None:
        low, high = finals[0].get("value"), finals[1].get("value")
        if raws[0]["k"] != "value" or raws[1]["k"] != "value" or low is None or high is None:
            return
        shown = f"lower bound operand: AttributeValue: {_show(low)}, upper bound operand: AttributeValue: {_show(high)}"
        if _type_of(low) != _type_of(high):
            self.add("function", f"The BETWEEN operator requires same data type for lower and upper bounds; {shown}")
        elif (_order(low, high) or 0) > 0:
            self.add("function", "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                                 f"bound; {shown}")

    def function(self, raw: dict) -> dict:
        name, raws = raw["name"], raw["args"]
        args = [self.operand(r) for r in raws]
        self.misuse(raws)
        if name not in CONDITION_FUNCTIONS:
            if name in UPDATE_FUNCTIONS:
                self.add("unknownFunction", f"The function is not allowed in a condition expression; function: {name}")
            else:
                self.add("unknownFunction", f"Invalid function name; function: {name}")
            return {"fn": name, "args": args}
        if len(args) != CONDITION_FUNCTIONS[name]:
            self.add("operand", "Incorrect number of operands for operator or function; operator or function: "
                                f"{name}, number of operands: {len(args)}")
            return {"fn": name, "args": args}
        if name != "size" and len(args) == 2:
            self.distinct(name, raws, args, "distinct")
        if name in ("attribute_exists", "attribute_not_exists", "attribute_type") and raws[0]["k"] != "path":
            self.add("function", f"Operator or function requires a document path; operator or function: {name}")
        if name == "attribute_type":
            t = self.static_type(raws[1], args[1])
            if t != "S":
                self.wrong_type(name, t or "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}")
            elif args[1]["value"]["S"] not in ATTRIBUTE_TYPES:
                self.add("function", f"Invalid attribute type name found; type: {args[1]['value']['S']}, "
                                     "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}")
        elif name == "begins_with":
            for r, a in zip(raws, args):
                t = self.static_type(r, a)
                if t is not None and t not in ("S", "B"):
                    self.wrong_type(name, t)
                    break
        elif name == "size":
            t = self.static_type(raws[0], args[0])
            if t in ("N", "BOOL", "NULL"):
                self.wrong_type(name, t)
            return {"size": args[0]}
        return {"fn": name, "args": args}

    # -- update expressions

    def update(self, sections: list[tuple[str, list]]) -> dict:
        seen: set[str] = set()
        paths: list[list] = []
        out: dict[str, list] = {}
        for clause, actions in sections:
            if clause in seen:
                self.add("section", f'The "{clause}" section can only be used once in an update expression;')
            seen.add(clause)
            entries = out.setdefault(clause.lower(), [])
            for raw_path, raw_value in actions:
                path = self.path(raw_path, "attrName")
                if clause == "SET":
                    entries.append([path, self.set_value(raw_value)])
                elif clause == "REMOVE":
                    entries.append(path)
                else:
                    value = self.value(raw_value, "attrVal")
                    self.add_delete_operand(clause, value)
                    entries.append([path, value])
                self.overlap(paths, path)
        return out

    def overlap(self, paths: list[list], path: list) -> None:
        """Two actions (or projections) on one path, or on a path and a path
        inside it, overlap; a path that is a map key in one and a list index
        in the other conflicts."""
        if None in path:
            return
        for prev in paths:
            for a, b in zip(prev, path):
                if isinstance(a, int) != isinstance(b, int):
                    self.add("pathConflict", "Two document paths conflict with each other; must remove or rewrite "
                                             f"one of these paths; path one: {_path_str(prev)}, path two: "
                                             f"{_path_str(path)}")
                    break
                if a != b:
                    break
            else:
                self.add("pathOverlap", "Two document paths overlap with each other; must remove or rewrite one "
                                        f"of these paths; path one: {_path_str(prev)}, path two: {_path_str(path)}")
        paths.append(path)

    def add_delete_operand(self, clause: str, value: dict | None) -> None:
        t = _type_of(value)
        if t in _TYPE_NAMES and not (clause == "ADD" and t == "N"):
            self.add("operand", f"Incorrect operand type for operator or function; operator: {clause}, operand type: "
                                f"{_TYPE_NAMES[t]}, typeSet: ALLOWED_FOR_{clause}_OPERAND")

    def set_value(self, raw: dict) -> dict:
        if raw["k"] == "arith":
            op = raw["op"]
            raws = [raw["l"], raw["r"]]
            finals = [self.update_operand(r, "arith") for r in raws]
            for r, f in zip(raws, finals):
                t = _type_of(f.get("value")) if r["k"] == "value" else None
                if t is not None and t != "N":
                    self.wrong_type(op, t)
                    break
            return {"op": op, "l": finals[0], "r": finals[1]}
        return self.update_operand(raw, "set")

    def update_operand(self, raw: dict, where: str) -> dict:
        if raw["k"] == "path":
            return {"path": self.path(raw, "attrName")}
        if raw["k"] == "value":
            return {"value": self.value(raw, "attrVal")}
        name, raws = raw["name"], raw["args"]
        args = [self.update_operand(r, name) for r in raws]
        if name not in UPDATE_FUNCTIONS:
            if name in CONDITION_FUNCTIONS:
                self.add("unknownFunction", f"The function is not allowed in an update expression; function: {name}")
            else:
                self.add("unknownFunction", f"Invalid function name; function: {name}")
            return {"fn": name}
        if len(args) != 2:
            self.add("function", "Incorrect number of operands for operator or function; operator or function: "
                                 f"{name}, number of operands: {len(args)}")
            return {"fn": name}
        if name == "if_not_exists":
            if raws[0]["k"] != "path":
                self.add("function", "Operator or function requires a document path; operator or function: "
                                     "if_not_exists")
                return {"fn": name}
            self.distinct(name, raws, args, "function")
            return {"if_not_exists": [args[0]["path"], args[1]]}
        if where in ("arith", "list_append"):
            self.add("function", "The function is not allowed to be used this way in an expression; function: "
                                 "list_append")
        for r, a in zip(raws, args):
            t = _type_of(a.get("value")) if r["k"] == "value" else None
            if t is not None and t != "L":
                self.wrong_type(name, t)
                break
        return {"list_append": args}


_CONDITION_ORDER = ("parens", "unknownFunction", "misused", "reserved", "condition")
_CONDITION_GROUP = ("attr", "operand", "distinct", "function")
_UPDATE_ORDER = ("reserved", "unknownFunction", "section", "attrName", "attrVal", "pathOverlap", "pathConflict",
                 "operand", "function")
_PROJECTION_ORDER = ("reserved", "attr", "pathOverlap", "pathConflict")


# --- public parsers ------------------------------------------------------------------


def parse_condition(text: str, ctx: Context, kind: str = "ConditionExpression") -> dict:
    """A ConditionExpression (or FilterExpression / KeyConditionExpression:
    ``kind`` names it in error messages) as a condition AST."""
    raw = _parse(text, kind, CONDITION_KEYWORDS, 2, _Parser.condition)
    checker = _Checker(ctx, kind, _CONDITION_ORDER, _CONDITION_GROUP)
    out = checker.condition(raw)
    checker.raise_first()
    return out


def parse_update(text: str, ctx: Context) -> dict:
    """An UpdateExpression as an update AST (see the module docstring)."""
    kind = "UpdateExpression"
    sections = _parse(text, kind, frozenset(UPDATE_CLAUSES), 1, _Parser.update)
    checker = _Checker(ctx, kind, _UPDATE_ORDER)
    out = checker.update(sections)
    checker.raise_first()
    return out


def parse_projection(text: str, ctx: Context) -> list[list]:
    """A ProjectionExpression as a list of paths."""
    kind = "ProjectionExpression"
    raws = _parse(text, kind, frozenset(), 0, _Parser.projection)
    checker = _Checker(ctx, kind, _PROJECTION_ORDER)
    paths: list[list] = []
    for raw in raws:
        checker.overlap(paths, checker.path(raw, "attr"))
    checker.raise_first()
    return paths


_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def parse_key_condition(text: str, ctx: Context, hash_key: str, range_key: str | None) -> dict:
    """A Query's KeyConditionExpression, checked against the key schema read:
    ``{"hash": [name, value], "range": None | {"op", "name", "values"}}``.

    Errors follow DynamoDB: first the condition grammar's own (prefixed
    "Invalid KeyConditionExpression: "), then what a key condition may not
    contain, then the key schema checks."""
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


# --- values: resolution, comparison, functions ------------------------------------------


def resolve(item: dict | None, path: list) -> dict | None:
    """The AttributeValue at ``path`` in ``item``, or None when there is none."""
    if not isinstance(item, dict) or not path:
        return None
    cur: Any = None
    for n, step in enumerate(path):
        if n == 0:
            if not isinstance(step, str):
                return None
            cur = item.get(step)
        elif isinstance(step, int):
            lst = cur.get("L") if isinstance(cur, dict) else None
            if not isinstance(lst, list) or not 0 <= step < len(lst):
                return None
            cur = lst[step]
        else:
            m = cur.get("M") if isinstance(cur, dict) else None
            if not isinstance(m, dict):
                return None
            cur = m.get(step)
        if not isinstance(cur, dict):
            return None
    return cur


def _type_of(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        t = next(iter(value))
        if t in ATTRIBUTE_TYPES:
            return t
    return None


def _decimal(text: Any) -> Decimal | None:
    try:
        return to_decimal(text)
    except Exception:  # noqa: BLE001 - malformed stored data compares as nothing
        return None


def _bytes(text: Any) -> bytes | None:
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None


def _utf8(text: Any) -> bytes | None:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else None


def _scalar_key(t: str, v: Any) -> Any:
    """A hashable value equal for equal scalars of type t (N numerically)."""
    if t in ("N", "NS"):
        d = _decimal(v)
        return ("N", v) if d is None else d
    if t in ("B", "BS"):
        b = _bytes(v)
        return ("B", v) if b is None else b
    return v if isinstance(v, (str, bool)) else repr(v)


def equal(a: Any, b: Any) -> bool:
    """DynamoDB's ``=``: same type and same value (numbers numerically, sets
    as sets, lists and maps element by element)."""
    t = _type_of(a)
    if t is None or t != _type_of(b):
        return False
    x, y = a[t], b[t]
    if t in ("N", "B", "S", "BOOL", "NULL"):
        return _scalar_key(t, x) == _scalar_key(t, y)
    if t in SET_TYPES:
        if not isinstance(x, list) or not isinstance(y, list):
            return False
        return {_scalar_key(t, e) for e in x} == {_scalar_key(t, e) for e in y}
    if t == "L":
        return isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and \
            all(equal(e, f) for e, f in zip(x, y))
    return isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys() and \
        all(equal(x[k], y[k]) for k in x)


def _order(a: Any, b: Any) -> int | None:
    """-1/0/1 for two numbers, strings (UTF-8 bytes) or binaries (bytes) of
    the same type; None when they do not compare."""
    t = _type_of(a)
    if t not in ("N", "S", "B") or t != _type_of(b):
        return None
    if t == "N":
        x, y = _decimal(a[t]), _decimal(b[t])
    elif t == "S":
        x, y = _utf8(a[t]), _utf8(b[t])
    else:
        x, y = _bytes(a[t]), _bytes(b[t])
    if x is None or y is None:
        return None
    return (x > y) - (x < y)


def size_of(value: Any) -> dict | None:
    """size(): UTF-8 length of a string, bytes of a binary, elements of a
    set, list or map; nothing for other types."""
    t = _type_of(value)
    v = value[t] if t else None
    if t == "S":
        n = len(_utf8(v) or b"")
    elif t == "B":
        raw = _bytes(v)
        if raw is None:
            return None
        n = len(raw)
    elif t in ("SS", "NS", "BS", "L", "M") and isinstance(v, (list, dict)):
        n = len(v)
    else:
        return None
    return {"N": str(n)}


def _contains(a: Any, b: Any) -> bool:
    ta, tb = _type_of(a), _type_of(b)
    if ta is None or tb is None:
        return False
    x, y = a[ta], b[tb]
    if ta == "S" and tb == "S":
        return isinstance(x, str) and isinstance(y, str) and y in x
    if ta == "B" and tb == "B":
        hay, needle = _bytes(x), _bytes(y)
        return hay is not None and needle is not None and needle in hay
    if ta in SET_TYPES and tb == ta[0] and isinstance(x, list):
        key = _scalar_key(tb, y)
        return any(_scalar_key(tb, e) == key for e in x)
    if ta == "L" and isinstance(x, list):
        return any(equal(e, b) for e in x)
    return False


def _begins_with(a: Any, b: Any) -> bool:
    ta = _type_of(a)
    if ta not in ("S", "B") or ta != _type_of(b):
        return False
    if ta == "S":
        x, y = a[ta], b[ta]
        return isinstance(x, str) and isinstance(y, str) and x.startswith(y)
    hay, prefix = _bytes(a[ta]), _bytes(b[ta])
    return hay is not None and prefix is not None and hay.startswith(prefix)


# --- evaluation -------------------------------------------------------------------------


def _operand(item: dict | None, operand: dict) -> dict | None:
    if "path" in operand:
        return resolve(item, operand["path"])
    if "value" in operand:
        return operand["value"]
    if "size" in operand:
        return size_of(_operand(item, operand["size"]))
    return None


_ORDERED = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}


def _eval(cond: dict, item: dict | None) -> bool:
    if "and" in cond:
        return all(_eval(c, item) for c in cond["and"])
    if "or" in cond:
        return any(_eval(c, item) for c in cond["or"])
    if "not" in cond:
        return not _eval(cond["not"], item)
    if "cmp" in cond:
        op = cond["cmp"]
        a, b = _operand(item, cond["l"]), _operand(item, cond["r"])
        if op == "=":
            return equal(a, b)
        if op == "<>":
            return not equal(a, b)
        c = _order(a, b)
        return c is not None and _ORDERED[op](c)
    if "between" in cond:
        x, low, high = (_operand(item, o) for o in cond["between"])
        lo, hi = _order(x, low), _order(x, high)
        return lo is not None and hi is not None and lo >= 0 and hi <= 0
    if "in" in cond:
        x, *candidates = (_operand(item, o) for o in cond["in"])
        return any(equal(x, c) for c in candidates)
    fn, args = cond["fn"], cond["args"]
    if fn == "attribute_exists":
        return _operand(item, args[0]) is not None
    if fn == "attribute_not_exists":
        return _operand(item, args[0]) is None
    a, b = _operand(item, args[0]), _operand(item, args[1])
    if fn == "attribute_type":
        return a is not None and isinstance(b, dict) and _type_of(a) == b.get("S")
    if fn == "begins_with":
        return _begins_with(a, b)
    if fn == "contains":
        return _contains(a, b)
    return False


def evaluate(cond: dict, item: dict | None) -> bool:
    """Whether ``item`` (None: no item) satisfies the condition AST. Missing
    attributes and mismatched types make a comparison false (``<>`` true); a
    malformed item never raises."""
    try:
        return _eval(cond, item if isinstance(item, dict) else None)
    except Exception:  # noqa: BLE001 - odd stored data must not fail a request
        return False


# --- projections ------------------------------------------------------------------------


def _path_tree(paths: list[list]) -> dict:
    """Paths as a trie; True marks a projected leaf."""
    root: dict = {}
    for path in paths:
        if not path:
            continue
        node = root
        for step in path[:-1]:
            nxt = node.get(step)
            if nxt is True:
                break
            if nxt is None:
                nxt = node[step] = {}
            node = nxt
        else:
            node[path[-1]] = True
    return root


def _project_map(attrs: dict, tree: dict) -> dict:
    out: dict = {}
    for key, sub in tree.items():
        if not isinstance(key, str):
            continue
        value = attrs.get(key)
        if not isinstance(value, dict):
            continue
        if sub is True:
            out[key] = value
        else:
            part = _project_value(value, sub)
            if part is not None:
                out[key] = part
    return out


def _project_value(value: dict, tree: dict) -> dict | None:
    m = value.get("M")
    if isinstance(m, dict):
        part = _project_map(m, tree)
        return {"M": part} if part else None
    lst = value.get("L")
    if isinstance(lst, list):
        out = []
        for index in sorted(k for k in tree if isinstance(k, int) and not isinstance(k, bool)):
            if 0 <= index < len(lst) and isinstance(lst[index], dict):
                sub = tree[index]
                part = lst[index] if sub is True else _project_value(lst[index], sub)
                if part is not None:
                    out.append(part)
        return {"L": out} if out else None
    return None


def project(item: dict | None, paths: list[list]) -> dict:
    """The parts of ``item`` the paths name, keeping their nesting: maps keep
    the projected keys, lists keep the projected elements in index order
    (compacted), and a path that names nothing contributes nothing."""
    if not isinstance(item, dict):
        return {}
    return _project_map(item, _path_tree(paths))


# Applying updates lives in ddb.update; it is imported last because it uses
# the value helpers above (and imports this module the same way).
from ddb.update import apply_update, updated_attributes, updated_paths  # noqa: E402

__all__ = [
    "Context", "RESERVED", "apply_update", "equal", "evaluate", "parse_condition", "parse_key_condition",
    "parse_projection", "parse_update", "project", "resolve", "size_of", "updated_attributes", "updated_paths",
]
