"""The Authorizer against a real metadata state (the meta group's state
machine, driven by its commands): identity policies, the tables' and
streams' resource policies, AWS's denial messages, open mode and admins."""

from __future__ import annotations

import asyncio
import json

import pytest

from cluster.meta import MetaState
from ddb.errors import AccessDeniedException, ValidationException
from router.auth.authorize import Authorizer
from router.auth.caller import Caller, user_arn

REGION = "us-east-1"
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"
D = "DynamoDB_20120810."


def _state() -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "owner", "AttributeType": "S"},
                                     {"AttributeName": "id", "AttributeType": "S"},
                                     {"AttributeName": "tag", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": [{"IndexName": "by_tag", "Projection": {"ProjectionType": "ALL"},
                                        "KeySchema": [{"AttributeName": "tag", "KeyType": "HASH"}]}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}
    for name in ("notes", "audit"):
        assert s.apply({"op": "create_table", "name": name, "uuid": "u", "now": 1.0, "spec": spec,
                        "placements": [["n1"]]})["ok"]
    return s


def user(name: str, *statements: dict, enforced=True, admin=False, ip="10.0.0.9") -> Caller:
    policies = ({"Version": "2012-10-17", "Statement": list(statements)},) if statements else ()
    return Caller(name=name, arn=user_arn(name), access_key="AKIA" + name.upper(), policies=policies,
                  admin=admin, source_ip=ip, enforced=enforced)


def run(authorizer, caller, op, body, target=D):
    asyncio.run(authorizer(caller, target + op, body))


def denied(authorizer, caller, op, body, target=D) -> str:
    with pytest.raises(AccessDeniedException) as exc:
        run(authorizer, caller, op, body, target)
    assert exc.value.to_wire()[0] == 400
    return exc.value.message


@pytest.fixture
def state():
    return _state()


@pytest.fixture
def authz(state):
    return Authorizer(lambda: state, REGION, clock=lambda: 1.8e9)


def item(owner="bob"):
    return {"TableName": "notes", "Key": {"owner": {"S": owner}, "id": {"S": "1"}}}


def test_open_mode_and_admins_are_never_checked(authz):
    run(authz, user("anonymous", enforced=False), "DeleteTable", {"TableName": "notes"})
    run(authz, user("root", admin=True), "DeleteTable", {"TableName": "notes"})
    run(authz, user("root", admin=True), "SetFaults", {}, "TriremeAdmin_1.")


def test_default_deny_message(authz):
    assert denied(authz, user("bob"), "PutItem", {**item(), "Item": item()["Key"]}) == (
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: dynamodb:PutItem on resource: "
        f"{ARN}notes because no identity-based policy allows the dynamodb:PutItem action")


