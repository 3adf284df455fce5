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

from ddb.errors import ValidationException, constraint_failure
from ddb.keys import KeySchema, table_name_errors

MAX_LSI = 5
MAX_PROJECTED = 100  # NonKeyAttributes over all of a table's indexes
PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")
_INVALID = "One or more parameter values were invalid: "
SPACE_SHIFT = 24  # table ids stay below 2**24; index numbers go above
COLLECTION_NUMBER = 31  # the space of item collection size counters (tables with local indexes)


def index_space(table_id: int, number: int) -> int:
    """The storage key space (a table id) of index ``number`` (1-based) of a table."""
    return table_id | (number << SPACE_SHIFT)


def local_spaces(table_id: int) -> list[int]:
    """Every key space a table's partitions hold: items, local index entries, collection sizes."""
    return [table_id] + [index_space(table_id, n) for n in (*range(1, MAX_LSI + 1), COLLECTION_NUMBER)]


@dataclass(frozen=True, slots=True)
class Index:
    """One index of a table, as the data path needs it."""

    name: str
    number: int
    schema: KeySchema
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    non_key: tuple[str, ...] = ()
    local: bool = True

    def space(self, table_id: int) -> int:
        return index_space(table_id, self.number)

    def entry(self, item: dict, table: KeySchema) -> dict | None:
        """The index entry of a base item; None when the item lacks an index key (sparse)."""
        for name in self.schema.names:
            if name not in item:
                return None
        if self.projection == "ALL":
            return item
        keep = set(table.names) | set(self.schema.names) | set(self.non_key)
        return {k: v for k, v in item.items() if k in keep}

    def check_types(self, item: dict) -> None:
        """An item's index key attributes must have the index's key types."""
        for name, kind in ((self.schema.hash_key, self.schema.hash_type),
                           (self.schema.range_key, self.schema.range_type)):
            value = item.get(name) if name is not None else None
            if value is not None and kind not in value:
                raise ValidationException(
                    f"{_INVALID}Type mismatch for Index Key {name} Expected: {kind} Actual: {next(iter(value))} "
                    f"IndexName: {self.name}")

    def describe(self, table_id: int, table_arn: str) -> dict:
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.non_key:
            projection["NonKeyAttributes"] = list(self.non_key)
        return {"IndexName": self.name, "KeySchema": self.schema.key_schema_wire(), "Projection": projection,
                "IndexSizeBytes": 0, "ItemCount": 0, "IndexArn": f"{table_arn}/index/{self.name}"}

    def to_wire(self, table: KeySchema) -> list:
        """Compact form for the node (shipped with writes to tables that have
        indexes): number, key names and types, and the attributes an entry keeps
        (None: all)."""
        s = self.schema
        keep = None if self.projection == "ALL" else sorted(set(self.non_key) | set(table.names) | set(s.names))
        return [self.number, s.hash_key, s.hash_type, s.range_key, s.range_type, keep]


def indexes_of(spec: dict) -> list[Index]:
    """The indexes recorded in a table's stored spec."""
    defs = {d["AttributeName"]: d["AttributeType"] for d in spec["AttributeDefinitions"]}
    out = []
    for number, lsi in enumerate(spec.get("LocalSecondaryIndexes") or [], start=1):
        out.append(_index(lsi, number, defs, local=True))
    return out


def _index(raw: dict, number: int, defs: dict[str, str], *, local: bool) -> Index:
    names = [e["AttributeName"] for e in raw["KeySchema"]]
    schema = KeySchema(names[0], defs[names[0]], *((names[1], defs[names[1]]) if len(names) > 1 else ()))
    proj = raw["Projection"]
    return Index(raw["IndexName"], number, schema, proj["ProjectionType"],
                 tuple(proj.get("NonKeyAttributes") or ()), local)


