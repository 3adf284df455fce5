"""Key schemas, key extraction and key validation, with DynamoDB's messages.

Messages come from dynalite's suite as run against DynamoDB
(architect/dynalite validations/createTable.js, db/index.js, test/createTable.js,
test/putItem.js) and from user reports of the current service for empty key
values (the 2020 empty-string change). DynamoDB really writes "limit of2048".

CreateTable validation happens in two phases, as in Coral: constraint checks on
the shapes (aggregated as "N validation errors detected: ...", exposed as a list
so a request handler can merge them with its other parameters' violations), then
the semantic checks, which stop at the first failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ddb.binary import b64_length
from ddb.errors import ValidationException, constraint_error, constraint_failure
from ddb.serialization import list_error, map_error, string_error, struct_error
from ddb.size import utf8_length
from ddb.values import KEY_TYPES

MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024
MAX_KEY_NAME_BYTES = 255

NOT_MATCH = "The provided key element does not match the schema"
MISSING_KEY = "One or more parameter values were invalid: Missing the key {} in the item"
TYPE_MISMATCH = (
    "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}"
)
EMPTY_STRING_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute "
    "cannot contain an empty string value. Key: {}"
)
EMPTY_BINARY_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute "
    "cannot contain an empty binary value. Key: {}"
)
HASH_KEY_TOO_BIG = (
    "One or more parameter values were invalid: "
    "Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
RANGE_KEY_TOO_BIG = (
    "One or more parameter values were invalid: "
    "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)
DUPLICATE_DEFINITION = "Cannot have two attributes with the same name"
NO_DEFINITION_PAIR = "Invalid KeySchema: Some index key attribute have no definition"
NO_DEFINITION_SINGLE = (
    "One or more parameter values were invalid: Some index key attributes are not defined in "
    "AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]"
)
SAME_NAME = "Both the Hash Key and the Range Key element in the KeySchema have the same name"
FIRST_NOT_HASH = "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
SECOND_NOT_RANGE = "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
COUNT_MISMATCH = (
    "One or more parameter values were invalid: Number of attributes in KeySchema does not "
    "exactly match number of attributes defined in AttributeDefinitions"
)

TABLE_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
_TABLE_NAME = re.compile(TABLE_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class AttributeDefinition:
    """One entry of AttributeDefinitions: a key attribute's name and scalar type."""

    name: str
    type: str  # "S", "N" or "B"

    def to_wire(self) -> dict[str, str]:
        return {"AttributeName": self.name, "AttributeType": self.type}


@dataclass(frozen=True, slots=True)
class KeySchema:
    """A table's (or index's) primary key: a partition key and optional sort key."""

    hash_key: str
    hash_type: str
    range_key: str | None = None
    range_type: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    def key_schema_wire(self) -> list[dict[str, str]]:
        """The KeySchema list as DescribeTable returns it."""
        out = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        if self.range_key is not None:
            out.append({"AttributeName": self.range_key, "KeyType": "RANGE"})
        return out

    def attribute_definitions(self) -> list[AttributeDefinition]:
        out = [AttributeDefinition(self.hash_key, self.hash_type)]
        if self.range_key is not None and self.range_type is not None:
            out.append(AttributeDefinition(self.range_key, self.range_type))
        return out

    @classmethod
    def from_wire(
        cls,
        key_schema: Any,
        attribute_definitions: Any,
        *,
        has_indexes: bool = False,
    ) -> KeySchema:
        """Build from CreateTable's ``KeySchema`` and ``AttributeDefinitions``.

        Raises DynamoDB's Serialization/ValidationException. With ``has_indexes``
        the "every definition is a table key" rule is left to the index checks,
        since index keys may use the other definitions.
        """
        errors = key_schema_constraint_errors(key_schema, attribute_definitions)
        if errors:
            raise constraint_failure(errors)
        definitions = definitions_by_name(attribute_definitions)
        return schema_from_elements(key_schema, definitions, has_indexes=has_indexes)


