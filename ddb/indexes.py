"""Secondary index definitions: CreateTable's checks, the key schema of each
index, what an index entry holds, and where its entries live.

A local secondary index shares its table's partitions: its entries sit in the
same partition as the base item, in a key space of their own
(:func:`index_space`), keyed ``partition key | index sort key | table sort
key`` so that one partition key's entries sort by the index key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddb.binary import b64_length
from ddb.errors import (LimitExceededException, ResourceNotFoundException, ValidationException, constraint_failure,
                        render_value)
from ddb.keys import MAX_HASH_KEY_BYTES, MAX_KEY_NAME_BYTES, MAX_RANGE_KEY_BYTES, KeySchema, key_name_errors, table_name_errors
from ddb.multikeys import MAX_KEY_PARTS, IndexKeys
from ddb.size import utf8_length

MAX_LSI = 5
MAX_GSI = 20
MAX_PROJECTED = 100  # NonKeyAttributes over all of a table's indexes
MAX_NON_KEY = 20  # NonKeyAttributes of one index (the model's constraint)
PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")
_INVALID = "One or more parameter values were invalid: "
SPACE_SHIFT = 24  # table ids stay below 2**24; index numbers go above
COLLECTION_NUMBER = 31  # the space of item collection size counters (tables with local indexes)
FENCE_NUMBER = 30  # the space where an index table's partitions keep base leaders' terms


# DynamoDB's refusals of an index key value (messages as the service sends them).
EMPTY_INDEX_KEY = ("One or more parameter values are not valid. A value specified for a secondary index key is not "
                   "supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. "
                   "IndexName: {index}, IndexKey: {name}")
INDEX_KEY_TOO_BIG = (_INVALID + "Size limit exceeded for Index Key {name} Actual Size: {size} bytes "
                     "Max Size: {limit} bytes IndexName: {index}")
INDEX_KEY_TYPE = _INVALID + "Type mismatch for Index Key {name} Expected: {kind} Actual: {actual} IndexName: {index}"


def index_key_error(index: str, name: str, kind: str, value: dict, is_hash: bool) -> str | None:
    """Why DynamoDB refuses ``value`` as key attribute ``name`` of an index (None:
    it does not): a wrong type, an empty string or binary, or more than 2,048
    (partition key) or 1,024 (sort key) bytes."""
    if kind not in value:
        return INDEX_KEY_TYPE.format(name=name, kind=kind, actual=next(iter(value), ""), index=index)
    if kind == "N":
        return None  # at most 38 digits: never empty, never too long
    size = utf8_length(value[kind]) if kind == "S" else b64_length(value[kind])
    if size == 0:
        return EMPTY_INDEX_KEY.format(kind="string" if kind == "S" else "binary", index=index, name=name)
    limit = MAX_HASH_KEY_BYTES if is_hash else MAX_RANGE_KEY_BYTES
    if size > limit:
        return INDEX_KEY_TOO_BIG.format(name=name, size=size, limit=limit, index=index)
    return None


def check_index_keys(indexes: list[Index], *items: dict) -> None:
    """Refuse items whose index key values an index cannot hold (PutItem,
    BatchWriteItem: the router sees the whole item), indexes in name order."""
    ordered = sorted(indexes, key=lambda i: i.name)
    for item in items:
        for ix in ordered:
            for name, kind, is_hash in ix.key_attributes():
                value = item.get(name)
                problem = None if value is None else index_key_error(ix.name, name, kind, value, is_hash)
                if problem is not None:
                    raise ValidationException(problem)


def index_space(table_id: int, number: int) -> int:
    """The storage key space (a table id) of index ``number`` (1-based) of a table."""
    return table_id | (number << SPACE_SHIFT)


def index_table_name(table: str, index: str) -> str:
    """The hidden table that holds a global secondary index ('#' is not allowed
    in table names, so no user table can collide)."""
    return f"{table}#{index}"


def index_table_spec(table: str, gsi: dict, table_spec: dict) -> dict:
    """The hidden table's spec: the index's keys and projection, the base
    table's key schema, and which base partitions have backfilled it. Every
    index is backfilled, even one created with its table: it becomes ACTIVE
    only once each base partition runs with it configured, so no write can
    slip past it."""
    names = {k["AttributeName"] for k in gsi["KeySchema"]}
    return {"IndexOf": table, "IndexName": gsi["IndexName"], "KeySchema": gsi["KeySchema"],
            "AttributeDefinitions": [d for d in table_spec["AttributeDefinitions"] if d["AttributeName"] in names],
            "Projection": gsi["Projection"], "BaseKeySchema": table_spec["KeySchema"],
            "BaseAttributeDefinitions": [d for d in table_spec["AttributeDefinitions"]
                                         if d["AttributeName"] in {k["AttributeName"] for k in table_spec["KeySchema"]}],
            "Backfill": True, "Backfilled": []}


def local_spaces(table_id: int) -> list[int]:
    """Every key space a table's partitions hold: items, local index entries, collection sizes."""
    return [table_id] + [index_space(table_id, n) for n in (*range(1, MAX_LSI + 1), FENCE_NUMBER, COLLECTION_NUMBER)]