def test_explicit_deny_message(authz):
    bob = user("bob", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
               {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": ARN + "notes"})
    run(authz, bob, "DeleteTable", {"TableName": "audit"})
    assert denied(authz, bob, "DeleteTable", {"TableName": "notes"}).endswith(
        f"on resource: {ARN}notes with an explicit deny in an identity-based policy")


def test_leading_keys_per_user_uses_the_tables_key_schema(authz):
    policy = {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": ARN + "notes",
              "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}}
    bob = user("bob", policy)
    run(authz, bob, "GetItem", item("bob"))
    denied(authz, bob, "GetItem", item("amy"))
    run(authz, bob, "Query", {"TableName": "notes", "KeyConditionExpression": "#o = :o",
                              "ExpressionAttributeNames": {"#o": "owner"},
                              "ExpressionAttributeValues": {":o": {"S": "bob"}}})
    run(authz, user("amy", policy), "GetItem", item("amy"))


def test_an_index_is_its_own_resource_and_has_its_own_partition_key(authz):
    policy = {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": ARN + "notes/index/by_tag",
              "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["public"]}}}
    q = {"TableName": "notes", "IndexName": "by_tag", "KeyConditionExpression": "tag = :t"}
    run(authz, user("bob", policy), "Query", {**q, "ExpressionAttributeValues": {":t": {"S": "public"}}})
    denied(authz, user("bob", policy), "Query", {**q, "ExpressionAttributeValues": {":t": {"S": "secret"}}})
    msg = denied(authz, user("bob", policy), "GetItem", item())
    assert f"on resource: {ARN}notes because" in msg


def test_every_table_of_a_batch_is_checked(authz):
    bob = user("bob", {"Effect": "Allow", "Action": "dynamodb:BatchGetItem", "Resource": ARN + "notes"})
    body = {"RequestItems": {"notes": {"Keys": [item()["Key"]]}}}
    run(authz, bob, "BatchGetItem", body)
    msg = denied(authz, bob, "BatchGetItem", {"RequestItems": {**body["RequestItems"],
                                                              "audit": {"Keys": [item()["Key"]]}}})
    assert f"dynamodb:BatchGetItem on resource: {ARN}audit" in msg


def test_source_ip_and_secure_transport(authz):
    office = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
              "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/24"}, "Bool": {"aws:SecureTransport": "false"}}}
    run(authz, user("bob", office), "GetItem", item())
    denied(authz, user("bob", office, ip="192.168.1.1"), "GetItem", item())


def put_policy(state: MetaState, table: str, statements: list[dict], label: str = "") -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": statements})
    assert state.apply({"op": "resource_policy", "name": table, "label": label, "arn": ARN + table,
                        "policy": doc, "now_ms": 1})["ok"]


def test_a_table_policy_allows_alone_and_its_deny_wins(authz, state):
    eve = user("eve")
    denied(authz, eve, "GetItem", item())
    put_policy(state, "notes", [{"Effect": "Allow", "Principal": {"AWS": user_arn("eve")},
                                 "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                                 "Resource": [ARN + "notes", ARN + "notes/index/*"]}])
    run(authz, eve, "GetItem", item())
    run(authz, eve, "Query", {"TableName": "notes", "IndexName": "by_tag", "KeyConditionExpression": "tag = :t",
                              "ExpressionAttributeValues": {":t": {"S": "x"}}})  # the index's: in its table's
    denied(authz, eve, "GetItem", {**item(), "TableName": "audit"})
    denied(authz, user("bob"), "GetItem", item())
    admin_like = user("ops", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    put_policy(state, "audit", [{"Effect": "Deny", "Principal": "*", "Action": "dynamodb:DeleteTable",
                                 "Resource": ARN + "audit"}])
    assert denied(authz, admin_like, "DeleteTable", {"TableName": "audit"}).endswith(
        "with an explicit deny in a resource-based policy")
    run(authz, admin_like, "DeleteTable", {"TableName": "notes"})


def test_a_stream_policy(authz, state):
    label = state.tables["notes"].streams[0]["label"]
    stream = f"{ARN}notes/stream/{label}"
    reader = user("reader")
    denied(authz, reader, "DescribeStream", {"StreamArn": stream}, "DynamoDBStreams_20120810.")
    put_policy(state, "notes", [{"Effect": "Allow", "Principal": {"AWS": user_arn("reader")},
                                 "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords"], "Resource": stream}],
               label=label)
    run(authz, reader, "DescribeStream", {"StreamArn": stream}, "DynamoDBStreams_20120810.")
    run(authz, reader, "GetRecords", {"ShardIterator": stream + "|1|x"}, "DynamoDBStreams_20120810.")
    denied(authz, reader, "GetItem", item())  # the stream's policy says nothing of the table


def test_internal_targets_need_admin_credentials(authz):
    everything = user("bob", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert denied(authz, everything, "SetFaults", {}, "TriremeAdmin_1.").startswith(
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: trireme:SetFaults on resource: *")
    denied(authz, everything, "Replicate", {}, "TriremeReplication_1.")


def test_lambda_rest_checks(authz):
    invoker = user("bob", {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                           "Resource": "arn:aws:lambda:us-east-1:000000000000:function:hello"})
    asyncio.run(authz.rest(invoker, "POST", "/2015-03-31/functions/hello/invocations"))
    with pytest.raises(AccessDeniedException, match="lambda:DeleteFunction on resource: arn:aws:lambda"):
        asyncio.run(authz.rest(invoker, "DELETE", "/2015-03-31/functions/hello"))
    asyncio.run(authz.rest(invoker, "GET", "/trireme/url/abc/"))  # a function URL: its AuthType decides


def test_list_tables_is_denied_on_the_accounts_tables(authz):
    assert denied(authz, user("bob"), "ListTables", {}) == (
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: dynamodb:ListTables on resource: "
        f"{ARN}* because no identity-based policy allows the dynamodb:ListTables action")
    run(authz, user("bob", {"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"}), "ListTables", {})


def test_a_malformed_stored_policy_grants_nothing(authz):
    bob = Caller(name="bob", arn=user_arn("bob"), access_key="AKIABOB", enforced=True,
                 policies=({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "x"}},))
    denied(authz, bob, "ListTables", {})


def test_a_policy_that_locks_its_author_out_needs_confirmation(authz):
    owner = user("owner", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    lockout = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "dynamodb:PutResourcePolicy", "Resource": ARN + "notes"}]})
    harmless = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "dynamodb:DeleteTable", "Resource": ARN + "notes"}]})
    body = {"ResourceArn": ARN + "notes", "Policy": lockout}
    with pytest.raises(ValidationException, match="ConfirmRemoveSelfResourceAccess"):
        run(authz, owner, "PutResourcePolicy", body)
    run(authz, owner, "PutResourcePolicy", {**body, "ConfirmRemoveSelfResourceAccess": True})
    run(authz, owner, "PutResourcePolicy", {**body, "Policy": harmless})


def test_identity_policies_with_any_unicode_value(authz, state):
    bob = user("bob", {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
                       "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["日本"]}}})
    run(authz, bob, "GetItem", item("日本"))
    denied(authz, bob, "GetItem", item("bob"))
