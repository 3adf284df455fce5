"""Parsing DynamoDB expressions: a tokenizer, a recursive-descent parser that
builds raw trees and raises only syntax errors, and a checker that resolves
placeholders, finds DynamoDB's semantic errors and builds the final AST.

The public entry points are in ``ddb.expressions``; this module is its engine.

DynamoDB reports one error per request, so the checker walks the raw tree in
source order, records the first error of each category, and raises the first
error of the most important category. The category order is the one
dynalite's parsers encode, which its test suite pins against the real service:

* conditions: redundant parentheses, unknown function, function misused as an
  operand (or size() as a condition), reserved word, then the first atomic
  condition (in source order) with an undefined placeholder, a wrong operand
  count, a repeated operand, or an operand of the wrong type;
* updates: reserved word, unknown function, repeated section, undefined name,
  undefined value, overlapping paths, conflicting paths, ADD/DELETE operand
  type, function operands;
* projections: reserved word, undefined name, overlapping, conflicting paths.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, NamedTuple

from ddb.errors import ValidationException
from ddb.expression_eval import ATTRIBUTE_TYPES, compare, type_of
from ddb.reserved import RESERVED

MAX_EXPRESSION_BYTES = 4096
MAX_OPERATORS = 300
MAX_IN_OPERANDS = 100
MAX_PATH_DEPTH = 32
MAX_LIST_INDEX = 2**31 - 1
# ASTs travel router -> node as JSON inside a request envelope; orjson refuses
# more than 254 nested containers, so deeper trees are refused here, cleanly.
MAX_AST_DEPTH = 240

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
# Condition functions and their operand counts (size is an operand, not a condition).
CONDITION_FUNCTIONS = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2,
                       "begins_with": 2, "contains": 2, "size": 1}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
# Words the grammar itself reserves: never a path element or a function name.
CONDITION_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
UPDATE_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")

REDUNDANT_PARENS = "The expression has redundant parentheses;"
_TYPE_NAMES = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "NULL": "NULL", "BOOL": "BOOLEAN",
               "L": "LIST", "M": "MAP"}


# --- tokenizer -------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<name>#[A-Za-z0-9_]+)"
    r"|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<ident>[A-Za-z][A-Za-z0-9_]*)"  # a name starts with a letter: "_" alone is a bad token
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
    if len(text) * 4 <= MAX_EXPRESSION_BYTES:  # 4 bytes a character at most: short texts need no encoding
        return
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EXPRESSION_BYTES:
        raise ValidationException(
            f"Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: {size}")


def _parse(text: Any, kind: str, keywords: frozenset[str], max_parens: int,
           rule: Callable[[_Parser], Any]) -> Any:
    _check_text(text, kind)
    return _parse_text(text, kind, keywords, max_parens, rule)


@functools.lru_cache(maxsize=1024)
def _parse_text(text: str, kind: str, keywords: frozenset[str], max_parens: int,
                rule: Callable[[_Parser], Any]) -> Any:
    """The raw tree of an expression text. Cached: clients send the same few
    expressions over and over with other values, and the checker only reads
    raw trees (placeholders are resolved into new nodes), so sharing is safe."""
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
    t = type_of(value)
    v = value[t] if t else value
    if isinstance(v, bool):
        v = "true" if v else "false"
    elif isinstance(v, list):
        v = ",".join(map(str, v))
    return "{" + f"{t}:{v}" + "}"


class _Checker:
    """Walks a raw tree in source order; records the first error of each
    category and raises the first of the most important category."""

    def __init__(self, ctx: Any, kind: str, order: tuple[str, ...], group: tuple[str, ...] = ()) -> None:
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
            return type_of(final.get("value"))
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
        if type_of(low) != type_of(high):
            self.add("function", f"The BETWEEN operator requires same data type for lower and upper bounds; {shown}")
        elif (compare(low, high) or 0) > 0:
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
        t = type_of(value)
        if t in _TYPE_NAMES and not (clause == "ADD" and t == "N"):
            self.add("operand", f"Incorrect operand type for operator or function; operator: {clause}, operand type: "
                                f"{_TYPE_NAMES[t]}, typeSet: ALLOWED_FOR_{clause}_OPERAND")

    def set_value(self, raw: dict) -> dict:
        if raw["k"] == "arith":
            op = raw["op"]
            raws = [raw["l"], raw["r"]]
            finals = [self.update_operand(r, "arith") for r in raws]
            for r, f in zip(raws, finals):
                t = type_of(f.get("value")) if r["k"] == "value" else None
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
            t = type_of(a.get("value")) if r["k"] == "value" else None
            if t is not None and t != "L":
                self.wrong_type(name, t)
                break
        return {"list_append": args}


_CONDITION_ORDER = ("parens", "unknownFunction", "misused", "reserved", "condition")
_CONDITION_GROUP = ("attr", "operand", "distinct", "function")
_UPDATE_ORDER = ("reserved", "unknownFunction", "section", "attrName", "attrVal", "pathOverlap", "pathConflict",
                 "operand", "function")
_PROJECTION_ORDER = ("reserved", "attr", "pathOverlap", "pathConflict")


def condition(text: Any, ctx: Any, kind: str) -> dict:
    """A condition-grammar expression (Condition, Filter, KeyCondition) as a condition AST."""
    raw = _parse(text, kind, CONDITION_KEYWORDS, 2, _Parser.condition)
    checker = _Checker(ctx, kind, _CONDITION_ORDER, _CONDITION_GROUP)
    out = checker.condition(raw)
    checker.raise_first()
    return _shippable(out, kind, text)


def update(text: Any, ctx: Any) -> dict:
    """An UpdateExpression as an update AST."""
    kind = "UpdateExpression"
    sections = _parse(text, kind, frozenset(UPDATE_CLAUSES), 1, _Parser.update)
    checker = _Checker(ctx, kind, _UPDATE_ORDER)
    out = checker.update(sections)
    checker.raise_first()
    return _shippable(out, kind, text)


def projection(text: Any, ctx: Any) -> list[list]:
    """A ProjectionExpression as a list of paths."""
    kind = "ProjectionExpression"
    raws = _parse(text, kind, frozenset(), 0, _Parser.projection)
    checker = _Checker(ctx, kind, _PROJECTION_ORDER)
    paths: list[list] = []
    for raw in raws:
        checker.overlap(paths, checker.path(raw, "attr"))
    checker.raise_first()
    return paths


# Containers an expression attribute value adds below its operand: two per
# nesting level ({"M": {name: ...}}, {"L": [...]}) of the 32 ddb.values allows.
_VALUE_DEPTH = 2 * 32 + 2
# (kind, text) -> depth of the text's AST with each operand's value a leaf:
# the same for every request sending that text (placeholders resolve to
# strings and values), so a text once found shallow is not walked again.
_SKELETONS: dict[tuple[str, str], int] = {}
_SKELETONS_MAX = 1024


def _shippable(ast: Any, kind: str, text: str) -> Any:
    """``ast``, unless it nests too deeply to travel as JSON (hundreds of
    nested NOTs or parentheses; DynamoDB itself would accept them)."""
    known = _SKELETONS.get((kind, text))
    if known is not None:
        if known + _VALUE_DEPTH <= MAX_AST_DEPTH:
            return ast
    stack = [(ast, 1, False)]
    skeleton = 0
    while stack:
        node, depth, in_value = stack.pop()
        if depth > MAX_AST_DEPTH:
            raise ValidationException(f"Invalid {kind}: The expression has too many nesting levels")
        if not in_value and depth > skeleton:
            skeleton = depth
        if isinstance(node, dict):
            stack.extend((v, depth + 1, in_value or k == "value") for k, v in node.items()
                         if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1, in_value) for v in node if isinstance(v, (dict, list)))
    if known is None:
        if len(_SKELETONS) >= _SKELETONS_MAX:
            _SKELETONS.clear()
        _SKELETONS[(kind, text)] = skeleton
    return ast