@dataclass(frozen=True, slots=True)
class Index:
    """One index of a table, as the data path needs it."""

    name: str
    number: int
    schema: KeySchema  # the first partition-key and sort-key attributes
    keys: IndexKeys  # every key attribute (a global index may have several of each)
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    non_key: tuple[str, ...] = ()
    local: bool = True

    def space(self, table_id: int) -> int:
        return index_space(table_id, self.number)

    def entry(self, item: dict, table: KeySchema) -> dict | None:
        """The index entry of a base item; None when the item lacks an index key (sparse)."""
        for name in self.keys.names:
            if name not in item:
                return None
        if self.projection == "ALL":
            return item
        keep = set(table.names) | set(self.keys.names) | set(self.non_key)
        return {k: v for k, v in item.items() if k in keep}

    def key_attributes(self) -> list[tuple[str, str, bool]]:
        """(name, type, is a partition-key attribute) of each index key attribute."""
        return self.keys.attributes()

    def describe(self, table_arn: str, stats: dict[str, list[int]]) -> dict:
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.non_key:
            projection["NonKeyAttributes"] = list(self.non_key)
        count, size = stats.get(str(self.number), (0, 0))
        return {"IndexName": self.name, "KeySchema": self.keys.key_schema_wire(), "Projection": projection,
                "IndexSizeBytes": size, "ItemCount": count, "IndexArn": f"{table_arn}/index/{self.name}"}

    def projected(self, table: KeySchema) -> list[str] | None:
        """The attributes an entry keeps, sorted (the table's and the index's
        keys included); None: the whole item (projection ALL)."""
        if self.projection == "ALL":
            return None
        return sorted(set(self.non_key) | set(table.names) | set(self.keys.names))


def indexes_of(spec: dict) -> list[Index]:
    """The indexes recorded in a table's stored spec."""
    defs = {d["AttributeName"]: d["AttributeType"] for d in spec["AttributeDefinitions"]}
    out = []
    for number, lsi in enumerate(spec.get("LocalSecondaryIndexes") or [], start=1):
        out.append(_index(lsi, number, defs, local=True))
    for gsi in spec.get("GlobalSecondaryIndexes") or []:
        out.append(_index(gsi, 0, defs, local=False))
    return out


def _index(raw: dict, number: int, defs: dict[str, str], *, local: bool) -> Index:
    keys = IndexKeys.from_key_schema(raw["KeySchema"], defs)
    schema = KeySchema(*keys.hash[0], *(keys.range[0] if keys.range else ()))
    proj = raw["Projection"]
    return Index(raw["IndexName"], number, schema, keys, proj["ProjectionType"],
                 tuple(proj.get("NonKeyAttributes") or ()), local)


