"""Authorization: whether the authenticated caller may run a request.

The Dispatcher (router/protocol.py) awaits `Authorizer(caller, target,
request)` before an operation runs, and the Lambda REST API
`Authorizer.rest(caller, method, path)`. Each of the request's checks
(ddb/iam/actions.py) is decided with the caller's identity policies and the
resource's policy from this router's metadata view (ddb/iam/policy.py); the
first denied check raises AccessDeniedException with AWS's message. Open mode
(`caller.enforced` False) and admin callers are never checked.
"""

from __future__ import annotations

import time
from typing import Callable

from cluster.meta import MetaState
from ddb.errors import AccessDeniedException, ValidationException
from ddb.iam import actions
from ddb.iam.policy import Decision, MalformedPolicyDocument, Policy, Request, evaluate, parse_policy
from router.auth import policies
from router.auth.caller import ACCOUNT, Caller

# No capture of DynamoDB's wording is known.
REMOVES_SELF = ("One or more parameter values were invalid: The policy would remove your permission to change the "
                "resource's policy; set ConfirmRemoveSelfResourceAccess to true to confirm")


def denied_message(principal: str, action: str, resource: str, decision: Decision) -> str:
    """AWS's AccessDeniedException message for a denied check."""
    why = {"identity": "with an explicit deny in an identity-based policy",
           "resource": "with an explicit deny in a resource-based policy"}.get(
        decision.denied_by, f"because no identity-based policy allows the {action} action")
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"


def identity_policies(caller: Caller) -> tuple[Policy, ...]:
    """Parsed once per user and metadata version (router/auth/users.py), else from the caller's documents."""
    return caller.identity if caller.identity is not None else policies.identity(caller.policies)


def key_schema(state: MetaState | None) -> actions.KeysOf:
    """(table, index) -> its (partition, sort) key attributes, from the metadata."""
    def of(table: str, index: str | None) -> tuple[str, str | None] | None:
        t = state.tables.get(table) if state is not None else None
        if t is None:
            return None
        schema = t.spec.get("KeySchema") or []
        if index is not None:
            specs = [*(t.spec.get("GlobalSecondaryIndexes") or []), *(t.spec.get("LocalSecondaryIndexes") or [])]
            schema = next((ix.get("KeySchema") or [] for ix in specs if ix.get("IndexName") == index), [])
        hash_key = next((k["AttributeName"] for k in schema if k.get("KeyType") == "HASH"), None)
        range_key = next((k["AttributeName"] for k in schema if k.get("KeyType") == "RANGE"), None)
        return (hash_key, range_key) if hash_key is not None else None
    return of


def resource_policy(state: MetaState | None, arn: str) -> Policy | None:
    """The policy governing a table, index (its table's) or stream ARN."""
    if state is None or ":table/" not in arn:
        return None
    table, _, rest = arn.split(":table/", 1)[1].partition("/")
    t = state.tables.get(table)
    if t is None or not t.resource_policies:
        return None
    kind, _, label = rest.partition("/")
    entry = t.resource_policies.get(label if kind == "stream" else "")
    return policies.parsed(entry["policy"], True) if entry else None


class Authorizer:
    def __init__(self, state: Callable[[], MetaState | None], region: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.state = state  # the router's metadata view (Cluster.state)
        self.region = region
        self.clock = clock

    def _global_keys(self, caller: Caller) -> dict:
        return actions.global_keys(username=caller.name, principal=caller.arn, source_ip=caller.source_ip,
                                   secure=caller.secure, now=self.clock(), session=caller.session,
                                   region=self.region)

    def _decide(self, caller: Caller, found: list[actions.Check], state: MetaState | None) -> None:
        identity = identity_policies(caller)
        base = self._global_keys(caller)
        for c in found:
            req = Request(principal=caller.arn, action=c.action, resource=c.resource, keys={**base, **c.keys},
                          account=ACCOUNT)
            decision = evaluate(req, identity, resource_policy(state, c.resource))
            if not decision.allowed:
                raise AccessDeniedException(denied_message(caller.arn, c.action, c.resource, decision))

    async def __call__(self, caller: Caller, target: str, request: dict) -> None:
        if not caller.enforced or caller.admin:
            return
        if target.startswith(actions.INTERNAL):  # the cluster's own calls: admin credentials only
            action = f"trireme:{target.rpartition('.')[2]}"
            raise AccessDeniedException(denied_message(caller.arn, action, "*", Decision(False)))
        state = self.state()
        self._decide(caller, actions.checks(target, request, region=self.region,
                                            keys_of=key_schema(state)), state)
        if target == actions.DYNAMODB + "PutResourcePolicy" and request.get("ConfirmRemoveSelfResourceAccess") \
                is not True:
            self._keeps_own_access(caller, request)

    def _keeps_own_access(self, caller: Caller, request: dict) -> None:
        """A new policy that would take the caller's own right to change it
        needs ConfirmRemoveSelfResourceAccess (a malformed one is the
        operation's to refuse)."""
        arn = request.get("ResourceArn")
        try:
            new = parse_policy(request.get("Policy"), resource_based=True)
        except MalformedPolicyDocument:
            return
        if not isinstance(arn, str):
            return
        req = Request(principal=caller.arn, action="dynamodb:PutResourcePolicy", resource=arn,
                      keys=self._global_keys(caller))
        if not evaluate(req, identity_policies(caller), new).allowed:
            raise ValidationException(REMOVES_SELF)

    def function_url(self, caller: Caller, function_arn: str) -> None:
        """A request to a function URL with AuthType AWS_IAM: Lambda's check."""
        if not caller.enforced or caller.admin:
            return
        self._decide(caller, [actions.Check("lambda:InvokeFunctionUrl", function_arn,
                                            {"lambda:FunctionUrlAuthType": "AWS_IAM"})], self.state())

    async def rest(self, caller: Caller, method: str, path: str, body: bytes = b"") -> None:
        """The Lambda REST API's check (none for a path it answers itself)."""
        if not caller.enforced or caller.admin:
            return
        check = actions.lambda_action(method, path, region=self.region, body=body)
        if check is not None:
            self._decide(caller, [check], self.state())


__all__ = ["Authorizer", "denied_message"]
