"""Authentication end to end: a cluster started with --auth (`trireme up
--auth`), reached with boto3 and raw HTTP."""

from __future__ import annotations

import configparser
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from deploy.local import LocalCluster, post
from tests.integration.admin import meta_call
from tests.integration.conftest import discard, start_cluster, wait_until

SESSION_S = 3  # TRIREME_SESSION_MIN_S: the shortest session this cluster grants (STS's is 900)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path_factory.mktemp("auth"), auth=True, extra_env={"TRIREME_SESSION_MIN_S": str(SESSION_S)})
    yield c
    discard(c)


def _client(cluster: LocalCluster, key: str, secret: str, token: str | None = None, service: str = "dynamodb"):
    # No client-side validation: botocore refuses a DurationSeconds under STS's 900 before sending it.
    return boto3.client(service, endpoint_url=cluster.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30,
                                      parameter_validation=False))


def _admin(cluster: LocalCluster):
    parser = configparser.ConfigParser()
    parser.read(cluster.credentials_file)
    profile = parser["trireme"]
    return _client(cluster, profile["aws_access_key_id"], profile["aws_secret_access_key"])


def _raw(cluster: LocalCluster, headers: dict[str, str], body: bytes = b"{}") -> tuple[int, dict]:
    req = urllib.request.Request(cluster.endpoint, data=body, method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _signed_headers(cluster: LocalCluster, key: str, secret: str, body: bytes = b"{}") -> dict[str, str]:
    req = AWSRequest(method="POST", url=cluster.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"})
    SigV4Auth(Credentials(key, secret), "dynamodb", "us-east-1").add_auth(req)
    return dict(req.headers)


def _error(exc_info) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err.get("Message", "")


LIST_TABLES = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:ListTables", ' \
              '"Resource": "*"}]}'  # what these tests call; a user without a policy is denied everything


def _new_user(cluster: LocalCluster, name: str) -> tuple[str, str]:
    made = meta_call(cluster, "create_user", {"name": name, "with_key": True})
    assert made["ok"], made
    attached = meta_call(cluster, "put_user_policy", {"name": name, "policy_name": "list", "document": LIST_TABLES})
    assert attached["ok"], attached
    key, secret = made["key"]["AccessKeyId"], made["key"]["SecretAccessKey"]
    # As in IAM, a new key works once the change has reached the router (its metadata watch).
    wait_until(lambda: _client(cluster, key, secret).list_tables(), 10, "the router to know the new key")
    return key, secret


def test_admin_credentials_file_works_with_boto3(cluster):
    assert (cluster.credentials_file.stat().st_mode & 0o777) == 0o600
    # As in IAM, the admin's new key works once the change has reached the router (its metadata watch).
    wait_until(lambda: "TableNames" in _admin(cluster).list_tables(), 10, "the router to know the admin's key")


def test_unsigned_request_is_refused(cluster):
    status, body = _raw(cluster, {})
    assert status == 400
    assert body["__type"].endswith("#MissingAuthenticationTokenException")
    assert body["message"] == "Request is missing Authentication Token"


def test_garbage_signature_is_refused(cluster):
    key, secret = _new_user(cluster, "garbage")
    headers = _signed_headers(cluster, key, secret)
    headers["Authorization"] = headers["Authorization"][:-8] + "00000000"
    status, body = _raw(cluster, headers)
    assert status == 400 and body["__type"].endswith("#InvalidSignatureException")
    assert body["message"].startswith("The request signature we calculated does not match")
    status, body = _raw(cluster, {**_signed_headers(cluster, key, secret), "Authorization": "AWS4-HMAC-SHA256 x"})
    assert status == 400 and body["__type"].endswith("#IncompleteSignatureException")


def test_unknown_key_and_wrong_secret_are_refused(cluster):
    with pytest.raises(ClientError) as err:
        _client(cluster, "AKIAUNKNOWNUNKNOWN00", "x").list_tables()
    assert _error(err) == ("UnrecognizedClientException", "The security token included in the request is invalid.")
    key, _ = _new_user(cluster, "wrongsecret")
    with pytest.raises(ClientError) as err:
        _client(cluster, key, "not-the-secret").list_tables()
    assert _error(err)[0] == "InvalidSignatureException"


def test_expired_and_replayed_requests_are_refused(cluster):
    key, secret = _new_user(cluster, "replay")
    headers = _signed_headers(cluster, key, secret)
    assert _raw(cluster, headers)[0] == 200  # within the window a captured request still passes (as in AWS)
    old = time.gmtime(time.time() - 16 * 60)
    stale = {**headers, "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", old)}
    status, body = _raw(cluster, stale)  # its date moved: the signature no longer matches, or it is too old
    assert status == 400 and body["__type"].endswith("#InvalidSignatureException")
    # A request signed 16 minutes ago, replayed now: refused as expired.
    import unittest.mock as mock
    import datetime
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=datetime.datetime.utcnow() - datetime.timedelta(minutes=16)):
        replayed = _signed_headers(cluster, key, secret)
    status, body = _raw(cluster, replayed)
    assert status == 400 and body["message"].startswith("Signature expired:")


