"""Query, case by case, from the DynamoDB API reference."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import create_table, error_of


@pytest.fixture(scope="module")
def table(ddb):
    name = create_table(ddb, "query_n", ("pk", "S"), ("sk", "N"))
    for sk in range(1, 11):
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": str(sk)}, "v": {"N": str(sk * 10)},
                                           "tag": {"S": "even" if sk % 2 == 0 else "odd"}})
    for sk in (-1.5, 0, 7):
        ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "sk": {"N": str(sk)}})
    return name


@pytest.fixture(scope="module")
def strings(ddb):
    name = create_table(ddb, "query_s", ("pk", "S"), ("sk", "S"))
    for sk in ("apple", "apricot", "ap", "banana", "a", "Apple", "b\u00e9", "ap\u0000x"):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    return name


def q(ddb, table, cond, values, **kw):
    kw.setdefault("ConsistentRead", True)  # the fixture's writes were just acknowledged
    return ddb.query(TableName=table, KeyConditionExpression=cond, ExpressionAttributeValues=values, **kw)


def sks(resp):
    return [float(i["sk"]["N"]) for i in resp["Items"]]


A = {":p": {"S": "a"}}


def test_whole_partition_key_ascending(ddb, table):
    r = q(ddb, table, "pk = :p", A)
    assert sks(r) == list(range(1, 11))
    assert r["Count"] == 10 and r["ScannedCount"] == 10 and "LastEvaluatedKey" not in r


def test_descending(ddb, table):
    assert sks(q(ddb, table, "pk = :p", A, ScanIndexForward=False)) == list(range(10, 0, -1))


def test_negative_and_zero_sort_keys_in_numeric_order(ddb, table):
    assert sks(q(ddb, table, "pk = :p", {":p": {"S": "b"}})) == [-1.5, 0, 7]


@pytest.mark.parametrize("cond,values,expected", [
    ("sk = :v", {":v": {"N": "4"}}, [4]),
    ("sk < :v", {":v": {"N": "4"}}, [1, 2, 3]),
    ("sk <= :v", {":v": {"N": "4"}}, [1, 2, 3, 4]),
    ("sk > :v", {":v": {"N": "8"}}, [9, 10]),
    ("sk >= :v", {":v": {"N": "8"}}, [8, 9, 10]),
    ("sk BETWEEN :lo AND :hi", {":lo": {"N": "3"}, ":hi": {"N": "5"}}, [3, 4, 5]),
    ("sk BETWEEN :lo AND :hi", {":lo": {"N": "3.5"}, ":hi": {"N": "3.6"}}, []),
    ("sk = :v", {":v": {"N": "4.0"}}, [4]),
    ("sk > :v", {":v": {"N": "100"}}, []),
])
def test_sort_key_operators(ddb, table, cond, values, expected):
    assert sks(q(ddb, table, f"pk = :p AND {cond}", {**A, **values})) == expected


def test_key_condition_written_sort_key_first(ddb, table):
    assert sks(q(ddb, table, "sk < :v AND pk = :p", {**A, ":v": {"N": "3"}})) == [1, 2]


def test_begins_with_on_strings_is_bytewise(ddb, strings):
    r = q(ddb, strings, "pk = :p AND begins_with(sk, :s)", {":p": {"S": "p"}, ":s": {"S": "ap"}})
    assert [i["sk"]["S"] for i in r["Items"]] == ["ap", "ap\u0000x", "apple", "apricot"]


def test_string_sort_keys_order_by_utf8_bytes(ddb, strings):
    r = q(ddb, strings, "pk = :p", {":p": {"S": "p"}})
    got = [i["sk"]["S"] for i in r["Items"]]
    assert got == sorted(got, key=lambda s: s.encode())
    assert got[0] == "Apple" and got[-1] == "b\u00e9"


def test_missing_partition_key_gives_empty_result(ddb, table):
    r = q(ddb, table, "pk = :p", {":p": {"S": "nobody"}})
    assert r["Items"] == [] and r["Count"] == 0 and r["ScannedCount"] == 0


def test_limit_and_pagination(ddb, table):
    r = q(ddb, table, "pk = :p", A, Limit=3)
    assert sks(r) == [1, 2, 3]
    assert r["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "3"}}
    seen, start = [], None
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        r = q(ddb, table, "pk = :p", A, Limit=4, **kw)
        seen += sks(r)
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == list(range(1, 11))


def test_descending_pagination(ddb, table):
    r = q(ddb, table, "pk = :p", A, Limit=2, ScanIndexForward=False)
    assert sks(r) == [10, 9]
    r = q(ddb, table, "pk = :p", A, Limit=2, ScanIndexForward=False, ExclusiveStartKey=r["LastEvaluatedKey"])
    assert sks(r) == [8, 7]


def test_limit_counts_items_before_the_filter(ddb, table):
    r = q(ddb, table, "pk = :p", {**A, ":x": {"N": "20"}}, Limit=4, FilterExpression="v > :x")
    assert sks(r) == [3, 4]
    assert r["Count"] == 2 and r["ScannedCount"] == 4 and r["LastEvaluatedKey"]["sk"] == {"N": "4"}


def test_filter_on_non_key_attribute(ddb, table):
    r = q(ddb, table, "pk = :p", {**A, ":t": {"S": "even"}}, FilterExpression="tag = :t")
    assert sks(r) == [2, 4, 6, 8, 10] and r["ScannedCount"] == 10


def test_select_count(ddb, table):
    r = q(ddb, table, "pk = :p", A, Select="COUNT")
    assert r["Count"] == 10 and "Items" not in r


def test_projection(ddb, table):
    r = q(ddb, table, "pk = :p AND sk = :one", {**A, ":one": {"N": "1"}}, ProjectionExpression="v, #t",
          ExpressionAttributeNames={"#t": "tag"})
    assert r["Items"] == [{"v": {"N": "10"}, "tag": {"S": "odd"}}]


def test_consistent_read(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "sk": {"N": "1"}})
    r = q(ddb, table, "pk = :p", {":p": {"S": "c"}}, ConsistentRead=True)
    assert r["Count"] == 1


def test_one_megabyte_page(ddb):
    name = create_table(ddb, "query_big", ("pk", "S"), ("sk", "N"))
    for i in range(6):
        ddb.put_item(TableName=name, Item={"pk": {"S": "big"}, "sk": {"N": str(i)}, "blob": {"S": "x" * 300_000}})
    r = q(ddb, name, "pk = :p", {":p": {"S": "big"}}, ProjectionExpression="sk")
    assert 3 <= r["Count"] < 6 and "LastEvaluatedKey" in r
    rest = q(ddb, name, "pk = :p", {":p": {"S": "big"}}, ProjectionExpression="sk",
             ExclusiveStartKey=r["LastEvaluatedKey"])
    assert sks(r) + sks(rest) == list(range(6))


@pytest.mark.parametrize("kwargs,message", [
    ({"KeyConditionExpression": "tag = :p", "ExpressionAttributeValues": A},
     "Query condition missed key schema element"),
    ({"KeyConditionExpression": "pk = :p OR sk = :p", "ExpressionAttributeValues": A}, None),
    ({"KeyConditionExpression": "pk = :p AND sk = :s", "ExpressionAttributeValues": {**A, ":s": {"S": "x"}}},
     "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A, "Select": "ALL_PROJECTED_ATTRIBUTES"},
     "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A, "Select": "ALL_ATTRIBUTES",
      "ProjectionExpression": "v"}, "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A, "Select": "SPECIFIC_ATTRIBUTES"},
     "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A, "Select": "COUNT",
      "ProjectionExpression": "v"}, "Cannot specify the ProjectionExpression when choosing to get only the Count"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {**A, ":unused": {"S": "x"}}},
     "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A, "IndexName": "nope"},
     "The table does not have the specified index: nope"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A,
      "ExclusiveStartKey": {"pk": {"S": "a"}}},
     "The provided starting key is invalid: The provided key element does not match the schema"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": A,
      "ExclusiveStartKey": {"pk": {"S": "b"}, "sk": {"N": "1"}}},
     "The provided starting key is outside query boundaries based on provided conditions"),
    ({"KeyConditionExpression": "pk = :p AND sk BETWEEN :hi AND :lo",
      "ExpressionAttributeValues": {**A, ":lo": {"N": "1"}, ":hi": {"N": "5"}}},
     "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to "
     "lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"),
])
def test_validation_errors(ddb, table, kwargs, message):
    code, msg = error_of(ddb.query, TableName=table, **kwargs)
    assert code == "ValidationException"
    if message is not None:
        assert msg.startswith(message), msg


def test_limit_must_be_positive(raw_ddb, table):
    code, msg = error_of(raw_ddb.query, TableName=table, KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues=A, Limit=0)
    assert code == "ValidationException" and "Member must have value greater than or equal to 1" in msg


def test_missing_key_condition(ddb, table):
    code, msg = error_of(ddb.query, TableName=table)
    assert msg == "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."


def test_unknown_table(ddb):
    code, _ = error_of(ddb.query, TableName="no_such_table", KeyConditionExpression="pk = :p",
                       ExpressionAttributeValues=A)
    assert code == "ResourceNotFoundException"


def test_begins_with_on_number_sort_key_rejected(ddb, table):
    code, msg = error_of(ddb.query, TableName=table, KeyConditionExpression="pk = :p AND begins_with(sk, :v)",
                         ExpressionAttributeValues={**A, ":v": {"N": "1"}})
    assert code == "ValidationException"



# --- ExclusiveStartKey against the key condition (dynalite's query tests, run against DynamoDB) ---------


@pytest.fixture(scope="module")
def hash_only(ddb):
    name = create_table(ddb, "query_h", ("pk", "N"))
    for pk in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"N": str(pk)}, "v": {"S": "x"}})
    return name


def test_hash_only_table_pages_and_resumes(ddb, hash_only):
    one = {":p": {"N": "3"}}
    r = q(ddb, hash_only, "pk = :p", one, Limit=1)
    assert r["Items"] == [{"pk": {"N": "3"}, "v": {"S": "x"}}]
    r = q(ddb, hash_only, "pk = :p", one, ExclusiveStartKey=r.get("LastEvaluatedKey") or {"pk": {"N": "3"}})
    assert (r["Items"], r["Count"], r.get("LastEvaluatedKey")) == ([], 0, None)
    # A start key of another partition key: outside the query (numbers compare by value: 3.0 is 3).
    r = q(ddb, hash_only, "pk = :p", one, ExclusiveStartKey={"pk": {"N": "3.0"}})
    assert r["Items"] == []
    assert error_of(ddb.query, TableName=hash_only, KeyConditionExpression="pk = :p", ExpressionAttributeValues=one,
                    ExclusiveStartKey={"pk": {"N": "4"}}) == ("ValidationException", OUTSIDE_MSG)


OUTSIDE_MSG = "The provided starting key is outside query boundaries based on provided conditions"


@pytest.mark.parametrize("cond,values,start,message", [
    ("pk = :p AND sk > :s", {":s": {"N": "5"}}, {"pk": {"S": "a"}, "sk": {"N": "2"}},
     "The provided starting key does not match the range key predicate"),
    ("pk = :p AND sk BETWEEN :s AND :t", {":s": {"N": "2"}, ":t": {"N": "4"}}, {"pk": {"S": "a"}, "sk": {"N": "9"}},
     "The provided starting key does not match the range key predicate"),
    ("pk = :p AND sk < :s", {":s": {"N": "5"}}, {"pk": {"S": "b"}, "sk": {"N": "2"}},
     "The query can return at most one row and cannot be restarted"),
    ("pk = :p", {}, {"pk": {"S": "b"}, "sk": {"N": "2"}}, OUTSIDE_MSG),
])
def test_start_key_outside_the_key_condition(ddb, table, cond, values, start, message):
    assert error_of(ddb.query, TableName=table, KeyConditionExpression=cond, ExpressionAttributeValues={**A, **values},
                    ExclusiveStartKey=start) == ("ValidationException", message)


def test_start_key_inside_a_sort_key_condition_resumes(ddb, table):
    r = q(ddb, table, "pk = :p AND sk BETWEEN :s AND :t", {**A, ":s": {"N": "2"}, ":t": {"N": "6"}},
          ExclusiveStartKey={"pk": {"S": "a"}, "sk": {"N": "4"}})
    assert sks(r) == [5, 6]
