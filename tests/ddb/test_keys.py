"""Key schemas, key checks and table names, with DynamoDB's messages."""

from __future__ import annotations

from typing import Any

import pytest

from ddb import keys as k
from ddb.errors import SerializationException, ValidationException
from tests.ddb.strategies import b64

HASH_ONLY = k.KeySchema("id", "S")
COMPOSITE = k.KeySchema("pk", "S", "sk", "N")
BINARY = k.KeySchema("pk", "B", "sk", "B")


def defs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": t} for n, t in pairs]


def ks(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "KeyType": t} for n, t in pairs]


def rejects(message: str, key_schema: Any, attribute_definitions: Any, **kw: Any) -> None:
    with pytest.raises(ValidationException) as info:
        k.KeySchema.from_wire(key_schema, attribute_definitions, **kw)
    assert info.value.message == message


# ---------------------------------------------------------------- building schemas


def test_hash_only_schema() -> None:
    schema = k.KeySchema.from_wire(ks(("id", "HASH")), defs(("id", "S")))
    assert schema == HASH_ONLY
    assert schema.names == ("id",)
    assert schema.key_schema_wire() == ks(("id", "HASH"))
    assert [d.to_wire() for d in schema.attribute_definitions()] == defs(("id", "S"))


def test_composite_schema_in_any_definition_order() -> None:
    schema = k.KeySchema.from_wire(ks(("pk", "HASH"), ("sk", "RANGE")), defs(("sk", "N"), ("pk", "S")))
    assert schema == COMPOSITE
    assert schema.names == ("pk", "sk")
    assert schema.key_schema_wire() == ks(("pk", "HASH"), ("sk", "RANGE"))
    assert schema.attribute_definitions() == [k.AttributeDefinition("pk", "S"), k.AttributeDefinition("sk", "N")]


def test_schema_is_an_immutable_record() -> None:
    with pytest.raises(AttributeError):
        HASH_ONLY.hash_key = "x"  # type: ignore[misc]


def test_missing_definition_single_key() -> None:
    rejects(
        "One or more parameter values were invalid: Some index key attributes are not defined in "
        "AttributeDefinitions. Keys: [a], AttributeDefinitions: [b]",
        ks(("a", "HASH")), defs(("b", "S")),
    )


def test_missing_definition_pair() -> None:
    rejects("Invalid KeySchema: Some index key attribute have no definition",
            ks(("a", "HASH"), ("b", "RANGE")), defs(("b", "S")))
    # dynalite's "bizarre case": same name twice, one definition.
    rejects("Invalid KeySchema: Some index key attribute have no definition",
            ks(("a", "HASH"), ("a", "HASH")), defs(("a", "S")))