def test_created_user_keys_work_and_deactivated_key_is_refused(cluster):
    key, secret = _new_user(cluster, "alice")
    client = _client(cluster, key, secret)
    assert "TableNames" in client.list_tables()
    assert meta_call(cluster, "set_access_key_status", {"name": "alice", "key_id": key, "status": "Inactive"})["ok"]

    def refused():
        try:
            client.list_tables()
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "UnrecognizedClientException"
        return False
    wait_until(refused, 10, "the deactivated key refused")


def test_session_token_works_then_expires(cluster):
    key, secret = _new_user(cluster, "sessions")
    sts = _client(cluster, key, secret, service="sts")
    creds = sts.get_session_token(DurationSeconds=SESSION_S)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    temp = _client(cluster, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert wait_until(lambda: temp.list_tables(), 10, "the session credential to reach the router")
    with pytest.raises(ClientError) as err:  # the token is part of the credential
        _client(cluster, creds["AccessKeyId"], creds["SecretAccessKey"], "forged").list_tables()
    assert _error(err)[0] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as err:
        sts.get_session_token(DurationSeconds=200000)
    assert _error(err)[0] == "ValidationError"

    def expired():
        try:
            temp.list_tables()
        except ClientError as exc:
            err = exc.response["Error"]
            return (err["Code"], err["Message"]) == (
                "ExpiredTokenException", "The security token included in the request is expired")
        return False
    wait_until(expired, SESSION_S + 10, "the session token expired", interval=0.5)


def test_admin_endpoint_needs_an_admin(cluster):
    key, secret = _new_user(cluster, "notadmin")
    admin = cluster.admin_endpoint()
    status, body = post(admin, "Faults", {}, prefix="TriremeAdmin_1", credentials=(key, secret))
    assert status == 400 and b"AccessDeniedException" in body
    status, body = post(admin, "Faults", {}, prefix="TriremeAdmin_1")
    assert status == 400 and b"MissingAuthenticationTokenException" in body
    status, _ = post(admin, "Faults", {}, prefix="TriremeAdmin_1", credentials=cluster.credentials())
    assert status == 200
    # The DynamoDB port does not serve the admin operations at all (not even to the admin).
    status, body = post(cluster.endpoint, "Faults", {}, prefix="TriremeAdmin_1", credentials=cluster.credentials())
    assert status == 400 and b"UnknownOperationException" in body


def test_replication_operations_need_an_admin(cluster):
    key, secret = _new_user(cluster, "notinternal")
    status, body = post(cluster.endpoint, "Replicate", {}, prefix="TriremeReplication_1", credentials=(key, secret))
    assert status == 400 and b"AccessDeniedException" in body


def test_chaos_tools_work_with_auth(cluster):
    """`trireme chaos` signs its router calls with the admin's keys."""
    from chaos.faults import LocalChaos

    chaos = LocalChaos(cluster)
    chaos.latency(["router1"], 1.0)
    try:
        router = next(r for r in chaos.in_effect() if r.get("node") == "router1" or r.get("router") == "router1")
        assert router["state"] == "up" and router["faults"], router
    finally:
        chaos.heal()


def test_users_cli(cluster, capsys, tmp_path):
    from client.cli import main

    assert main(["users", "--data-dir", str(cluster.data_dir), "add", "carol"]) == 0
    out = capsys.readouterr().out
    key = out.split("access key id:")[1].split()[0]
    secret = out.split("secret access key:")[1].split()[0]
    (tmp_path / "list.json").write_text(LIST_TABLES)
    assert main(["users", "--data-dir", str(cluster.data_dir), "put-policy", "carol", "list",
                 str(tmp_path / "list.json")]) == 0
    assert wait_until(lambda: _client(cluster, key, secret).list_tables(), 10, "carol's key to work")
    assert main(["users", "--data-dir", str(cluster.data_dir), "keys", "deactivate", "carol", key]) == 0
    assert main(["users", "--data-dir", str(cluster.data_dir), "list"]) == 0
    assert f"{key} (inactive)" in capsys.readouterr().out
    assert main(["users", "--data-dir", str(cluster.data_dir), "remove", "nobody"]) == 1
    assert "The user with name nobody cannot be found." in capsys.readouterr().err


def test_global_table_across_regions_with_auth(tmp_path):
    """Both regions enforce signatures: the calls between them (replica
    creation, replication of writes) carry the cluster's internal credential,
    derived from the master key the two regions share."""
    from deploy.local import free_port

    us, eu = "us-east-1", "eu-west-1"
    ports = {us: free_port(), eu: free_port()}
    key_file = str(tmp_path / "kms" / "master.key")
    started: list[LocalCluster] = []
    try:
        for region, other in ((us, eu), (eu, us)):
            c = LocalCluster(tmp_path / region, router_port=ports[region], node_base_port=0, region=region,
                             remote_regions={other: f"http://127.0.0.1:{ports[other]}"}, auth=True,
                             key_file=key_file)
            started.append(c)
            c.plan()
            c.start(wait_s=60)
        clients = {}
        for c in started:
            key, secret = c.credentials()
            clients[c.region] = boto3.client("dynamodb", endpoint_url=c.endpoint, region_name=c.region,
                                             aws_access_key_id=key, aws_secret_access_key=secret)
        a, b = clients[us], clients[eu]
        a.create_table(TableName="glob", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                       StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        wait_until(lambda: a.describe_table(TableName="glob")["Table"]["TableStatus"] == "ACTIVE", 60, "ACTIVE")
        a.update_table(TableName="glob", ReplicaUpdates=[{"Create": {"RegionName": eu}}])
        wait_until(lambda: all(r["ReplicaStatus"] == "ACTIVE" for r in
                               a.describe_table(TableName="glob")["Table"].get("Replicas", [{"ReplicaStatus": "-"}])),
                   90, "the replica in eu-west-1 ACTIVE")
        a.put_item(TableName="glob", Item={"pk": {"S": "from-us"}})
        wait_until(lambda: b.get_item(TableName="glob", Key={"pk": {"S": "from-us"}}).get("Item"), 30,
                   "the write replicated to eu-west-1")
    finally:
        for c in started:
            c.stop()


def test_lambda_api_needs_a_signature_and_trireme_logs_signs(cluster):
    from client.logs_cmd import fetch

    with pytest.raises(urllib.error.HTTPError) as err:  # unsigned: Lambda's 403
        fetch(cluster.endpoint, "nofunction", 0)
    assert err.value.code == 403 and err.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert fetch(cluster.endpoint, "nofunction", 0, credentials=cluster.credentials()) is None  # signed: a 404
    admin_key, admin_secret = cluster.credentials()
    lam = _client(cluster, admin_key, admin_secret, service="lambda")
    assert lam.list_functions()["Functions"] == []
    with pytest.raises(ClientError) as denied:
        _client(cluster, admin_key, "wrong", service="lambda").list_functions()
    assert _error(denied)[0] == "InvalidSignatureException"


def test_auth_and_tls_together_serve_a_created_user_over_https(tmp_path, capsys):
    """`trireme up --auth --tls`: a user made with `trireme users` reaches the
    HTTPS endpoint with boto3 trusting the cluster's CA, and its policy decides."""
    from client.cli import main

    c = start_cluster(tmp_path / "c", auth=True, tls=True)
    try:
        assert c.endpoint.startswith("https://")
        assert main(["users", "--data-dir", str(c.data_dir), "add", "dana"]) == 0
        out = capsys.readouterr().out
        key = out.split("access key id:")[1].split()[0]
        secret = out.split("secret access key:")[1].split()[0]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:GetItem"]}]}
        (tmp_path / "p.json").write_text(json.dumps(policy))
        assert main(["users", "--data-dir", str(c.data_dir), "put-policy", "dana", "rw", str(tmp_path / "p.json")]) == 0
        ddb = boto3.client("dynamodb", endpoint_url=c.endpoint, region_name="us-east-1", aws_access_key_id=key,
                           aws_secret_access_key=secret, verify=str(c.ca_file),
                           config=Config(retries={"total_max_attempts": 1}))
        wait_until(lambda: _known(ddb), 15, "the router to know dana's key and policy")
        ddb.create_table(TableName="secure", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        wait_until(lambda: ddb.describe_table(TableName="secure")["Table"]["TableStatus"] == "ACTIVE", 30,
                   "the table to become ACTIVE")
        ddb.put_item(TableName="secure", Item={"pk": {"S": "a"}, "v": {"S": "x"}})
        assert ddb.get_item(TableName="secure", Key={"pk": {"S": "a"}})["Item"]["v"] == {"S": "x"}
        with pytest.raises(ClientError) as e:
            ddb.delete_table(TableName="secure")
        assert _error(e)[0] == "AccessDeniedException" and "dynamodb:DeleteTable" in _error(e)[1]
    finally:
        c.stop()


def _known(ddb) -> bool:
    """The router knows the key and its policy: a DescribeTable of a missing table is not found, not denied."""
    try:
        ddb.describe_table(TableName="missing-table")
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _signed_get(url: str, key: str, secret: str) -> tuple[int, bytes]:
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    return _get(url, dict(req.headers))


def test_a_function_url_with_aws_iam_auth_serves_only_allowed_signed_callers(cluster):
    from tests.conformance.test_lambda import ROLE, zipped

    code = zipped("def handler(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n")
    admin_key, admin_secret = cluster.credentials()
    lam = _client(cluster, admin_key, admin_secret, service="lambda")
    urls = {}
    for name, auth in (("private-fn", "AWS_IAM"), ("public-fn", "NONE")):
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code})
        urls[auth] = lam.create_function_url_config(FunctionName=name, AuthType=auth)["FunctionUrl"]
    private = urls["AWS_IAM"]
    wait_until(lambda: _signed_get(private, admin_key, admin_secret) == (200, b"hello"), 30,
               "the admin's signed request to the private URL")
    assert _get(urls["NONE"]) == (200, b"hello")  # AuthType NONE: public, as in Lambda
    assert _get(private) == (403, b'{"Message":"Forbidden"}')  # unsigned
    assert _signed_get(private, admin_key, "wrong")[0] == 403
    key, secret = _new_user(cluster, "url-caller")  # may list tables, nothing else
    assert _signed_get(private, key, secret) == (403, b'{"Message":"Forbidden"}')
    allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl",
               "Resource": "arn:aws:lambda:us-east-1:000000000000:function:private-fn",
               "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}]}
    put = meta_call(cluster, "put_user_policy", {"name": "url-caller", "policy_name": "url",
                                                 "document": json.dumps(allowed)})
    assert put["ok"], put
    wait_until(lambda: _signed_get(private, key, secret) == (200, b"hello"), 10,
               "the router to learn the user's new policy")
