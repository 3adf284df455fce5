"""SigV4 verification against botocore's own signer: whatever botocore signs
verifies, and any change to a signed part of the request fails."""

from __future__ import annotations

import time
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb.errors import IncompleteSignatureException, InvalidSignatureException, MissingAuthenticationTokenException
from ddb.iam import sigv4

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDS = Credentials(KEY, SECRET)


def _sign(method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"", *,
          service: str = "dynamodb", region: str = "us-east-1", creds: Credentials = CREDS,
          presign: int | None = None) -> tuple[str, str, dict[str, str], bytes]:
    """(method, raw request target, lower-cased headers, body) as the router receives them."""
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    signer = SigV4QueryAuth(creds, service, region, expires=presign) if presign else SigV4Auth(creds, service, region)
    signer.add_auth(req)
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    received = {k.lower(): v for k, v in prepared.headers.items()}
    received.setdefault("host", parts.netloc)
    return prepared.method, target, received, prepared.body or b""


def _check(method: str, target: str, headers: dict[str, str], body: bytes, *, secret: str = SECRET,
           service: str = "dynamodb", secure: bool = False) -> sigv4.Signed:
    signed = sigv4.parse(method, target, headers, body, secure=secure)
    sigv4.check_scope(signed, "us-east-1", {service})
    sigv4.check_time(signed, time.time())
    sigv4.verify(signed, sigv4.signing_key(secret, signed.date, signed.region, signed.service))
    return signed


def test_aws_test_suite_get_vanilla():
    """AWS's published SigV4 test vector (get-vanilla)."""
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    signed = sigv4.parse("GET", "/", {**headers, "authorization": auth}, b"")
    sigv4.verify(signed, sigv4.signing_key(SECRET, "20150830", "us-east-1", "service"))
    assert (signed.access_key, signed.region, signed.service) == (KEY, "us-east-1", "service")


def test_dynamodb_request_verifies():
    body = b'{"TableName": "T", "Key": {"pk": {"S": "a"}}}'
    signed = _check(*_sign("POST", "http://localhost:8000/", {
        "X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"}, body))
    assert signed.token is None and signed.expires is None


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30).filter(lambda v: v.strip())


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300), segments=st.lists(_text.filter(bool), max_size=4),
       query=st.dictionaries(_text.filter(bool), _text, max_size=4),
       headers=st.dictionaries(_token.map(lambda t: "x-trireme-" + t), _value, max_size=4),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       service=st.sampled_from(["dynamodb", "lambda", "application-autoscaling", "sts"]))
def test_whatever_botocore_signs_verifies(body, segments, query, headers, method, service):
    # Paths as botocore's REST serializer sends them: each label percent-encoded
    # (Lambda's function ARNs: `arn%3Aaws%3Alambda...`).
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    url = "http://localhost:8000" + path + ("?" + percent_encode_sequence(query) if query else "")
    _check(*_sign(method, url, headers, body, service=service), service=service)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(min_size=1, max_size=100), flip=st.integers(min_value=0))
def test_changed_body_fails(body, flip):
    method, target, headers, _ = _sign("POST", "http://localhost:8000/", {"X-Amz-Target": "x"}, body)
    changed = bytearray(body)
    changed[flip % len(body)] ^= 1
    with pytest.raises(InvalidSignatureException):
        _check(method, target, headers, bytes(changed))


@pytest.mark.parametrize("change", [
    lambda m, t, h: (m, t, {**h, "x-amz-target": "DynamoDB_20120810.DeleteTable"}),
    lambda m, t, h: (m, t, {**h, "host": "evil:8000"}),
    lambda m, t, h: ("PUT", t, h),
    lambda m, t, h: (m, t + "x", h),
    lambda m, t, h: (m, t + "&b=2", h),
])
def test_changed_signed_parts_fail(change):
    method, target, headers, body = _sign("POST", "http://localhost:8000/a?x=1", {"X-Amz-Target": "t"}, b"{}")
    with pytest.raises(InvalidSignatureException):
        _check(*change(method, target, headers), body)


def test_wrong_secret_fails_with_aws_message():
    with pytest.raises(InvalidSignatureException) as err:
        _check(*_sign("POST", "http://localhost:8000/", {}, b"{}"), secret="other")
    assert err.value.message == sigv4.MISMATCH


def test_unsigned_request_is_missing_token():
    with pytest.raises(MissingAuthenticationTokenException) as err:
        sigv4.parse("POST", "/", {"host": "h"}, b"{}")
    assert err.value.message == "Request is missing Authentication Token"


@pytest.mark.parametrize("auth", [
    "AWS4-HMAC-SHA256 garbage",
    "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host",
    "AWS AKID:abc",
    "AWS4-HMAC-SHA256 Credential=AKID, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/dynamodb/aws5, SignedHeaders=host, Signature=00",
])
def test_malformed_authorization_is_incomplete(auth):
    with pytest.raises(IncompleteSignatureException):
        sigv4.parse("POST", "/", {"host": "h", "x-amz-date": "20200101T000000Z", "authorization": auth}, b"")


