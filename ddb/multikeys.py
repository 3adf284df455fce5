"""The keys of a global secondary index: one to four partition-key attributes
and up to four sort-key attributes, each with its own type (DynamoDB's
multi-attribute keys, November 2025; a classic index has one of each).

An entry's partition key is the concatenated encoding of its partition-key
attributes (hashed together for placement), its sort key the concatenation
of its sort-key attributes: encodings are self-delimiting and
order-preserving, so entries sort by the sort attributes left to right and a
query that fixes the first k of them is a prefix scan. Items missing any key
attribute are not indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ddb.encoding import decode_key_value, encode_key_value
from ddb.errors import ValidationException
from ddb.expressions import key_conditions

if TYPE_CHECKING:
    from ddb.expressions import Context

MAX_KEY_PARTS = 4  # partition-key attributes, and sort-key attributes, per index
NOT_SUPPORTED = "Query key condition not supported"
TYPE_MISMATCH = "One or more parameter values were invalid: Condition parameter type does not match schema type"


@dataclass(frozen=True, slots=True)
class IndexKeys:
    """An index's key attributes in KeySchema order: ((name, type), ...) each."""

    hash: tuple[tuple[str, str], ...]
    range: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_key_schema(cls, key_schema: list[dict], types: dict[str, str]) -> IndexKeys:
        return cls(tuple((k["AttributeName"], types[k["AttributeName"]]) for k in key_schema if k["KeyType"] == "HASH"),
                   tuple((k["AttributeName"], types[k["AttributeName"]]) for k in key_schema
                         if k["KeyType"] == "RANGE"))

    @property
    def multi(self) -> bool:
        return len(self.hash) > 1 or len(self.range) > 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.hash + self.range)

    def attributes(self) -> list[tuple[str, str, bool]]:
        """(name, type, is a partition-key attribute) of every key attribute."""
        return [(n, t, True) for n, t in self.hash] + [(n, t, False) for n, t in self.range]

    def key_schema_wire(self) -> list[dict[str, str]]:
        return ([{"AttributeName": n, "KeyType": "HASH"} for n, _ in self.hash]
                + [{"AttributeName": n, "KeyType": "RANGE"} for n, _ in self.range])

    def encode_hash(self, item: dict[str, Any]) -> bytes:
        """The entry's partition key: what is hashed for placement."""
        return b"".join(encode_key_value(item[n]) for n, _ in self.hash)

    def encode(self, item: dict[str, Any]) -> bytes:
        """Partition-key then sort-key attributes of an item that has them all."""
        return b"".join(encode_key_value(item[n]) for n, _ in self.hash + self.range)

    def decode(self, data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        for n, _ in self.hash + self.range:
            out[n], pos = decode_key_value(data, pos)
        return out, pos

    def parse_condition(self, text: str, ctx: Context) -> dict:
        """A KeyConditionExpression on a multi-attribute index:
        ``{"hash": [[name, value], ...], "eq": [[name, value], ...], "range": None | {...}}``:
        equality on every partition-key attribute, then sort-key attributes left
        to right, equalities first and at most one other condition, last."""
        conditions = key_conditions(text, ctx)
        hash_names = [n for n, _ in self.hash]
        range_names = [n for n, _ in self.range]
        for name in conditions:
            if name not in hash_names and name not in range_names:
                raise ValidationException(NOT_SUPPORTED)
        for name in hash_names:
            if name not in conditions:
                raise ValidationException(f"Query condition missed key schema element: {name}")
            if conditions[name][0] != "=":
                raise ValidationException(NOT_SUPPORTED)
        used = [n for n in range_names if n in conditions]
        for later in used:
            for prior in range_names[:range_names.index(later)]:
                if prior not in conditions or conditions[prior][0] != "=":
                    raise ValidationException(
                        f"RANGE key attributes {prior} must have equality conditions specified in the query "
                        f"because a condition is present on key attribute {later}")
        types = dict(self.hash + self.range)
        for name, (op, values) in conditions.items():
            for v in values:
                if next(iter(v)) != types[name]:
                    raise ValidationException(TYPE_MISMATCH)
            if op == "begins_with" and types[name] == "N":
                raise ValidationException("Invalid KeyConditionExpression: Incorrect operand type for operator or "
                                          "function; operator or function: begins_with, operand type: N")
        last = used[-1] if used and conditions[used[-1]][0] != "=" else None
        return {"hash": [[n, conditions[n][1][0]] for n in hash_names],
                "eq": [[n, conditions[n][1][0]] for n in used if n != last],
                "range": None if last is None else {"op": conditions[last][0], "name": last,
                                                    "values": conditions[last][1]}}
