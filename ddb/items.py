"""Item requests (PutItem, GetItem, DeleteItem, UpdateItem): validation in
DynamoDB's order, and the evaluation the partition leader runs.

Validation has two phases, as DynamoDB's: `parse_*` checks the request on
its own; `bind(schema)` checks it against the table's key schema once the
table is known (so a missing table wins over a bad key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ddb import legacy
from ddb.errors import ConditionalCheckFailedException, ValidationException, constraint_failure
from ddb.expressions import (apply_update, evaluate, parse_condition, parse_projection, parse_update,
                             request_context, updated_attributes, updated_paths)
from ddb.keys import KeySchema, extract_key, table_name_errors, validate_key
from ddb.serialization import boolean_error
from ddb.size import MAX_ITEM_SIZE, UPDATE_TOO_LARGE, check_item_size, check_size
from ddb.values import EMPTY_NAME, check_name_size, check_nesting, validate_item, validate_sized_item

RETURN_VALUES = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")


@dataclass
class WriteOutcome:
    new_item: dict | None
    returned: dict | None


@dataclass
class ItemRequest:
    table_name: str
    key: dict | None = None
    item: dict | None = None
    condition: dict | None = None
    update: dict | None = None
    projection: list | None = None
    return_values: str = "NONE"
    return_on_failure: str = "NONE"
    consistent_read: bool = False
    key_names: tuple[str, ...] = field(default_factory=tuple)
    item_size: int = 0  # of `item` (ddb.size), counted while it was validated

    def bind(self, schema: KeySchema) -> dict:
        """The item's key, checked against the table's schema."""
        names = self.key_names = schema.names
        for path in updated_paths(self.update) if self.update else ():
            if path[0] in names:
                raise ValidationException(f"One or more parameter values were invalid: Cannot update attribute "
                                          f"{path[0]}. This attribute is part of the key")
        if self.item is not None:
            key = extract_key(schema, self.item)
            check_size(self.item_size)
        else:
            key = validate_key(schema, self.key)
        return key


_PUT_LEGACY = ("Expected", "ConditionalOperator")
_UPDATE_LEGACY = ("AttributeUpdates", "Expected", "ConditionalOperator")


def _common(body: dict, errors: list[str], allowed_rv: tuple[str, ...],
            legacy_params: tuple[str, ...] = _PUT_LEGACY) -> ItemRequest:
    errors += table_name_errors(body.get("TableName"))
    rv = body.get("ReturnValues", "NONE")
    if rv not in RETURN_VALUES:
        errors.append(f"Value '{rv}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum "
                      "value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]")
    rvf = body.get("ReturnValuesOnConditionCheckFailure", "NONE")
    if rvf not in ("NONE", "ALL_OLD"):
        errors.append(f"Value '{rvf}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: "
                      "Member must satisfy enum value set: [ALL_OLD, NONE]")
    ricm = body.get("ReturnItemCollectionMetrics", "NONE")
    if ricm not in ("NONE", "SIZE"):
        errors.append(f"Value '{ricm}' at 'returnItemCollectionMetrics' failed to satisfy constraint: "
                      "Member must satisfy enum value set: [SIZE, NONE]")
    errors += legacy.constraint_errors(body, legacy_params)
    if errors:
        raise constraint_failure(errors)
    if rv not in allowed_rv:
        raise ValidationException("ReturnValues can only be ALL_OLD or NONE" if allowed_rv == ("NONE", "ALL_OLD")
                                  else f"ReturnValues {rv} is not valid here")
    return ItemRequest(body["TableName"], return_values=rv, return_on_failure=rvf)


def parse_put_item(body: dict) -> ItemRequest:
    errors: list[str] = []
    if body.get("Item") is None:
        errors.append("Value null at 'item' failed to satisfy constraint: Member must not be null")
    req = _common(body, errors, ("NONE", "ALL_OLD"))
    legacy.check_params(body, _PUT_LEGACY, ("ConditionExpression",), "Expected")
    req.item, req.item_size = validate_sized_item(body["Item"])
    ctx = request_context(body, "ConditionExpression" in body)
    if "ConditionExpression" in body:
        req.condition = parse_condition(body["ConditionExpression"], ctx)
    else:
        req.condition = legacy.expected(body)
    ctx.check_unused()
    return req


def parse_delete_item(body: dict) -> ItemRequest:
    errors: list[str] = []
    if body.get("Key") is None:
        errors.append("Value null at 'key' failed to satisfy constraint: Member must not be null")
    req = _common(body, errors, ("NONE", "ALL_OLD"))
    legacy.check_params(body, _PUT_LEGACY, ("ConditionExpression",), "Expected")
    req.key = validate_item(body["Key"])
    ctx = request_context(body, "ConditionExpression" in body)
    if "ConditionExpression" in body:
        req.condition = parse_condition(body["ConditionExpression"], ctx)
    else:
        req.condition = legacy.expected(body)
    ctx.check_unused()
    return req


# A GetItem of only these members (most are: YCSB's, an SDK's get by key) has
# no legacy parameters, placeholders or projection to check.
_GET_PLAIN = frozenset(("TableName", "Key", "ConsistentRead", "ReturnConsumedCapacity"))


def parse_get_item(body: dict) -> ItemRequest:
    errors: list[str] = []
    if body.get("Key") is None:
        errors.append("Value null at 'key' failed to satisfy constraint: Member must not be null")
    errors += table_name_errors(body.get("TableName"))
    cr = body.get("ConsistentRead", False)
    plain = body.keys() <= _GET_PLAIN
    if not plain:
        errors += legacy.constraint_errors(body, ("AttributesToGet",))
    if errors:
        raise constraint_failure(errors)
    if not isinstance(cr, bool):
        raise boolean_error(cr)
    req = ItemRequest(body["TableName"], consistent_read=cr)
    if plain:
        req.key = validate_item(body["Key"])
        return req
    legacy.check_params(body, ("AttributesToGet",), ("ProjectionExpression",))
    req.key = validate_item(body["Key"])
    ctx = request_context(body, "ProjectionExpression" in body)
    if "ProjectionExpression" in body:
        req.projection = parse_projection(body["ProjectionExpression"], ctx)
    else:
        req.projection = legacy.attributes_to_get(body.get("AttributesToGet"))
    if body.get("ExpressionAttributeValues") is not None:
        raise ValidationException("ExpressionAttributeValues can only be specified when using expressions: "
                                  "ProjectionExpression does not use values")
    ctx.check_unused()
    return req


def parse_update_item(body: dict) -> ItemRequest:
    errors: list[str] = []
    if body.get("Key") is None:
        errors.append("Value null at 'key' failed to satisfy constraint: Member must not be null")
    req = _common(body, errors, RETURN_VALUES, _UPDATE_LEGACY)
    legacy.check_params(body, _UPDATE_LEGACY, ("UpdateExpression", "ConditionExpression"), "Expected")
    req.key = validate_item(body["Key"])
    has = "UpdateExpression" in body or "ConditionExpression" in body
    ctx = request_context(body, has)
    if "UpdateExpression" in body:
        req.update = parse_update(body["UpdateExpression"], ctx)
    else:
        req.update = legacy.attribute_updates(body.get("AttributeUpdates"))
        for name in body.get("AttributeUpdates") or ():  # names it would store, as PutItem's
            if not name:
                raise ValidationException(EMPTY_NAME)
            check_name_size(name)
    if "ConditionExpression" in body:
        req.condition = parse_condition(body["ConditionExpression"], ctx)
    else:
        req.condition = legacy.expected(body)
    ctx.check_unused()
    return req


# --- evaluation on the partition leader ------------------------------------------


def _check(old: dict | None, condition: dict | None, return_old_on_failure: bool) -> None:
    if condition is not None and not evaluate(condition, old):
        raise ConditionalCheckFailedException(item=old if return_old_on_failure and old is not None else None)


def evaluate_put(old: dict | None, item: dict, condition: dict | None = None, return_values: str = "NONE",
                 return_old_on_failure: bool = False) -> WriteOutcome:
    _check(old, condition, return_old_on_failure)
    return WriteOutcome(item, old if return_values == "ALL_OLD" and old else None)


def evaluate_delete(old: dict | None, condition: dict | None = None, return_values: str = "NONE",
                    return_old_on_failure: bool = False) -> WriteOutcome:
    _check(old, condition, return_old_on_failure)
    return WriteOutcome(None, old if return_values == "ALL_OLD" and old else None)


def plain_sets(update: dict, key_names: tuple[str, ...] = ()) -> list[tuple[str, dict]] | None:
    """The (attribute, value) pairs of an update that only SETs top-level
    attributes, none a key attribute, to values the request gives, none a
    map or list (YCSB's and most updates' shape), or None. Such an update
    resolves no document path and nests nothing deeper: the new item is the
    old one with those values."""
    sets = update.get("set")
    if not sets or len(update) != (2 if "legacy" in update else 1):
        return None
    out = []
    for path, expr in sets:
        value = expr.get("value") if len(path) == 1 else None
        if value is None or "M" in value or "L" in value or path[0] in key_names:
            return None
        out.append((path[0], value))
    return out


def evaluate_update(old: dict | None, key: dict, update: dict, key_names: tuple[str, ...] = (),
                    condition: dict | None = None, return_values: str = "NONE",
                    return_old_on_failure: bool = False, size_bound: int | None = None) -> WriteOutcome:
    """The item ``update`` makes of ``old`` (``key``: the item's key, the start
    of an item it creates: read only when ``old`` is None), refused if it
    would change a key attribute.

    ``size_bound``: an upper bound of ``old``'s (else ``key``'s) size plus
    ``update``'s values' and names' (their JSON's lengths: DynamoDB JSON spells
    every name and value, and more). When it is within the 400 KB limit, an
    update of `plain_sets` cannot exceed it, and the new item is not measured."""
    _check(old, condition, return_old_on_failure)
    sets = plain_sets(update, key_names)
    if sets is not None:
        new = dict(old if old is not None else key)
        for name, value in sets:
            new[name] = value
        if size_bound is None or size_bound > MAX_ITEM_SIZE:
            check_item_size(new, message=UPDATE_TOO_LARGE)
        return WriteOutcome(new, _update_returns(old, new, update, return_values))
    if old is None and update and not update.get("set") and not update.get("add"):
        # Only removals on an item that does not exist: DynamoDB creates nothing.
        return WriteOutcome(None, None)
    base = old if old is not None else dict(key)
    new = apply_update(update, base, key_names)
    check_nesting(new, {path[0] for path in updated_paths(update)})
    check_item_size(new, message=UPDATE_TOO_LARGE)
    return WriteOutcome(new, _update_returns(old, new, update, return_values))


def _update_returns(old: dict | None, new: dict, update: dict, return_values: str) -> dict | None:
    """What an update's ReturnValues answer."""
    if return_values == "ALL_OLD":
        return old or None
    if return_values == "ALL_NEW":
        return new
    if return_values in ("UPDATED_OLD", "UPDATED_NEW"):
        return updated_attributes(update, (old or {}) if return_values == "UPDATED_OLD" else new) or None
    return None
