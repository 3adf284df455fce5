"""The DynamoDB API through boto3, the AWS CLI and raw HTTP against a real
three-node cluster with its router."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tests.integration.admin import meta, raw_items, replicas
from tests.integration.conftest import wait_until

KEYS = dict(
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                          {"AttributeName": "sk", "AttributeType": "N"}],
)


def error(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e["Message"]


@pytest.fixture(scope="module")
def table(ddb):
    ddb.create_table(TableName="items", BillingMode="PAY_PER_REQUEST", **KEYS)
    return "items"


def test_create_describe_list_update_delete_table(ddb):
    r = ddb.create_table(TableName="lifecycle", ProvisionedThroughput={"ReadCapacityUnits": 5,
                                                                      "WriteCapacityUnits": 7},
                         Tags=[{"Key": "team", "Value": "db"}], **KEYS)["TableDescription"]
    assert r["TableName"] == "lifecycle"
    assert r["TableStatus"] in ("CREATING", "ACTIVE")
    assert r["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/lifecycle"
    d = ddb.describe_table(TableName="lifecycle")["Table"]
    assert d["TableStatus"] == "ACTIVE"
    assert d["KeySchema"] == KEYS["KeySchema"]
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert d["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert {"TableId", "CreationDateTime", "ItemCount", "TableSizeBytes", "AttributeDefinitions"} <= set(d)
    assert "lifecycle" in ddb.list_tables()["TableNames"]
    u = ddb.update_table(TableName="lifecycle", BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert u["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName="lifecycle", BillingMode="PAY_PER_REQUEST", **KEYS)
    assert error(e)[0] == "ResourceInUseException"
    assert ddb.delete_table(TableName="lifecycle")["TableDescription"]["TableStatus"] == "DELETING"
    wait_until(lambda: "lifecycle" not in ddb.list_tables()["TableNames"], 15, "the table to go")
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName="lifecycle")
    assert error(e) == ("ResourceNotFoundException",
                        "Requested resource not found: Table: lifecycle not found")


def test_list_tables_pages(ddb):
    names = [f"page{i}" for i in range(3)]
    for n in names:
        ddb.create_table(TableName=n, BillingMode="PAY_PER_REQUEST", **KEYS)
    first = ddb.list_tables(Limit=2)
    rest = ddb.list_tables(ExclusiveStartTableName=first["LastEvaluatedTableName"])
    listed = first["TableNames"] + rest["TableNames"]
    assert listed == sorted(listed)
    assert set(names) <= set(listed)
    for n in names:
        ddb.delete_table(TableName=n)


def test_put_get_update_delete_item(ddb, table):
    key = {"pk": {"S": "user#1"}, "sk": {"N": "1"}}
    item = {**key, "name": {"S": "Ann"}, "tags": {"SS": ["a", "b"]}, "n": {"N": "12.50"},
            "doc": {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}]}}}, "bin": {"B": b"\x00\x01"}}
    assert "Attributes" not in ddb.put_item(TableName=table, Item=item)
    got = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert got["name"] == {"S": "Ann"} and got["bin"] == {"B": b"\x00\x01"}
    assert got["doc"] == item["doc"]
    proj = ddb.get_item(TableName=table, Key=key, ProjectionExpression="#n, tags",
                        ExpressionAttributeNames={"#n": "name"}, ConsistentRead=True)["Item"]
    assert proj == {"name": {"S": "Ann"}, "tags": {"SS": ["a", "b"]}}
    old = ddb.put_item(TableName=table, Item={**key, "name": {"S": "Bob"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"]["name"] == {"S": "Ann"}
    upd = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET age = :a, #n = :n REMOVE gone",
                          ExpressionAttributeNames={"#n": "name"},
                          ExpressionAttributeValues={":a": {"N": "30"}, ":n": {"S": "Cy"}},
                          ReturnValues="UPDATED_NEW")
    assert upd["Attributes"] == {"age": {"N": "30"}, "name": {"S": "Cy"}}
    upd = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET age = age + :one",
                          ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")
    assert upd["Attributes"]["age"] == {"N": "31"}
    created = ddb.update_item(TableName=table, Key={"pk": {"S": "new"}, "sk": {"N": "2"}},
                              UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "x"}},
                              ReturnValues="ALL_NEW")["Attributes"]
    assert created == {"pk": {"S": "new"}, "sk": {"N": "2"}, "v": {"S": "x"}}
    gone = ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")["Attributes"]
    assert gone["age"] == {"N": "31"}
    assert "Item" not in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)


def test_conditions(ddb, table):
    key = {"pk": {"S": "cond"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={**key, "v": {"N": "9"}}, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert error(e) == ("ConditionalCheckFailedException", "The conditional request failed")
    assert e.value.response["Item"]["v"] == {"N": "1"}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :new", ConditionExpression="v = :old",
                    ExpressionAttributeValues={":old": {"N": "1"}, ":new": {"N": "2"}})
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key=key, ConditionExpression="v = :old AND attribute_exists(pk)",
                        ExpressionAttributeValues={":old": {"N": "1"}})
    assert error(e)[0] == "ConditionalCheckFailedException"
    ddb.delete_item(TableName=table, Key=key, ConditionExpression="attribute_exists(v) AND NOT v = :x",
                    ExpressionAttributeValues={":x": {"N": "1"}})
    assert "Item" not in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)


@pytest.mark.parametrize("call, code, message", [
    (lambda d: d.put_item(TableName="items", Item={"pk": {"S": "a"}}),
     "ValidationException", "One or more parameter values were invalid: Missing the key sk in the item"),
    (lambda d: d.get_item(TableName="items", Key={"pk": {"S": "a"}}),
     "ValidationException", "The provided key element does not match the schema"),
    (lambda d: d.put_item(TableName="items", Item={"pk": {"N": "1"}, "sk": {"N": "1"}}),
     "ValidationException", None),
    (lambda d: d.get_item(TableName="nope", Key={"pk": {"S": "a"}}),
     "ResourceNotFoundException", "Requested resource not found: Table: nope not found"),
    (lambda d: d.put_item(TableName="items", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y" * 410_000}}),
     "ValidationException", "Item size has exceeded the maximum allowed size"),
    (lambda d: d.create_table(TableName="a", BillingMode="PAY_PER_REQUEST", **KEYS),
     "ValidationException", None),
    (lambda d: d.put_item(TableName="items", Item={"pk": {"S": "a"}, "sk": {"N": "1"}},
                          ConditionExpression="attribute_exists(#missing)"),
     "ValidationException", "Invalid ConditionExpression: An expression attribute name used in the document "
                            "path is not defined; attribute name: #missing"),
    (lambda d: d.put_item(TableName="items", Item={"pk": {"S": "a"}, "sk": {"N": "1"}},
                          ExpressionAttributeValues={":unused": {"S": "x"}}, ConditionExpression="attribute_exists(pk)"),
     "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
    (lambda d: d.update_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                             UpdateExpression="SET pk = :v", ExpressionAttributeValues={":v": {"S": "b"}}),
     "ValidationException", None),
    (lambda d: d.put_item(TableName="items", Item={"pk": {"S": ""}, "sk": {"N": "1"}}),
     "ValidationException", None),
])
def test_validation_errors(ddb, table, call, code, message):
    with pytest.raises(ClientError) as e:
        call(ddb)
    got_code, got_message = error(e)
    assert got_code == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if message is not None:
        assert got_message == message


def test_each_write_reaches_all_three_replicas_in_three_azs(ddb, table, cluster):
    for i in range(40):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"r{i}"}, "sk": {"N": "0"}})
    m = meta(cluster)
    azs = {n["id"]: n["az"] for n in m["nodes"].values()}
    tid = m["tables"][table]["id"]
    total = 0
    for p in m["partitions"].values():
        if p.get("table_id") != tid:
            continue
        assert len(p["voters"]) == 3 and len({azs[v] for v in p["voters"]}) == 3

        def same_everywhere(p=p):
            copies = [raw_items(cluster, v, p["id"]) for v in p["voters"]]
            return copies if all(c == copies[0] for c in copies) else None

        copies = wait_until(same_everywhere, 10, f"replicas of {p['id']} to agree")
        total += sum(1 for v in copies[0].values() if '"r' in v)
    assert total == 40


def test_a_batch_write_takes_about_one_raft_entry_per_partition(ddb, cluster):
    """BatchWriteItem's items reach a partition's leader together and share its
    Raft entries (node/groups/merge.py), each still applied on every replica."""
    ddb.create_table(TableName="batched", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName="batched")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    ddb.put_item(TableName="batched", Item={"pk": {"S": "old"}})
    m = meta(cluster)
    tid = m["tables"]["batched"]["id"]
    groups = [p["id"] for p in m["partitions"].values() if p.get("table_id") == tid]

    def last_indexes() -> dict[str, int]:
        out = {}
        for node in cluster.node_ids():
            for g, r in replicas(cluster, node).items():
                if g in groups and r["role"] == "LEADER":
                    out[g] = r["last_index"]
        return out
    before = wait_until(lambda: (lambda li: li if len(li) == len(groups) else None)(last_indexes()), 10, "leaders")
    r = ddb.batch_write_item(RequestItems={"batched": [{"DeleteRequest": {"Key": {"pk": {"S": "old"}}}}] + [
        {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "n": {"N": str(i)}}}} for i in range(24)]})
    assert r["UnprocessedItems"] == {}
    after = last_indexes()
    entries = sum(after[g] - before[g] for g in groups)
    # One entry per partition per request message that reached its leader
    # (a message or two: the router's stream batches what waits); 25 unmerged.
    assert 0 < entries <= 3 * len(groups), (before, after)
    for g in groups:
        copies = wait_until(lambda g=g: (lambda c: c if all(x == c[0] for x in c) else None)(
            [raw_items(cluster, v, g) for v in m["partitions"][g]["voters"]]), 10, f"replicas of {g} to agree")
        assert not any('"old"' in v for v in copies[0].values())
    got = ddb.scan(TableName="batched", ConsistentRead=True)["Items"]
    assert sorted(int(i["n"]["N"]) for i in got) == list(range(24))


def _raw(endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict | str]:
    u = urlparse(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode()
    finally:
        conn.close()


def test_protocol_errors_are_clear(cluster):
    ep = cluster.endpoint
    ok = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"}
    status, body = _raw(ep, b"{not json", ok)
    assert status == 400 and body["__type"].endswith("#SerializationException")
    status, body = _raw(ep, b"{}", {**ok, "X-Amz-Target": "DynamoDB_20120810.Frobnicate"})
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, body = _raw(ep, b"{}", {"Content-Type": "application/x-amz-json-1.0"})
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, body = _raw(ep, b"{}", {**ok, "Content-Type": "text/plain"})
    assert status == 400
    status, body = _raw(ep, b"[1, 2]", ok)
    assert status == 400 and body["__type"].endswith("#SerializationException")
    # A body over 16 MB is refused from its headers, before it is read.
    u = urlparse(ep)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                  b"X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
                  + f"Content-Length: {17 * 1024 * 1024}\r\n\r\n".encode() + b"{" * 4096)
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"SerializationException" in answer
    status, body = _raw(ep, b"{}", ok)
    assert status == 200 and body == {"TableNames": body["TableNames"]}


def test_aws_cli(cluster, table):
    aws = Path(sys.executable).parent / "aws"
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed in this environment (make install adds it)")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")

    def cli(*args: str) -> dict:
        out = subprocess.run([str(aws), "dynamodb", *args, "--endpoint-url", cluster.endpoint, "--output", "json"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    assert table in cli("list-tables")["TableNames"]
    cli("put-item", "--table-name", table, "--item", '{"pk": {"S": "cli"}, "sk": {"N": "1"}, "v": {"S": "hi"}}')
    got = cli("get-item", "--table-name", table, "--key", '{"pk": {"S": "cli"}, "sk": {"N": "1"}}',
              "--consistent-read")
    assert got["Item"]["v"] == {"S": "hi"}
    out = subprocess.run([str(aws), "dynamodb", "describe-table", "--table-name", "missing",
                          "--endpoint-url", cluster.endpoint], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0 and "ResourceNotFoundException" in out.stderr
