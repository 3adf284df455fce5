"""Index key values: what DynamoDB refuses in an index key attribute, with its messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.errors import ValidationException
from ddb.indexes import check_index_keys, index_key_error, indexes_of

SPEC = {"AttributeDefinitions": [{"AttributeName": n, "AttributeType": t}
                                 for n, t in (("pk", "S"), ("sk", "S"), ("g", "S"), ("r", "B"), ("n", "N"))],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "LocalSecondaryIndexes": [{"IndexName": "lsi", "Projection": {"ProjectionType": "ALL"},
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                 {"AttributeName": "n", "KeyType": "RANGE"}]}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "zeta", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}]},
            {"IndexName": "alpha", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}]}
INDEXES = indexes_of(SPEC)


def refusal(item: dict) -> str | None:
    try:
        check_index_keys(INDEXES, {"pk": {"S": "p"}, "sk": {"S": "s"}, **item})
    except ValidationException as exc:
        return exc.message
    return None


def test_empty_string_names_the_first_index_by_name():
    assert refusal({"g": {"S": ""}}) == (
        "One or more parameter values are not valid. A value specified for a secondary index key is not "
        "supported. The AttributeValue for a key attribute cannot contain an empty string value. "
        "IndexName: alpha, IndexKey: g")


def test_empty_binary():
    assert refusal({"g": {"S": "x"}, "r": {"B": ""}}) == (
        "One or more parameter values are not valid. A value specified for a secondary index key is not "
        "supported. The AttributeValue for a key attribute cannot contain an empty binary value. "
        "IndexName: zeta, IndexKey: r")


def test_sizes_partition_2048_sort_1024():
    assert refusal({"g": {"S": "x" * 2048}}) is None
    assert refusal({"g": {"S": "é" * 1025}}) == (
        "One or more parameter values were invalid: Size limit exceeded for Index Key g Actual Size: 2050 bytes "
        "Max Size: 2048 bytes IndexName: alpha")
    assert refusal({"g": {"S": "x"}, "r": {"B": "AAAA" * 256}}) is None  # 768 bytes decoded
    assert refusal({"g": {"S": "x"}, "r": {"B": "AAAA" * 342}}) == (
        "One or more parameter values were invalid: Size limit exceeded for Index Key r Actual Size: 1026 bytes "
        "Max Size: 1024 bytes IndexName: zeta")


def test_type_mismatch_and_local_index():
    assert refusal({"n": {"S": "1"}}) == (
        "One or more parameter values were invalid: Type mismatch for Index Key n Expected: N Actual: S "
        "IndexName: lsi")
    assert refusal({"n": {"N": "1"}, "other": {"S": ""}}) is None


@given(st.text(min_size=1, max_size=500))
def test_valid_strings_are_accepted(text):
    fits = len(text.encode()) <= 1024
    assert (index_key_error("i", "a", "S", {"S": text}, is_hash=False) is None) == fits
    assert index_key_error("i", "a", "S", {"S": text}, is_hash=True) is None


def test_numbers_never_refused_for_size():
    assert index_key_error("i", "a", "N", {"N": "9" * 38}, is_hash=False) is None


@pytest.mark.parametrize("value", [{"S": ""}, {"B": ""}])
def test_absent_or_non_index_attributes_are_fine(value):
    assert refusal({"note": value}) is None
