"""The policy language: IAM's validation messages, matching, every condition
operator's semantics (missing keys, multi-valued keys, IfExists, set
qualifiers), policy variables, and AWS's evaluation order."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.iam.policy import (Condition, MalformedPolicyDocument, Policy, Request, Statement, action_matches,
                            arn_matches, condition_holds, evaluate, like, parse_policy, substitute)

BOB = "arn:aws:iam::000000000000:user/bob"
TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/T"


def policy(*statements, version="2012-10-17", resource_based=False) -> Policy:
    return parse_policy({"Version": version, "Statement": list(statements)}, resource_based=resource_based)


def allow(action="dynamodb:*", resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="dynamodb:*", resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def req(action="dynamodb:GetItem", resource=TABLE, principal=BOB, **keys) -> Request:
    return Request(principal=principal, action=action, resource=resource, keys=keys)


def decide(request: Request, *identity: Policy, resource: Policy | None = None):
    return evaluate(request, identity, resource)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("doc,message", [
    ("{not json", "Syntax errors in policy."),
    ("[]", "Syntax errors in policy."),
    ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "\u20ac"}}',
     "Syntax errors in policy."),
    ({"Version": "2012-10-17"}, "Missing required field Statement"),
    ({"Version": "2020-01-01", "Statement": []}, "The policy must contain a valid version string"),
    ({"Version": "2012-10-17", "Statement": [], "Extra": 1}, "Unknown field Extra"),
    ({"Statement": {"Action": "dynamodb:*", "Resource": "*"}}, "Missing required field Effect"),
    ({"Statement": {"Effect": "Maybe", "Action": "dynamodb:*", "Resource": "*"}}, "Invalid effect: Maybe"),
    ({"Statement": {"Effect": "Allow", "Resource": "*"}}, "Policy statement must contain actions."),
    ({"Statement": {"Effect": "Allow", "Action": "dynamodb:*"}}, "Policy statement must contain resources."),
    ({"Statement": {"Effect": "Allow", "Action": "GetItem", "Resource": "*"}},
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "table/T"}},
     'Resource table/T must be in ARN format or "*".'),
    ({"Statement": {"Sid": "a-b", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}},
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression "
     "[0-9A-Za-z]*"),
    ({"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
                    {"Sid": "A", "Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}]},
     "Statement IDs (SID) in a single policy must be unique."),
    ({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*", "Principal": "*"}},
     "Policy document should not specify a principal."),
    ({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
                    "Condition": {"StringEqualz": {"aws:username": "bob"}}}},
     "Invalid Condition type : StringEqualz."),
    ({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
                    "Condition": {"NullIfExists": {"aws:username": "true"}}}},
     "Invalid Condition type : NullIfExists."),
    ({"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
                    "Condition": {"ForSomeValues:StringEquals": {"aws:username": "bob"}}}},
     "Invalid Condition type : ForSomeValues:StringEquals."),
])
def test_malformed_documents_get_iams_message(doc, message):
    with pytest.raises(MalformedPolicyDocument) as exc:
        parse_policy(doc if isinstance(doc, str) else json.dumps(doc))
    assert exc.value.message == message


def test_resource_policies_must_name_a_principal():
    with pytest.raises(MalformedPolicyDocument, match="Missing required field Principal"):
        policy(allow(), resource_based=True)
    with pytest.raises(MalformedPolicyDocument, match="Invalid principal in policy"):
        policy(allow(Principal={"AWS": "bob"}), resource_based=True)
    assert policy(allow(Principal={"AWS": BOB}), resource_based=True).statements[0].principal.aws == (BOB,)


def test_statement_may_be_an_object_or_a_list_and_version_defaults_to_2008():
    single = parse_policy({"Statement": allow()})
    assert single.version == "2008-10-17" and len(single.statements) == 1
    assert len(policy(allow(), deny()).statements) == 2


# --- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern,action,hit", [
    ("dynamodb:GetItem", "dynamodb:GetItem", True),
    ("DynamoDB:getitem", "dynamodb:GetItem", True),  # actions are case-insensitive
    ("dynamodb:Get*", "dynamodb:GetItem", True),
    ("dynamodb:Get*", "dynamodb:PutItem", False),
    ("dynamodb:?etItem", "dynamodb:GetItem", True),
    ("dynamodb:?Item", "dynamodb:GetItem", False),
    ("*", "lambda:InvokeFunction", True),
    ("dynamodb:*", "lambda:InvokeFunction", False),
])
def test_action_patterns(pattern, action, hit):
    assert action_matches(pattern, action) is hit


@pytest.mark.parametrize("pattern,arn,hit", [
    (TABLE, TABLE, True),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/t", TABLE, False),  # ARNs are case-sensitive
    ("arn:aws:dynamodb:*:*:table/T", TABLE, True),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/T*", TABLE + "/index/I", True),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/T", TABLE + "/index/I", False),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/T/index/*", TABLE + "/index/I", True),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/?", TABLE, True),
    ("arn:aws:dynamodb:*", TABLE, False),  # a wildcard does not span the ARN's colons
    ("arn:aws:dynamodb:us-*-1:000000000000:*", TABLE, True),
    ("*", TABLE, True),
])
def test_resource_patterns(pattern, arn, hit):
    assert arn_matches(pattern, arn) is hit


@given(st.text(alphabet="ab*?", max_size=6), st.text(alphabet="ab", max_size=6))
def test_like_agrees_with_a_reference_matcher(pattern, value):
    def ref(p: str, v: str) -> bool:
        if not p:
            return not v
        if p[0] == "*":
            return ref(p[1:], v) or (bool(v) and ref(p, v[1:]))
        return bool(v) and (p[0] == "?" or p[0] == v[0]) and ref(p[1:], v[1:])
    assert like(pattern, value) == ref(pattern, value)


ARN_TEXT = st.text(alphabet="ab:*?/", max_size=12)


@given(st.lists(ARN_TEXT, min_size=1, max_size=3), ARN_TEXT)
def test_a_statements_resources_match_as_each_part_of_each_pattern_would(patterns, arn):
    """The statement's patterns are one compiled expression; it agrees with
    matching the six parts of each pattern on their own (IAM's definition)."""
    def by_parts(pattern: str) -> bool:
        if pattern == "*":
            return True
        want, have = pattern.split(":", 5), arn.split(":", 5)
        return len(want) == len(have) == 6 and all(like(w, h) for w, h in zip(want, have))

    hit = any(by_parts(p) for p in patterns)
    assert all(arn_matches(p, arn) == by_parts(p) for p in patterns)
    req, patterns = Request(BOB, "dynamodb:GetItem", arn), tuple(patterns)  # built directly: not all are valid ARNs
    assert evaluate(req, [Policy("2012-10-17", (Statement("Allow", actions=("*",), resources=patterns),))]).allowed \
        == hit
    assert evaluate(req, [Policy("2012-10-17", (Statement("Allow", actions=("*",), resources=("*",)), Statement(
        "Deny", actions=("*",), not_resources=patterns)))]).allowed == hit


@given(st.lists(st.text(alphabet="aB:*?", min_size=1, max_size=8), min_size=1, max_size=3),
       st.text(alphabet="Ab:", max_size=8))
def test_a_statements_actions_match_as_each_pattern_would(patterns, action):
    hit = any(p == "*" or like(p, action, ignore_case=True) for p in patterns)
    req, patterns = Request(BOB, action, TABLE), tuple(patterns)
    assert evaluate(req, [Policy("2012-10-17", (Statement("Allow", actions=patterns, resources=("*",)),))]).allowed \
        == hit
    assert evaluate(req, [Policy("2012-10-17", (Statement("Allow", not_actions=patterns, resources=("*",)),))]) \
        .allowed == (not hit)


@given(st.text(alphabet="abAB-_.", min_size=1, max_size=12))
def test_a_literal_name_matches_only_itself(name):
    assert arn_matches(TABLE[:-1] + name, TABLE[:-1] + name)
    assert arn_matches(TABLE[:-1] + name, TABLE[:-1] + name + "x") is False


# --- conditions --------------------------------------------------------------------------------


def holds(operator: str, key: str, values, context: dict, version="2012-10-17") -> bool:
    [c] = policy(allow(Condition={operator: {key: values}}), version=version).statements[0].conditions
    return condition_holds(c, Policy(version, ()), {k.lower(): v for k, v in context.items()})


@pytest.mark.parametrize("operator,values,have,hit", [
    ("StringEquals", ["a", "b"], "b", True),
    ("StringEquals", "a", "A", False),
    ("StringNotEquals", ["a", "b"], "c", True),
    ("StringNotEquals", ["a", "b"], "a", False),
    ("StringEqualsIgnoreCase", "abc", "ABC", True),
    ("StringNotEqualsIgnoreCase", "abc", "ABC", False),
    ("StringLike", "us-*", "us-east-1", True),
    ("StringLike", "us-?", "us-ea", False),
    ("StringNotLike", "us-*", "eu-west-1", True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericNotEquals", "10", "11", True),
    ("NumericLessThan", "10", "9", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericGreaterThan", "10", "11", True),
    ("NumericGreaterThanEquals", "10", "9", False),
    ("NumericEquals", "10", "ten", False),
    ("DateLessThan", "2030-01-01T00:00:00Z", "2026-12-06T15:00:00Z", True),
    ("DateGreaterThan", "2030-01-01T00:00:00Z", "2026-12-06T15:00:00Z", False),
    ("DateEquals", "2026-12-06T00:00:00Z", "1796515200", True),  # epoch seconds compare with ISO 8601
    ("DateNotEquals", "2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z", True),
    ("DateLessThanEquals", "2026-12-06", "2026-12-06T00:00:00+00:00", True),
    ("DateGreaterThanEquals", "2026-12-06", "not a date", False),
    ("Bool", "true", True, True),
    ("Bool", True, "TRUE", True),
    ("Bool", "false", True, False),
    ("BinaryEquals", "QmluYXJ5", "QmluYXJ5", True),
    ("IpAddress", "10.0.0.0/8", "10.1.2.3", True),
    ("IpAddress", ["192.168.0.0/16", "10.0.0.0/8"], "172.16.0.1", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),
    ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress", "10.0.0.0/8", "not an ip", False),
    ("NotIpAddress", "10.0.0.0/8", "172.16.0.1", True),
    ("NotIpAddress", "10.0.0.0/8", "10.0.0.1", False),
    ("ArnLike", "arn:aws:iam::*:user/b*", BOB, True),
    ("ArnEquals", "arn:aws:iam::*:user/bob", BOB, True),  # ArnEquals takes wildcards too
    ("ArnNotEquals", "arn:aws:iam::000000000000:user/alice", BOB, True),
    ("ArnNotLike", "arn:aws:iam::*:user/*", BOB, False),
])
def test_operators(operator, values, have, hit):
    assert holds(operator, "aws:k", values, {"aws:k": have}) is hit


@pytest.mark.parametrize("operator,hit", [
    ("StringEquals", False), ("StringLike", False), ("NumericEquals", False), ("DateEquals", False),
    ("Bool", False), ("IpAddress", False), ("ArnLike", False),
    # negated operators are true for a key the request does not have
    ("StringNotEquals", True), ("StringNotLike", True), ("NumericNotEquals", True), ("NotIpAddress", True),
    ("ArnNotLike", True),
    ("StringEqualsIfExists", True), ("NumericLessThanIfExists", True),
    ("ForAllValues:StringEquals", True), ("ForAnyValue:StringEquals", False),
    ("ForAllValues:StringNotLike", True), ("ForAnyValue:StringNotEquals", False),
])
def test_a_missing_key(operator, hit):
    assert holds(operator, "aws:k", "1", {}) is hit
    if operator.startswith("For"):
        assert holds(operator, "aws:k", "1", {"aws:k": []}) is hit  # an empty set is missing too


def test_if_exists_tests_a_present_key():
    assert holds("StringEqualsIfExists", "dynamodb:Select", "SPECIFIC_ATTRIBUTES",
                 {"dynamodb:Select": "ALL_ATTRIBUTES"}) is False


@pytest.mark.parametrize("values,context,hit", [
    ("true", {}, True), ("true", {"aws:k": "x"}, False), ("false", {"aws:k": "x"}, True), ("false", {}, False),
    ("true", {"aws:k": []}, True),
])
def test_null(values, context, hit):
    assert holds("Null", "aws:k", values, context) is hit


@pytest.mark.parametrize("operator,have,hit", [
    ("ForAllValues:StringEquals", ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "z"], False),
    ("ForAnyValue:StringEquals", ["z", "b"], True),
    ("ForAnyValue:StringEquals", ["y", "z"], False),
    ("ForAllValues:StringNotEquals", ["y", "z"], True),  # no request value is a or b
    ("ForAllValues:StringNotEquals", ["a", "z"], False),
    ("ForAnyValue:StringNotEquals", ["a", "z"], True),  # z is neither
    ("ForAnyValue:StringNotEquals", ["a", "b"], False),
    ("ForAllValues:StringLike", ["a", "b"], True),
    ("StringEquals", ["z", "a"], True),  # single-valued operator on a set: any value
    ("StringNotEquals", ["z", "a"], False),  # negated: none may match
])
def test_set_qualifiers(operator, have, hit):
    assert holds(operator, "aws:k", ["a", "b"], {"aws:k": have}) is hit


@given(st.lists(st.sampled_from("abcd"), max_size=4), st.lists(st.sampled_from("abcd"), min_size=1, max_size=3))
def test_set_qualifiers_are_set_inclusion_and_intersection(have, allowed):
    ctx = {"aws:k": have}
    assert holds("ForAllValues:StringEquals", "aws:k", allowed, ctx) == set(have).issubset(allowed)
    assert holds("ForAnyValue:StringEquals", "aws:k", allowed, ctx) == bool(set(have) & set(allowed))


def test_condition_key_names_are_case_insensitive():
    assert holds("StringEquals", "AWS:UserName", "bob", {"aws:username": "bob"})


# --- variables ----------------------------------------------------------------------------------


def test_substitution():
    ctx = {"aws:username": "bob", "aws:principalarn": BOB}
    assert substitute("users/${aws:username}/*", ctx) == "users/bob/*"
    assert substitute("${aws:missing}", ctx) is None
    assert substitute("${aws:missing, 'nobody'}", ctx) == "nobody"
    assert substitute("${*}${?}${$}", ctx) == "*?$"


def test_variables_only_in_2012_policies():
    ctx = {"aws:username": "bob", "aws:k": "bob"}
    assert holds("StringEquals", "aws:k", "${aws:username}", ctx)
    assert holds("StringEquals", "aws:k", "${aws:username}", ctx, version="2008-10-17") is False
    assert holds("StringEquals", "aws:k", "${aws:username}", {"aws:k": ""}) is False  # unresolved: no match
    assert holds("NumericEquals", "aws:k", "${aws:n}", {"aws:k": "1", "aws:n": "1"}) is False  # not substituted


def test_variables_in_resources():
    p = policy(allow(resource="arn:aws:dynamodb:*:*:table/${aws:username}-*"))
    assert decide(req(resource="arn:aws:dynamodb:us-east-1:000000000000:table/bob-notes", **{"aws:username": "bob"}),
                  p).allowed
    assert not decide(req(resource="arn:aws:dynamodb:us-east-1:000000000000:table/eve-notes",
                          **{"aws:username": "bob"}), p).allowed


def test_leading_keys_per_user():
    p = policy(allow(["dynamodb:GetItem", "dynamodb:Query"], TABLE,
                     Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}))
    assert decide(req(**{"aws:username": "bob", "dynamodb:LeadingKeys": ["bob"]}), p).allowed
    assert not decide(req(**{"aws:username": "bob", "dynamodb:LeadingKeys": ["alice"]}), p).allowed
    assert not decide(req(**{"aws:username": "bob", "dynamodb:LeadingKeys": ["bob", "alice"]}), p).allowed


# --- evaluation -----------------------------------------------------------------------------------


def test_default_deny_allow_and_explicit_deny():
    assert decide(req()).allowed is False and decide(req()).denied_by == ""
    assert decide(req(), policy(allow())).allowed
    d = decide(req(), policy(allow()), policy(deny("dynamodb:GetItem")))
    assert (d.allowed, d.denied_by) == (False, "identity")


def test_not_action_and_not_resource():
    p = policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"})
    assert decide(req("dynamodb:PutItem"), p).allowed
    assert not decide(req("dynamodb:DeleteTable"), p).allowed
    q = policy({"Effect": "Allow", "Action": "dynamodb:*", "NotResource": TABLE})
    assert not decide(req(), q).allowed
    assert decide(req(resource=TABLE + "2"), q).allowed


def test_every_condition_must_hold():
    p = policy(allow(Condition={"StringEquals": {"aws:username": "bob"}, "Bool": {"aws:SecureTransport": "true"}}))
    assert decide(req(**{"aws:username": "bob", "aws:SecureTransport": True}), p).allowed
    assert not decide(req(**{"aws:username": "bob", "aws:SecureTransport": False}), p).allowed


def test_resource_policy_allows_and_denies():
    mine = policy(allow(Principal={"AWS": BOB}), resource_based=True)
    assert decide(req(), resource=mine).allowed  # same account: the resource policy alone allows
    assert not decide(req(principal="arn:aws:iam::000000000000:user/eve"), resource=mine).allowed
    everyone = policy(allow(Principal="*"), resource_based=True)
    assert decide(req(principal="arn:aws:iam::000000000000:user/eve"), resource=everyone).allowed
    no = policy(deny("dynamodb:GetItem", Principal={"AWS": "*"}), resource_based=True)
    d = decide(req(), policy(allow()), resource=no)
    assert (d.allowed, d.denied_by) == (False, "resource")


def test_naming_the_account_delegates_to_identity_policies():
    account = policy(allow(Principal={"AWS": "arn:aws:iam::000000000000:root"}), resource_based=True)
    assert not decide(req(), resource=account).allowed
    assert decide(req(), policy(allow()), resource=account).allowed
    deny_account = policy(deny(Principal={"AWS": "000000000000"}), resource_based=True)
    assert not decide(req(), policy(allow()), resource=deny_account).allowed


def test_not_principal():
    p = policy(deny(NotPrincipal={"AWS": BOB}), resource_based=True)
    assert decide(req(), policy(allow()), resource=p).allowed
    assert not decide(req(principal="arn:aws:iam::000000000000:user/eve"), policy(allow()), resource=p).allowed


@given(st.lists(st.tuples(st.sampled_from(["Allow", "Deny"]), st.booleans()), max_size=6))
def test_deny_wins_else_any_allow(statements):
    """For statements that match (True) or not, the decision is AWS's order."""
    docs = [policy({"Effect": e, "Action": "dynamodb:GetItem" if hit else "dynamodb:PutItem", "Resource": "*"})
            for e, hit in statements]
    d = decide(req(), *docs)
    hits = {e for e, hit in statements if hit}
    assert d.allowed == (hits == {"Allow"})
    assert (d.denied_by == "identity") == ("Deny" in hits)


def test_condition_dataclass_is_plain():
    assert Condition("StringEquals", "aws:k", ("a",)).qualifier == ""
