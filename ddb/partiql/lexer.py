"""PartiQL tokens: keywords and identifiers, "quoted identifiers",
'strings' (a doubled quote escapes one), numbers, `?` and punctuation;
`-- line` and `/* block */` comments are whitespace."""

from __future__ import annotations

import re
from typing import NamedTuple

from ddb.errors import ValidationException

MALFORMED = "Statement wasn't well formed, can't be processed: "


class Tok(NamedTuple):
    kind: str  # word, qname, str, num, param, op, end
    text: str
    pos: int
    at: str = ""  # where, as DynamoDB's messages say it: line:column:length


def _at(text: str, start: int, end: int) -> str:
    line = text.count("\n", 0, start) + 1
    return f"{line}:{start - (text.rfind(chr(10), 0, start) + 1) + 1}:{end - start}"


_TOKEN = re.compile(r"""
    (?P<ws>\s+|--[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<qname>"(?:[^"]|"")*")
  | (?P<str>'(?:[^']|'')*')
  | (?P<param>\?)
  | (?P<op><<|>>|<>|!=|<=|>=|[=<>()\[\]{},.:*+\-;])
""", re.VERBOSE)


def malformed(detail: str) -> ValidationException:
    return ValidationException(MALFORMED + detail)


def tokenize(text: str) -> list[Tok]:
    """The tokens of ``text``, then an ``end`` token."""
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # DynamoDB says no more of an unreadable character, comment or quote
            raise malformed("")
        kind = m.lastgroup
        at = _at(text, pos, m.end())
        if kind == "qname":
            out.append(Tok("qname", m.group()[1:-1].replace('""', '"'), pos, at))
        elif kind == "str":
            out.append(Tok("str", m.group()[1:-1].replace("''", "'"), pos, at))
        elif kind != "ws":
            out.append(Tok(kind, m.group(), pos, at))  # type: ignore[arg-type]
        pos = m.end()
    out.append(Tok("end", "", len(text)))
    return out
