"""The Lambda API on the router's port, with boto3's ``lambda`` client: functions
kept in the cluster, Invoke run in the router's worker processes."""

from __future__ import annotations

import base64
import io
import json
import os
import textwrap
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from tests.conformance.conftest import create_table
from tests.integration.conftest import wait_until

ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def zipped(source: str, name: str = "app.py") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, textwrap.dedent(source))
    return buf.getvalue()


ECHO = zipped("""
    def handler(event, context):
        print("echoing", event)
        return {"got": event, "name": context.function_name}
""")


def lambda_client(endpoint: str, **config):
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60, **config))


@pytest.fixture(scope="module")
def lam(conformance_cluster):
    return lambda_client(conformance_cluster.endpoint)


@pytest.fixture(scope="module")
def raw_lam(conformance_cluster):
    """A client whose own parameter checks are off, to reach the server's."""
    return lambda_client(conformance_cluster.endpoint, parameter_validation=False)


def fname() -> str:
    return f"fn-{uuid.uuid4().hex[:10]}"


def create(lam, name: str, code: bytes = ECHO, **extra) -> dict:
    return lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": code}, **extra)


def error(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(Exception) as exc:
        call(**kwargs)
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"]["HTTPStatusCode"]


def test_create_get_list_update_delete(lam, ddb):
    name = fname()
    out = create(lam, name, Description="echo", Timeout=5, MemorySize=256,
                 Environment={"Variables": {"MODE": "1"}})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (out["FunctionName"], out["Runtime"], out["Handler"], out["Timeout"], out["MemorySize"]) == (
        name, "python3.11", "app.handler", 5, 256)
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert out["CodeSize"] == len(ECHO) and out["State"] == "Active"
    assert out["Environment"] == {"Variables": {"MODE": "1"}}

    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == out["CodeSha256"]
    with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as resp:  # the zip, served by the router
        assert resp.read() == ECHO
    assert lam.get_function_configuration(FunctionName=out["FunctionArn"])["RevisionId"] == out["RevisionId"]
    assert name in [f["FunctionName"] for f in lam.list_functions(MaxItems=10000)["Functions"]]

    updated = lam.update_function_configuration(FunctionName=name, Timeout=7, Environment={"Variables": {}})
    assert updated["Timeout"] == 7 and "Environment" not in updated
    assert updated["RevisionId"] != out["RevisionId"]
    new_code = zipped("def handler(event, context):\n    return 'v2'\n")
    code = lam.update_function_code(FunctionName=name, ZipFile=new_code)
    assert code["CodeSize"] == len(new_code) and code["Timeout"] == 7
    assert json.load(lam.invoke(FunctionName=name)["Payload"]) == "v2"

    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(lam.get_function, FunctionName=name)[0] == "ResourceNotFoundException"
    assert name not in [f["FunctionName"] for f in lam.list_functions(MaxItems=10000)["Functions"]]
    # The code's hidden table is nobody's table.
    assert not any("#" in t for t in ddb.list_tables()["TableNames"])


def test_list_functions_pages(lam):
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        create(lam, n)
    seen, marker = [], None
    while True:
        page = lam.list_functions(MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [n for n in seen if n.startswith(prefix)] == names
    for n in names:
        lam.delete_function(FunctionName=n)


def test_errors_as_boto3_sees_them(lam, raw_lam):
    name = fname()
    create(lam, name)
    missing = fname()
    cases = [
        (lam.get_function, {"FunctionName": missing}, "ResourceNotFoundException", 404,
         f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{missing}"),
        (lam.invoke, {"FunctionName": missing}, "ResourceNotFoundException", 404, None),
        (lam.delete_function, {"FunctionName": missing}, "ResourceNotFoundException", 404, None),
        (lam.update_function_configuration, {"FunctionName": missing, "Timeout": 3},
         "ResourceNotFoundException", 404, None),
        (lambda **kw: create(lam, name), {}, "ResourceConflictException", 409, f"Function already exist: {name}"),
        (lambda **kw: create(lam, fname(), code=b"not a zip"), {}, "InvalidParameterValueException", 400,
         "Could not unzip uploaded file. Please check your file, then try to upload again."),
        (lam.create_function, {"FunctionName": fname(), "Runtime": "python3.8", "Role": ROLE,
                               "Handler": "app.handler", "Code": {"ZipFile": ECHO}},
         "InvalidParameterValueException", 400, None),
        (lambda **kw: create(lam, fname(), Environment={"Variables": {"AWS_REGION": "x"}}), {},
         "InvalidParameterValueException", 400, None),
        (lam.update_function_configuration, {"FunctionName": name, "RevisionId": str(uuid.uuid4())},
         "PreconditionFailedException", 412, None),
        (lam.invoke, {"FunctionName": name, "Payload": b"{not json"}, "InvalidRequestContentException", 400, None),
        (lam.get_function, {"FunctionName": name, "Qualifier": "7"}, "ResourceNotFoundException", 404, None),
        (raw_lam.update_function_configuration, {"FunctionName": name, "Timeout": 0}, "ValidationException", 400,
         "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1"),
        (raw_lam.update_function_configuration, {"FunctionName": name, "MemorySize": 20000},
         "ValidationException", 400, None),
        (raw_lam.invoke, {"FunctionName": name, "InvocationType": "Sometimes"}, "ValidationException", 400, None),
    ]
    for call, kwargs, code, status, message in cases:
        got = error(call, **kwargs)
        assert got[0] == code and got[2] == status, (kwargs, got)
        if message is not None:
            assert got[1] == message
        if code != "ValidationException":  # the validation framework's, modelled by no service
            assert getattr(lam.exceptions, code)  # boto3 raises the class of that name
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=missing)
    with pytest.raises(lam.exceptions.ResourceConflictException):
        create(lam, name)
    lam.delete_function(FunctionName=name)


def test_invoke_request_response_event_and_dry_run(lam):
    name = fname()
    create(lam, name)
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"a": 1}), LogType="Tail")
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert out["ExecutedVersion"] == "$LATEST"
    assert json.load(out["Payload"]) == {"got": {"a": 1}, "name": name}
    tail = base64.b64decode(out["LogResult"]).decode()
    assert "echoing {'a': 1}" in tail and "START RequestId: " in tail and "REPORT RequestId: " in tail
    assert f"START RequestId: {out['ResponseMetadata']['RequestId']}" in tail

    dry = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204 and dry["Payload"].read() == b""
    event = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async": true}')
    assert event["StatusCode"] == 202 and event["Payload"].read() == b""
    lam.delete_function(FunctionName=name)


