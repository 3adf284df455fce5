"""The AWS policy language: parsing with IAM's validation messages, and
evaluation as AWS evaluates the policies of one account.

A decision weighs the caller's identity policies and the resource's policy
together: an explicit Deny in either wins; otherwise an Allow in either
allows (same account); otherwise the request is implicitly denied. Condition
operators follow the IAM reference: a missing key makes a positive operator
false and a negated one (StringNotEquals, NotIpAddress, ...) true,
``...IfExists`` makes a missing key true, ``ForAllValues:`` is true for a
missing or empty key, ``ForAnyValue:`` false. Policy variables
(``${aws:username}``) are substituted in Resource and in string and ARN
condition values when the policy's Version is 2012-10-17, as in IAM.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Mapping

VERSIONS = ("2012-10-17", "2008-10-17")
VARIABLES_VERSION = "2012-10-17"
ALLOW, DENY = "Allow", "Deny"
STATEMENT_FIELDS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
                    "NotPrincipal", "Condition"}
SID = re.compile(r"[0-9A-Za-z]*")
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "DateNotEquals",
           "NotIpAddress", "ArnNotEquals", "ArnNotLike"}
OPERATORS = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "NumericEquals", "NumericLessThan",
             "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals",
             "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals", "Bool",
             "BinaryEquals", "IpAddress", "ArnEquals", "ArnLike", "Null", *NEGATED}
QUALIFIERS = ("ForAllValues", "ForAnyValue")
# Operators whose values may hold policy variables (IAM substitutes only in string-like comparisons).
VARIABLE_OPERATORS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                      "StringLike", "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"}


class MalformedPolicyDocument(Exception):
    """A document IAM would refuse, with IAM's message (MalformedPolicyDocument)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Condition:
    operator: str  # the base operator, e.g. "StringEquals" (no qualifier, no IfExists)
    key: str  # lower case: condition key names are case-insensitive
    values: tuple[str, ...]
    qualifier: str = ""  # "", "ForAllValues" or "ForAnyValue"
    if_exists: bool = False


@dataclass(frozen=True)
class Principals:
    """A Principal or NotPrincipal element: ``everyone`` ("*" or {"AWS": "*"}),
    else the AWS principals named (user ARNs, account ids, account root ARNs)."""

    everyone: bool = False
    aws: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # Service, Federated, CanonicalUser: never a Trireme user


@dataclass(frozen=True)
class Statement:
    effect: str
    sid: str = ""
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    principal: Principals | None = None
    not_principal: Principals | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]

    @property
    def variables(self) -> bool:
        return self.version == VARIABLES_VERSION


@dataclass(frozen=True)
class Request:
    """What one authorization check is about: the caller, the action, the
    resource ARN and the request context's condition keys (names in any case;
    a value is a string, a bool, a number or a list of them)."""

    principal: str  # the caller's ARN
    action: str  # "dynamodb:GetItem"
    resource: str
    keys: Mapping[str, Any] = field(default_factory=dict)
    account: str = "000000000000"

    def context(self) -> dict[str, Any]:
        return {k.lower(): v for k, v in self.keys.items()}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # For a denial: "identity" or "resource" (the policy kind whose explicit Deny decided it), "" when
    # nothing allowed it (implicit deny).
    denied_by: str = ""


# --- parsing and validation ---------------------------------------------------------


def parse_policy(document: str | Mapping, *, resource_based: bool = False) -> Policy:
    """A policy from its JSON text (or parsed JSON), validated as IAM does;
    MalformedPolicyDocument otherwise. Identity policies may not name a
    principal; resource-based ones must."""
    if isinstance(document, str):
        if not all(c in "\t\n\r" or "\x20" <= c <= "\xff" for c in document):
            raise MalformedPolicyDocument("Syntax errors in policy.")
        try:
            document = json.loads(document)
        except ValueError:
            raise MalformedPolicyDocument("Syntax errors in policy.") from None
    if not isinstance(document, Mapping):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise MalformedPolicyDocument(f"Unknown field {sorted(unknown)[0]}")
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise MalformedPolicyDocument("The policy must contain a valid version string")
    if "Statement" not in document:
        raise MalformedPolicyDocument("Missing required field Statement")
    raw = document["Statement"]
    raws = raw if isinstance(raw, list) else [raw]
    if not raws:
        raise MalformedPolicyDocument("Missing required field Statement")
    statements = tuple(_statement(s, resource_based) for s in raws)
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocument("Statement IDs (SID) in a single policy must be unique.")
    return Policy(version, statements)