def test_same_name_twice() -> None:
    rejects("Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ks(("a", "HASH"), ("a", "HASH")), defs(("a", "S"), ("b", "S")))


def test_first_must_be_hash() -> None:
    rejects("Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
            ks(("a", "RANGE"), ("b", "HASH")), defs(("a", "S"), ("b", "S")))
    rejects("Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
            ks(("a", "RANGE")), defs(("a", "S")))


def test_second_must_be_range() -> None:
    rejects("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
            ks(("a", "HASH"), ("b", "HASH")), defs(("a", "S"), ("b", "S")))


def test_extra_definitions() -> None:
    message = (
        "One or more parameter values were invalid: Number of attributes in KeySchema does not "
        "exactly match number of attributes defined in AttributeDefinitions"
    )
    rejects(message, ks(("a", "HASH")), defs(("a", "S"), ("b", "S")))
    rejects(message, ks(("a", "HASH"), ("b", "RANGE")), defs(("a", "S"), ("c", "S"), ("b", "S")))
    # With indexes, the extra definition may belong to an index key.
    schema = k.KeySchema.from_wire(ks(("a", "HASH")), defs(("a", "S"), ("b", "S")), has_indexes=True)
    assert schema == k.KeySchema("a", "S")


def test_duplicate_definitions() -> None:
    rejects("Cannot have two attributes with the same name", ks(("a", "HASH")), defs(("a", "S"), ("a", "N")))


def test_constraint_errors_are_aggregated() -> None:
    rejects(
        "1 validation error detected: Value 'SS' at 'attributeDefinitions.1.member.attributeType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
        ks(("a", "HASH")), defs(("b", "SS")),
    )
    rejects(
        "2 validation errors detected: "
        "Value null at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: "
        "Member must not be null; "
        "Value null at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: "
        "Member must not be null",
        ks(("a", "HASH")), [{}],
    )


def test_key_schema_element_constraints() -> None:
    with pytest.raises(ValidationException) as info:
        k.KeySchema.from_wire(
            [{"KeyType": "HASH"}, {"AttributeName": "a"}, {"KeyType": "Woop", "AttributeName": "a"}],
            [],
        )
    assert info.value.message == (
        "4 validation errors detected: "
        "Value '[{KeyType: HASH}, {AttributeName: a}, {KeyType: Woop,AttributeName: a}]' at 'keySchema' "
        "failed to satisfy constraint: Member must have length less than or equal to 2; "
        "Value null at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'keySchema.2.member.keyType' failed to satisfy constraint: Member must not be null; "
        "Value 'Woop' at 'keySchema.3.member.keyType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [HASH, RANGE]"
    )


def test_null_and_empty_lists() -> None:
    rejects(
        "2 validation errors detected: "
        "Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; "
        "Value null at 'keySchema' failed to satisfy constraint: Member must not be null",
        None, None,
    )
    rejects(
        "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
        [], [],
    )


def test_key_attribute_name_length() -> None:
    rejects(
        "1 validation error detected: Value '' at 'keySchema.1.member.attributeName' failed to "
        "satisfy constraint: Member must have length greater than or equal to 1",
        ks(("", "HASH")), defs(("a", "S")),
    )
    long = "a" * 256
    with pytest.raises(ValidationException, match="Member must have length less than or equal to 255"):
        k.KeySchema.from_wire(ks((long, "HASH")), defs((long, "S")))
    ok = "a" * 255
    assert k.KeySchema.from_wire(ks((ok, "HASH")), defs((ok, "S"))).hash_key == ok
    # Counted in UTF-8 bytes: 128 two-byte characters are 256 bytes.
    wide = "\u00e9" * 128
    with pytest.raises(ValidationException, match="less than or equal to 255"):
        k.KeySchema.from_wire(ks((wide, "HASH")), defs((wide, "S")))


def test_index_key_schema_paths() -> None:
    errors = k.key_schema_constraint_errors(ks(("a", "SORT")), None, prefix="globalSecondaryIndexes.1.member.")
    assert errors == [
        "Value 'SORT' at 'globalSecondaryIndexes.1.member.keySchema.1.member.keyType' failed to "
        "satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"
    ]


def test_wrong_json_shapes() -> None:
    with pytest.raises(SerializationException, match="^Unexpected field type$"):
        k.KeySchema.from_wire("a", defs(("a", "S")))
    with pytest.raises(SerializationException, match="^Unexpected value type in payload$"):
        k.KeySchema.from_wire(["a"], defs(("a", "S")))
    with pytest.raises(SerializationException,
                       match=r"^Unrecognized collection type class com\.amazonaws\.dynamodb\.v20120810\.AttributeDefinition$"):
        k.KeySchema.from_wire(ks(("a", "HASH")), [[]])
    with pytest.raises(SerializationException, match="^NUMBER_VALUE cannot be converted to String$"):
        k.KeySchema.from_wire([{"AttributeName": 5, "KeyType": "HASH"}], defs(("a", "S")))


# ---------------------------------------------------------------- keys of items


def key_error(fn: Any, schema: k.KeySchema, value: Any, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        fn(schema, value)
    assert info.value.message == message


def test_extract_key() -> None:
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "other": {"S": "x"}}
    assert k.extract_key(COMPOSITE, item) == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert k.extract_key(HASH_ONLY, {"id": {"S": "x"}}) == {"id": {"S": "x"}}


def test_extract_key_missing() -> None:
    key_error(k.extract_key, HASH_ONLY, {},
              "One or more parameter values were invalid: Missing the key id in the item")
    key_error(k.extract_key, COMPOSITE, {"pk": {"S": "a"}},
              "One or more parameter values were invalid: Missing the key sk in the item")


def test_extract_key_type_mismatch() -> None:
    key_error(k.extract_key, HASH_ONLY, {"id": {"N": "1"}},
              "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N")
    key_error(k.extract_key, HASH_ONLY, {"id": {"SS": ["a"]}},
              "One or more parameter values were invalid: Type mismatch for key id expected: S actual: SS")
    key_error(k.extract_key, COMPOSITE, {"pk": {"S": "a"}, "sk": {"S": "1"}},
              "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S")


def test_empty_key_values() -> None:
    key_error(k.extract_key, HASH_ONLY, {"id": {"S": ""}},
              "One or more parameter values are not valid. The AttributeValue for a key attribute "
              "cannot contain an empty string value. Key: id")
    key_error(k.extract_key, BINARY, {"pk": {"B": "Yg=="}, "sk": {"B": ""}},
              "One or more parameter values are not valid. The AttributeValue for a key attribute "
              "cannot contain an empty binary value. Key: sk")
    key_error(k.validate_key, HASH_ONLY, {"id": {"S": ""}},
              "One or more parameter values are not valid. The AttributeValue for a key attribute "
              "cannot contain an empty string value. Key: id")


HASH_TOO_BIG = (
    "One or more parameter values were invalid: "
    "Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
RANGE_TOO_BIG = (
    "One or more parameter values were invalid: "
    "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)


def test_key_size_limits() -> None:
    k.extract_key(HASH_ONLY, {"id": {"S": "a" * 2048}})
    key_error(k.extract_key, HASH_ONLY, {"id": {"S": "a" * 2049}}, HASH_TOO_BIG)
    k.extract_key(BINARY, {"pk": {"B": b64(b"\x00" * 2048)}, "sk": {"B": b64(b"\xff" * 1024)}})
    key_error(k.extract_key, BINARY, {"pk": {"B": b64(b"\x00" * 2049)}, "sk": {"B": "Yg=="}}, HASH_TOO_BIG)
    key_error(k.extract_key, BINARY, {"pk": {"B": "Yg=="}, "sk": {"B": b64(b"\xff" * 1025)}}, RANGE_TOO_BIG)
    schema = k.KeySchema("pk", "S", "sk", "S")
    # UTF-8 bytes count: 512 two-byte characters fit 1024, 513 do not.
    k.extract_key(schema, {"pk": {"S": "a"}, "sk": {"S": "\u00e9" * 512}})
    key_error(k.extract_key, schema, {"pk": {"S": "a"}, "sk": {"S": "\u00e9" * 513}}, RANGE_TOO_BIG)
    key_error(k.validate_key, schema, {"pk": {"S": "\U0001f600" * 513}, "sk": {"S": "a"}}, HASH_TOO_BIG)
    # Numbers are never too big.
    k.extract_key(COMPOSITE, {"pk": {"S": "a"}, "sk": {"N": "9" * 38}})


NOT_MATCH = "The provided key element does not match the schema"


def test_validate_key() -> None:
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert k.validate_key(COMPOSITE, key) is key
    key_error(k.validate_key, COMPOSITE, {"pk": {"S": "a"}}, NOT_MATCH)
    key_error(k.validate_key, COMPOSITE, {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "b"}}, NOT_MATCH)
    key_error(k.validate_key, COMPOSITE, {"pk": {"S": "a"}, "other": {"N": "1"}}, NOT_MATCH)
    key_error(k.validate_key, COMPOSITE, {"pk": {"S": "a"}, "sk": {"S": "1"}}, NOT_MATCH)
    key_error(k.validate_key, HASH_ONLY, {"id": {"N": "1"}}, NOT_MATCH)
    key_error(k.validate_key, HASH_ONLY, {}, NOT_MATCH)
    assert k.validate_key(HASH_ONLY, {"id": {"S": "x"}}) == {"id": {"S": "x"}}
    with pytest.raises(SerializationException, match="^Unexpected field type$"):
        k.validate_key(HASH_ONLY, "x")


# ---------------------------------------------------------------- names


def name_error(name: Any, message: str, param: str = "tableName") -> None:
    with pytest.raises(ValidationException) as info:
        k.validate_table_name(name, param)
    assert info.value.message == message


def test_valid_table_names() -> None:
    for name in ["abc", "a.b-c_D9", "x" * 255, "..."]:
        assert k.validate_table_name(name) == name


def test_table_name_errors() -> None:
    pattern = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    name_error("", "2 validation errors detected: "
               f"Value '' at 'tableName' failed to satisfy constraint: {pattern}; "
               "Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3")
    name_error("a;", "2 validation errors detected: "
               f"Value 'a;' at 'tableName' failed to satisfy constraint: {pattern}; "
               "Value 'a;' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3")
    name_error("abc;", f"1 validation error detected: Value 'abc;' at 'tableName' failed to satisfy constraint: {pattern}")
    long = "a" * 256
    name_error(long, f"1 validation error detected: Value '{long}' at 'tableName' failed to satisfy "
               "constraint: Member must have length less than or equal to 255")
    name_error(None, "1 validation error detected: Value null at 'tableName' failed to satisfy "
               "constraint: Member must not be null")
    name_error("t\u00e9st", f"1 validation error detected: Value 't\u00e9st' at 'tableName' failed to "
               f"satisfy constraint: {pattern}")


def test_index_name_param() -> None:
    assert k.table_name_errors("ix", "globalSecondaryIndexes.1.member.indexName") == [
        "Value 'ix' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3"
    ]


def test_table_name_wrong_type() -> None:
    with pytest.raises(SerializationException, match="^NUMBER_VALUE cannot be converted to String$"):
        k.validate_table_name(5)