def test_a_handler_error_comes_back_as_function_error(lam):
    name = fname()
    create(lam, name, code=zipped("""
        def handler(event, context):
            raise ValueError("bad order " + str(event["id"]))
    """))
    out = lam.invoke(FunctionName=name, Payload=b'{"id": 9}')
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    err = json.load(out["Payload"])
    assert (err["errorType"], err["errorMessage"]) == ("ValueError", "bad order 9")
    assert err["requestId"] == out["ResponseMetadata"]["RequestId"]
    lam.delete_function(FunctionName=name)


def test_a_timeout(lam):
    name = fname()
    create(lam, name, Timeout=1, code=zipped("""
        import time
        def handler(event, context):
            time.sleep(30)
    """))
    out = lam.invoke(FunctionName=name)
    assert out["FunctionError"] == "Unhandled"
    err = json.load(out["Payload"])
    assert err["errorType"] == "Sandbox.Timedout" and "Task timed out after 1.00 seconds" in err["errorMessage"]
    lam.delete_function(FunctionName=name)


def test_a_handler_reaches_the_cluster_with_boto3(lam, ddb):
    table = create_table(ddb, f"lambda-{uuid.uuid4().hex[:6]}", ("id", "S"))
    name = fname()
    create(lam, name, Environment={"Variables": {"TABLE": table}}, Timeout=30, code=zipped("""
        import os
        import boto3
        def handler(event, context):
            boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"],
                                              Item={"id": {"S": event["id"]}, "by": {"S": context.function_name}})
            return "stored"
    """))
    out = lam.invoke(FunctionName=name, Payload=b'{"id": "order-1"}')
    assert json.load(out["Payload"]) == "stored", out
    item = ddb.get_item(TableName=table, Key={"id": {"S": "order-1"}}, ConsistentRead=True)["Item"]
    assert item == {"id": {"S": "order-1"}, "by": {"S": name}}
    lam.delete_function(FunctionName=name)


def test_an_event_invocation_is_retried_twice_after_a_function_error(lam, ddb, conformance_cluster):
    """Lambda retries a failed asynchronous invocation two more times (delays shortened for tests)."""
    table = create_table(ddb, f"lambda-{uuid.uuid4().hex[:6]}", ("id", "S"))
    name = fname()
    create(lam, name, Environment={"Variables": {"TABLE": table}}, Timeout=30, code=zipped("""
        import os
        import boto3
        def handler(event, context):
            boto3.client("dynamodb").update_item(
                TableName=os.environ["TABLE"], Key={"id": {"S": "runs"}},
                UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
            raise RuntimeError("always fails")
    """))
    assert lam.invoke(FunctionName=name, InvocationType="Event")["StatusCode"] == 202

    def runs():
        item = ddb.get_item(TableName=table, Key={"id": {"S": "runs"}}, ConsistentRead=True).get("Item")
        return int(item["n"]["N"]) if item else 0
    wait_until(lambda: runs() == 3, 60, "three attempts")
    lam.delete_function(FunctionName=name)


def test_delete_function_stops_its_warm_workers(lam):
    name = fname()
    create(lam, name, code=zipped("""
        import os
        def handler(event, context):
            return os.getpid()
    """))
    pid = json.load(lam.invoke(FunctionName=name)["Payload"])
    assert json.load(lam.invoke(FunctionName=name)["Payload"]) == pid  # warm: the same worker
    lam.delete_function(FunctionName=name)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    wait_until(gone, 10, "the worker to stop")


def test_concurrent_updates_of_different_settings_lose_none(lam):
    """Each update is computed from the revision it read and redone when another came first."""
    name = fname()
    create(lam, name)
    changes = [{"Timeout": 9}, {"MemorySize": 512}, {"Description": "concurrent"},
               {"Environment": {"Variables": {"STAGE": "test"}}}, {"Handler": "app.handler2"}]
    with ThreadPoolExecutor(len(changes)) as pool:
        answers = list(pool.map(lambda change: lam.update_function_configuration(FunctionName=name, **change),
                                changes))
    assert len({a["RevisionId"] for a in answers}) == len(changes)
    final = lam.get_function_configuration(FunctionName=name)
    assert (final["Timeout"], final["MemorySize"], final["Description"], final["Environment"], final["Handler"]) == (
        9, 512, "concurrent", {"Variables": {"STAGE": "test"}}, "app.handler2")
    lam.delete_function(FunctionName=name)
