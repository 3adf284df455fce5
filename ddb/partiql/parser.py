"""A recursive-descent parser of DynamoDB's PartiQL subset: SELECT, INSERT,
UPDATE, DELETE. Anything outside it is the ValidationException DynamoDB
answers: "Statement wasn't well formed, can't be processed: ..."."""

from __future__ import annotations

from ddb.errors import ValidationException
from ddb.partiql.ast import (And, Arith, Between, Call, Cmp, Cond, Delete, Expr, In, Insert, Is, ListV, Lit, MapV,
                             Not, Or, Param, Path, Select, SetV, Statement, Update, Value)
from ddb.partiql.lexer import Tok, malformed, tokenize

COMPARATORS = ("=", "<>", "!=", "<", "<=", ">", ">=")
LEFTOVER = "Unexpected token after expression"
ALIASING = "Aliasing is not supported"
PREDICATES = ("begins_with", "contains", "attribute_type", "attribute_exists", "attribute_not_exists")
OPERAND_FUNCTIONS = ("size",)
UPDATE_FUNCTIONS = ("list_append", "if_not_exists", "set_add", "set_delete")
# Words that end an expression, so they cannot start a path without quotes.
KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "BETWEEN", "IS", "MISSING", "NULL",
                      "TRUE", "FALSE", "INSERT", "INTO", "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "ORDER",
                      "BY", "ASC", "DESC", "RETURNING"})
RETURNING = {("ALL", "OLD"): "ALL_OLD", ("ALL", "NEW"): "ALL_NEW", ("MODIFIED", "OLD"): "UPDATED_OLD",
             ("MODIFIED", "NEW"): "UPDATED_NEW"}


def parse(text: str) -> Statement:
    """The statement ``text`` holds (one, with an optional trailing ``;``)."""
    return _Parser(tokenize(text)).statement()


def param_count(stmt: Statement) -> int:
    """How many ``?`` the statement has (they are numbered in order)."""
    return _count(stmt)


