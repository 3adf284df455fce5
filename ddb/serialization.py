"""Coral's SerializationException messages for JSON of the wrong shape.

DynamoDB's request parser (Coral, Jackson underneath) names the JSON token it
found and the Java type it wanted, e.g. ``NUMBER_VALUE cannot be converted to
String`` for ``{"S": 5}``. The texts below are the ones dynalite's test suite
(architect/dynalite test/helpers.js ``assertType``) records from the service.
"""

from __future__ import annotations

from typing import Any

from ddb.errors import SerializationException

START_OF_MAP = "Start of structure or map found where not expected"
MODEL = "com.amazonaws.dynamodb.v20120810"


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, float):
        return "DECIMAL_VALUE"
    return "STRING_VALUE"


def string_error(value: Any) -> SerializationException:
    """A non-string where a String member was expected (S, N, names, enums)."""
    if isinstance(value, list):
        return SerializationException("Unrecognized collection type class java.lang.String")
    if isinstance(value, dict):
        return SerializationException(START_OF_MAP)
    return SerializationException(f"{_token(value)} cannot be converted to String")


def boolean_error(value: Any) -> SerializationException:
    """A non-boolean where a Boolean member was expected (BOOL, NULL)."""
    if isinstance(value, str):
        return SerializationException("Unexpected token received from parser")
    if isinstance(value, list):
        return SerializationException("Unrecognized collection type class java.lang.Boolean")
    if isinstance(value, dict):
        return SerializationException(START_OF_MAP)
    return SerializationException(f"{_token(value)} cannot be converted to Boolean")


def blob_error(value: Any) -> SerializationException:
    """A non-string where a base64 Blob was expected (B, BS members)."""
    if isinstance(value, list):
        return SerializationException("Unrecognized collection type class java.nio.ByteBuffer")
    if isinstance(value, dict):
        return SerializationException(START_OF_MAP)
    return SerializationException("only base-64-encoded strings are convertible to bytes")


def integer_error(value: Any, java_type: str = "Integer") -> SerializationException:
    """A non-integer where an Integer or Long member was expected (Limit, capacity units)."""
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type class java.lang.{java_type}")
    if isinstance(value, dict):
        return SerializationException(START_OF_MAP)
    return SerializationException(f"{_token(value)} cannot be converted to {java_type}")


def list_error(value: Any) -> SerializationException:
    """A non-array where a List member was expected (SS, NS, BS, L, KeySchema...)."""
    if isinstance(value, dict):
        return SerializationException(START_OF_MAP)
    return SerializationException("Unexpected field type")


def map_error(value: Any, of: str = "AttributeValue") -> SerializationException:
    """A non-object where a Map was expected (M, Item, Key)."""
    if isinstance(value, list):
        return SerializationException(
            f"Unrecognized collection type java.util.Map<java.lang.String, {MODEL}.{of}>"
        )
    return SerializationException("Unexpected field type")


def struct_error(value: Any, of: str = "AttributeValue") -> SerializationException:
    """A non-object where a structure element of a list or map was expected."""
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type class {MODEL}.{of}")
    return SerializationException("Unexpected value type in payload")
