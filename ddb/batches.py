"""BatchGetItem and BatchWriteItem requests: validation in DynamoDB's order.

``parse_*`` checks the request on its own; the router then binds each table's
entries to its key schema (``bind_*``), so a missing table is reported before
a key that does not match it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ddb import legacy
from ddb.encoding import encode_key
from ddb.errors import ValidationException, constraint_failure
from ddb.expressions import Context, parse_projection
from ddb.keys import KeySchema, extract_key, table_name_errors, validate_key
from ddb.serialization import boolean_error, map_error
from ddb.size import check_size
from ddb.values import validate_item, validate_sized_item

MAX_GET_KEYS = 100
MAX_WRITES = 25
MAX_GET_RESPONSE_BYTES = 16 << 20
DUPLICATES = "Provided list of item keys contains duplicates"


@dataclass
class TableGets:
    """One table's part of a BatchGetItem."""

    name: str
    keys: list[dict]
    projection: list | None = None
    consistent_read: bool = False
    raw: dict = field(default_factory=dict)  # as sent, to hand back in UnprocessedKeys

    def unprocessed(self, keys: list[dict]) -> dict:
        return {**self.raw, "Keys": keys}


@dataclass
class WriteEntry:
    """One PutRequest or DeleteRequest of a BatchWriteItem."""

    table: str
    put: dict | None  # the item, or None for a delete
    key: dict | None
    raw: dict  # the WriteRequest as sent, to hand back in UnprocessedItems
    size: int = 0  # of `put` (ddb.size), counted while it was validated


def _request_items(body: dict) -> dict:
    items = body.get("RequestItems")
    if items is None:
        raise constraint_failure(["Value null at 'requestItems' failed to satisfy constraint: Member must not be "
                                  "null"])
    if type(items) is not dict:
        raise map_error(items, "RequestItems")
    if not items:
        raise constraint_failure(["Value '{}' at 'requestItems' failed to satisfy constraint: Member must have "
                                  "length greater than or equal to 1"])
    if len(items) > 100:
        raise constraint_failure(["Value at 'requestItems' failed to satisfy constraint: Member must have length "
                                  "less than or equal to 100"])
    errors: list[str] = []
    for name in items:
        errors += table_name_errors(name, f"requestItems.{name}.member.tableName")
    if errors:
        raise constraint_failure(errors)
    return items


def parse_batch_get(body: dict) -> list[TableGets]:
    out: list[TableGets] = []
    total = 0
    for name, spec in _request_items(body).items():
        if type(spec) is not dict:
            raise map_error(spec, "KeysAndAttributes")
        keys = spec.get("Keys")
        if keys is None:
            raise constraint_failure([f"Value null at 'requestItems.{name}.member.keys' failed to satisfy "
                                      "constraint: Member must not be null"])
        if type(keys) is not list or not keys:
            raise constraint_failure([f"Value '[]' at 'requestItems.{name}.member.keys' failed to satisfy "
                                      "constraint: Member must have length greater than or equal to 1"])
        total += len(keys)
        if total > MAX_GET_KEYS:
            raise ValidationException("Too many items requested for the BatchGetItem call")
        cr = spec.get("ConsistentRead", False)
        if not isinstance(cr, bool):
            raise boolean_error(cr)
        errors = legacy.constraint_errors(spec, ("AttributesToGet",), f"requestItems.{name}.member.")
        if errors:
            raise constraint_failure(errors)
        legacy.check_params(spec, ("AttributesToGet",), ("ProjectionExpression",))
        entry = TableGets(name, [validate_item(k) for k in keys], consistent_read=cr, raw=spec)
        names = spec.get("ExpressionAttributeNames")
        if names is not None and "ProjectionExpression" not in spec:
            raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
        if "ProjectionExpression" in spec:
            ctx = Context(names, None)
            entry.projection = parse_projection(spec["ProjectionExpression"], ctx)
            ctx.check_unused()
        else:
            entry.projection = legacy.attributes_to_get(spec.get("AttributesToGet"))
        out.append(entry)
    return out


def bind_gets(entry: TableGets, schema: KeySchema) -> list[bytes]:
    """Check the keys against the table; their encodings, with duplicates rejected."""
    encoded = []
    for key in entry.keys:
        validate_key(schema, key)
        encoded.append(encode_key(schema, key))
    if len(set(encoded)) != len(encoded):
        raise ValidationException(DUPLICATES)
    return encoded


def parse_batch_write(body: dict) -> list[WriteEntry]:
    out: list[WriteEntry] = []
    for name, requests in _request_items(body).items():
        if type(requests) is not list or not 1 <= len(requests) <= MAX_WRITES:
            n = len(requests) if isinstance(requests, list) else 0
            bound = "less than or equal to 25" if n > MAX_WRITES else "greater than or equal to 1"
            raise constraint_failure([f"Value at 'requestItems' failed to satisfy constraint: Map value must "
                                      f"satisfy constraint: [Member must have length {bound}]"])
        for raw in requests:
            if type(raw) is not dict:
                raise map_error(raw, "WriteRequest")
            put, delete = raw.get("PutRequest"), raw.get("DeleteRequest")
            if put is None and delete is None:
                raise ValidationException("Found unsupported request in RequestItems. Request has no PutRequest "
                                          "or DeleteRequest")
            if put is not None and delete is not None:
                raise ValidationException("Found unsupported request in RequestItems. Request has both a "
                                          "PutRequest and a DeleteRequest")
            if put is not None:
                if type(put) is not dict or put.get("Item") is None:
                    raise constraint_failure([f"Value null at 'requestItems.{name}.member.putRequest.item' failed "
                                              "to satisfy constraint: Member must not be null"])
                item, size = validate_sized_item(put["Item"])
                out.append(WriteEntry(name, item, None, raw, size))
            else:
                if type(delete) is not dict or delete.get("Key") is None:
                    raise constraint_failure([f"Value null at 'requestItems.{name}.member.deleteRequest.key' "
                                              "failed to satisfy constraint: Member must not be null"])
                out.append(WriteEntry(name, None, validate_item(delete["Key"]), raw))
    if len(out) > MAX_WRITES:
        raise ValidationException("Too many items requested for the BatchWriteItem call")
    return out


def bind_writes(entries: list[WriteEntry], schema: KeySchema) -> list[dict]:
    """Keys of one table's writes, checked; duplicates (same key twice) rejected."""
    keys: list[dict] = []
    seen: set[bytes] = set()
    for e in entries:
        if e.put is not None:
            key = extract_key(schema, e.put)
            check_size(e.size)
        else:
            key = validate_key(schema, e.key)
        enc = encode_key(schema, key)
        if enc in seen:
            raise ValidationException(DUPLICATES)
        seen.add(enc)
        keys.append(key)
    return keys