def check_indexes(body: dict, table: KeySchema) -> tuple[list[dict] | None, list[dict] | None]:
    """CreateTable's checks of LocalSecondaryIndexes and GlobalSecondaryIndexes,
    in DynamoDB's order; both lists as stored (None when absent)."""
    lsis, gsis = body.get("LocalSecondaryIndexes"), body.get("GlobalSecondaryIndexes")
    errors: list[str] = []
    for param, indexes in (("localSecondaryIndexes", lsis), ("globalSecondaryIndexes", gsis)):
        if indexes is not None and type(indexes) is not list:
            errors.append(f"Value at '{param}' failed to satisfy constraint: Member must be a list")
        for i, index in enumerate(indexes if type(indexes) is list else [], start=1):
            errors += _shape_errors(index, f"{param}.{i}.member", global_=param.startswith("global"))
    if errors:
        raise constraint_failure(errors)
    defs = [d["AttributeName"] for d in body["AttributeDefinitions"]]
    seen: set[str] = set()
    projected = 0
    if lsis is not None:
        if not lsis:
            raise ValidationException(f"{_INVALID}List of LocalSecondaryIndexes is empty")
        if table.range_key is None:
            raise ValidationException(f"{_INVALID}Table KeySchema does not have a range key, which is required "
                                      "when specifying a LocalSecondaryIndex")
        for lsi in lsis:
            _check_keys(lsi, defs)
            names = [k["AttributeName"] for k in lsi["KeySchema"]]
            if len(names) != 2:
                raise ValidationException(f"{_INVALID}Index KeySchema does not have a range key for index: "
                                          f"{lsi['IndexName']}")
            if names[0] != table.hash_key:
                raise ValidationException(f"{_INVALID}Index KeySchema does not have the same leading hash key as "
                                          f"table KeySchema for index: {lsi['IndexName']}. index hash key: "
                                          f"{names[0]}, table hash key: {table.hash_key}")
            projected += _check_projection(lsi)
            _check_unique(lsi, seen)
        if len(lsis) > MAX_LSI:
            raise ValidationException(f"{_INVALID}Number of LocalSecondaryIndexes exceeds per-table limit of "
                                      f"{MAX_LSI}")
    if gsis is not None:
        if not gsis:
            raise ValidationException(f"{_INVALID}List of GlobalSecondaryIndexes is empty")
        for gsi in gsis:
            _check_global_keys(gsi, defs)
            projected += _check_projection(gsi)
            _check_unique(gsi, seen)
            _check_index_throughput(gsi, body.get("BillingMode") or "PROVISIONED")
        if len(gsis) > MAX_GSI:
            raise ValidationException(f"{_INVALID}GlobalSecondaryIndex count exceeds the per-table limit of "
                                      f"{MAX_GSI}")
    if projected > MAX_PROJECTED:
        raise ValidationException(f"{_INVALID}The number of attributes in key schema and projection of all indexes "
                                  f"exceeds the limit of {MAX_PROJECTED}")
    used = set(table.names) | {k["AttributeName"] for ix in (lsis or []) + (gsis or []) for k in ix["KeySchema"]}
    if set(defs) - used:
        raise ValidationException(f"{_INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: "
                                  f"[{', '.join(defs)}], keys used: [{', '.join(sorted(used))}]")
    return _stored(lsis), _stored(gsis)


def with_index_throughput(spec: dict, update: dict) -> dict:
    """The spec with one global index's ProvisionedThroughput replaced."""
    gsis = [dict(g, ProvisionedThroughput=update["ProvisionedThroughput"]) if g["IndexName"] == update["IndexName"]
            else g for g in spec.get("GlobalSecondaryIndexes") or []]
    return {**spec, "GlobalSecondaryIndexes": gsis}


def without_index(spec: dict, name: str) -> dict:
    """The spec without one global index, and without definitions no key uses any more."""
    gsis = [g for g in spec.get("GlobalSecondaryIndexes") or [] if g["IndexName"] != name]
    used = {k["AttributeName"] for ix in [*gsis, *(spec.get("LocalSecondaryIndexes") or [])]
            for k in ix["KeySchema"]} | {k["AttributeName"] for k in spec["KeySchema"]}
    return {**spec, "GlobalSecondaryIndexes": gsis or None,
            "AttributeDefinitions": [d for d in spec["AttributeDefinitions"] if d["AttributeName"] in used]}


