"""IAM users in the metadata state machine: IAM's refusals, key quotas,
session credentials pruned once expired."""

from __future__ import annotations

from cluster.meta import MetaState
from cluster.users import check_policy, check_user_name, new_key_id, new_user, public


def _state_with(name: str = "bob") -> MetaState:
    s = MetaState()
    assert s.apply({"op": "create_user", "user": new_user(name, 1.0)})["ok"]
    return s


def _key(expires=None):
    return {"secret": "w", "status": "Active", "created": 1.0, "expires": expires, "token": None}


def test_create_user_once():
    s = _state_with()
    again = s.apply({"op": "create_user", "user": new_user("bob", 2.0)})
    assert again == {"ok": False, "error": "EntityAlreadyExists", "message": "User with name bob already exists."}
    assert s.users["bob"]["arn"] == "arn:aws:iam::000000000000:user/bob"


def test_access_keys_quota_and_lookup():
    s = _state_with()
    ids = [new_key_id() for _ in range(3)]
    for key_id in ids[:2]:
        assert s.apply({"op": "put_access_key", "name": "bob", "key_id": key_id, "key": _key(), "now": 5.0})["ok"]
    third = s.apply({"op": "put_access_key", "name": "bob", "key_id": ids[2], "key": _key(), "now": 5.0})
    assert third["error"] == "LimitExceeded"
    user, key = s.user_by_key(ids[0])
    assert user["name"] == "bob" and key["status"] == "Active"
    assert s.apply({"op": "set_access_key_status", "name": "bob", "key_id": ids[0], "status": "Inactive"})["ok"]
    assert s.user_by_key(ids[0])[1]["status"] == "Inactive"
    assert s.apply({"op": "delete_access_key", "name": "bob", "key_id": ids[0]})["ok"]
    assert s.user_by_key(ids[0]) is None
    gone = s.apply({"op": "delete_access_key", "name": "bob", "key_id": ids[0]})
    assert gone["error"] == "NoSuchEntity"


def test_sessions_do_not_count_against_the_quota_and_are_pruned():
    s = _state_with()
    for _ in range(2):
        s.apply({"op": "put_access_key", "name": "bob", "key_id": new_key_id(), "key": _key(), "now": 5.0})
    session = new_key_id(session=True)
    assert s.apply({"op": "put_access_key", "name": "bob", "key_id": session, "key": _key(expires=10.0),
                    "now": 5.0})["ok"]
    assert session.startswith("ASIA") and s.user_by_key(session) is not None
    s.apply({"op": "put_access_key", "name": "bob", "key_id": new_key_id(True), "key": _key(expires=99.0),
             "now": 20.0})
    assert s.user_by_key(session) is None  # expired at 10, pruned by the write at 20


def test_policies_and_user_deletion():
    s = _state_with()
    doc = '{"Version": "2012-10-17", "Statement": []}'
    assert s.apply({"op": "put_user_policy", "name": "bob", "policy_name": "p", "document": doc})["ok"]
    assert s.users["bob"]["policies"] == {"p": doc}
    assert s.apply({"op": "delete_user_policy", "name": "bob", "policy_name": "q"})["error"] == "NoSuchEntity"
    assert s.apply({"op": "delete_user_policy", "name": "bob", "policy_name": "p"})["ok"]
    assert s.apply({"op": "delete_user", "name": "bob"})["ok"]
    assert s.apply({"op": "delete_user", "name": "bob"})["message"] == "The user with name bob cannot be found."


def test_users_survive_snapshots_and_listings_hide_secrets():
    s = _state_with()
    s.apply({"op": "put_access_key", "name": "bob", "key_id": "AKIAX", "key": _key(), "now": 1.0})
    again = MetaState.from_json(s.to_json())
    assert again.users == s.users
    assert "secret" not in public(again.users["bob"])["keys"]["AKIAX"]


def test_name_and_policy_checks():
    assert check_user_name("alice.b@x") is None
    assert "userName" in check_user_name("bad name")
    assert check_policy("p", '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", '
                             '"Resource": "*"}]}') is None
    assert check_policy("p", '{"Version": "2012-10-17", "Statement": []}')[0] == "MalformedPolicyDocument"
    assert check_policy("p", "{not json") == ("MalformedPolicyDocument", "Syntax errors in policy.")
    assert check_policy("p", '{"Statement": []}') == ("MalformedPolicyDocument",
                                                      "The policy must contain a valid version string")
    code, message = check_policy("bad name", "{}")
    assert code == "ValidationError" and "policyName" in message