def test_date_must_be_present_and_iso_basic():
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, " \
           "Signature=00"
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Date"):
        sigv4.parse("POST", "/", {"host": "h", "authorization": auth}, b"")
    with pytest.raises(IncompleteSignatureException, match="ISO-8601"):
        sigv4.parse("POST", "/", {"host": "h", "authorization": auth, "x-amz-date": "2020-01-01"}, b"")
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope"):
        sigv4.parse("POST", "/", {"host": "h", "authorization": auth, "x-amz-date": "20200102T000000Z"}, b"")


def test_date_header_form_verifies():
    """botocore signs with the Date header instead of X-Amz-Date when one is set."""
    _check(*_sign("POST", "http://localhost:8000/", {"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}, b"{}"))


@pytest.mark.parametrize("offset,ok", [(-16 * 60, False), (-14 * 60, True), (14 * 60, True), (16 * 60, False)])
def test_date_window_is_fifteen_minutes_either_way(offset, ok):
    signed = sigv4.parse(*_sign("POST", "http://localhost:8000/", {}, b"{}"))
    now = time.time() - offset
    if ok:
        sigv4.check_time(signed, now)
    else:
        with pytest.raises(InvalidSignatureException, match="Signature (expired|not yet current)"):
            sigv4.check_time(signed, now)


def test_scope_region_and_service_checked():
    signed = sigv4.parse(*_sign("POST", "http://localhost:8000/", {}, b"{}", region="eu-west-1"))
    with pytest.raises(InvalidSignatureException, match="valid region, not 'eu-west-1'"):
        sigv4.check_scope(signed, "us-east-1", {"dynamodb"})
    signed = sigv4.parse(*_sign("POST", "http://localhost:8000/", {}, b"{}", service="s3"))
    with pytest.raises(InvalidSignatureException, match="correct service"):
        sigv4.check_scope(signed, "us-east-1", {"dynamodb"})


def test_session_token_is_signed_and_reported():
    creds = Credentials(KEY, SECRET, token="TOKEN123")
    method, target, headers, body = _sign("POST", "http://localhost:8000/", {}, b"{}", creds=creds)
    assert _check(method, target, headers, body).token == "TOKEN123"
    with pytest.raises(InvalidSignatureException):
        _check(method, target, {**headers, "x-amz-security-token": "OTHER"}, body)


def test_content_sha256_header_must_match_body():
    method, target, headers, body = _sign("POST", "http://localhost:8000/", {
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, b"{}")
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        _check(method, target, headers, body)  # plain HTTP: the body must be signed
    _check(method, target, headers, b"{}", secure=True)
    method, target, headers, body = _sign("POST", "http://localhost:8000/", {
        "X-Amz-Content-SHA256": "0" * 64}, b"{}")
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        _check(method, target, headers, body)


def test_presigned_query_form_verifies_until_it_expires():
    method, target, headers, body = _sign("GET", "http://localhost:8000/path/x?Action=List&n=1", {}, b"",
                                          presign=60, creds=Credentials(KEY, SECRET, token="TOK"))
    assert "authorization" not in headers and "X-Amz-Signature=" in target
    signed = _check(method, target, headers, body)
    assert (signed.expires, signed.token) == (60, "TOK")
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        sigv4.check_time(signed, time.time() + 120)
    with pytest.raises(InvalidSignatureException):
        _check(method, target.replace("n=1", "n=2"), headers, body)


def test_presigned_query_missing_parts_is_incomplete():
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Algorithm"):
        sigv4.parse("GET", "/?X-Amz-Signature=00&X-Amz-Credential=a", {"host": "h"}, b"")


def test_signing_keys_are_cached_per_day_region_service():
    keys = sigv4.SigningKeys()
    signed = sigv4.parse(*_sign("POST", "http://localhost:8000/", {}, b"{}"))
    with mock.patch.object(sigv4, "signing_key", wraps=sigv4.signing_key) as derive:
        first = keys.get(signed, lambda: SECRET)
        assert keys.get(signed, lambda: pytest.fail("the secret is asked only on a miss")) is first
        assert derive.call_count == 1
        keys.forget(KEY)
        keys.get(signed, lambda: SECRET)
        assert derive.call_count == 2
    sigv4.verify(signed, first)


def test_canonical_uri_removes_dot_segments_and_encodes_again():
    assert sigv4.canonical_uri("") == "/"
    assert sigv4.canonical_uri("/a/./b/../c//d/") == "/a/c/d/"
    assert sigv4.canonical_uri("/2015-03-31/functions/arn%3Aaws%3Alambda/invocations") == \
        "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations"


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=200), headers=st.dictionaries(_token.map(lambda t: "x-trireme-" + t), _value,
                                                              max_size=3))
def test_own_signer_verifies_like_botocore(body, headers):
    """`sign` (the cluster's own calls) makes what botocore would: it verifies,
    and botocore's signature over the same request and time is the same."""
    now = time.time()
    all_headers = {"host": "localhost:8000", "x-amz-target": "DynamoDB_20120810.ListTables", **headers}
    added = sigv4.sign("POST", "/", all_headers, body, access_key=KEY, secret=SECRET, region="us-east-1",
                       service="dynamodb", now=now)
    _check("POST", "/", {**all_headers, **added}, body)
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=__import__("datetime").datetime.utcfromtimestamp(int(now))):
        req = AWSRequest(method="POST", url="http://localhost:8000/", headers=dict(all_headers), data=body)
        SigV4Auth(CREDS, "dynamodb", "us-east-1").add_auth(req)
    assert req.headers["Authorization"] == added["authorization"]