def _check_shapes(elements: Any, name: str, members: tuple[str, str]) -> None:
    if elements is None:
        return
    if type(elements) is not list:
        raise list_error(elements)
    for element in elements:
        if type(element) is not dict:
            raise struct_error(element, name)
        for member in members:
            value = element.get(member)
            if value is not None and type(value) is not str:
                raise string_error(value)


def key_schema_constraint_errors(
    key_schema: Any, attribute_definitions: Any, *, prefix: str = ""
) -> list[str]:
    """Coral's constraint violations for KeySchema/AttributeDefinitions, in its order.

    Raises SerializationException for JSON of the wrong shape. ``prefix`` places
    the paths, e.g. ``"globalSecondaryIndexes.1.member."`` (then pass
    ``attribute_definitions=...`` only for the table itself).
    """
    _check_shapes(attribute_definitions, "AttributeDefinition", ("AttributeName", "AttributeType"))
    _check_shapes(key_schema, "KeySchemaElement", ("AttributeName", "KeyType"))
    errors: list[str] = []
    if not prefix:
        if attribute_definitions is None:
            errors.append(constraint_error(None, "attributeDefinitions", "Member must not be null"))
        else:
            for i, d in enumerate(attribute_definitions, 1):
                path = f"attributeDefinitions.{i}.member."
                errors += key_name_errors(d.get("AttributeName"), path + "attributeName")
                kind = d.get("AttributeType")
                if kind is None:
                    errors.append(constraint_error(None, path + "attributeType", "Member must not be null"))
                elif kind not in KEY_TYPES:
                    errors.append(
                        constraint_error(
                            kind, path + "attributeType", "Member must satisfy enum value set: [B, N, S]"
                        )
                    )
    path = prefix + "keySchema"
    if key_schema is None:
        errors.append(constraint_error(None, path, "Member must not be null"))
        return errors
    if not key_schema:
        errors.append(constraint_error(key_schema, path, "Member must have length greater than or equal to 1"))
    elif len(key_schema) > 2:
        errors.append(constraint_error(key_schema, path, "Member must have length less than or equal to 2"))
    for i, element in enumerate(key_schema, 1):
        member = f"{path}.{i}.member."
        errors += key_name_errors(element.get("AttributeName"), member + "attributeName")
        key_type = element.get("KeyType")
        if key_type is None:
            errors.append(constraint_error(None, member + "keyType", "Member must not be null"))
        elif key_type not in ("HASH", "RANGE"):
            errors.append(
                constraint_error(key_type, member + "keyType", "Member must satisfy enum value set: [HASH, RANGE]")
            )
    return errors


def key_name_errors(name: str | None, path: str) -> list[str]:
    """Coral's violations for a key attribute name (1 to 255 bytes) at `path`."""
    if name is None:
        return [constraint_error(None, path, "Member must not be null")]
    if not name:
        return [constraint_error(name, path, "Member must have length greater than or equal to 1")]
    if utf8_length(name) > MAX_KEY_NAME_BYTES:
        return [constraint_error(name, path, "Member must have length less than or equal to 255")]
    return []


def definitions_by_name(attribute_definitions: list[dict[str, str]]) -> dict[str, str]:
    """Map attribute name to type; DynamoDB refuses a name defined twice."""
    out: dict[str, str] = {}
    for d in attribute_definitions:
        name = d["AttributeName"]
        if name in out:
            raise ValidationException(DUPLICATE_DEFINITION)
        out[name] = d["AttributeType"]
    return out


def schema_from_elements(
    key_schema: list[dict[str, str]],
    definitions: dict[str, str],
    *,
    has_indexes: bool = False,
) -> KeySchema:
    """The semantic checks of a constraint-clean KeySchema, in DynamoDB's order."""
    names = [e["AttributeName"] for e in key_schema]
    if len(names) == 2:
        if any(n not in definitions for n in names) or (names[0] == names[1] and len(definitions) == 1):
            raise ValidationException(NO_DEFINITION_PAIR)
    elif names[0] not in definitions:
        raise ValidationException(
            NO_DEFINITION_SINGLE.format(", ".join(names), ", ".join(definitions))
        )
    if len(names) == 2 and names[0] == names[1]:
        raise ValidationException(SAME_NAME)
    if key_schema[0]["KeyType"] != "HASH":
        raise ValidationException(FIRST_NOT_HASH)
    if len(names) == 2 and key_schema[1]["KeyType"] != "RANGE":
        raise ValidationException(SECOND_NOT_RANGE)
    if not has_indexes and len(names) != len(definitions):
        raise ValidationException(COUNT_MISMATCH)
    if len(names) == 1:
        return KeySchema(names[0], definitions[names[0]])
    return KeySchema(names[0], definitions[names[0]], names[1], definitions[names[1]])


