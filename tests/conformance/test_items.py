"""PutItem, GetItem, DeleteItem and UpdateItem on single items, case by case.

Expected values come from the DynamoDB Developer Guide ("Naming rules and data
types", "Service, account, and table quotas", "Item sizes"), the API Reference
(PutItem, GetItem, DeleteItem, UpdateItem: ReturnValues,
ReturnValuesOnConditionCheckFailure, ProjectionExpression), and from messages
captured against the real service by dynalite's test suite
(architect/dynalite test/putItem.js, getItem.js, updateItem.js) and by the
ScyllaDB Alternator suite (test/alternator/test_number.py, test_returnvalues.py,
test_projection_expression.py), both of which run against DynamoDB itself.
"""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import create_table, error_of
from tests.integration.conftest import wait_until

_seq = itertools.count()

TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
KEY_MISMATCH = "The provided key element does not match the schema"
TOO_BIG = "Item size has exceeded the maximum allowed size"
MAX_ITEM = 409_600  # 400 KB, binary units; an item of exactly this size is accepted


@pytest.fixture(scope="module")
def tables(ddb):
    return {
        "h": create_table(ddb, "items_h", ("pk", "S")),
        "hr": create_table(ddb, "items_hr", ("pk", "S"), ("sk", "N")),
        "bin": create_table(ddb, "items_bin", ("pk", "B"), ("sk", "S")),
    }


@pytest.fixture
def h(tables):
    return tables["h"]


@pytest.fixture
def hr(tables):
    return tables["hr"]


def fresh(prefix: str = "k") -> dict:
    """A key never used before in this module."""
    return {"pk": {"S": f"{prefix}{next(_seq)}"}}


def get(ddb, table, key, **kw):
    return ddb.get_item(TableName=table, Key=key, ConsistentRead=True, **kw).get("Item")


def put_get(ddb, table, attrs: dict) -> dict:
    key = fresh()
    ddb.put_item(TableName=table, Item={**key, **attrs})
    item = get(ddb, table, key)
    assert item is not None
    item.pop("pk")
    return item


def canon_sets(item):
    """Sets come back in no particular order: compare them as sorted lists."""
    if isinstance(item, dict):
        out = {}
        for k, v in item.items():
            if k in ("SS", "NS", "BS") and isinstance(v, list):
                out[k] = sorted(v)
            else:
                out[k] = canon_sets(v)
        return out
    if isinstance(item, list):
        return [canon_sets(v) for v in item]
    return item


# ---------------------------------------------------------------- every type round-trips


ALL_TYPES = {
    "s": {"S": "hello"},
    "s_unicode": {"S": "\u00fcn\u00ef\u00e7\u00f8d\u00e9 \u6f22\u5b57 \U0001f680"},
    "s_nul": {"S": "a\u0000b"},
    "n": {"N": "-56.789"},
    "b": {"B": b"\x00\x01\xfe\xff"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "z": {"NULL": True},
    "ss": {"SS": ["a", "b", "c"]},
    "ns": {"NS": ["-56.789", "0", "1E+2"]},
    "bs": {"BS": [b"\x01", b"\x02\x03"]},
    "l": {"L": [{"S": "a"}, {"N": "1"}, {"B": b"x"}, {"BOOL": True}, {"NULL": True}, {"SS": ["a"]},
                {"NS": ["1"]}, {"BS": [b"y"]}, {"L": []}, {"M": {}}]},
    "m": {"M": {"a": {"S": "a"}, "b": {"N": "-56.789"}, "c": {"B": b"c"}, "d": {"BOOL": False},
                "e": {"NULL": True}, "f": {"SS": ["x", "y"]}, "g": {"NS": ["2"]}, "h": {"BS": [b"h"]},
                "i": {"L": [{"L": [{"M": {"deep": {"S": "yes"}}}]}]}, "j": {"M": {"a": {"M": {}}, "b": {"L": []}}}}},
}


@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_each_type_round_trips(ddb, h, name):
    got = put_get(ddb, h, {name: ALL_TYPES[name]})
    want = dict(ALL_TYPES[name])
    if name == "ns":
        want = {"NS": ["-56.789", "0", "100"]}
    assert canon_sets(got) == canon_sets({name: want})


def test_all_types_in_one_item(ddb, h):
    got = put_get(ddb, h, ALL_TYPES)
    want = {**ALL_TYPES, "ns": {"NS": ["-56.789", "0", "100"]}}
    assert canon_sets(got) == canon_sets(want)


def test_empty_list_and_map_allowed(ddb, h):
    assert put_get(ddb, h, {"l": {"L": []}, "m": {"M": {}}}) == {"l": {"L": []}, "m": {"M": {}}}


def test_nesting_32_levels_round_trips(ddb, h):
    value = {"S": "bottom"}
    for i in range(31):
        value = {"M": {"k": value}} if i % 2 else {"L": [value]}
    assert put_get(ddb, h, {"deep": value}) == {"deep": value}


def test_long_attribute_name(ddb, h):
    name = "n" * 1000
    assert put_get(ddb, h, {name: {"S": "v"}}) == {name: {"S": "v"}}


def test_put_replaces_whole_item(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "a": {"S": "1"}, "b": {"S": "2"}})
    ddb.put_item(TableName=h, Item={**key, "c": {"S": "3"}})
    assert get(ddb, h, key) == {**key, "c": {"S": "3"}}


def test_put_returns_empty_body(ddb, h):
    r = ddb.put_item(TableName=h, Item=fresh())
    assert "Attributes" not in r and "ConsumedCapacity" not in r


# ---------------------------------------------------------------- numbers


NINES_38 = "9" * 38


