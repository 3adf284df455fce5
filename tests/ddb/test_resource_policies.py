"""Resource-based policies' pure rules: the ARN, the document's checks, revisions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.errors import PolicyNotFoundException, ValidationException
from ddb.resource_policies import MAX_POLICY_BYTES, NO_POLICY, change, check_policy, parse_resource_arn
from ddb.tables import parse_create_table

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/Tab"
INVALID = "One or more parameter values were invalid: "


def doc(action="dynamodb:GetItem", **extra) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"}, "Action": action,
        "Resource": ARN, **extra}]})


def arn_of(arn):
    return parse_resource_arn(arn, region="us-east-1", account="000000000000")


def test_table_and_stream_arns():
    assert arn_of(ARN) == ("Tab", "")
    assert arn_of(ARN + "/stream/2026-12-06T00:00:00.000") == ("Tab", "2026-12-06T00:00:00.000")


@pytest.mark.parametrize("arn,message", [
    ("table/T", INVALID + "ARNs must start with 'arn:': table/T"),
    ("arn:aws:s3:::bucket", INVALID + "Provided Arn is not a DynamoDB resource arn: arn:aws:s3:::bucket"),
    (ARN + "/index/I", INVALID + "Invalid resource arn provided, only table or stream is accepted. Provided "
                                 "resource arn: " + ARN + "/index/I"),
    (ARN.replace("us-east-1", "eu-west-1"), "Invalid ResourceArn provided as input "
                                            + ARN.replace("us-east-1", "eu-west-1")),
])
def test_bad_arns(arn, message):
    with pytest.raises(ValidationException) as exc:
        arn_of(arn)
    assert exc.value.message == message


def test_documents():
    check_policy(doc(), stream=False)
    check_policy(doc("dynamodb:Get*"), stream=False)
    check_policy(doc(["dynamodb:GetRecords", "dynamodb:DescribeStream"]), stream=True)
    for text, stream, message in [
        ("", False, "Invalid policy document: Policy document must not be empty"),
        ("{", False, "Invalid policy document: Syntax errors in policy."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*",
                                                            "Resource": ARN}]}), False,
         "Invalid policy document: Missing required field Principal"),
        (doc(["dynamodb:ListStreams"]), True, 'Invalid policy document: The following action names are invalid: '
                                               '"dynamodb:ListStreams"'),
        (doc(["dynamodb:GetItem", "s3:GetObject"]), False,
         'Invalid policy document: The following action names are invalid: "s3:GetObject"'),
    ]:
        with pytest.raises(ValidationException) as exc:
            check_policy(text, stream=stream)
        assert exc.value.message == INVALID + message


def test_size_limit_counts_whitespace():
    text = doc()
    padded = text[:-1] + " " * (MAX_POLICY_BYTES - len(text)) + "}"
    check_policy(padded, stream=False)
    with pytest.raises(ValidationException, match="exceeds the maximum allowed size of 20480 bytes"):
        check_policy(padded[:-1] + " }", stream=False)


def test_create_table_checks_and_keeps_its_policy():
    body = {"TableName": "Tab", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    assert "ResourcePolicy" not in parse_create_table(body)
    assert parse_create_table({**body, "ResourcePolicy": doc()})["ResourcePolicy"] == doc()
    with pytest.raises(ValidationException, match="Invalid policy document"):
        parse_create_table({**body, "ResourcePolicy": "{}"})


def test_revisions():
    entry, rev = change(None, "p1", None, arn=ARN, now_ms=1000)
    assert entry == {"policy": "p1", "revision": "1000"} and rev == "1000"
    entry2, rev2 = change(entry, "p2", "1000", arn=ARN, now_ms=1000)  # same millisecond: still a new revision
    assert rev2 == "1001" and entry2["policy"] == "p2"
    assert change(entry2, "p2", None, arn=ARN, now_ms=5000) == (entry2, "1001")  # idempotent
    with pytest.raises(PolicyNotFoundException, match="revision id 999, but the policy associated to target"):
        change(entry2, "p3", "999", arn=ARN, now_ms=2000)
    with pytest.raises(PolicyNotFoundException):
        change(entry2, "p3", NO_POLICY, arn=ARN, now_ms=2000)
    assert change(None, "p1", NO_POLICY, arn=ARN, now_ms=5)[1] == "5"
    assert change(entry2, None, None, arn=ARN, now_ms=9) == (None, "1001")
    assert change(None, None, None, arn=ARN, now_ms=9) == (None, None)
    with pytest.raises(PolicyNotFoundException):
        change(None, None, "1001", arn=ARN, now_ms=9)


@given(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=8))
def test_revisions_always_increase(clock_steps):
    entry, now, seen = None, 0, []
    for i, step in enumerate(clock_steps):
        now += step
        entry, rev = change(entry, f"p{i}", None, arn=ARN, now_ms=now)
        seen.append(int(rev))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