def _strings(value: Any, name: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise MalformedPolicyDocument(f"Syntax errors in policy. {name} must be a string or a list of strings.")
    return tuple(values)


def _statement(raw: Any, resource_based: bool) -> Statement:
    if not isinstance(raw, Mapping):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    unknown = set(raw) - STATEMENT_FIELDS
    if unknown:
        raise MalformedPolicyDocument(f"Statement has unknown field {sorted(unknown)[0]}")
    sid = raw.get("Sid", "")
    if not isinstance(sid, str) or not SID.fullmatch(sid):
        raise MalformedPolicyDocument("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies "
                                      "the regular expression [0-9A-Za-z]*")
    if "Effect" not in raw:
        raise MalformedPolicyDocument("Missing required field Effect")
    if raw["Effect"] not in (ALLOW, DENY):
        raise MalformedPolicyDocument(f"Invalid effect: {raw['Effect']}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise MalformedPolicyDocument("Policy statement must contain actions." if "Action" not in raw
                                      else "Statement can not contain both Action and NotAction")
    if ("Resource" in raw) and ("NotResource" in raw):
        raise MalformedPolicyDocument("Statement can not contain both Resource and NotResource")
    if "Resource" not in raw and "NotResource" not in raw:
        raise MalformedPolicyDocument("Policy statement must contain resources.")
    has_principal = "Principal" in raw or "NotPrincipal" in raw
    if has_principal and not resource_based:
        raise MalformedPolicyDocument("Policy document should not specify a principal.")
    if resource_based and not has_principal:
        raise MalformedPolicyDocument("Missing required field Principal")
    actions = _strings(raw.get("Action", raw.get("NotAction")), "Action")
    for a in actions:
        if a != "*" and ":" not in a:
            raise MalformedPolicyDocument("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    resources = _strings(raw.get("Resource", raw.get("NotResource")), "Resource")
    for r in resources:
        if r != "*" and not (r.startswith("arn:") and r.count(":") >= 5):
            raise MalformedPolicyDocument(f'Resource {r} must be in ARN format or "*".')
    return Statement(
        effect=raw["Effect"], sid=sid,
        actions=actions if "Action" in raw else None, not_actions=actions if "NotAction" in raw else None,
        resources=resources if "Resource" in raw else None,
        not_resources=resources if "NotResource" in raw else None,
        principal=_principals(raw["Principal"]) if "Principal" in raw else None,
        not_principal=_principals(raw["NotPrincipal"]) if "NotPrincipal" in raw else None,
        conditions=_conditions(raw.get("Condition", {})))


def _principals(raw: Any) -> Principals:
    if raw == "*":
        return Principals(everyone=True)
    if not isinstance(raw, Mapping) or not raw:
        raise MalformedPolicyDocument("Invalid principal in policy")
    aws: list[str] = []
    others: list[str] = []
    for kind, value in raw.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicyDocument("Invalid principal in policy")
        values = _strings(value, "Principal")
        (aws if kind == "AWS" else others).extend(values)
    for p in aws:
        if p != "*" and not re.fullmatch(r"\d{12}", p) and not p.startswith("arn:aws:iam::"):
            raise MalformedPolicyDocument("Invalid principal in policy")
    return Principals(everyone="*" in aws, aws=tuple(aws), others=tuple(others))


def _conditions(raw: Any) -> tuple[Condition, ...]:
    if not isinstance(raw, Mapping):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    out = []
    for full, block in raw.items():
        qualifier, _, operator = full.rpartition(":")
        if qualifier and qualifier not in QUALIFIERS:
            raise MalformedPolicyDocument(f"Invalid Condition type : {full}.")
        if_exists = operator.endswith("IfExists") and operator != "IfExists"
        base = operator[:-len("IfExists")] if if_exists else operator
        if base not in OPERATORS or (if_exists and base == "Null"):
            raise MalformedPolicyDocument(f"Invalid Condition type : {full}.")
        if not isinstance(block, Mapping) or not block:
            raise MalformedPolicyDocument("Syntax errors in policy.")
        for key, values in block.items():
            if ":" not in key:
                raise MalformedPolicyDocument("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, "
                                              "ec2, etc.")
            vals = values if isinstance(values, list) else [values]
            if not vals or not all(isinstance(v, (str, bool, int, float)) for v in vals):
                raise MalformedPolicyDocument("Syntax errors in policy.")
            out.append(Condition(base, key.lower(), tuple(_text(v) for v in vals), qualifier, if_exists))
    return tuple(out)


def _text(value: Any) -> str:
    """A condition value as IAM reads it: JSON true is "true", 5 is "5"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


# --- matching -------------------------------------------------------------------------


def _glob_body(pattern: str, any_char: str = ".") -> str:
    """A regular expression's text for a glob: `*` any run of `any_char`, `?` one, the rest literal."""
    return "".join(any_char + "*" if c == "*" else any_char if c == "?" else re.escape(c) for c in pattern)


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` any run of characters, `?` any one character, everything else literal."""
    return re.compile(_glob_body(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


_NOTHING = re.compile(r"(?!)")


@lru_cache(maxsize=4096)
def _actions(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for a statement's action patterns (compiled once per
    set of patterns, not per request)."""
    if not patterns:
        return _NOTHING
    return re.compile("|".join(f"(?:{_glob_body(p)})" for p in patterns), re.DOTALL | re.IGNORECASE)


def action_matches(pattern: str, action: str) -> bool:
    """Actions compare case-insensitively; `*` alone is every action."""
    return pattern == "*" or _actions((pattern,)).fullmatch(action) is not None


def _arn_body(pattern: str) -> str | None:
    """An ARN pattern as one expression: a wildcard in the first five parts
    stays within its part (it never matches a colon), in the last it may
    span colons. None when the pattern has no six parts (it matches nothing)."""
    if pattern == "*":
        return ".*"
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return None
    return ":".join([*(_glob_body(p, "[^:]") for p in parts[:5]), _glob_body(parts[5])])


@lru_cache(maxsize=4096)
def _arns(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for a statement's resource patterns."""
    bodies = [b for b in map(_arn_body, patterns) if b is not None]
    return re.compile("|".join(f"(?:{b})" for b in bodies), re.DOTALL) if bodies else _NOTHING


def arn_matches(pattern: str, arn: str) -> bool:
    """ARNs compare case-sensitively, each of the six colon-separated parts on
    its own (a wildcard never spans a colon except in the last, the resource);
    `*` alone is every resource."""
    return _arns((pattern,)).fullmatch(arn) is not None


VARIABLE = re.compile(r"\$\{([^}]*)\}")


def substitute(text: str, context: Mapping[str, Any]) -> str | None:
    """``${key}`` replaced by the request's value of that key (``${key, 'default'}``
    when absent; ``${*}``, ``${?}``, ``${$}`` are the literal characters). None
    when a key is missing without a default: the element then matches nothing,
    as in IAM."""
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        inner = m.group(1)
        if inner in ("*", "?", "$"):
            return inner
        name, _, default = inner.partition(",")
        value = context.get(name.strip().lower())
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        if value is None or isinstance(value, (dict,)):
            d = default.strip()
            if len(d) >= 2 and d[0] == d[-1] == "'":
                return d[1:-1]
            missing = True
            return ""
        return _text(value)

    out = VARIABLE.sub(one, text)
    return None if missing else out


def _expand(values: tuple[str, ...], policy: Policy, context: Mapping[str, Any]) -> tuple[str, ...]:
    if not policy.variables or not any("${" in v for v in values):
        return values
    return tuple(v for v in (substitute(x, context) for x in values) if v is not None)


def _principal_matches(p: Principals, caller: str, account: str, *, granting: bool) -> bool:
    """Does the element name the caller? Naming the caller's account (its id or
    root ARN) delegates to the account's identity policies: it never grants by
    itself, but a Deny for it applies to every caller of the account."""
    if p.everyone or caller in p.aws:
        return True
    if granting:
        return False
    return account in p.aws or f"arn:aws:iam::{account}:root" in p.aws


def statement_applies(st: Statement, policy: Policy, req: Request, context: Mapping[str, Any],
                      *, resource_based: bool = False) -> bool:
    if st.actions is not None:
        if _actions(st.actions).fullmatch(req.action) is None:
            return False
    elif _actions(st.not_actions or ()).fullmatch(req.action) is not None:
        return False
    if st.resources is not None:
        if _arns(_expand(st.resources, policy, context)).fullmatch(req.resource) is None:
            return False
    elif _arns(_expand(st.not_resources or (), policy, context)).fullmatch(req.resource) is not None:
        return False
    if resource_based:
        granting = st.effect == ALLOW
        if st.principal is not None and not _principal_matches(st.principal, req.principal, req.account,
                                                                granting=granting):
            return False
        if st.not_principal is not None and _principal_matches(st.not_principal, req.principal, req.account,
                                                                granting=False):
            return False
    return all(condition_holds(c, policy, context) for c in st.conditions)


# --- conditions -------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _date(text: str) -> float | None:
    """ISO 8601 (any of IAM's forms) or epoch seconds."""
    n = _number(text)
    if n is not None:
        return n
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()


def _ip_in(value: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


_NUMERIC = {"Equals": lambda a, b: a == b, "LessThan": lambda a, b: a < b, "LessThanEquals": lambda a, b: a <= b,
            "GreaterThan": lambda a, b: a > b, "GreaterThanEquals": lambda a, b: a >= b}


def _positive(operator: str) -> str:
    """The positive form of a negated operator (StringNotEquals -> StringEquals)."""
    return {"NotIpAddress": "IpAddress"}.get(operator, operator.replace("Not", "", 1))


def _one(operator: str, have: str, want: str) -> bool:
    """Does one request value match one policy value under a positive operator?"""
    if operator == "StringEquals":
        return have == want
    if operator == "StringEqualsIgnoreCase":
        return have.lower() == want.lower()
    if operator == "StringLike":
        return like(want, have)
    if operator in ("ArnEquals", "ArnLike"):
        return arn_matches(want, have)
    if operator == "Bool":
        return have.lower() == want.lower()
    if operator == "BinaryEquals":
        return have == want
    if operator == "IpAddress":
        return _ip_in(have, want)
    if operator.startswith("Numeric"):
        a, b = _number(have), _number(want)
        return a is not None and b is not None and _NUMERIC[operator[len("Numeric"):]](a, b)
    if operator.startswith("Date"):
        a, b = _date(have), _date(want)
        return a is not None and b is not None and _NUMERIC[operator[len("Date"):]](a, b)
    return False


def condition_holds(c: Condition, policy: Policy, context: Mapping[str, Any]) -> bool:
    raw = context.get(c.key)
    if c.operator == "Null":
        absent = raw is None or raw == []
        return any((w.lower() == "true") == absent for w in c.values)
    present = raw is not None and raw != []
    if not present:
        if c.qualifier == "ForAllValues":
            return True
        if c.qualifier == "ForAnyValue":
            return False
        return c.if_exists or c.operator in NEGATED
    have = [_text(v) for v in (raw if isinstance(raw, list) else [raw])]
    want = _expand(c.values, policy, context) if c.operator in VARIABLE_OPERATORS else c.values
    negated = c.operator in NEGATED
    base = _positive(c.operator) if negated else c.operator

    def matches(h: str) -> bool:
        hit = any(_one(base, h, w) for w in want)
        return not hit if negated else hit

    if c.qualifier == "ForAllValues":
        return all(matches(h) for h in have)
    if c.qualifier == "ForAnyValue" or not negated:
        return any(matches(h) for h in have)
    return all(matches(h) for h in have)  # a negated single-valued test: no request value matches


# --- evaluation -----------------------------------------------------------------------


def _effects(policies: Iterable[Policy], req: Request, context: Mapping[str, Any],
             resource_based: bool) -> tuple[bool, bool]:
    """(some statement allows, some statement denies)."""
    allow = deny = False
    for policy in policies:
        for st in policy.statements:
            if (st.effect == DENY and deny) or (st.effect == ALLOW and allow):
                continue
            if statement_applies(st, policy, req, context, resource_based=resource_based):
                if st.effect == DENY:
                    deny = True
                else:
                    allow = True
    return allow, deny


def evaluate(req: Request, identity: Iterable[Policy], resource: Policy | None = None) -> Decision:
    """AWS's decision for a caller and a resource of the same account."""
    context = req.context()
    id_allow, id_deny = _effects(identity, req, context, False)
    res_allow, res_deny = _effects([resource] if resource is not None else [], req, context, True)
    if id_deny:
        return Decision(False, "identity")
    if res_deny:
        return Decision(False, "resource")
    return Decision(id_allow or res_allow)