# ---------------------------------------------------------------- keys of items


def _check_piece(name: str, kind: str, value: Any, is_hash: bool) -> None:
    if kind == "S":
        if not value:
            raise ValidationException(EMPTY_STRING_KEY.format(name))
        size = utf8_length(value)
    elif kind == "B":
        if not value:
            raise ValidationException(EMPTY_BINARY_KEY.format(name))
        size = b64_length(value)
    else:
        return  # numbers are at most 38 digits: always small enough
    if is_hash:
        if size > MAX_HASH_KEY_BYTES:
            raise ValidationException(HASH_KEY_TOO_BIG)
    elif size > MAX_RANGE_KEY_BYTES:
        raise ValidationException(RANGE_KEY_TOO_BIG)


def extract_key(schema: KeySchema, item: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of a (validated) item, checked as PutItem checks them."""
    key: dict[str, Any] = {}
    for name, kind, is_hash in (
        (schema.hash_key, schema.hash_type, True),
        (schema.range_key, schema.range_type, False),
    ):
        if name is None or kind is None:
            break
        value = item.get(name)
        if value is None:
            raise ValidationException(MISSING_KEY.format(name))
        piece = value.get(kind)
        if piece is None:
            actual = next(iter(value), "")
            raise ValidationException(TYPE_MISMATCH.format(name, kind, actual))
        _check_piece(name, kind, piece, is_hash)
        key[name] = value
    return key


def validate_key(schema: KeySchema, key: Any) -> dict[str, Any]:
    """Check a ``Key`` parameter (GetItem, DeleteItem, UpdateItem, batch gets).

    Its values must already have passed ``validate_value``; returns ``key``.
    """
    if type(key) is not dict:
        raise map_error(key)
    names = schema.names
    if len(key) != len(names):
        raise ValidationException(NOT_MATCH)
    for name, kind, is_hash in (
        (schema.hash_key, schema.hash_type, True),
        (schema.range_key, schema.range_type, False),
    ):
        if name is None or kind is None:
            break
        value = key.get(name)
        if type(value) is not dict or value.get(kind) is None:
            raise ValidationException(NOT_MATCH)
        _check_piece(name, kind, value[kind], is_hash)
    return key


# ---------------------------------------------------------------- names


# Names seen valid (each request names its table: the pattern once per name).
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 4096


def table_name_errors(name: Any, param: str = "tableName") -> list[str]:
    """Coral's constraint violations for a table (or index) name."""
    if type(name) is str and name in _VALID_NAMES:
        return []
    if name is None:
        return [constraint_error(None, param, "Member must not be null")]
    if type(name) is not str:
        raise string_error(name)
    errors = []
    if not _TABLE_NAME.fullmatch(name):
        errors.append(
            constraint_error(name, param, f"Member must satisfy regular expression pattern: {TABLE_NAME_PATTERN}")
        )
    if len(name) < 3:
        errors.append(constraint_error(name, param, "Member must have length greater than or equal to 3"))
    elif len(name) > 255:
        errors.append(constraint_error(name, param, "Member must have length less than or equal to 255"))
    if not errors:
        if len(_VALID_NAMES) >= _VALID_NAMES_MAX:
            _VALID_NAMES.clear()
        _VALID_NAMES.add(name)
    return errors


def validate_table_name(name: Any, param: str = "tableName") -> str:
    """Raise DynamoDB's ValidationException for a bad table name; return the name."""
    errors = table_name_errors(name, param)
    if errors:
        raise constraint_failure(errors)
    return name
