"""Authentication against a metadata state built in memory: users' keys,
session credentials, the internal credential, and the Dispatcher's use of
the caller (internal operations, the authorization hook)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cluster.kms import MasterKeys
from cluster.meta import MetaState
from cluster.users import key_context, new_user, token_digest
from ddb.errors import (AccessDeniedException, ExpiredTokenException, InvalidSignatureException,
                        MissingAuthenticationTokenException, ServiceUnavailable, UnrecognizedClientException)
from router.auth.authenticate import SCALING, Authenticator
from router.auth.authorize import Authorizer
from router.auth.caller import ANONYMOUS
from router.auth.users import Users
from router.protocol import Dispatcher

MASTER = MasterKeys(Path("master.key"), [("m1", b"\x07" * 32)])
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}'


def _state(now: float) -> MetaState:
    s = MetaState()
    s.apply({"op": "create_user", "user": new_user("bob", now)})
    s.apply({"op": "put_user_policy", "name": "bob", "policy_name": "all", "document": POLICY})
    for key_id, secret, status, expires, token in (
            ("AKIABOB", "bob-secret", "Active", None, None),
            ("AKIAOFF", "off-secret", "Inactive", None, None),
            ("ASIALIVE", "live-secret", "Active", now + 600, "tok-live"),
            ("ASIAOLD", "old-secret", "Active", now - 1, "tok-old")):
        rec = {"secret": MASTER.wrap(secret.encode(), key_context(key_id)), "status": status, "created": now,
               "expires": expires, "token": token and token_digest(token)}
        s.users["bob"]["keys"][key_id] = rec  # straight in: the expired one would be pruned by put_access_key
    return s


@pytest.fixture
def auth():
    now = time.time()
    state = _state(now)
    return Authenticator(Users(lambda: state, MASTER), "us-east-1")


def _signed(key: str, secret: str, token: str | None = None, target: str = "DynamoDB_20120810.ListTables",
            service: str = "dynamodb", body: bytes = b"{}") -> tuple[dict[str, str], bytes]:
    req = AWSRequest(method="POST", url="http://localhost:8000/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
    SigV4Auth(Credentials(key, secret, token), service, "us-east-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers.update({"host": "localhost:8000", ":peer": "10.1.2.3:5555"})
    return headers, body


def test_a_user_key_authenticates_as_the_user_with_policies_and_source_ip(auth):
    caller = auth(*_signed("AKIABOB", "bob-secret"))
    assert (caller.name, caller.arn, caller.access_key) == ("bob", "arn:aws:iam::000000000000:user/bob", "AKIABOB")
    assert caller.enforced and not caller.admin and not caller.session
    assert caller.source_ip == "10.1.2.3"
    assert caller.policies[0]["Statement"][0]["Action"] == "dynamodb:*"


def test_refusals(auth):
    with pytest.raises(MissingAuthenticationTokenException):
        auth({"host": "localhost:8000"}, b"{}")
    with pytest.raises(UnrecognizedClientException):
        auth(*_signed("AKIANOBODY", "x"))
    with pytest.raises(UnrecognizedClientException):
        auth(*_signed("AKIAOFF", "off-secret"))  # deactivated
    with pytest.raises(InvalidSignatureException):
        auth(*_signed("AKIABOB", "wrong"))
    with pytest.raises(InvalidSignatureException, match="correct service"):
        auth(*_signed("AKIABOB", "bob-secret", service="lambda"))
    assert auth(*_signed("AKIABOB", "bob-secret", service="application-autoscaling"), SCALING).name == "bob"


def test_session_credentials_need_their_token_and_expire(auth):
    caller = auth(*_signed("ASIALIVE", "live-secret", "tok-live"))
    assert caller.session and caller.name == "bob"
    for token in (None, "forged"):
        with pytest.raises(UnrecognizedClientException):
            auth(*_signed("ASIALIVE", "live-secret", token))
    with pytest.raises(UnrecognizedClientException):  # a long-term key sent with a token
        auth(*_signed("AKIABOB", "bob-secret", "tok-live"))
    with pytest.raises(ExpiredTokenException, match="The security token included in the request is expired"):
        auth(*_signed("ASIAOLD", "old-secret", "tok-old"))


def test_the_internal_credential_is_an_admin(auth):
    key_id, secret = MASTER.internal_credential()
    caller = auth(*_signed(key_id, secret))
    assert caller.admin and caller.enforced


def test_open_mode_passes_anything_and_no_metadata_yet_is_unavailable():
    assert Authenticator(None, "us-east-1")({}, b"") is ANONYMOUS
    waiting = Authenticator(Users(lambda: None, MASTER), "us-east-1")
    with pytest.raises(ServiceUnavailable):
        waiting(*_signed("AKIABOB", "bob-secret"))


def test_a_deleted_user_stops_at_the_next_metadata_version():
    state = _state(time.time())
    current = [state]
    auth = Authenticator(Users(lambda: current[0], MASTER), "us-east-1")
    assert auth(*_signed("AKIABOB", "bob-secret")).name == "bob"
    after = MetaState.from_json(state.to_json())
    after.apply({"op": "delete_user", "name": "bob"})
    current[0] = after
    with pytest.raises(UnrecognizedClientException):
        auth(*_signed("AKIABOB", "bob-secret"))


def _dispatch(d: Dispatcher, target: str, headers: dict, body: bytes) -> tuple[int, dict]:
    status, out = asyncio.run(d(target, body, headers))
    return status, orjson.loads(out)


def test_dispatcher_authorizes_enforced_callers_and_guards_internal_operations(auth):
    seen = []

    async def authorize(caller, target, request):
        seen.append((caller.name, target, request))

    async def op(body):
        return {"ok": True}

    d = Dispatcher({"ListTables": op}, admin={"Faults": op}, checks={}, authenticate=auth, authorize=authorize)
    assert _dispatch(d, "DynamoDB_20120810.ListTables", *_signed("AKIABOB", "bob-secret")) == (200, {"ok": True})
    assert seen == [("bob", "DynamoDB_20120810.ListTables", {})]
    status, out = _dispatch(d, "TriremeAdmin_1.Faults", *_signed("AKIABOB", "bob-secret",
                                                                 target="TriremeAdmin_1.Faults"))
    assert status == 400 and out["__type"].endswith("#AccessDeniedException")
    key_id, secret = MASTER.internal_credential()
    assert _dispatch(d, "TriremeAdmin_1.Faults", *_signed(key_id, secret, target="TriremeAdmin_1.Faults"))[0] == 200
    status, out = _dispatch(d, "DynamoDB_20120810.ListTables", {"content-type": "application/x-amz-json-1.0"}, b"{}")
    assert status == 400 and out["__type"].endswith("#MissingAuthenticationTokenException")


def test_open_dispatcher_never_calls_the_authorizer():
    async def authorize(caller, target, request):
        raise AssertionError("open mode evaluates no policy")

    async def op(body):
        return {}

    d = Dispatcher({"ListTables": op}, checks={}, authorize=authorize)
    assert _dispatch(d, "DynamoDB_20120810.ListTables", {"content-type": "application/x-amz-json-1.0"}, b"{}") == (
        200, {})


def test_a_compressed_body_is_verified_as_sent(auth):
    """router/http.py decodes Content-Encoding first and notes the hash of the bytes as sent."""
    import gzip
    import hashlib

    raw = gzip.compress(b'{"Limit": 5}')
    headers, _ = _signed("AKIABOB", "bob-secret", body=raw)
    headers[":body-sha256"] = hashlib.sha256(raw).hexdigest()
    assert auth(headers, b'{"Limit": 5}').name == "bob"
    with pytest.raises(InvalidSignatureException):
        auth({k: v for k, v in headers.items() if k != ":body-sha256"}, b'{"Limit": 5}')


def test_what_is_cached_per_key_follows_each_metadata_change():
    """Entries (with the parsed identity policies) are cached per key id and
    metadata version: a change applied to the same state object (its version
    moves) or a new snapshot is seen by the very next request."""
    state = _state(time.time())
    current = [state]
    auth = Authenticator(Users(lambda: current[0], MASTER), "us-east-1")
    authorize = Authorizer(lambda: current[0], "us-east-1")
    get = ("DynamoDB_20120810.GetItem", {"TableName": "notes", "Key": {"k": {"S": "1"}}})
    first = auth(*_signed("AKIABOB", "bob-secret"))
    assert auth(*_signed("AKIABOB", "bob-secret")) is first  # unchanged metadata: the same caller
    asyncio.run(authorize(first, *get))
    deny = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
    assert state.apply({"op": "put_user_policy", "name": "bob", "policy_name": "all", "document": deny})["ok"]
    with pytest.raises(AccessDeniedException, match="explicit deny"):
        asyncio.run(authorize(auth(*_signed("AKIABOB", "bob-secret")), *get))
    assert state.apply({"op": "set_access_key_status", "name": "bob", "key_id": "AKIABOB", "status": "Inactive"})["ok"]
    with pytest.raises(UnrecognizedClientException):
        auth(*_signed("AKIABOB", "bob-secret"))
    current[0] = _state(time.time())  # a new snapshot
    asyncio.run(authorize(auth(*_signed("AKIABOB", "bob-secret")), *get))


def test_a_caller_is_made_once_per_address_and_says_where_it_calls_from(auth):
    def signed_from(peer: str, secure: bool = False):
        headers, body = _signed("AKIABOB", "bob-secret")
        headers[":peer"] = peer
        if secure:
            headers[":secure"] = "1"
        return headers, body

    a = auth(*signed_from("10.0.0.1:1000"))
    assert auth(*signed_from("10.0.0.1:2000")) is a  # another connection from the same address
    b, c = auth(*signed_from("10.0.0.2:1000")), auth(*signed_from("10.0.0.1:1000", secure=True))
    assert (a.source_ip, a.secure, b.source_ip, b.secure, c.source_ip, c.secure) == (
        "10.0.0.1", False, "10.0.0.2", False, "10.0.0.1", True)
    for i in range(300):  # past the bound: a fresh set, still right
        assert auth(*signed_from(f"10.1.{i // 250}.{i % 250}:1")).source_ip == f"10.1.{i // 250}.{i % 250}"