def check_local_indexes(body: dict, table: KeySchema) -> list[dict] | None:
    """CreateTable's checks of LocalSecondaryIndexes, in DynamoDB's order; the
    list as stored (None when absent)."""
    lsis = body.get("LocalSecondaryIndexes")
    if lsis is None:
        return None
    if type(lsis) is not list:
        raise ValidationException("LocalSecondaryIndexes must be a list")
    errors: list[str] = []
    for i, lsi in enumerate(lsis, start=1):
        errors += _shape_errors(lsi, f"localSecondaryIndexes.{i}.member")
    if errors:
        raise constraint_failure(errors)
    defs = [d["AttributeName"] for d in body["AttributeDefinitions"]]
    if not lsis:
        raise ValidationException(f"{_INVALID}List of LocalSecondaryIndexes is empty")
    if table.range_key is None:
        raise ValidationException(f"{_INVALID}Table KeySchema does not have a range key, which is required when "
                                  "specifying a LocalSecondaryIndex")
    seen: set[str] = set()
    projected = 0
    for lsi in lsis:
        keys = lsi["KeySchema"]
        names = [k["AttributeName"] for k in keys]
        if any(n not in defs for n in names):
            raise ValidationException(f"{_INVALID}Some index key attributes are not defined in AttributeDefinitions. "
                                      f"Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(defs)}]")
        if len(names) == 2 and names[0] == names[1]:
            raise ValidationException("Both the Hash Key and the Range Key element in the KeySchema have the same "
                                      "name")
        if keys[0]["KeyType"] != "HASH":
            raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
        if len(keys) == 2 and keys[1]["KeyType"] != "RANGE":
            raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
        if len(keys) != 2:
            raise ValidationException(f"{_INVALID}Index KeySchema does not have a range key for index: "
                                      f"{lsi['IndexName']}")
        if names[0] != table.hash_key:
            raise ValidationException(f"{_INVALID}Index KeySchema does not have the same leading hash key as table "
                                      f"KeySchema for index: {lsi['IndexName']}. index hash key: {names[0]}, "
                                      f"table hash key: {table.hash_key}")
        projected += _check_projection(lsi)
        if lsi["IndexName"] in seen:
            raise ValidationException(f"{_INVALID}Duplicate index name: {lsi['IndexName']}")
        seen.add(lsi["IndexName"])
    if len(lsis) > MAX_LSI:
        raise ValidationException(f"{_INVALID}Number of LocalSecondaryIndexes exceeds per-table limit of {MAX_LSI}")
    if projected > MAX_PROJECTED:
        raise ValidationException(f"{_INVALID}The number of attributes in key schema and projection of all indexes "
                                  f"exceeds the limit of {MAX_PROJECTED}")
    used = set(table.names) | {k["AttributeName"] for lsi in lsis for k in lsi["KeySchema"]}
    if set(defs) - used and not body.get("GlobalSecondaryIndexes"):
        raise ValidationException(f"{_INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: "
                                  f"[{', '.join(defs)}], keys used: [{', '.join(sorted(used))}]")
    return [{"IndexName": lsi["IndexName"], "KeySchema": lsi["KeySchema"], "Projection": lsi["Projection"]}
            for lsi in lsis]


def _shape_errors(index: Any, path: str) -> list[str]:
    if type(index) is not dict:
        return [f"Value at '{path}' failed to satisfy constraint: Member must be a structure"]
    errors = table_name_errors(index.get("IndexName"), f"{path}.indexName")
    keys = index.get("KeySchema")
    if keys is None:
        errors.append(f"Value null at '{path}.keySchema' failed to satisfy constraint: Member must not be null")
    elif type(keys) is not list or not 1 <= len(keys) <= 2 or any(
            type(k) is not dict or not isinstance(k.get("AttributeName"), str) or k.get("KeyType") not in
            ("HASH", "RANGE") for k in keys):
        errors.append(f"Value at '{path}.keySchema' failed to satisfy constraint: Member must have length between "
                      "1 and 2, with AttributeName and KeyType (HASH or RANGE)")
    proj = index.get("Projection")
    if proj is None:
        errors.append(f"Value null at '{path}.projection' failed to satisfy constraint: Member must not be null")
    elif type(proj) is not dict:
        errors.append(f"Value at '{path}.projection' failed to satisfy constraint: Member must be a structure")
    elif proj.get("ProjectionType") is not None and proj["ProjectionType"] not in PROJECTIONS:
        errors.append(f"Value '{proj['ProjectionType']}' at '{path}.projection.projectionType' failed to satisfy "
                      "constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]")
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
