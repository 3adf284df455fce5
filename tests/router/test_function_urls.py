"""The pure halves of function URLs: the config rules, the payload 2.0 event
built from a request, and the HTTP response built from a function's answer."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, strategies as st

from functions.errors import ValidationException
from router.function_urls import build_event, check_config, cors_headers, http_response, new_url_id


def event(method="GET", url="/", headers=None, body=b""):
    return build_event(method=method, url=url, headers=headers or {}, body=body, url_id="abc",
                       region="us-east-1", request_id="rid", now=1700000000.25)


def test_event_shape_as_aws_documents_it():
    e = event("POST", "/items/1?x=1&x=2&y=", {"user-agent": "curl/8", "cookie": "a=1; b=2",
                                              "content-type": "application/json", "x-forwarded-for": "10.0.0.9, 1.2.3.4"},
              b'{"id": "1"}')
    assert (e["version"], e["routeKey"], e["rawPath"], e["rawQueryString"]) == ("2.0", "$default", "/items/1",
                                                                               "x=1&x=2&y=")
    assert e["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert e["cookies"] == ["a=1", "b=2"] and "cookie" not in e["headers"]
    assert (e["body"], e["isBase64Encoded"]) == ('{"id": "1"}', False)
    ctx = e["requestContext"]
    assert ctx["http"] == {"method": "POST", "path": "/items/1", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.9",
                           "userAgent": "curl/8"}
    assert (ctx["apiId"], ctx["domainPrefix"], ctx["domainName"]) == ("abc", "abc", "abc.lambda-url.us-east-1.on.aws")
    assert (ctx["requestId"], ctx["routeKey"], ctx["stage"], ctx["timeEpoch"]) == ("rid", "$default", "$default",
                                                                                   1700000000250)
    assert ctx["time"] == "14/Nov/2023:22:13:20 +0000"


def test_an_empty_request_has_no_body_cookies_or_parameters():
    e = event()
    assert "body" not in e and "cookies" not in e and "queryStringParameters" not in e
    assert e["rawPath"] == "/" and e["rawQueryString"] == "" and not e["isBase64Encoded"]


@given(st.binary(min_size=1), st.sampled_from([None, "text/plain", "application/octet-stream", "image/png"]))
def test_a_body_arrives_whole_as_text_or_base64(body, ctype):
    e = event("PUT", "/", {"content-type": ctype} if ctype else {}, body)
    got = base64.b64decode(e["body"]) if e["isBase64Encoded"] else e["body"].encode()
    assert got == body
    if ctype in ("application/octet-stream", "image/png"):
        assert e["isBase64Encoded"]


def test_response_structure():
    payload = json.dumps({"statusCode": 404, "headers": {"X-A": "1", "Content-Type": "text/plain"},
                          "cookies": ["c=1"], "body": "nope"}).encode()
    assert http_response(payload, None) == (404, {"X-A": "1", "Content-Type": "text/plain"}, ["c=1"], b"nope")
    payload = json.dumps({"statusCode": 200, "body": base64.b64encode(b"\x00\xff").decode(),
                          "isBase64Encoded": True}).encode()
    assert http_response(payload, None) == (200, {"Content-Type": "application/json"}, [], b"\x00\xff")


@pytest.mark.parametrize("payload", [b'"hello"', b'[1, 2]', b'{"message": "no status"}', b'null'])
def test_any_other_json_value_is_a_200_json_body(payload):
    assert http_response(payload, None) == (200, {"Content-Type": "application/json"}, [], payload)


@pytest.mark.parametrize("payload,error", [
    (b'{"errorMessage": "boom"}', "Unhandled"), (b"not json", None), (b'{"statusCode": 99}', None),
    (b'{"statusCode": "abc"}', None), (b'{"statusCode": 200, "headers": []}', None),
    (b'{"statusCode": 200, "body": "***", "isBase64Encoded": true}', None)])
def test_errors_and_unusable_structures_are_502(payload, error):
    assert http_response(payload, error)[0] == 502


def test_header_injection_and_bad_names_are_neutralized():
    payload = json.dumps({"statusCode": 200, "headers": {"X-A": "1\r\nSet-Cookie: x=1", "Bad Name": "v",
                                                         "X-\u00e9": "v", "X-N": 5}}).encode()
    _, headers, _, _ = http_response(payload, None)
    assert headers == {"X-A": "1  Set-Cookie: x=1", "X-N": "5", "Content-Type": "application/json"}


@given(st.dictionaries(st.text(), st.text(), max_size=5), st.lists(st.text(), max_size=3))
def test_every_header_line_is_encodable_and_single(headers, cookies):
    payload = json.dumps({"statusCode": 200, "headers": headers, "cookies": cookies}).encode()
    _, out, out_cookies, _ = http_response(payload, None)
    for value in [*out, *out.values(), *out_cookies]:
        value.encode("latin-1")
        assert "\r" not in value and "\n" not in value


def test_config_rules():
    assert check_config({"AuthType": "NONE"}) == {"AuthType": "NONE", "InvokeMode": "BUFFERED"}
    with pytest.raises(ValidationException, match="authType"):
        check_config({})
    with pytest.raises(ValidationException, match="invokeMode"):
        check_config({"AuthType": "NONE", "InvokeMode": "FAST"})
    with pytest.raises(ValidationException, match="cors.allowMethods"):
        check_config({"AuthType": "NONE", "Cors": {"AllowMethods": ["CONNECTX"]}})
    old = {"AuthType": "NONE", "InvokeMode": "BUFFERED", "Cors": {"MaxAge": 5}, "UrlId": "u"}
    assert check_config({"InvokeMode": "RESPONSE_STREAM"}, old) == {**old, "InvokeMode": "RESPONSE_STREAM"}
    ids = {new_url_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 32 and i.isalnum() and i.islower() for i in ids)


def test_cors_headers():
    cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"], "AllowHeaders": ["x-h"],
            "MaxAge": 10, "AllowCredentials": True, "ExposeHeaders": ["x-e"]}
    asked = {"origin": "https://a.example"}
    assert cors_headers(cors, asked, preflight=True) == {
        "Access-Control-Allow-Origin": "https://a.example", "Vary": "Origin",
        "Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Methods": "GET",
        "Access-Control-Allow-Headers": "x-h", "Access-Control-Max-Age": "10"}
    assert cors_headers(cors, asked, preflight=False)["Access-Control-Expose-Headers"] == "x-e"
    assert cors_headers(cors, {"origin": "https://b.example"}, preflight=False) == {}
    assert cors_headers(None, asked, preflight=False) == {}
    assert cors_headers({"AllowOrigins": ["*"]}, asked, preflight=False) == {"Access-Control-Allow-Origin": "*"}