@pytest.mark.parametrize("given,stored", [
    ("0", "0"),
    ("-0", "0"),
    ("0.0", "0"),
    ("0e1000", "0"),
    ("01.500", "1.5"),
    ("+3", "3"),
    (".5", "0.5"),
    ("5.", "5"),
    ("100", "100"),
    ("1e2", "100"),
    ("1E+2", "100"),
    ("0.00010", "0.0001"),
    ("-15.789e6", "-15789000"),
    ("1.5E-3", "0.0015"),
    ("1E125", "1" + "0" * 125),
    ("1E-130", "0." + "0" * 129 + "1"),
    ("-1E-130", "-0." + "0" * 129 + "1"),
    ("0001.000e-130", "0." + "0" * 129 + "1"),
    ("9.9999999999999999999999999999999999999E+125", NINES_38 + "0" * 88),
    ("-9.9999999999999999999999999999999999999E+125", "-" + NINES_38 + "0" * 88),
    ("0009.99999999999999999999999999999999999990000e125", NINES_38 + "0" * 88),
    ("0000012345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
    ("-00001.23456789012345678901234567890123456780000", "-1.2345678901234567890123456789012345678"),
    ("12345678901234567890123456789012345678000000", "12345678901234567890123456789012345678000000"),
    ("3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841"),
])
def test_number_normalisation(ddb, h, given, stored):
    assert put_get(ddb, h, {"n": {"N": given}}) == {"n": {"N": stored}}


def test_number_set_members_are_normalised(ddb, h):
    got = put_get(ddb, h, {"ns": {"NS": ["01.50", "2e1", "-0.10"]}})
    assert sorted(got["ns"]["NS"]) == sorted(["1.5", "20", "-0.1"])


def test_numbers_nested_in_lists_and_maps_are_normalised(ddb, h):
    got = put_get(ddb, h, {"l": {"L": [{"N": "007"}]}, "m": {"M": {"x": {"N": "1.10"}}}})
    assert got == {"l": {"L": [{"N": "7"}]}, "m": {"M": {"x": {"N": "1.1"}}}}


def test_number_sort_key_is_normalised(ddb, hr):
    ddb.put_item(TableName=hr, Item={"pk": {"S": "norm"}, "sk": {"N": "2.50"}})
    item = get(ddb, hr, {"pk": {"S": "norm"}, "sk": {"N": "2.5"}})
    assert item == {"pk": {"S": "norm"}, "sk": {"N": "2.5"}}


@pytest.mark.parametrize("given,message", [
    ("123456789012345678901234567890123456789", TOO_PRECISE),
    ("-1.23456789012345678901234567890123456789", TOO_PRECISE),
    ("3.14159265358979323846264338327950288419", TOO_PRECISE),
    ("1e126", OVERFLOW),
    ("-1e126", OVERFLOW),
    ("10E125", OVERFLOW),
    ("1e-131", UNDERFLOW),
    ("-1e-131", UNDERFLOW),
    ("0.9e-130", UNDERFLOW),
    ("", NOT_NUMERIC),
    ("abc", NOT_NUMERIC + ": abc"),
    ("NaN", NOT_NUMERIC + ": NaN"),
    ("Infinity", NOT_NUMERIC + ": Infinity"),
    ("1e", NOT_NUMERIC + ": 1e"),
    ("0x10", NOT_NUMERIC + ": 0x10"),
    ("1,5", NOT_NUMERIC + ": 1,5"),
])
def test_invalid_numbers(raw_ddb, h, given, message):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item={**fresh(), "n": {"N": given}})
    assert (code, msg) == ("ValidationException", message)


def test_invalid_number_inside_a_set(raw_ddb, h):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item={**fresh(), "ns": {"NS": ["1", "b"]}})
    assert (code, msg) == ("ValidationException", NOT_NUMERIC + ": b")


def test_invalid_number_nested_in_a_map(raw_ddb, h):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item={**fresh(), "m": {"M": {"x": {"N": "1e200"}}}})
    assert (code, msg) == ("ValidationException", OVERFLOW)


# ---------------------------------------------------------------- malformed attribute values


@pytest.mark.parametrize("value,message", [
    ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
    ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
    ({"SS": ["a", "a"]}, "One or more parameter values were invalid: Input collection [a, a] contains duplicates."),
    ({"NULL": False}, "One or more parameter values were invalid: Null attribute value types must have the value of true"),
    ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    ({"S": "a", "N": "1"},
     "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"),
])
def test_malformed_attribute_values(raw_ddb, h, value, message):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item={**fresh(), "a": value})
    assert (code, msg) == ("ValidationException", message)


def test_duplicate_numbers_in_a_set(raw_ddb, h):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item={**fresh(), "a": {"NS": ["1", "1"]}})
    assert (code, msg) == ("ValidationException", "Input collection contains duplicates")


# ---------------------------------------------------------------- empty strings and binaries


def test_empty_string_allowed_in_non_key_attribute(ddb, h):
    assert put_get(ddb, h, {"e": {"S": ""}}) == {"e": {"S": ""}}


def test_empty_binary_allowed_in_non_key_attribute(ddb, h):
    assert put_get(ddb, h, {"e": {"B": b""}}) == {"e": {"B": b""}}


def test_empty_string_allowed_nested(ddb, h):
    value = {"L": [{"S": ""}, {"M": {"x": {"S": ""}, "y": {"B": b""}}}]}
    assert put_get(ddb, h, {"e": value}) == {"e": value}


def test_empty_string_partition_key_rejected(ddb, h):
    code, msg = error_of(ddb.put_item, TableName=h, Item={"pk": {"S": ""}})
    assert (code, msg) == ("ValidationException", "One or more parameter values are not valid. The AttributeValue "
                                                   "for a key attribute cannot contain an empty string value. Key: pk")


