"""TransactWriteItems and TransactGetItems requests: validation in DynamoDB's
order, the request fingerprint behind ClientRequestToken idempotency, and
cancellation reasons.

DynamoDB checks a transaction in stages (captured against the service,
paritysuite/dynamodb-conformance tier3 transactions): the members' constraints
(ClientRequestToken, ReturnConsumedCapacity, ReturnItemCollectionMetrics,
TransactItems' length) in one aggregate message; then every action's own
request checks (expressions, values, nesting) as PutItem/UpdateItem/
DeleteItem/GetItem make them, the first failing action winning; then, per
table, the schema: an empty key value is a top-level ValidationException, any
other key or item that does not fit the table cancels the transaction with a
``ValidationError`` reason; then duplicates and the 4 MB aggregate size.
Each action is parsed by `ddb.items`, so there is one set of rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from ddb.encoding import encode_key
from ddb.errors import (CancellationReason, DynamoDBError, TransactionCanceledException, ValidationException,
                        constraint_error, constraint_failure)
from ddb.indexes import Index, check_index_keys
from ddb.items import ItemRequest, parse_delete_item, parse_get_item, parse_put_item, parse_update_item
from ddb.keys import EMPTY_BINARY_KEY, EMPTY_STRING_KEY, KeySchema
from ddb.serialization import struct_error
from ddb.size import item_size

MAX_ACTIONS = 100
MAX_BYTES = 4 << 20  # the aggregate size of a transaction's items
MAX_TOKEN = 36
MULTIPLE_OPERATIONS = "Transaction request cannot include multiple operations on one item"
ONE_ACTION = "TransactItems can only contain one of Check, Put, Update or Delete"
# DynamoDB's ResourceNotFoundException for a transaction names no table.
TABLE_NOT_FOUND = "Requested resource not found"
# No capture of DynamoDB's wording is known; the limit is documented.
TOO_LARGE = "Transaction request size has exceeded the maximum allowed size of 4 MB"
CONDITION_REQUIRED = ("1 validation error detected: Value null at 'conditionExpression' failed to satisfy "
                      "constraint: Member must not be null")
UPDATE_REQUIRED = ("1 validation error detected: Value null at 'updateExpression' failed to satisfy "
                   "constraint: Member must not be null")

WRITE_KINDS = ("ConditionCheck", "Put", "Delete", "Update")
# Cancellation reason codes, by the exception a single-item call would raise.
REASON_CODES = {
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "TransactionConflictException": "TransactionConflict",
    "ValidationException": "ValidationError",
    "ItemCollectionSizeLimitExceededException": "ItemCollectionSizeLimitExceeded",
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
    "ThrottlingException": "ThrottlingError",
    "RequestLimitExceeded": "ThrottlingError",
}


@dataclass
class Action:
    """One element of TransactItems: its kind and the item request it stands for."""

    kind: str  # Put, Update, Delete, ConditionCheck or Get
    req: ItemRequest
    key: dict | None = None  # bound: the item's key
    error: DynamoDBError | None = None  # bound: the item does not fit its table (a ValidationError reason)


@dataclass
class WriteTransaction:
    actions: list[Action]
    token: str | None
    fingerprint: str
    return_capacity: str = "NONE"
    return_metrics: str = "NONE"
    tables: list[str] = field(default_factory=list)  # in order of first appearance


def token_and_capacity_errors(body: dict) -> list[str]:
    """Coral's violations of ClientRequestToken (1 to 36 characters) and
    ReturnConsumedCapacity, in its order (ExecuteTransaction's too)."""
    errors: list[str] = []
    token = body.get("ClientRequestToken")
    if token is not None and not 1 <= len(token) <= MAX_TOKEN:
        bound = "greater than or equal to 1" if not token else f"less than or equal to {MAX_TOKEN}"
        errors.append(constraint_error(token, "clientRequestToken", f"Member must have length {bound}"))
    rcc = body.get("ReturnConsumedCapacity", "NONE")
    if rcc not in ("INDEXES", "TOTAL", "NONE"):
        errors.append(constraint_error(rcc, "returnConsumedCapacity",
                                       "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"))
    return errors


def _member_errors(body: dict, items: object, *, write: bool) -> list[str]:
    """Coral's constraint violations of the top-level members, in its order."""
    errors = token_and_capacity_errors(body if write else {k: v for k, v in body.items()
                                                           if k != "ClientRequestToken"})
    if write:
        ricm = body.get("ReturnItemCollectionMetrics", "NONE")
        if ricm not in ("SIZE", "NONE"):
            errors.append(constraint_error(ricm, "returnItemCollectionMetrics",
                                           "Member must satisfy enum value set: [SIZE, NONE]"))
    if items is None:
        errors.append(constraint_error(None, "transactItems", "Member must not be null"))
    elif isinstance(items, list) and not items:
        errors.append(constraint_error(items, "transactItems", "Member must have length greater than or equal to 1"))
    elif isinstance(items, list) and len(items) > MAX_ACTIONS:
        errors.append(f"Value at 'TransactItems' failed to satisfy constraint: Member must have length less than "
                      f"or equal to {MAX_ACTIONS}")
    return errors


def _located(exc: ValidationException, path: str) -> ValidationException:
    """An action's constraint message with its place in TransactItems, as Coral names it."""
    msg = exc.message or ""
    if " validation error" not in msg.split(":", 1)[0]:
        return exc
    return ValidationException(msg.replace(" at '", f" at '{path}"))


def _parse_write(i: int, element: object) -> Action:
    if type(element) is not dict:
        raise struct_error(element, "TransactWriteItem")
    present = [k for k in WRITE_KINDS if element.get(k) is not None]
    if len(present) != 1:
        raise ValidationException(ONE_ACTION)
    kind = present[0]
    spec = element[kind]
    if type(spec) is not dict:
        raise struct_error(spec, kind)
    path = f"transactItems.{i}.member.{kind[0].lower()}{kind[1:]}."
    try:
        if kind == "Put":
            req = parse_put_item(spec)
        elif kind == "Delete":
            req = parse_delete_item(spec)
        elif kind == "Update":
            if spec.get("UpdateExpression") is None:
                raise ValidationException(UPDATE_REQUIRED)
            req = parse_update_item(spec)
        else:
            if spec.get("ConditionExpression") is None:
                raise ValidationException(CONDITION_REQUIRED)
            req = parse_delete_item(spec)  # a key and a condition: the shape of a DeleteItem
    except ValidationException as exc:
        raise _located(exc, path) from None
    return Action(kind, req)


def fingerprint(body: dict) -> str:
    """What a repeated ClientRequestToken must match: every parameter but the token."""
    rest = {k: v for k, v in body.items() if k != "ClientRequestToken"}
    return hashlib.sha256(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_transact_write(body: dict) -> WriteTransaction:
    """A TransactWriteItems request, checked on its own (before any table is known)."""
    items = body.get("TransactItems")
    errors = _member_errors(body, items, write=True)
    if errors:
        raise constraint_failure(errors)
    actions = [_parse_write(i, element) for i, element in enumerate(items, 1)]
    tables = list(dict.fromkeys(a.req.table_name for a in actions))
    return WriteTransaction(actions, body.get("ClientRequestToken"), fingerprint(body),
                            body.get("ReturnConsumedCapacity", "NONE"), body.get("ReturnItemCollectionMetrics",
                                                                                   "NONE"), tables)


def parse_transact_get(body: dict) -> list[Action]:
    """A TransactGetItems request's Gets, checked on their own."""
    items = body.get("TransactItems")
    errors = _member_errors(body, items, write=False)
    if errors:
        raise constraint_failure(errors)
    actions: list[Action] = []
    for i, element in enumerate(items, 1):
        if type(element) is not dict:
            raise struct_error(element, "TransactGetItem")
        spec = element.get("Get")
        if spec is None:
            raise constraint_failure([constraint_error(None, f"transactItems.{i}.member.get",
                                                       "Member must not be null")])
        if type(spec) is not dict:
            raise struct_error(spec, "Get")
        try:
            actions.append(Action("Get", parse_get_item(spec)))
        except ValidationException as exc:
            raise _located(exc, f"transactItems.{i}.member.get.") from None
    return actions


def _empty_key(exc: ValidationException, schema: KeySchema) -> bool:
    return any(exc.message in (EMPTY_STRING_KEY.format(n), EMPTY_BINARY_KEY.format(n)) for n in schema.names)


def bind(action: Action, schema: KeySchema, indexes: list[Index] = ()) -> None:
    """Check an action against its table: an empty key value is refused at once
    (ValidationException); anything else that does not fit the table becomes
    the action's ``error``, a ValidationError cancellation reason."""
    try:
        action.key = action.req.bind(schema)
        if action.kind == "Put":
            check_index_keys(list(indexes), action.req.item)
    except ValidationException as exc:
        if _empty_key(exc, schema):
            raise
        action.error = exc


def check_bound(actions: list[Action], schemas: dict[str, KeySchema]) -> None:
    """After every action is bound: no item twice, and at most 4 MB of items."""
    seen: set[tuple[str, bytes]] = set()
    total = 0
    for a in actions:
        if a.key is None:
            continue
        ident = (a.req.table_name, encode_key(schemas[a.req.table_name], a.key))
        if ident in seen:
            raise ValidationException(MULTIPLE_OPERATIONS)
        seen.add(ident)
        total += item_size(a.req.item if a.req.item is not None else a.key)
    if total > MAX_BYTES:
        raise ValidationException(TOO_LARGE)


def reason(exc: BaseException | None) -> CancellationReason:
    """The cancellation reason of one action: None when it succeeded, else the
    code of what a single-item call would have raised, with its message (and
    the item a failed condition returns with ALL_OLD)."""
    if exc is None:
        return CancellationReason("None")
    if not isinstance(exc, DynamoDBError) or exc.code not in REASON_CODES:
        raise ValueError(f"no cancellation reason for {exc!r}")
    return CancellationReason(REASON_CODES[exc.code], exc.message, getattr(exc, "item", None))


def has_reason(exc: BaseException) -> bool:
    """Whether an action's failure is a cancellation reason (else the call fails with it)."""
    return isinstance(exc, DynamoDBError) and exc.code in REASON_CODES


def cancelled(outcomes: list[BaseException | None]) -> TransactionCanceledException:
    """TransactionCanceledException with one reason per action, in request order."""
    return TransactionCanceledException([reason(o) for o in outcomes])


def transaction_id(token: str | None, random_id: str) -> str:
    """The record id: from the ClientRequestToken (so a retry finds it), else random."""
    if token is None:
        return f"rnd-{random_id}"
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()
