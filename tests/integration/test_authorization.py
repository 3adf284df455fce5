"""Authorization end to end: a cluster started with --auth, users with
identity policies, a table with a resource policy, reached with boto3 under
each user's keys. Needs authentication (LocalCluster(auth=True), the users'
meta calls): skipped on a tree without it."""

from __future__ import annotations

import configparser
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy.local import LocalCluster
from tests.integration.admin import meta_call
from tests.integration.conftest import discard, start_cluster, wait_until

pytestmark = pytest.mark.skipif("auth" not in inspect.signature(LocalCluster.__init__).parameters,
                                reason="authentication (LocalCluster(auth=True)) is not in this tree")
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path_factory.mktemp("authz"), auth=True)
    yield c
    discard(c)


def _client(cluster: LocalCluster, key: str, secret: str):
    return boto3.client("dynamodb", endpoint_url=cluster.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30))


def _user(cluster: LocalCluster, name: str, *statements: dict, ready: Callable[[Any], object]):
    """A new user with an identity policy, once the router's metadata view has
    both (``ready(client)`` passes)."""
    made = meta_call(cluster, "create_user", {"name": name, "with_key": True})
    assert made["ok"], made
    if statements:
        doc = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        assert meta_call(cluster, "put_user_policy", {"name": name, "policy_name": "p", "document": doc})["ok"]
    client = _client(cluster, made["key"]["AccessKeyId"], made["key"]["SecretAccessKey"])

    def passes() -> bool:
        try:
            ready(client)
            return True
        except ClientError:
            return False
    wait_until(passes, 10, f"the router knows user {name} and their policy")
    return client


def _known(client) -> None:
    """Passes once the router knows the caller (allowed or denied, not an unknown key)."""
    try:
        client.list_tables()
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AccessDeniedException":
            raise


@pytest.fixture(scope="module")
def admin(cluster):
    parser = configparser.ConfigParser()
    parser.read(cluster.credentials_file)
    profile = parser["trireme"]
    ddb = _client(cluster, profile["aws_access_key_id"], profile["aws_secret_access_key"])
    ddb.create_table(TableName="notes", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "owner", "KeyType": "HASH"},
                                {"AttributeName": "id", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "owner", "AttributeType": "S"},
                                           {"AttributeName": "id", "AttributeType": "S"}])
    ddb.get_waiter("table_exists").wait(TableName="notes", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    for owner in ("bob", "amy"):
        ddb.put_item(TableName="notes", Item={"owner": {"S": owner}, "id": {"S": "1"}, "title": {"S": owner}})
    return ddb


def _denied(call, **kwargs) -> str:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    return exc.value.response["Error"]["Message"]


def key(owner: str) -> dict:
    return {"owner": {"S": owner}, "id": {"S": "1"}}


def test_leading_keys_per_user(cluster, admin):
    own = {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": ARN + "notes",
           "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}}
    bob = _user(cluster, "bob", own, ready=lambda c: c.get_item(TableName="notes", Key=key("bob")))
    assert bob.get_item(TableName="notes", Key=key("bob"))["Item"]["title"] == {"S": "bob"}
    assert _denied(bob.get_item, TableName="notes", Key=key("amy")) == (
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: dynamodb:GetItem on resource: "
        f"{ARN}notes because no identity-based policy allows the dynamodb:GetItem action")
    _denied(bob.put_item, TableName="notes", Item={**key("amy"), "title": {"S": "mine now"}})
    assert admin.get_item(TableName="notes", Key=key("amy"))["Item"]["title"] == {"S": "amy"}  # untouched
    _denied(bob.delete_table, TableName="notes")


def test_explicit_deny_and_resource_policy(cluster, admin):
    ops = _user(cluster, "ops", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"},
                ready=lambda c: c.describe_table(TableName="notes"))
    assert "notes" in ops.list_tables()["TableNames"]
    assert _denied(ops.delete_table, TableName="notes").endswith("with an explicit deny in an identity-based policy")
    carol = _user(cluster, "carol", ready=_known)
    _denied(carol.get_item, TableName="notes", Key=key("bob"))
    admin.put_resource_policy(ResourceArn=ARN + "notes", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem",
                                                "Principal": {"AWS": "arn:aws:iam::000000000000:user/carol"},
                                                "Resource": ARN + "notes"}]}))
    assert carol.get_item(TableName="notes", Key=key("bob"))["Item"]["title"] == {"S": "bob"}
    _denied(carol.put_item, TableName="notes", Item=key("carol"))


def test_lambda_api_is_authorized_too(cluster, admin):
    made = meta_call(cluster, "create_user", {"name": "dave", "with_key": True})
    assert made["ok"], made
    lam = boto3.client("lambda", endpoint_url=cluster.endpoint, region_name="us-east-1",
                       aws_access_key_id=made["key"]["AccessKeyId"],
                       aws_secret_access_key=made["key"]["SecretAccessKey"],
                       config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30))

    def denied_not_unknown() -> bool:
        try:
            lam.list_functions()
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "AccessDeniedException"
        return False
    wait_until(denied_not_unknown, 10, "the router knows user dave")
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName="hello")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert exc.value.response["Error"]["Message"] == (
        "User: arn:aws:iam::000000000000:user/dave is not authorized to perform: lambda:GetFunction on resource: "
        "arn:aws:lambda:us-east-1:000000000000:function:hello because no identity-based policy allows the "
        "lambda:GetFunction action")
