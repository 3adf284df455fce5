"""Query and Scan requests: validation in DynamoDB's order, and the storage key
range a key condition selects.

Like item requests, validation has two phases: ``parse_query``/``parse_scan``
check the request on its own; ``bind`` checks it against the key schema of the
table or index it reads, once that is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ddb import legacy
from ddb.encoding import encode_key_value
from ddb.errors import ValidationException, constraint_failure
from ddb.expressions import Context, parse_condition, parse_key_condition, parse_projection, request_context
from ddb.keys import KeySchema, table_name_errors
from ddb.serialization import boolean_error
from ddb.values import validate_item

if TYPE_CHECKING:
    from ddb.multikeys import IndexKeys

SELECTS = ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")
PAGE_BYTES = 1 << 20  # Query and Scan read at most 1 MB per call
MAX_TOTAL_SEGMENTS = 1_000_000
# Each operation's legacy and expression parameters, in the order DynamoDB names them.
_LEGACY = {"Query": ("AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"),
           "Scan": ("AttributesToGet", "ScanFilter", "ConditionalOperator")}
_EXPRESSIONS = {"Query": ("ProjectionExpression", "FilterExpression", "KeyConditionExpression"),
                "Scan": ("ProjectionExpression", "FilterExpression")}


@dataclass
class ReadRequest:
    """A validated Query or Scan."""

    table_name: str
    index_name: str | None = None
    select: str = "ALL_ATTRIBUTES"
    limit: int | None = None
    consistent_read: bool = False
    forward: bool = True
    exclusive_start_key: dict | None = None
    filter: dict | None = None
    projection: list | None = None
    segment: int | None = None
    total_segments: int | None = None
    key_condition: dict | None = None  # Query, after bind
    _key_text: str | None = field(default=None, repr=False)
    _ctx: Context | None = field(default=None, repr=False)
    _key_conditions: dict | None = field(default=None, repr=False)  # legacy KeyConditions, checked
    _query_filter: dict | None = field(default=None, repr=False)  # legacy QueryFilter as sent

    def bind(self, schema: KeySchema, keys: IndexKeys | None = None) -> None:
        """Parse the key condition against the schema read (Query; ``keys``
        for an index with multi-attribute keys), then reject placeholders no
        expression used."""
        names = schema.names if keys is None else keys.names
        if keys is not None and self._key_conditions is not None:
            raise ValidationException("KeyConditions cannot be used on an index with multi-attribute keys: "
                                      "use KeyConditionExpression")
        if self._key_text is not None and self._ctx is not None:
            if keys is not None:
                self.key_condition = keys.parse_condition(self._key_text, self._ctx)
            else:
                self.key_condition = parse_key_condition(self._key_text, self._ctx, schema.hash_key,
                                                         schema.range_key)
                _check_key_types(self.key_condition, schema)
        elif self._key_conditions is not None:
            self.key_condition = legacy.bind_key_conditions(self._key_conditions, schema.hash_key, schema.range_key)
            _check_key_types(self.key_condition, schema)
        legacy.check_query_filter(self._query_filter, schema.hash_key, schema.range_key)
        if self.key_condition is not None and self.filter is not None and self._query_filter is None:
            for name in top_level_names(self.filter):
                if name in names:
                    raise ValidationException("Filter Expression can only contain non-primary key attributes: "
                                              f"Primary key attribute: {name}")
        if self._ctx is not None:
            self._ctx.check_unused()


def top_level_names(node: Any) -> list[str]:
    """The first element of every document path in an expression tree, in order."""
    out: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            path = n.get("path")
            if isinstance(path, list) and path and isinstance(path[0], str):
                out.append(path[0])
                continue
            stack.extend(reversed(list(n.values())))
        elif isinstance(n, list):
            stack.extend(reversed(n))
    return out


def _number(body: dict, name: str, param: str, lo: int, hi: int | None, errors: list[str]) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationException(f"1 validation error detected: Value '{value}' at '{param}' failed to satisfy "
                                  f"constraint: Member must be a number")
    if value < lo:
        errors.append(f"Value '{value}' at '{param}' failed to satisfy constraint: Member must have value "
                      f"greater than or equal to {lo}")
    elif hi is not None and value > hi:
        errors.append(f"Value '{value}' at '{param}' failed to satisfy constraint: Member must have value "
                      f"less than or equal to {hi}")
    return value


def _common(body: dict, errors: list[str], op: str) -> ReadRequest:
    errors += table_name_errors(body.get("TableName"))
    index = body.get("IndexName")
    if index is not None:
        errors += table_name_errors(index, "indexName")
    select = body.get("Select")
    if select is not None and select not in SELECTS:
        errors.append(f"Value '{select}' at 'select' failed to satisfy constraint: Member must satisfy enum value "
                      "set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")
    limit = _number(body, "Limit", "limit", 1, None, errors)
    req = ReadRequest(body.get("TableName"), index_name=index, limit=limit)
    for name in ("ConsistentRead", "ScanIndexForward"):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise boolean_error(value)
    req.consistent_read = bool(body.get("ConsistentRead", False))
    if op == "Scan":
        req.segment = _number(body, "Segment", "segment", 0, MAX_TOTAL_SEGMENTS - 1, errors)
        req.total_segments = _number(body, "TotalSegments", "totalSegments", 1, MAX_TOTAL_SEGMENTS, errors)
    errors += legacy.constraint_errors(body, _LEGACY[op])
    if errors:
        raise constraint_failure(errors)
    filter_param = "QueryFilter" if op == "Query" else "ScanFilter"
    legacy.check_params(body, _LEGACY[op], _EXPRESSIONS[op], filter_param)
    # DynamoDB checks a Query's filter before its AttributesToGet, a Scan's after.
    if op == "Query":
        req.filter = legacy.filter_condition(body.get(filter_param), body.get("ConditionalOperator"))
    req.projection = legacy.attributes_to_get(body.get("AttributesToGet"))
    if op == "Scan":
        req.filter = legacy.filter_condition(body.get(filter_param), body.get("ConditionalOperator"))
    projection_text = body.get("ProjectionExpression")
    specific = "ProjectionExpression" if projection_text is not None else \
        "AttributesToGet" if req.projection is not None else None
    if select is None:
        select = "SPECIFIC_ATTRIBUTES" if specific is not None else \
            ("ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES")
    elif specific is not None and select != "SPECIFIC_ATTRIBUTES":
        what = "only the Count" if select == "COUNT" else select
        raise ValidationException(f"Cannot specify the {specific} when choosing to get {what}")
    elif select == "SPECIFIC_ATTRIBUTES" and specific is None:
        raise ValidationException("Must specify the AttributesToGet or ProjectionExpression when choosing to get "
                                  "SPECIFIC_ATTRIBUTES")
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise ValidationException("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    req.select = select
    start = body.get("ExclusiveStartKey")
    if start is not None:
        req.exclusive_start_key = validate_item(start)
    key_text = body.get("KeyConditionExpression") if op == "Query" else None
    if op == "Query":
        req._query_filter = body.get("QueryFilter")
        if key_text is None and body.get("KeyConditions") is not None:
            req._key_conditions = legacy.key_conditions(body["KeyConditions"])
    has_expr = any(body.get(p) is not None for p in ("FilterExpression", "ProjectionExpression")) or \
        key_text is not None
    ctx = request_context(body, has_expr)
    if body.get("FilterExpression") is not None:
        req.filter = parse_condition(body["FilterExpression"], ctx, "FilterExpression")
    if projection_text is not None:
        req.projection = parse_projection(projection_text, ctx)
    req._ctx = ctx
    req._key_text = key_text
    return req


def parse_query(body: dict) -> ReadRequest:
    req = _common(body, [], "Query")
    if req._key_text is None and req._key_conditions is None:
        raise ValidationException("Either the KeyConditions or KeyConditionExpression parameter must be "
                                  "specified in the request.")
    forward = body.get("ScanIndexForward", True)
    req.forward = bool(forward)
    return req


def parse_scan(body: dict) -> ReadRequest:
    if "ScanIndexForward" in body:
        raise ValidationException("ScanIndexForward is not a Scan parameter")
    req = _common(body, [], "Scan")
    if req.segment is not None and req.total_segments is None:
        raise ValidationException("The TotalSegments parameter is required but was not present in the request "
                                  "when Segment parameter is present")
    if req.total_segments is not None and req.segment is None:
        raise ValidationException("The Segment parameter is required but was not present in the request when "
                                  "parameter TotalSegments is present")
    if req.segment is not None and req.total_segments is not None and req.segment >= req.total_segments:
        raise ValidationException(f"The Segment parameter is zero-based and must be less than parameter "
                                  f"TotalSegments: Segment: {req.segment} is not less than TotalSegments: "
                                  f"{req.total_segments}")
    return req


def _check_key_types(cond: dict, schema: KeySchema) -> None:
    name, value = cond["hash"]
    _expect_type(value, schema.hash_type)
    rng = cond.get("range")
    if rng is not None:
        for v in rng["values"]:
            _expect_type(v, schema.range_type)
        if rng["op"] == "begins_with" and schema.range_type == "N":
            raise ValidationException("Invalid KeyConditionExpression: Incorrect operand type for operator or "
                                      "function; operator or function: begins_with, operand type: N")


def _expect_type(value: dict, kind: str | None) -> None:
    if kind is None or next(iter(value)) != kind:
        raise ValidationException("One or more parameter values were invalid: Condition parameter type does not "
                                  "match schema type")


def segment_bounds(segment: int, total: int) -> tuple[int, int]:
    """Hash range ``[lo, hi)`` of one parallel-scan segment: equal slices of the
    hash space, so segments are disjoint and together cover the table."""
    space = 1 << 64
    return segment * space // total, (segment + 1) * space // total


def sort_bounds(prefix: bytes, cond: dict | None) -> tuple[bytes, bytes]:
    """Storage key range ``[lo, hi)`` of one partition key's entries that a
    sort-key condition selects. Encoded sort keys are self-delimiting and
    order-preserving, so the entries whose sort key is v are exactly those
    starting with ``prefix + enc(v)`` (an index entry carries the base
    table's key after it)."""
    end = _successor(prefix)
    if cond is None:
        return prefix, end
    op, values = cond["op"], cond["values"]
    at = prefix + encode_key_value(values[0])
    if op == "=":
        return at, _successor(at)
    if op == "<":
        return prefix, at
    if op == "<=":
        return prefix, _successor(at)
    if op == ">":
        return _successor(at), end
    if op == ">=":
        return at, end
    if op == "BETWEEN":
        hi = prefix + encode_key_value(values[1])
        if hi < at:
            raise ValidationException(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or "
                f"equal to lower bound; lower bound operand: AttributeValue: {_show(values[0])}, upper bound "
                f"operand: AttributeValue: {_show(values[1])}")
        return at, _successor(hi)
    if op == "begins_with":
        # The encoding escapes bytes one by one and ends with a terminator:
        # dropping the terminator leaves a prefix of every longer value's encoding.
        stem = at[:-_TERMINATOR_LEN]
        return stem, _successor(stem)
    raise ValueError(f"unknown sort key operator {op}")


def _show(value: dict) -> str:
    (t, v), = value.items()
    return "{" + f"{t}:{v}" + "}"


def _successor(prefix: bytes) -> bytes:
    """The smallest key above every key that starts with ``prefix`` (storage
    keys start with a table id below 0xFFFFFFFF, so one exists)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes((stripped[-1] + 1,))


_TERMINATOR_LEN = len(encode_key_value({"S": ""})) - 1