def test_empty_string_sort_key_rejected(ddb, tables):
    code, msg = error_of(ddb.put_item, TableName=tables["bin"], Item={"pk": {"B": b"x"}, "sk": {"S": ""}})
    assert (code, msg) == ("ValidationException", "One or more parameter values are not valid. The AttributeValue "
                                                   "for a key attribute cannot contain an empty string value. Key: sk")


def test_empty_binary_partition_key_rejected(ddb, tables):
    code, msg = error_of(ddb.put_item, TableName=tables["bin"], Item={"pk": {"B": b""}, "sk": {"S": "x"}})
    assert (code, msg) == ("ValidationException", "One or more parameter values are not valid. The AttributeValue "
                                                   "for a key attribute cannot contain an empty binary value. Key: pk")


def test_empty_string_key_rejected_on_get(ddb, h):
    code, msg = error_of(ddb.get_item, TableName=h, Key={"pk": {"S": ""}})
    assert (code, msg) == ("ValidationException", "One or more parameter values are not valid. The AttributeValue "
                                                   "for a key attribute cannot contain an empty string value. Key: pk")


def test_binary_keys_round_trip(ddb, tables):
    t = tables["bin"]
    key = {"pk": {"B": b"\x00\xff\x10"}, "sk": {"S": "s"}}
    ddb.put_item(TableName=t, Item={**key, "v": {"S": "bin"}})
    assert get(ddb, t, key) == {**key, "v": {"S": "bin"}}


# ---------------------------------------------------------------- item size


def test_item_of_exactly_400_kb_is_accepted(ddb, h):
    key = fresh("s")
    # size = len("pk") + len(key) + len("b") + len(value)
    filler = MAX_ITEM - 2 - len(key["pk"]["S"]) - 1
    ddb.put_item(TableName=h, Item={**key, "b": {"S": "a" * filler}})
    assert len(get(ddb, h, key)["b"]["S"]) == filler


def test_item_one_byte_over_400_kb_is_rejected(ddb, h):
    key = fresh("s")
    filler = MAX_ITEM - 2 - len(key["pk"]["S"]) - 1 + 1
    code, msg = error_of(ddb.put_item, TableName=h, Item={**key, "b": {"S": "a" * filler}})
    assert (code, msg) == ("ValidationException", TOO_BIG)
    assert get(ddb, h, key) is None


def test_attribute_names_count_toward_the_size(ddb, h):
    key = fresh("s")
    name = "b" * 27
    filler = MAX_ITEM - 2 - len(key["pk"]["S"]) - len(name)
    ddb.put_item(TableName=h, Item={**key, name: {"S": "a" * filler}})
    code, msg = error_of(ddb.put_item, TableName=h, Item={**key, name + "x": {"S": "a" * filler}})
    assert (code, msg) == ("ValidationException", TOO_BIG)


def test_multibyte_characters_count_in_utf8_bytes(ddb, h):
    key = fresh("s")
    filler = (MAX_ITEM - 2 - len(key["pk"]["S"]) - 1) // 2 + 1  # each "\u00e9" is 2 bytes
    code, msg = error_of(ddb.put_item, TableName=h, Item={**key, "b": {"S": "\u00e9" * filler}})
    assert (code, msg) == ("ValidationException", TOO_BIG)


def test_binary_counts_its_raw_length(ddb, h):
    key = fresh("s")
    filler = MAX_ITEM - 2 - len(key["pk"]["S"]) - 1
    ddb.put_item(TableName=h, Item={**key, "b": {"B": b"\x01" * filler}})
    code, _ = error_of(ddb.put_item, TableName=h, Item={**key, "b": {"B": b"\x01" * (filler + 1)}})
    assert code == "ValidationException"


def test_update_that_grows_item_past_400_kb(ddb, h):
    key = fresh("s")
    ddb.put_item(TableName=h, Item={**key, "b": {"S": "a" * 300_000}})
    code, msg = error_of(ddb.update_item, TableName=h, Key=key, UpdateExpression="SET c = :c",
                         ExpressionAttributeValues={":c": {"S": "c" * 200_000}})
    assert (code, msg) == ("ValidationException", "Item size to update has exceeded the maximum allowed size")
    assert "c" not in get(ddb, h, key)


def test_partition_key_of_2048_bytes_accepted_2049_rejected(ddb, h):
    ddb.put_item(TableName=h, Item={"pk": {"S": "p" * 2048}})
    code, msg = error_of(ddb.put_item, TableName=h, Item={"pk": {"S": "p" * 2049}})
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: "
                                                   "Size of hashkey has exceeded the maximum size limit of2048 bytes")


def test_sort_key_of_1024_bytes_accepted_1025_rejected(ddb, tables):
    t = tables["bin"]
    ddb.put_item(TableName=t, Item={"pk": {"B": b"k"}, "sk": {"S": "s" * 1024}})
    code, msg = error_of(ddb.put_item, TableName=t, Item={"pk": {"B": b"k"}, "sk": {"S": "s" * 1025}})
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: "
                                                   "Aggregated size of all range keys has exceeded the size limit of 1024 bytes")


# ---------------------------------------------------------------- key validation


@pytest.mark.parametrize("item,message", [
    ({}, "One or more parameter values were invalid: Missing the key pk in the item"),
    ({"other": {"S": "a"}}, "One or more parameter values were invalid: Missing the key pk in the item"),
    ({"pk": {"N": "1"}}, "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"),
    ({"pk": {"B": b"ab"}}, "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: B"),
    ({"pk": {"SS": ["a"]}}, "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: SS"),
])
def test_put_key_errors(ddb, h, item, message):
    assert error_of(ddb.put_item, TableName=h, Item=item) == ("ValidationException", message)