def _stored(indexes: list[dict] | None) -> list[dict] | None:
    if indexes is None:
        return None
    return [{k: ix[k] for k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput") if k in ix}
            for ix in indexes]


def _check_keys(index: dict, defs: list[str]) -> None:
    keys = index["KeySchema"]
    names = [k["AttributeName"] for k in keys]
    if any(n not in defs for n in names):
        raise ValidationException(f"{_INVALID}Some index key attributes are not defined in AttributeDefinitions. "
                                  f"Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(defs)}]")
    if len(names) == 2 and names[0] == names[1]:
        raise ValidationException("Both the Hash Key and the Range Key element in the KeySchema have the same name")
    if keys[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(keys) == 2 and keys[1]["KeyType"] != "RANGE":
        raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")


def _check_global_keys(index: dict, defs: list[str]) -> None:
    """A global index's KeySchema: a classic one (one HASH, an optional RANGE),
    or multi-attribute keys: up to four HASH attributes, then up to four RANGE."""
    keys = index["KeySchema"]
    kinds = [k["KeyType"] for k in keys]
    if len(keys) == 1 or (len(keys) == 2 and kinds != ["HASH", "HASH"]):
        return _check_keys(index, defs)
    names = [k["AttributeName"] for k in keys]
    if any(n not in defs for n in names):
        raise ValidationException(f"{_INVALID}Some index key attributes are not defined in AttributeDefinitions. "
                                  f"Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(defs)}]")
    duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if duplicate is not None:
        raise ValidationException(f"{_INVALID}Duplicate key attribute name in KeySchema: {duplicate}")
    if kinds[0] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if "RANGE" in kinds and "HASH" in kinds[kinds.index("RANGE"):]:
        raise ValidationException("Invalid KeySchema: All HASH key attributes must precede RANGE key attributes "
                                  "in the KeySchema")
    for kind in ("HASH", "RANGE"):
        if kinds.count(kind) > MAX_KEY_PARTS:
            raise ValidationException(f"Invalid KeySchema: The KeySchema exceeds the maximum allowed number of "
                                      f"{kind} key attributes")
    return None


def _check_unique(index: dict, seen: set[str]) -> None:
    if index["IndexName"] in seen:
        raise ValidationException(f"{_INVALID}Duplicate index name: {index['IndexName']}")
    seen.add(index["IndexName"])


def _check_index_throughput(index: dict, billing: str) -> None:
    pt = index.get("ProvisionedThroughput")
    if billing == "PAY_PER_REQUEST" and pt is not None:
        raise ValidationException(f"{_INVALID}ProvisionedThroughput should not be specified for index: "
                                  f"{index['IndexName']} when BillingMode is PAY_PER_REQUEST")
    if billing == "PROVISIONED" and pt is None:
        raise ValidationException(f"{_INVALID}ProvisionedThroughput is not specified for index: "
                                  f"{index['IndexName']}")


def parse_index_updates(body: dict, spec: dict) -> tuple[str, dict] | None:
    """UpdateTable's GlobalSecondaryIndexUpdates: ``("create", index)``,
    ``("delete", {"IndexName": ...})`` or ``("update", ...)``; None when absent.
    ``spec`` (the table's stored spec) gains the new attribute definitions."""
    updates = body.get("GlobalSecondaryIndexUpdates")
    if updates is None:
        return None
    if type(updates) is not list or not updates:
        raise ValidationException(f"{_INVALID}GlobalSecondaryIndexUpdates must not be empty")
    online = [u for u in updates if type(u) is dict and ("Create" in u or "Delete" in u)]
    if len(online) > 1:
        raise LimitExceededException("Subscriber limit exceeded: Only 1 online index can be created or deleted "
                                     "simultaneously per table")
    update = updates[0]
    if type(update) is not dict or len(update) != 1:
        raise ValidationException(f"{_INVALID}One of Create, Update or Delete must be given in each "
                                  "GlobalSecondaryIndexUpdate")
    (action, detail), = update.items()
    existing = {ix["IndexName"]: ix for ix in (spec.get("GlobalSecondaryIndexes") or [])}
    lsis = {ix["IndexName"] for ix in (spec.get("LocalSecondaryIndexes") or [])}
    name = detail.get("IndexName") if type(detail) is dict else None
    if action == "Delete":
        if name not in existing:
            raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
        return "delete", {"IndexName": name}
    if action == "Update":
        if name not in existing:
            raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
        return "update", {"IndexName": name, "ProvisionedThroughput": detail.get("ProvisionedThroughput")}
    if action != "Create":
        raise ValidationException(f"{_INVALID}Unknown GlobalSecondaryIndexUpdate action: {action}")
    errors = [e for i, d in enumerate(body.get("AttributeDefinitions") or [], 1) if type(d) is dict
              for e in key_name_errors(d.get("AttributeName"), f"attributeDefinitions.{i}.member.attributeName")]
    errors += _shape_errors(detail, "globalSecondaryIndexUpdates.1.member.create", global_=True)
    if errors:
        raise constraint_failure(errors)
    if name in existing or name in lsis:
        raise ValidationException(f"{_INVALID}Attempting to create an index which already exists")
    if len(existing) >= MAX_GSI:
        raise LimitExceededException(f"{_INVALID}GlobalSecondaryIndex count exceeds the per-table limit of "
                                     f"{MAX_GSI}")
    defs = {d["AttributeName"]: d["AttributeType"] for d in spec["AttributeDefinitions"]}
    for d in body.get("AttributeDefinitions") or []:
        if type(d) is dict and d.get("AttributeName") in defs and defs[d["AttributeName"]] != d.get("AttributeType"):
            raise ValidationException(f"{_INVALID}Cannot change the type of attribute {d['AttributeName']}")
        if type(d) is dict and d.get("AttributeType") in ("S", "N", "B") and isinstance(d.get("AttributeName"), str):
            defs[d["AttributeName"]] = d["AttributeType"]
    _check_global_keys(detail, list(defs))
    _check_projection(detail)
    _check_index_throughput(detail, spec.get("BillingMode") or "PROVISIONED")
    used = {k["AttributeName"] for ix in [*existing.values(), *(spec.get("LocalSecondaryIndexes") or []), detail]
            for k in ix["KeySchema"]} | {k["AttributeName"] for k in spec["KeySchema"]}
    spec["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": t} for n, t in defs.items() if n in used]
    (index,) = _stored([detail]) or []
    return "create", index


def _shape_errors(index: Any, path: str, *, global_: bool = False) -> list[str]:
    if type(index) is not dict:
        return [f"Value at '{path}' failed to satisfy constraint: Member must be a structure"]
    errors = table_name_errors(index.get("IndexName"), f"{path}.indexName")
    keys = index.get("KeySchema")
    most = 2 * MAX_KEY_PARTS if global_ else 2  # global indexes may have multi-attribute keys
    if keys is None:
        errors.append(f"Value null at '{path}.keySchema' failed to satisfy constraint: Member must not be null")
    elif type(keys) is not list or not 1 <= len(keys) <= most or any(
            type(k) is not dict or not isinstance(k.get("AttributeName"), str) or k.get("KeyType") not in
            ("HASH", "RANGE") for k in keys):
        errors.append(f"Value at '{path}.keySchema' failed to satisfy constraint: Member must have length between "
                      f"1 and {most}, with AttributeName and KeyType (HASH or RANGE)")
    else:
        for i, k in enumerate(keys, 1):
            errors += key_name_errors(k["AttributeName"], f"{path}.keySchema.{i}.member.attributeName")
    proj = index.get("Projection")
    if proj is None:
        errors.append(f"Value null at '{path}.projection' failed to satisfy constraint: Member must not be null")
    elif type(proj) is not dict:
        errors.append(f"Value at '{path}.projection' failed to satisfy constraint: Member must be a structure")
    else:
        if proj.get("ProjectionType") is not None and proj["ProjectionType"] not in PROJECTIONS:
            errors.append(f"Value '{proj['ProjectionType']}' at '{path}.projection.projectionType' failed to "
                          "satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]")
        errors += _non_key_errors(proj.get("NonKeyAttributes"), f"{path}.projection.nonKeyAttributes")
    return errors


def _non_key_errors(names: Any, path: str) -> list[str]:
    """Coral's constraints on NonKeyAttributes: 1 to 20 names of 1 to 255 bytes each."""
    if type(names) is not list:
        return []
    shown = render_value(names)
    if not names:
        return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length greater than "
                "or equal to 1"]
    errors = []
    if len(names) > MAX_NON_KEY:
        errors.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length less than "
                      f"or equal to {MAX_NON_KEY}")
    if any(type(n) is str and (not n or utf8_length(n) > MAX_KEY_NAME_BYTES) for n in names):
        errors.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must satisfy constraint: "
                      f"[Member must have length less than or equal to {MAX_KEY_NAME_BYTES}, Member must have length "
                      "greater than or equal to 1]")
    return errors


def _check_projection(index: dict) -> int:
    proj = index["Projection"]
    kind = proj.get("ProjectionType")
    if kind is None:
        raise ValidationException(f"{_INVALID}Unknown ProjectionType: null")
    non_key = proj.get("NonKeyAttributes")
    if non_key is not None and kind != "INCLUDE":
        raise ValidationException(f"{_INVALID}ProjectionType is {kind}, but NonKeyAttributes is specified")
    if kind == "INCLUDE" and not non_key:
        raise ValidationException(f"{_INVALID}ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    if non_key is not None and (type(non_key) is not list or any(not isinstance(a, str) for a in non_key)):
        raise ValidationException(f"{_INVALID}NonKeyAttributes must be a list of attribute names")
    return len(non_key or ())