def _count(node: object) -> int:
    if isinstance(node, Param):
        return 1
    if isinstance(node, (tuple, list)):
        return sum(_count(n) for n in node)
    fields = getattr(node, "__dataclass_fields__", None)
    return sum(_count(getattr(node, f)) for f in fields) if fields else 0


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.params = 0

    # --- tokens ---------------------------------------------------------------

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def fail(self, expected: str | None = None) -> Exception:
        t = self.tok
        found = "end of statement" if t.kind == "end" else f"'{t.text}'"
        where = f"at position {t.pos + 1}"
        return malformed(f"Unexpected {found} {where}" + (f", expected {expected}" if expected else ""))

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.upper() in words

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def take_word(self, word: str) -> None:
        if not self.is_word(word):
            raise self.fail(word)
        self.i += 1

    def take_op(self, op: str) -> None:
        if not self.is_op(op):
            raise self.fail(f"'{op}'")
        self.i += 1

    def no_alias(self) -> None:
        """DynamoDB refuses a table alias (``FROM "t" x``, ``FROM "t" AS x``) by its own message."""
        if self.tok.kind == "qname" or (self.tok.kind == "word" and (
                self.tok.text.upper() == "AS" or self.tok.text.upper() not in KEYWORDS)):
            raise ValidationException(ALIASING)

    def name(self) -> str:
        t = self.tok
        if t.kind == "qname" or (t.kind == "word" and t.text.upper() not in KEYWORDS):
            self.i += 1
            return t.text
        raise self.fail("a name")

    # --- statements -----------------------------------------------------------

    def statement(self) -> Statement:
        if self.is_word("SELECT"):
            stmt: Statement = self.select()
        elif self.is_word("INSERT"):
            stmt = self.insert()
        elif self.is_word("UPDATE"):
            stmt = self.update()
        elif self.is_word("DELETE"):
            stmt = self.delete()
        elif self.is_word("FROM"):
            stmt = self.from_first_update()
        else:
            raise malformed("Expected data manipulation")
        if self.is_op(";"):
            self.i += 1
        if self.tok.kind != "end":
            raise malformed(LEFTOVER)
        return stmt

    def select(self) -> Select:
        self.take_word("SELECT")
        projection: tuple[Path, ...] | None = None
        if self.is_op("*"):
            self.i += 1
        else:
            items = [self.path()]
            while self.is_op(","):
                self.i += 1
                items.append(self.path())
            projection = tuple(items)
        self.take_word("FROM")
        table = self.name()
        index = None
        if self.is_op("."):
            self.i += 1
            index = self.name()
        self.no_alias()
        where = self.where() if self.is_word("WHERE") else None
        order: list[tuple[Path, bool]] = []
        if self.is_word("ORDER"):
            self.i += 1
            self.take_word("BY")
            while True:
                key = self.path()
                desc = self.is_word("DESC")
                if desc or self.is_word("ASC"):
                    self.i += 1
                order.append((key, desc))
                if not self.is_op(","):
                    break
                self.i += 1
        return Select(table, index, projection, where, tuple(order))

    def insert(self) -> Insert:
        self.take_word("INSERT")
        self.take_word("INTO")
        table = self.name()
        if self.tok.kind in ("word", "qname") and not self.is_word("VALUE"):
            raise malformed(LEFTOVER)  # DynamoDB reads an alias here as a token too many
        self.take_word("VALUE")
        return Insert(table, self.value())

    def update(self) -> Update:
        self.take_word("UPDATE")
        table = self.name()
        self.no_alias()
        actions = self.actions()
        return Update(table, actions, self.where(), self.returning())

    def from_first_update(self) -> Update:
        """PartiQL's other UPDATE: ``FROM "t" WHERE <key> SET ... REMOVE ...``."""
        self.take_word("FROM")
        table = self.name()
        self.no_alias()
        where = self.where()
        return Update(table, self.actions(), where, self.returning())

    def actions(self) -> tuple[tuple, ...]:
        actions: list[tuple] = []
        while self.is_word("SET", "REMOVE"):
            clause = self.tok.text.upper()
            self.i += 1
            while True:
                path = self.path()
                if clause == "SET":
                    self.take_op("=")
                    actions.append(("SET", path, self.set_value()))
                else:
                    actions.append(("REMOVE", path))
                if not self.is_op(","):
                    break
                self.i += 1
        if not actions:
            raise self.fail("SET or REMOVE")
        return tuple(actions)

    def returning(self) -> str | None:
        """``RETURNING (ALL|MODIFIED) (OLD|NEW) *``, as the ReturnValues it asks for."""
        if not self.is_word("RETURNING"):
            return None
        self.i += 1
        which = self.tok.text.upper()
        if not self.is_word("ALL", "MODIFIED"):
            raise self.fail("ALL or MODIFIED")
        self.i += 1
        when = self.tok.text.upper()
        if not self.is_word("OLD", "NEW"):
            raise self.fail("OLD or NEW")
        self.i += 1
        self.take_op("*")
        return RETURNING[(which, when)]

    def delete(self) -> Delete:
        self.take_word("DELETE")
        self.take_word("FROM")
        table = self.name()
        self.no_alias()
        return Delete(table, self.where(), self.returning())

    def where(self) -> Cond:
        self.take_word("WHERE")
        return self.cond()

    # --- conditions -----------------------------------------------------------

    def cond(self) -> Cond:
        items = [self.conj()]
        while self.is_word("OR"):
            self.i += 1
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self) -> Cond:
        items = [self.negation()]
        while self.is_word("AND"):
            self.i += 1
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Cond:
        if self.is_word("NOT"):
            self.i += 1
            return Not(self.negation())
        return self.predicate()

    def predicate(self) -> Cond:
        if self.is_op("("):
            self.i += 1
            inner = self.cond()
            self.take_op(")")
            return inner
        if self.tok.kind == "word" and self.tok.text.lower() in PREDICATES and self.toks[self.i + 1].text == "(":
            return self.call(self.tok.text.lower())  # type: ignore[return-value]
        left = self.operand()
        if self.tok.kind == "op" and self.tok.text in COMPARATORS:
            op = "<>" if self.tok.text == "!=" else self.tok.text
            self.i += 1
            return Cmp(op, left, self.operand())
        if self.is_word("BETWEEN"):
            self.i += 1
            low = self.operand()
            self.take_word("AND")
            return Between(left, low, self.operand())
        if self.is_word("IN"):
            self.i += 1
            close = "]" if self.is_op("[") else ")"
            if not self.is_op("[", "("):
                raise self.fail("'[' or '('")
            self.i += 1
            items = [self.operand()]
            while self.is_op(","):
                self.i += 1
                items.append(self.operand())
            self.take_op(close)
            return In(left, tuple(items))
        if self.is_word("IS"):
            self.i += 1
            negated = self.is_word("NOT")
            if negated:
                self.i += 1
            if not self.is_word("MISSING", "NULL"):
                raise self.fail("MISSING or NULL")
            what = self.tok.text.upper()
            self.i += 1
            if not isinstance(left, Path):
                raise malformed(f"IS {what} needs an attribute path")
            return Is(left, what, negated)
        raise self.fail("a comparison")

    def call(self, name: str) -> Call:
        name_at = self.tok.at
        self.i += 2  # the name and "("
        first_at = self.tok.at
        args: list[Expr] = []
        while not self.is_op(")"):
            if args:
                self.take_op(",")
            args.append(self.set_value() if name in UPDATE_FUNCTIONS else self.operand())
        self.i += 1
        return Call(name, tuple(args), (name_at, first_at))

    def operand(self) -> Expr:
        t = self.tok
        if t.kind == "word" and t.text.lower() in OPERAND_FUNCTIONS and self.toks[self.i + 1].text == "(":
            return self.call(t.text.lower())
        if t.kind == "word" and self.toks[self.i + 1].text == "(":
            raise ValidationException(f"Unrecognized function: {t.text.lower()} at {t.at}")
        if t.kind == "qname" or (t.kind == "word" and t.text.upper() not in KEYWORDS):
            return self.path()
        return self.value()

    def set_value(self) -> Expr:
        """The right side of UPDATE's SET: an operand, a function, or a sum."""
        t = self.tok
        if t.kind == "word" and t.text.lower() in UPDATE_FUNCTIONS and self.toks[self.i + 1].text == "(":
            left: Expr = self.call(t.text.lower())
        else:
            left = self.operand()
        if self.is_op("+", "-"):
            op = self.tok.text
            self.i += 1
            t = self.tok
            if t.kind == "word" and t.text.lower() in UPDATE_FUNCTIONS and self.toks[self.i + 1].text == "(":
                right: Expr = self.call(t.text.lower())
            else:
                right = self.operand()
            return Arith(op, left, right)
        return left

    def path(self) -> Path:
        steps: list[str | int] = [self.name()]
        while True:
            if self.is_op("."):
                self.i += 1
                steps.append(self.name())
            elif self.is_op("["):
                self.i += 1
                if self.tok.kind != "num" or not self.tok.text.isdigit() or len(self.tok.text) > 9:
                    raise self.fail("a list index")
                steps.append(int(self.tok.text))
                self.i += 1
                self.take_op("]")
            else:
                return Path(tuple(steps))

    # --- values ---------------------------------------------------------------

    def value(self) -> Value:
        t = self.tok
        if t.kind == "str":
            self.i += 1
            return Lit("S", t.text)
        if t.kind == "num" or (self.is_op("-") and self.toks[self.i + 1].kind == "num"):
            sign = ""
            if t.kind == "op":
                sign = "-"
                self.i += 1
            text = self.tok.text
            self.i += 1
            return Lit("N", sign + text)
        if t.kind == "param":
            self.i += 1
            self.params += 1
            return Param(self.params - 1)
        if self.is_word("TRUE", "FALSE"):
            self.i += 1
            return Lit("BOOL", t.text.upper() == "TRUE")
        if self.is_word("NULL"):
            self.i += 1
            return Lit("NULL", None)
        if self.is_op("[", "<<"):
            close = "]" if t.text == "[" else ">>"
            self.i += 1
            items: list[Value] = []
            while not self.is_op(close):
                if items:
                    self.take_op(",")
                items.append(self.value())
            self.i += 1
            return ListV(tuple(items)) if close == "]" else SetV(tuple(items))
        if self.is_op("{"):
            self.i += 1
            pairs: list[tuple[str, Value]] = []
            while not self.is_op("}"):
                if pairs:
                    self.take_op(",")
                if self.tok.kind != "str":
                    raise self.fail("a quoted attribute name")
                key = self.tok.text
                self.i += 1
                self.take_op(":")
                pairs.append((key, self.value()))
            self.i += 1
            return MapV(tuple(pairs))
        raise self.fail("a value")
