"""Function URLs with boto3's ``lambda`` client (the config API) and plain
HTTP (the URL): API Gateway's payload 2.0 in, the response structure out."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from tests.conformance.test_lambda import create, error, fname, lam, raw_lam, zipped  # noqa: F401 (fixtures)

ECHO_EVENT = zipped("""
    import json

    def handler(event, context):
        if event["rawPath"] == "/raise":
            raise ValueError("boom")
        if event["rawPath"] == "/plain":
            return {"plain": True}
        return {"statusCode": 201, "headers": {"content-type": "application/json", "x-echo": "yes"},
                "cookies": ["a=1", "b=2; Path=/"], "body": json.dumps(event)}
""")


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def fn(lam):  # noqa: F811
    name = fname()
    create(lam, name, ECHO_EVENT)
    yield name
    try:
        lam.delete_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        pass


def test_config_lifecycle(lam, fn):  # noqa: F811
    out = lam.create_function_url_config(FunctionName=fn, AuthType="NONE",
                                         Cors={"AllowOrigins": ["https://example.com"], "MaxAge": 60})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = out["FunctionUrl"]
    assert url.startswith("http://") and "/trireme/url/" in url and url.endswith("/")
    assert (out["AuthType"], out["InvokeMode"], out["Cors"]["MaxAge"]) == ("NONE", "BUFFERED", 60)
    assert out["FunctionArn"].endswith(f":function:{fn}") and "LastModifiedTime" not in out
    got = lam.get_function_url_config(FunctionName=fn)
    assert got["FunctionUrl"] == url and got["CreationTime"] == out["CreationTime"] and got["LastModifiedTime"]
    code, message, status = error(lam.create_function_url_config, FunctionName=fn, AuthType="NONE")
    assert (code, status) == ("ResourceConflictException", 409) and "exists" in message
    updated = lam.update_function_url_config(FunctionName=fn, AuthType="AWS_IAM")
    assert (updated["AuthType"], updated["FunctionUrl"], updated["Cors"]["MaxAge"]) == ("AWS_IAM", url, 60)
    listed = lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [url] and listed[0]["AuthType"] == "AWS_IAM"
    # an update of the function's code keeps its URL
    lam.update_function_configuration(FunctionName=fn, Timeout=10)
    assert lam.get_function_url_config(FunctionName=fn)["FunctionUrl"] == url
    lam.delete_function_url_config(FunctionName=fn)
    assert error(lam.get_function_url_config, FunctionName=fn)[::2] == ("ResourceNotFoundException", 404)
    assert error(lam.delete_function_url_config, FunctionName=fn)[::2] == ("ResourceNotFoundException", 404)
    assert lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"] == []
    assert http("GET", url)[0] == 403  # the URL is gone with its config


def test_config_errors(lam, raw_lam, fn):  # noqa: F811
    missing = fname()
    assert error(lam.create_function_url_config, FunctionName=missing, AuthType="NONE")[::2] == (
        "ResourceNotFoundException", 404)
    assert error(lam.list_function_url_configs, FunctionName=missing)[::2] == ("ResourceNotFoundException", 404)
    code, message, status = error(raw_lam.create_function_url_config, FunctionName=fn, AuthType="OPEN")
    assert (code, status) == ("ValidationException", 400) and "authType" in message
    code, message, _ = error(raw_lam.create_function_url_config, FunctionName=fn, AuthType="NONE",
                             Cors={"MaxAge": 90000})
    assert code == "ValidationException" and "cors.maxAge" in message
    assert error(lam.update_function_url_config, FunctionName=fn, AuthType="NONE")[::2] == (
        "ResourceNotFoundException", 404)


def test_url_invokes_with_payload_2_0(lam, fn):  # noqa: F811
    url = lam.create_function_url_config(FunctionName=fn, AuthType="NONE")["FunctionUrl"]
    status, headers, body = http("POST", url + "items/7?a=1&a=2&b=x", b'{"k": 1}',
                                 {"Content-Type": "application/json", "Cookie": "s=1; t=2", "X-Custom": "v"})
    assert status == 201 and headers["x-echo"] == "yes"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2; Path=/"]
    event = json.loads(body)
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0", "$default", "/items/7", "a=1&a=2&b=x")
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["cookies"] == ["s=1", "t=2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "v"
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": 1}', False)
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/items/7" and ctx["stage"] == "$default"
    assert ctx["domainPrefix"] == url.rstrip("/").rsplit("/", 1)[1] and ctx["timeEpoch"] > 0
    # a binary body arrives in base64
    event = json.loads(http("PUT", url, b"\xff\x00\x01", {"Content-Type": "application/octet-stream"})[2])
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\xff\x00\x01"
    # a value other than a response structure is a 200 JSON body; an error a 502
    status, headers, body = http("GET", url + "plain")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {"plain": True})
    assert http("GET", url + "raise")[0] == 502


def test_cors(lam, fn):  # noqa: F811
    url = lam.create_function_url_config(
        FunctionName=fn, AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "PUT"], "MaxAge": 300,
              "ExposeHeaders": ["x-echo"]})["FunctionUrl"]
    status, headers, body = http("OPTIONS", url + "items", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT"})
    assert status == 200 and body == b""
    assert (headers["Access-Control-Allow-Origin"], headers["Access-Control-Allow-Methods"],
            headers["Access-Control-Max-Age"]) == ("https://app.example", "GET,PUT", "300")
    status, headers, _ = http("GET", url, headers={"Origin": "https://app.example"})
    assert status == 201 and headers["Access-Control-Expose-Headers"] == "x-echo"
    assert headers.get_all("Access-Control-Allow-Origin") == ["https://app.example"]
    _, headers, _ = http("GET", url, headers={"Origin": "https://other.example"})
    assert headers.get("Access-Control-Allow-Origin") is None


def test_url_by_host_name(lam, fn, conformance_cluster):  # noqa: F811
    url = lam.create_function_url_config(FunctionName=fn, AuthType="NONE")["FunctionUrl"]
    url_id = url.rstrip("/").rsplit("/", 1)[1]
    host = f"{url_id}.lambda-url.us-east-1.localhost:{conformance_cluster.endpoint.rsplit(':', 1)[1]}"
    for method, body in (("GET", None), ("POST", b"{}")):
        status, _, answer = http(method, conformance_cluster.endpoint + "/items?q=1", body, {"Host": host})
        event = json.loads(answer)
        assert status == 201 and (event["rawPath"], event["rawQueryString"]) == ("/items", "q=1")
        assert event["requestContext"]["http"]["method"] == method
    # DynamoDB's own requests are untouched by the host check
    assert http("GET", conformance_cluster.endpoint + "/")[0] == 200
