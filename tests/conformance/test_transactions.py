"""TransactWriteItems, TransactGetItems and ExecuteTransaction as DynamoDB answers them.

Messages are the service's as captured by paritysuite/dynamodb-conformance
(tier3 transactions) unless a test says otherwise."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import create_table, error_of
from tests.integration.conftest import wait_until

CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]"


@pytest.fixture(scope="module")
def tables(ddb):
    create_table(ddb, "tx_a", ("pk", "S"))
    create_table(ddb, "tx_b", ("id", "N"), ("sk", "S"))
    create_table(ddb, "tx_ix", ("pk", "S"), ("sk", "S"), more_definitions={"g": "S", "l": "S"},
                 GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                          "Projection": {"ProjectionType": "ALL"}}],
                 LocalSecondaryIndexes=[{"IndexName": "by_l", "KeySchema": [
                     {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                     "Projection": {"ProjectionType": "ALL"}}],
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return "tx_a", "tx_b", "tx_ix"


def put(pk: str, table: str = "tx_a", **extra) -> dict:
    return {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, **extra.pop("attrs", {})}, **extra}}


def get(pk: str, table: str = "tx_a", **extra) -> dict:
    return {"Get": {"TableName": table, "Key": {"pk": {"S": pk}}, **extra}}


def item(ddb, pk: str, table: str = "tx_a") -> dict | None:
    return ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


def cancelled(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    err = exc.value.response
    assert err["Error"]["Code"] == "TransactionCanceledException", err
    return err


# --- validation -----------------------------------------------------------------------


def test_transact_items_between_one_and_one_hundred(ddb, raw_ddb, tables):
    for call in (raw_ddb.transact_write_items, raw_ddb.transact_get_items):
        assert error_of(call, TransactItems=[]) == ("ValidationException", (
            "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must "
            "have length greater than or equal to 1"))
    too_many = "1 validation error detected: Value at 'TransactItems' failed to satisfy constraint: Member " \
               "must have length less than or equal to 100"
    assert error_of(raw_ddb.transact_write_items, TransactItems=[put(f"m{i}") for i in range(101)]) == (
        "ValidationException", too_many)
    assert error_of(raw_ddb.transact_get_items, TransactItems=[get(f"m{i}") for i in range(101)]) == (
        "ValidationException", too_many)
    assert item(ddb, "m0") is None


def test_member_constraints_in_one_message(raw_ddb, tables):
    token = "x" * 37
    code, msg = error_of(raw_ddb.transact_write_items, TransactItems=[put("vo")], ClientRequestToken=token,
                         ReturnConsumedCapacity="BOGUS", ReturnItemCollectionMetrics="BOGUS2")
    assert code == "ValidationException"
    assert msg == (f"3 validation errors detected: Value '{token}' at 'clientRequestToken' failed to satisfy "
                   "constraint: Member must have length less than or equal to 36; Value 'BOGUS' at "
                   "'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: "
                   "[INDEXES, TOTAL, NONE]; Value 'BOGUS2' at 'returnItemCollectionMetrics' failed to satisfy "
                   "constraint: Member must satisfy enum value set: [SIZE, NONE]")


def test_one_operation_per_item_and_per_element(ddb, raw_ddb, tables):
    assert error_of(ddb.transact_write_items, TransactItems=[put("dup"), {"Delete": {
        "TableName": "tx_a", "Key": {"pk": {"S": "dup"}}}}]) == (
        "ValidationException", "Transaction request cannot include multiple operations on one item")
    assert error_of(raw_ddb.transact_write_items, TransactItems=[{**put("two"), "Delete": {
        "TableName": "tx_a", "Key": {"pk": {"S": "two"}}}}]) == (
        "ValidationException", "TransactItems can only contain one of Check, Put, Update or Delete")
    assert item(ddb, "dup") is None and item(ddb, "two") is None


def test_missing_table_names_no_table(ddb, tables):
    assert error_of(ddb.transact_write_items, TransactItems=[put("x", table="tx_missing")]) == (
        "ResourceNotFoundException", "Requested resource not found")
    assert error_of(ddb.transact_get_items, TransactItems=[get("x", table="tx_missing")]) == (
        "ResourceNotFoundException", "Requested resource not found")


def test_expression_errors_come_before_tables(ddb, tables):
    assert error_of(ddb.transact_write_items, TransactItems=[put("a", table="tx_missing"), {"ConditionCheck": {
        "TableName": "tx_a", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_not_exists("}}]) == (
        "ValidationException", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "("')
    assert error_of(ddb.transact_write_items, TransactItems=[{"ConditionCheck": {
        "TableName": "tx_a", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_not_exists(pk)",
        "ExpressionAttributeValues": {":v": {"S": "x"}}}}, put("a", table="tx_missing")]) == (
        "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}")
    assert error_of(ddb.transact_get_items, TransactItems=[get("a", ProjectionExpression="!!!")]) == (
        "ValidationException", 'Invalid ProjectionExpression: Syntax error; token: "!", near: "!!"')


def test_key_errors(ddb, raw_ddb, tables):
    assert error_of(ddb.transact_write_items, TransactItems=[put("")]) == ("ValidationException", (
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an "
        "empty string value. Key: pk"))
    err = cancelled(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "tx_a", "Item": {"pk": {"N": "5"}}}}])
    assert err["Message"] == CANCELLED.format("ValidationError")
    assert err["CancellationReasons"] == [{"Code": "ValidationError", "Message": (
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")}]
    err = cancelled(ddb.transact_write_items, TransactItems=[put("ok"), {"Delete": {
        "TableName": "tx_a", "Key": {"pk": {"N": "5"}}}}])
    assert err["CancellationReasons"] == [{"Code": "None"}, {
        "Code": "ValidationError", "Message": "The provided key element does not match the schema"}]
    err = cancelled(raw_ddb.transact_get_items, TransactItems=[{"Get": {"TableName": "tx_a", "Key": {}}}])
    assert [r["Code"] for r in err["CancellationReasons"]] == ["ValidationError"]
    assert item(ddb, "ok") is None


def test_aggregate_size_over_four_megabytes(ddb, tables):
    big = "x" * 400_000
    code, msg = error_of(ddb.transact_write_items, TransactItems=[
        put(f"big{i}", attrs={"v": {"S": big}}) for i in range(11)])
    assert code == "ValidationException" and "4 MB" in msg
    assert item(ddb, "big0") is None


# --- writes and reads -------------------------------------------------------------------


def test_all_actions_apply_together(ddb, tables):
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "w-old"}, "n": {"N": "1"}})
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "w-check"}, "ok": {"BOOL": True}})
    ddb.transact_write_items(TransactItems=[
        put("w-new", attrs={"v": {"S": "new"}}, ConditionExpression="attribute_not_exists(pk)"),
        {"Update": {"TableName": "tx_a", "Key": {"pk": {"S": "w-old"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": "tx_b", "Key": {"id": {"N": "1"}, "sk": {"S": "gone"}}}},
        {"ConditionCheck": {"TableName": "tx_a", "Key": {"pk": {"S": "w-check"}},
                            "ConditionExpression": "ok = :t", "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
    ])
    got = ddb.transact_get_items(TransactItems=[
        get("w-new"), get("w-old", ProjectionExpression="n"), get("w-absent"),
        {"Get": {"TableName": "tx_b", "Key": {"id": {"N": "1"}, "sk": {"S": "gone"}}}}])["Responses"]
    assert got == [{"Item": {"pk": {"S": "w-new"}, "v": {"S": "new"}}}, {"Item": {"n": {"N": "2"}}}, {}, {}]


def test_cancellation_reasons_in_request_order_with_the_old_item(ddb, tables):
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "c-exists"}, "v": {"S": "old"}})
    err = cancelled(ddb.transact_write_items, TransactItems=[
        put("c-fresh", ConditionExpression="attribute_not_exists(pk)"),
        put("c-exists", attrs={"v": {"S": "new"}}, ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        {"ConditionCheck": {"TableName": "tx_a", "Key": {"pk": {"S": "c-none"}},
                            "ConditionExpression": "attribute_exists(pk)"}}])
    assert err["Message"] == CANCELLED.format("None, ConditionalCheckFailed, ConditionalCheckFailed")
    assert err["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
         "Item": {"pk": {"S": "c-exists"}, "v": {"S": "old"}}},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}]
    assert item(ddb, "c-fresh") is None
    assert item(ddb, "c-exists") == {"pk": {"S": "c-exists"}, "v": {"S": "old"}}
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "c-fresh"}})  # no lock was left behind


def test_token_replays_the_success_and_refuses_other_parameters(ddb, tables):
    token = str(uuid.uuid4())
    update = {"Update": {"TableName": "tx_a", "Key": {"pk": {"S": "idem"}}, "UpdateExpression": "ADD n :one",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}
    for _ in range(3):
        ddb.transact_write_items(TransactItems=[update], ClientRequestToken=token)
    assert item(ddb, "idem")["n"] == {"N": "1"}
    assert error_of(ddb.transact_write_items, TransactItems=[update, put("idem-other")],
                    ClientRequestToken=token)[0] == "IdempotentParameterMismatchException"
    assert item(ddb, "idem-other") is None
    ddb.transact_write_items(TransactItems=[update])  # boto3's own token: a new transaction
    assert item(ddb, "idem")["n"] == {"N": "2"}


def test_a_cancelled_token_may_be_retried(ddb, tables):
    token = str(uuid.uuid4())
    check = {"ConditionCheck": {"TableName": "tx_a", "Key": {"pk": {"S": "retry-gate"}},
                                "ConditionExpression": "attribute_exists(pk)"}}
    cancelled(ddb.transact_write_items, TransactItems=[check, put("retry-new")], ClientRequestToken=token)
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "retry-gate"}})
    ddb.transact_write_items(TransactItems=[check, put("retry-new")], ClientRequestToken=token)
    assert item(ddb, "retry-new") is not None


def test_capacity_is_twice_the_units(ddb, tables):
    out = ddb.transact_write_items(ReturnConsumedCapacity="INDEXES", TransactItems=[
        put("cap1"), {"Put": {"TableName": "tx_ix", "Item": {"pk": {"S": "cap"}, "sk": {"S": "1"},
                                                              "g": {"S": "x"}}}}])
    by_table = {c["TableName"]: c for c in out["ConsumedCapacity"]}
    assert by_table["tx_a"] == {"TableName": "tx_a", "CapacityUnits": 2.0, "Table": {"CapacityUnits": 2.0}}
    assert by_table["tx_ix"] == {"TableName": "tx_ix", "CapacityUnits": 4.0, "Table": {"CapacityUnits": 2.0},
                                 "GlobalSecondaryIndexes": {"by_g": {"CapacityUnits": 2.0}}}
    out = ddb.transact_get_items(ReturnConsumedCapacity="TOTAL", TransactItems=[get("cap1"), get("nothing")])
    assert out["ConsumedCapacity"] == [{"TableName": "tx_a", "CapacityUnits": 4.0}]


def test_item_collection_metrics_for_local_indexes(ddb, tables):
    out = ddb.transact_write_items(ReturnItemCollectionMetrics="SIZE", TransactItems=[
        {"Put": {"TableName": "tx_ix", "Item": {"pk": {"S": "icm"}, "sk": {"S": "1"}, "l": {"S": "a"}}}},
        put("icm")])
    assert out["ItemCollectionMetrics"] == {"tx_ix": [{"ItemCollectionKey": {"pk": {"S": "icm"}},
                                                       "SizeEstimateRangeGB": [0.0, 1.0]}]}


def test_indexes_and_stream_see_all_or_nothing(ddb, tables):
    sc = boto3.client("dynamodbstreams", endpoint_url=ddb.meta.endpoint_url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    row = {"TableName": "tx_ix", "Item": {"pk": {"S": "ix"}, "sk": {"S": "1"}, "g": {"S": "gi"}, "l": {"S": "li"}}}
    cancelled(ddb.transact_write_items, TransactItems=[
        {"Put": row}, {"ConditionCheck": {"TableName": "tx_a", "Key": {"pk": {"S": "ix-gate"}},
                                          "ConditionExpression": "attribute_exists(pk)"}}])
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "ix-gate"}})
    ddb.transact_write_items(TransactItems=[
        {"Put": row}, {"ConditionCheck": {"TableName": "tx_a", "Key": {"pk": {"S": "ix-gate"}},
                                          "ConditionExpression": "attribute_exists(pk)"}}])
    lsi = ddb.query(TableName="tx_ix", IndexName="by_l", KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "ix"}}, ConsistentRead=True)["Items"]
    assert [i["l"] for i in lsi] == [{"S": "li"}]
    wait_until(lambda: ddb.query(TableName="tx_ix", IndexName="by_g", KeyConditionExpression="g = :g",
                                 ExpressionAttributeValues={":g": {"S": "gi"}})["Count"] == 1, 10, "the GSI entry")
    arn = ddb.describe_table(TableName="tx_ix")["Table"]["LatestStreamArn"]
    keys = []
    for shard in sc.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = sc.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        keys += [r["dynamodb"]["Keys"] for r in sc.get_records(ShardIterator=it)["Records"]
                 if r["dynamodb"]["Keys"]["pk"] == {"S": "ix"}]
    assert keys == [{"pk": {"S": "ix"}, "sk": {"S": "1"}}]


# --- ExecuteTransaction -----------------------------------------------------------------


def test_execute_transaction_writes_and_reads(ddb, tables):
    ddb.put_item(TableName="tx_b", Item={"id": {"N": "7"}, "sk": {"S": "s"}})
    ddb.execute_transaction(TransactStatements=[
        {"Statement": "INSERT INTO tx_a VALUE {'pk': 'pq1', 'n': 1}"},
        {"Statement": "UPDATE tx_b SET v = ? WHERE id = 7 AND sk = 's'", "Parameters": [{"S": "seven"}]}])
    out = ddb.execute_transaction(TransactStatements=[
        {"Statement": "SELECT n FROM tx_a WHERE pk = 'pq1'"},
        {"Statement": "SELECT * FROM tx_b WHERE id = 7 AND sk = 's'"}])
    assert out["Responses"] == [{"Item": {"n": {"N": "1"}}},
                                {"Item": {"id": {"N": "7"}, "sk": {"S": "s"}, "v": {"S": "seven"}}}]


def test_execute_transaction_duplicate_insert_and_mixing(ddb, tables):
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "pq-dup"}})
    err = cancelled(ddb.execute_transaction, TransactStatements=[
        {"Statement": "INSERT INTO tx_a VALUE {'pk': 'pq-new'}"},
        {"Statement": "INSERT INTO tx_a VALUE {'pk': 'pq-dup'}"}])
    assert [r["Code"] for r in err["CancellationReasons"]] == ["None", "DuplicateItem"]
    assert item(ddb, "pq-new") is None
    assert error_of(ddb.execute_transaction, TransactStatements=[
        {"Statement": "SELECT * FROM tx_a WHERE pk = 'pq-dup'"},
        {"Statement": "DELETE FROM tx_a WHERE pk = 'pq-dup'"}]) == (
        "ValidationException", "Supplied ExecuteTransaction must contain either all reads or all writes")
    assert item(ddb, "pq-dup") is not None


def test_execute_transaction_members_and_token(ddb, raw_ddb, tables):
    assert error_of(raw_ddb.execute_transaction, TransactStatements=[]) == ("ValidationException", (
        "1 validation error detected: Value '[]' at 'transactStatements' failed to satisfy constraint: Member must "
        "have length greater than or equal to 1"))
    code, msg = error_of(raw_ddb.execute_transaction, ClientRequestToken="t" * 37, TransactStatements=[
        {"Statement": f"INSERT INTO tx_a VALUE {{'pk': 'pq-many{i}'}}"} for i in range(101)])
    assert code == "ValidationException" and msg.startswith("2 validation errors detected: Value 'ttt")
    assert "Member must have length less than or equal to 100" in msg
    token = str(uuid.uuid4())
    statement = [{"Statement": "UPDATE tx_a SET n = n + 1 WHERE pk = 'pq-idem'"}]
    ddb.put_item(TableName="tx_a", Item={"pk": {"S": "pq-idem"}, "n": {"N": "0"}})
    for _ in range(2):
        ddb.execute_transaction(TransactStatements=statement, ClientRequestToken=token)
    assert item(ddb, "pq-idem")["n"] == {"N": "1"}
    assert error_of(ddb.execute_transaction, ClientRequestToken=token, TransactStatements=[
        {"Statement": "UPDATE tx_a SET n = n + 2 WHERE pk = 'pq-idem'"}])[0] == "IdempotentParameterMismatchException"