def test_put_missing_sort_key(ddb, hr):
    code, msg = error_of(ddb.put_item, TableName=hr, Item={"pk": {"S": "a"}})
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: Missing the key sk in the item")


def test_put_sort_key_wrong_type(ddb, hr):
    code, msg = error_of(ddb.put_item, TableName=hr, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    assert (code, msg) == ("ValidationException",
                           "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S")


BAD_KEYS = [
    pytest.param({}, id="empty"),
    pytest.param({"other": {"S": "a"}}, id="wrong-name"),
    pytest.param({"pk": {"N": "1"}}, id="wrong-type"),
    pytest.param({"pk": {"S": "a"}, "extra": {"S": "b"}}, id="extra-attribute"),
    pytest.param({"pk": {"BOOL": True}}, id="bool"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("op", ["get_item", "delete_item", "update_item"])
def test_key_does_not_match_schema(ddb, h, op, key):
    assert error_of(getattr(ddb, op), TableName=h, Key=key) == ("ValidationException", KEY_MISMATCH)


def test_hash_only_key_on_composite_table(ddb, hr):
    assert error_of(ddb.get_item, TableName=hr, Key={"pk": {"S": "a"}}) == ("ValidationException", KEY_MISMATCH)


def test_composite_key_on_hash_only_table(ddb, h):
    assert error_of(ddb.get_item, TableName=h, Key={"pk": {"S": "a"}, "sk": {"N": "1"}}) == \
        ("ValidationException", KEY_MISMATCH)


# ---------------------------------------------------------------- table not found


@pytest.mark.parametrize("op,kwargs", [
    ("get_item", {"Key": {"pk": {"S": "a"}}}),
    ("put_item", {"Item": {"pk": {"S": "a"}}}),
    ("delete_item", {"Key": {"pk": {"S": "a"}}}),
    ("update_item", {"Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET a = :a",
                     "ExpressionAttributeValues": {":a": {"S": "x"}}}),
])
def test_table_not_found(ddb, op, kwargs):
    code, msg = error_of(getattr(ddb, op), TableName="items_nonexistent_table", **kwargs)
    assert code == "ResourceNotFoundException"
    assert msg.startswith("Requested resource not found")


# ---------------------------------------------------------------- GetItem


def test_get_missing_item_has_no_item_field(ddb, h):
    r = ddb.get_item(TableName=h, Key=fresh())
    assert "Item" not in r


def test_consistent_read_sees_the_write_just_made(ddb, h):
    key = fresh()
    for i in range(5):
        ddb.put_item(TableName=h, Item={**key, "v": {"N": str(i)}})
        assert ddb.get_item(TableName=h, Key=key, ConsistentRead=True)["Item"]["v"] == {"N": str(i)}


def test_eventually_consistent_read_returns_the_item(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "v": {"S": "x"}})
    for _ in range(100):
        item = ddb.get_item(TableName=h, Key=key, ConsistentRead=False).get("Item")
        if item is not None:
            break
    assert item == {**key, "v": {"S": "x"}}


def test_consumed_capacity_strong_read_is_one_unit(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "v": {"S": "x"}})
    r = ddb.get_item(TableName=h, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert (r["ConsumedCapacity"]["TableName"], r["ConsumedCapacity"]["CapacityUnits"]) == (h, 1.0)


def test_consumed_capacity_eventual_read_is_half_a_unit(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "v": {"S": "x"}})
    r = ddb.get_item(TableName=h, Key=key, ReturnConsumedCapacity="TOTAL")
    assert (r["ConsumedCapacity"]["TableName"], r["ConsumedCapacity"]["CapacityUnits"]) == (h, 0.5)


@pytest.fixture(scope="module")
def doc(ddb, tables):
    """One item with nested documents for projection cases."""
    key = {"pk": {"S": "doc"}}
    ddb.put_item(TableName=tables["h"], Item={
        **key,
        "a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"}, {"M": {"x": {"S": "hi"}, "y": {"S": "yo"}}}]},
                    "c": {"N": "5"}}},
        "s": {"S": "hello"},
        "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"S": "l2"}, {"S": "l3"}]},
        "name": {"S": "reserved"},
        "a.b": {"S": "dotted"},
    })
    return key


@pytest.mark.parametrize("projection,names,expected", [
    ("s", None, {"s": {"S": "hello"}}),
    ("s, pk", None, {"s": {"S": "hello"}, "pk": {"S": "doc"}}),
    (" s ,   l[0] ", None, {"s": {"S": "hello"}, "l": {"L": [{"S": "l0"}]}}),
    ("a.c", None, {"a": {"M": {"c": {"N": "5"}}}}),
    ("a.b", None, {"a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"},
                                          {"M": {"x": {"S": "hi"}, "y": {"S": "yo"}}}]}}}}),
    ("a.b[0]", None, {"a": {"M": {"b": {"L": [{"N": "2"}]}}}}),
    ("a.b[2].y", None, {"a": {"M": {"b": {"L": [{"M": {"y": {"S": "yo"}}}]}}}}),
    ("a.b[0], a.b[1]", None, {"a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"}]}}}}),
    ("a.b[0], a.c", None, {"a": {"M": {"b": {"L": [{"N": "2"}]}, "c": {"N": "5"}}}}),
    ("l[1], l[3]", None, {"l": {"L": [{"S": "l1"}, {"S": "l3"}]}}),
    ("l[3], l[1]", None, {"l": {"L": [{"S": "l1"}, {"S": "l3"}]}}),
    ("#n", {"#n": "name"}, {"name": {"S": "reserved"}}),
    ("#d", {"#d": "a.b"}, {"a.b": {"S": "dotted"}}),
    ("#x.#y", {"#x": "a", "#y": "c"}, {"a": {"M": {"c": {"N": "5"}}}}),
    ("gone", None, {}),
    ("l[10]", None, {}),
    ("a.x.y", None, {}),
    ("a.b.x", None, {}),
    ("a[0]", None, {}),
    ("s[0]", None, {}),
    ("a.x, a.b[0], gone, a.b[3].x", None, {"a": {"M": {"b": {"L": [{"N": "2"}]}}}}),
])
def test_get_projection(ddb, h, doc, projection, names, expected):
    kw = {"ExpressionAttributeNames": names} if names else {}
    r = ddb.get_item(TableName=h, Key=doc, ConsistentRead=True, ProjectionExpression=projection, **kw)
    assert r["Item"] == expected


