"""Resource-based policies on a real cluster (open mode), through boto3:
Put/Get/DeleteResourcePolicy on a table and on its stream, revisions and
ExpectedRevisionId, CreateTable's ResourcePolicy, DynamoDB's errors."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"


def policy(arn: str, action: str | list[str] = "dynamodb:GetItem") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadForBob", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"},
        "Action": action, "Resource": arn}]})


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def new_table(ddb, name: str = "", **extra) -> str:
    name = name or "rp_" + uuid.uuid4().hex[:8]
    desc = ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            **extra)["TableDescription"]
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return desc["TableArn"]


def test_table_policy_round_trip(ddb):
    arn = new_table(ddb)
    assert error(ddb.get_resource_policy, ResourceArn=arn) == (
        "PolicyNotFoundException", f"Resource-based policy not found for the provided ResourceArn: {arn}")
    first = ddb.put_resource_policy(ResourceArn=arn, Policy=policy(arn))["RevisionId"]
    got = ddb.get_resource_policy(ResourceArn=arn)
    assert (got["Policy"], got["RevisionId"]) == (policy(arn), first)
    assert ddb.put_resource_policy(ResourceArn=arn, Policy=policy(arn))["RevisionId"] == first  # idempotent
    code, msg = error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy(arn), ExpectedRevisionId="1")
    assert code == "PolicyNotFoundException" and f"has revision id {first}" in msg
    assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy(arn),
                 ExpectedRevisionId="NO_POLICY")[0] == "PolicyNotFoundException"
    second = ddb.put_resource_policy(ResourceArn=arn, Policy=policy(arn, "dynamodb:Query"),
                                     ExpectedRevisionId=first)["RevisionId"]
    assert int(second) > int(first)
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == policy(arn, "dynamodb:Query")
    assert ddb.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=second)["RevisionId"] == second
    assert error(ddb.get_resource_policy, ResourceArn=arn)[0] == "PolicyNotFoundException"
    assert "RevisionId" not in ddb.delete_resource_policy(ResourceArn=arn)  # nothing to delete: no revision
    ddb.delete_table(TableName=arn.rsplit("/", 1)[1])


def test_stream_policy_and_create_table_policy(ddb):
    name = "rp_" + uuid.uuid4().hex[:8]
    arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}"
    assert new_table(ddb, name, ResourcePolicy=policy(arn),
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}) == arn
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == policy(arn)
    stream = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    assert error(ddb.get_resource_policy, ResourceArn=stream)[0] == "PolicyNotFoundException"
    code, msg = error(ddb.put_resource_policy, ResourceArn=stream, Policy=policy(stream, "dynamodb:ListStreams"))
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: Invalid policy "
                                                  'document: The following action names are invalid: '
                                                  '"dynamodb:ListStreams"')
    rev = ddb.put_resource_policy(ResourceArn=stream, Policy=policy(stream, "dynamodb:GetRecords"))["RevisionId"]
    assert ddb.get_resource_policy(ResourceArn=stream)["RevisionId"] == rev
    assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == policy(arn)  # the table's is its own
    code, _ = error(ddb.create_table, TableName="rp_" + uuid.uuid4().hex[:8], BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], ResourcePolicy="{")
    assert code == "ValidationException"
    ddb.delete_table(TableName=name)


@pytest.mark.parametrize("bad,code,fragment", [
    ("{", "ValidationException", "Invalid policy document: Syntax errors in policy."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem",
                                                         "Resource": "*"}]}),
     "ValidationException", "Invalid policy document: Missing required field Principal"),
])
def test_bad_documents(ddb, bad, code, fragment):
    arn = new_table(ddb)
    got = error(ddb.put_resource_policy, ResourceArn=arn, Policy=bad)
    assert got[0] == code and fragment in got[1]
    ddb.delete_table(TableName=arn.rsplit("/", 1)[1])


def test_missing_resources(ddb):
    arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/absent_table"
    assert error(ddb.get_resource_policy, ResourceArn=arn) == (
        "ResourceNotFoundException", f"Requested resource not found: ResourceArn: {arn} not found")
    assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy(arn))[0] == "ResourceNotFoundException"
    assert error(ddb.get_resource_policy, ResourceArn=arn + "/index/i")[0] == "ValidationException"