def test_get_attributes_to_get_legacy(ddb, h, doc):
    r = ddb.get_item(TableName=h, Key=doc, ConsistentRead=True, AttributesToGet=["s", "gone"])
    assert r["Item"] == {"s": {"S": "hello"}}


@pytest.mark.parametrize("projection,names,message", [
    ("a, a.b", None, "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
                     "rewrite one of these paths; path one: [a], path two: [a, b]"),
    ("s, s", None, "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
                   "rewrite one of these paths; path one: [s], path two: [s]"),
    ("a.b[0], a.b[0]", None, "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
                             "or rewrite one of these paths; path one: [a, b, [0]], path two: [a, b, [0]]"),
    ("a.b, a[1]", None, "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or "
                        "rewrite one of these paths; path one: [a, b], path two: [a, [1]]"),
    ("name", None, "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"),
    ("#x", {"#y": "s"}, "Invalid ProjectionExpression: An expression attribute name used in the document path is "
                        "not defined; attribute name: #x"),
    ("s", {"#u": "s"}, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#u}"),
    ("s,", None, 'Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ","'),
    ("s,,l", None, 'Invalid ProjectionExpression: Syntax error; token: ",", near: ",,l"'),
    ("s l", None, 'Invalid ProjectionExpression: Syntax error; token: "l", near: "s l"'),
])
def test_get_projection_errors(ddb, h, doc, projection, names, message):
    kw = {"ExpressionAttributeNames": names} if names else {}
    code, msg = error_of(ddb.get_item, TableName=h, Key=doc, ProjectionExpression=projection, **kw)
    assert (code, msg) == ("ValidationException", message)


def test_get_empty_projection(raw_ddb, h, doc):
    code, msg = error_of(raw_ddb.get_item, TableName=h, Key=doc, ProjectionExpression="")
    assert (code, msg) == ("ValidationException", "Invalid ProjectionExpression: The expression can not be empty;")


# ---------------------------------------------------------------- DeleteItem


def test_delete_removes_the_item(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "a": {"S": "x"}})
    r = ddb.delete_item(TableName=h, Key=key)
    assert "Attributes" not in r
    assert get(ddb, h, key) is None


def test_delete_missing_item_is_not_an_error(ddb, h):
    r = ddb.delete_item(TableName=h, Key=fresh())
    assert "Attributes" not in r


def test_delete_with_sort_key_removes_only_that_item(ddb, hr):
    ddb.put_item(TableName=hr, Item={"pk": {"S": "del"}, "sk": {"N": "1"}})
    ddb.put_item(TableName=hr, Item={"pk": {"S": "del"}, "sk": {"N": "2"}})
    ddb.delete_item(TableName=hr, Key={"pk": {"S": "del"}, "sk": {"N": "1"}})
    assert get(ddb, hr, {"pk": {"S": "del"}, "sk": {"N": "1"}}) is None
    assert get(ddb, hr, {"pk": {"S": "del"}, "sk": {"N": "2"}}) is not None


# ---------------------------------------------------------------- ReturnValues


def test_put_return_none(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "a": {"S": "old"}})
    r = ddb.put_item(TableName=h, Item={**key, "a": {"S": "new"}}, ReturnValues="NONE")
    assert "Attributes" not in r


def test_put_return_all_old(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "a": {"S": "old"}, "n": {"N": "-0015.789e6"}})
    r = ddb.put_item(TableName=h, Item={**key, "a": {"S": "new"}}, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {**key, "a": {"S": "old"}, "n": {"N": "-15789000"}}


def test_put_return_all_old_on_new_item(ddb, h):
    r = ddb.put_item(TableName=h, Item={**fresh(), "a": {"S": "x"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r


@pytest.mark.parametrize("rv", ["UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
def test_put_rejects_other_return_values(ddb, h, rv):
    code, msg = error_of(ddb.put_item, TableName=h, Item=fresh(), ReturnValues=rv)
    assert (code, msg) == ("ValidationException", "ReturnValues can only be ALL_OLD or NONE")


def test_delete_return_all_old(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "a": {"S": "x"}})
    r = ddb.delete_item(TableName=h, Key=key, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {**key, "a": {"S": "x"}}


def test_delete_return_all_old_on_missing_item(ddb, h):
    assert "Attributes" not in ddb.delete_item(TableName=h, Key=fresh(), ReturnValues="ALL_OLD")


@pytest.mark.parametrize("rv", ["UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
def test_delete_rejects_other_return_values(ddb, h, rv):
    code, msg = error_of(ddb.delete_item, TableName=h, Key=fresh(), ReturnValues=rv)
    assert (code, msg) == ("ValidationException", "ReturnValues can only be ALL_OLD or NONE")


@pytest.mark.parametrize("op,kwargs", [
    ("put_item", {"Item": {"pk": {"S": "rv"}}}),
    ("delete_item", {"Key": {"pk": {"S": "rv"}}}),
    ("update_item", {"Key": {"pk": {"S": "rv"}}}),
])
@pytest.mark.parametrize("rv", ["DOG", "none"])
def test_return_values_enum_is_checked(raw_ddb, h, op, kwargs, rv):
    code, msg = error_of(getattr(raw_ddb, op), TableName=h, ReturnValues=rv, **kwargs)
    assert code == "ValidationException"
    assert msg.startswith(f"1 validation error detected: Value '{rv}' at 'returnValues' failed to satisfy "
                          "constraint: Member must satisfy enum value set: ["), msg


@pytest.fixture
def base(ddb, h):
    key = fresh("rv")
    ddb.put_item(TableName=h, Item={**key, "a": {"S": "hi"}, "b": {"S": "dog"},
                                    "m": {"M": {"x": {"S": "dog"}, "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}}}})
    return key


def upd(ddb, table, key, expr, values=None, names=None, **kw):
    if values:
        kw["ExpressionAttributeValues"] = values
    if names:
        kw["ExpressionAttributeNames"] = names
    return ddb.update_item(TableName=table, Key=key, UpdateExpression=expr, **kw)


CAT = {":v": {"S": "cat"}}


def test_update_return_none(ddb, h, base):
    assert "Attributes" not in upd(ddb, h, base, "SET b = :v", CAT, ReturnValues="NONE")


def test_update_return_all_old(ddb, h, base):
    r = upd(ddb, h, base, "SET b = :v", CAT, ReturnValues="ALL_OLD")
    assert r["Attributes"]["b"] == {"S": "dog"} and r["Attributes"]["a"] == {"S": "hi"}
    assert r["Attributes"]["pk"] == base["pk"]


def test_update_return_all_new(ddb, h, base):
    r = upd(ddb, h, base, "SET b = :v REMOVE a", CAT, ReturnValues="ALL_NEW")
    assert set(r["Attributes"]) == {"pk", "b", "m"} and r["Attributes"]["b"] == {"S": "cat"}


def test_update_return_updated_old(ddb, h, base):
    r = upd(ddb, h, base, "SET b = :v, c = :v", CAT, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"b": {"S": "dog"}}


def test_update_return_updated_new(ddb, h, base):
    r = upd(ddb, h, base, "SET b = :v, c = :v", CAT, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"b": {"S": "cat"}, "c": {"S": "cat"}}


def test_update_return_updated_old_of_a_removed_attribute(ddb, h, base):
    r = upd(ddb, h, base, "REMOVE a", ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"a": {"S": "hi"}}


def test_update_return_updated_new_of_a_removed_attribute(ddb, h, base):
    assert "Attributes" not in upd(ddb, h, base, "REMOVE a", ReturnValues="UPDATED_NEW")


def test_update_return_updated_old_of_new_attribute_is_absent(ddb, h, base):
    assert "Attributes" not in upd(ddb, h, base, "SET brand_new = :v", CAT, ReturnValues="UPDATED_OLD")


def test_update_return_same_value_still_counts_as_updated(ddb, h, base):
    r = upd(ddb, h, base, "SET a = :v", {":v": {"S": "hi"}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"a": {"S": "hi"}}


def test_update_return_updated_new_of_arithmetic(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "n": {"N": "1"}})
    r = upd(ddb, h, key, "SET n = n + :one", {":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"n": {"N": "2"}}


def test_update_return_all_old_on_new_item(ddb, h):
    assert "Attributes" not in upd(ddb, h, fresh(), "SET a = :v", CAT, ReturnValues="ALL_OLD")


def test_update_return_all_new_on_new_item(ddb, h):
    key = fresh()
    r = upd(ddb, h, key, "SET a = :v", CAT, ReturnValues="ALL_NEW")
    assert r["Attributes"] == {**key, "a": {"S": "cat"}}


def test_update_return_updated_new_leaves_out_keys_of_new_item(ddb, h):
    r = upd(ddb, h, fresh(), "SET a = :v", CAT, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"a": {"S": "cat"}}


def test_update_nested_return_updated_old(ddb, h, base):
    r = upd(ddb, h, base, "SET m.x = :v", CAT, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"m": {"M": {"x": {"S": "dog"}}}}


def test_update_nested_return_updated_new(ddb, h, base):
    r = upd(ddb, h, base, "SET m.x = :v", CAT, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"m": {"M": {"x": {"S": "cat"}}}}


def test_update_list_element_return_updated_old_and_new(ddb, h, base):
    r = upd(ddb, h, base, "SET m.l[1] = :v", {":v": {"N": "7"}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"m": {"M": {"l": {"L": [{"N": "2"}]}}}}
    r = upd(ddb, h, base, "SET m.l[1] = :v", {":v": {"N": "8"}}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"m": {"M": {"l": {"L": [{"N": "8"}]}}}}


def test_update_two_nested_paths_return_updated_new(ddb, h, base):
    r = upd(ddb, h, base, "SET m.l[1] = :n, m.x = :v", {":n": {"N": "3"}, **CAT}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"m": {"M": {"x": {"S": "cat"}, "l": {"L": [{"N": "3"}]}}}}


def test_update_new_nested_key_return_updated_new(ddb, h, base):
    r = upd(ddb, h, base, "SET m.fresh = :v", CAT, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"m": {"M": {"fresh": {"S": "cat"}}}}


def test_update_nested_return_all_new(ddb, h, base):
    r = upd(ddb, h, base, "SET m.l[0] = :v", {":v": {"N": "9"}}, ReturnValues="ALL_NEW")
    assert r["Attributes"]["m"] == {"M": {"x": {"S": "dog"}, "l": {"L": [{"N": "9"}, {"N": "2"}, {"N": "3"}]}}}


def test_update_remove_of_missing_list_element_left_out_of_updated_old(ddb, h, base):
    r = upd(ddb, h, base, "REMOVE m.l[1], m.l[7]", ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"m": {"M": {"l": {"L": [{"N": "2"}]}}}}


# ---------------------------------------------------------------- ReturnValuesOnConditionCheckFailure


def failed(call, **kwargs):
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert exc.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    return exc.value.response


COND = {"ConditionExpression": "a = :want", "ExpressionAttributeValues": {":want": {"S": "nope"}}}


@pytest.fixture
def old(ddb, h):
    key = fresh("cc")
    item = {**key, "a": {"S": "have"}, "n": {"N": "1"}}
    ddb.put_item(TableName=h, Item=item)
    return key, item


def test_put_condition_failure_returns_old_item(ddb, h, old):
    key, item = old
    resp = failed(ddb.put_item, TableName=h, Item={**key, "a": {"S": "new"}},
                  ReturnValuesOnConditionCheckFailure="ALL_OLD", **COND)
    assert resp["Item"] == item
    assert resp["Error"]["Message"] == "The conditional request failed"


def test_delete_condition_failure_returns_old_item(ddb, h, old):
    key, item = old
    resp = failed(ddb.delete_item, TableName=h, Key=key, ReturnValuesOnConditionCheckFailure="ALL_OLD", **COND)
    assert resp["Item"] == item
    assert get(ddb, h, key) == item


def test_update_condition_failure_returns_old_item(ddb, h, old):
    key, item = old
    resp = failed(ddb.update_item, TableName=h, Key=key, UpdateExpression="SET a = :new",
                  ReturnValuesOnConditionCheckFailure="ALL_OLD",
                  ConditionExpression="a = :want",
                  ExpressionAttributeValues={":want": {"S": "nope"}, ":new": {"S": "new"}})
    assert resp["Item"] == item


def test_condition_failure_with_none_returns_no_item(ddb, h, old):
    key, _ = old
    resp = failed(ddb.put_item, TableName=h, Item=key, ReturnValuesOnConditionCheckFailure="NONE", **COND)
    assert "Item" not in resp


def test_condition_failure_without_the_parameter_returns_no_item(ddb, h, old):
    key, _ = old
    assert "Item" not in failed(ddb.put_item, TableName=h, Item=key, **COND)


def test_condition_failure_on_missing_item_returns_no_item(ddb, h):
    resp = failed(ddb.put_item, TableName=h, Item=fresh(), ReturnValuesOnConditionCheckFailure="ALL_OLD",
                  ConditionExpression="attribute_exists(pk)")
    assert "Item" not in resp


def test_successful_conditional_write_returns_nothing(ddb, h, old):
    key, _ = old
    r = ddb.put_item(TableName=h, Item={**key, "a": {"S": "v2"}}, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                     ConditionExpression="a = :have", ExpressionAttributeValues={":have": {"S": "have"}})
    assert "Item" not in r and "Attributes" not in r


@pytest.mark.parametrize("value", ["UPDATED_OLD", "ALL_NEW", "DUMMY"])
def test_return_values_on_condition_check_failure_enum(raw_ddb, h, value):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item=fresh(), ReturnValuesOnConditionCheckFailure=value,
                         ConditionExpression="attribute_exists(pk)")
    assert code == "ValidationException"
    assert msg.startswith(f"1 validation error detected: Value '{value}' at 'returnValuesOnConditionCheckFailure' "
                          "failed to satisfy constraint: Member must satisfy enum value set: ["), msg


# ---------------------------------------------------------------- UpdateItem, item creation


def test_update_without_expression_creates_key_only_item(ddb, h):
    key = fresh()
    r = ddb.update_item(TableName=h, Key=key)
    assert "Attributes" not in r
    assert get(ddb, h, key) == key


def test_update_with_only_remove_does_not_create_item(ddb, h):
    key = fresh()
    r = upd(ddb, h, key, "REMOVE a", ReturnValues="ALL_NEW")
    assert "Attributes" not in r
    assert get(ddb, h, key) is None


def test_update_creates_item_with_composite_key(ddb, hr):
    key = {"pk": {"S": "upd"}, "sk": {"N": "1.50"}}
    upd(ddb, hr, key, "SET v = :v", {":v": {"S": "x"}})
    assert get(ddb, hr, {"pk": {"S": "upd"}, "sk": {"N": "1.5"}}) == \
        {"pk": {"S": "upd"}, "sk": {"N": "1.5"}, "v": {"S": "x"}}


# ---------------------------------------------------------------- ReturnConsumedCapacity
# Developer Guide, "Read/write capacity mode" and "Item sizes": a read costs one unit per
# 4 KB (rounded up; half for an eventually consistent read), a write one unit per 1 KB;
# reading an item that does not exist still costs one read (half if eventual); UpdateItem
# is charged on the larger of the before and after images.


def units(resp) -> tuple[str, float]:
    c = resp["ConsumedCapacity"]
    return c["TableName"], c["CapacityUnits"]


def sized_item(total: int) -> dict:
    """An item of exactly `total` bytes (names plus values)."""
    key = fresh("cap")
    return {**key, "b": {"S": "x" * (total - 2 - len(key["pk"]["S"]) - 1)}}


@pytest.mark.parametrize("size,expected", [(100, 1.0), (1024, 1.0), (1025, 2.0),
                                           (3000, 3.0)])
def test_put_consumed_capacity(ddb, h, size, expected):
    r = ddb.put_item(TableName=h, Item=sized_item(size), ReturnConsumedCapacity="TOTAL")
    assert units(r) == (h, expected)


@pytest.mark.parametrize("size,consistent,expected", [
    (4096, True, 1.0), (4097, True, 2.0), (4097, False, 1.0), (9000, True, 3.0),
    (9000, False, 1.5)])
def test_get_consumed_capacity_by_size(ddb, h, size, consistent, expected):
    item = sized_item(size)
    ddb.put_item(TableName=h, Item=item)
    # An eventually consistent read may reach a replica that has not applied the put yet.
    r = wait_until(lambda: (lambda r: r if "Item" in r else None)(ddb.get_item(
        TableName=h, Key={"pk": item["pk"]}, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL")),
        10, "the item on the replica read")
    assert units(r) == (h, expected)


@pytest.mark.parametrize("consistent,expected", [(True, 1.0), (False, 0.5)])
def test_get_of_missing_item_still_consumes(ddb, h, consistent, expected):
    r = ddb.get_item(TableName=h, Key=fresh(), ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL")
    assert "Item" not in r and units(r) == (h, expected)


def test_update_consumes_the_larger_image(ddb, h):
    item = sized_item(3000)
    ddb.put_item(TableName=h, Item=item)
    r = ddb.update_item(TableName=h, Key={"pk": item["pk"]}, UpdateExpression="REMOVE b", ReturnConsumedCapacity="TOTAL")
    assert units(r) == (h, 3.0)


def test_delete_consumes_the_deleted_item_size(ddb, h):
    item = sized_item(2500)
    ddb.put_item(TableName=h, Item=item)
    r = ddb.delete_item(TableName=h, Key={"pk": item["pk"]}, ReturnConsumedCapacity="TOTAL")
    assert units(r) == (h, 3.0)


def test_put_replacing_a_larger_item_consumes_the_larger_size(ddb, h):
    item = sized_item(3000)
    ddb.put_item(TableName=h, Item=item)
    r = ddb.put_item(TableName=h, Item={"pk": item["pk"]}, ReturnConsumedCapacity="TOTAL")
    assert units(r) == (h, 3.0)


def test_consumed_capacity_indexes_mode_has_table_breakdown(ddb, h):
    r = ddb.put_item(TableName=h, Item=sized_item(100), ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0
    assert r["ConsumedCapacity"]["Table"]["CapacityUnits"] == 1.0


def test_consumed_capacity_none_returns_nothing(ddb, h):
    assert "ConsumedCapacity" not in ddb.put_item(TableName=h, Item=fresh(), ReturnConsumedCapacity="NONE")


def test_consumed_capacity_enum_is_checked(raw_ddb, h):
    code, msg = error_of(raw_ddb.put_item, TableName=h, Item=fresh(), ReturnConsumedCapacity="ALL")
    assert (code, msg) == ("ValidationException", "1 validation error detected: Value 'ALL' at "
                                                   "'returnConsumedCapacity' failed to satisfy constraint: Member must "
                                                   "satisfy enum value set: [INDEXES, TOTAL, NONE]")


# ---------------------------------------------------------------- mixing expression and legacy parameters


def test_get_projection_and_attributes_to_get_together(ddb, h):
    code, msg = error_of(ddb.get_item, TableName=h, Key=fresh(), ProjectionExpression="a", AttributesToGet=["a"])
    assert (code, msg) == ("ValidationException", "Can not use both expression and non-expression parameters in the "
                                                   "same request: Non-expression parameters: {AttributesToGet} "
                                                   "Expression parameters: {ProjectionExpression}")


def test_get_names_without_projection(ddb, h):
    code, msg = error_of(ddb.get_item, TableName=h, Key=fresh(), ExpressionAttributeNames={"#a": "a"})
    assert (code, msg) == ("ValidationException", "ExpressionAttributeNames can only be specified when using expressions")


def test_put_expected_and_condition_together(ddb, h):
    code, msg = error_of(ddb.put_item, TableName=h, Item=fresh(), ConditionExpression="attribute_exists(a)",
                         Expected={"a": {"Exists": False}})
    assert (code, msg) == ("ValidationException", "Can not use both expression and non-expression parameters in the "
                                                   "same request: Non-expression parameters: {Expected} "
                                                   "Expression parameters: {ConditionExpression}")


def test_put_values_without_condition(ddb, h):
    code, msg = error_of(ddb.put_item, TableName=h, Item=fresh(), ExpressionAttributeValues={":v": {"S": "x"}})
    assert (code, msg) == ("ValidationException", "ExpressionAttributeValues can only be specified when using "
                                                   "expressions: ConditionExpression is null")


def test_consistent_read_must_be_a_boolean(raw_ddb, h):
    code, _ = error_of(raw_ddb.get_item, TableName=h, Key=fresh(), ConsistentRead="yes")
    assert code == "SerializationException"


def test_number_value_must_be_a_string(raw_ddb, h):
    code, _ = error_of(raw_ddb.put_item, TableName=h, Item={**fresh(), "n": {"N": 5}})
    assert code == "SerializationException"


def test_update_return_updated_new_of_a_set_add(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "s": {"SS": ["a"]}})
    r = upd(ddb, h, key, "ADD s :v", {":v": {"SS": ["b"]}}, ReturnValues="UPDATED_NEW")
    assert sorted(r["Attributes"]["s"]["SS"]) == ["a", "b"] and set(r["Attributes"]) == {"s"}


def test_update_return_updated_old_of_a_set_delete_that_empties_it(ddb, h):
    key = fresh()
    ddb.put_item(TableName=h, Item={**key, "s": {"SS": ["a"]}})
    r = upd(ddb, h, key, "DELETE s :v", {":v": {"SS": ["a"]}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"s": {"SS": ["a"]}}
    assert get(ddb, h, key) == key
