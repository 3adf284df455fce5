"""PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy of tables
and streams.

A policy is kept in its table's metadata (``TableInfo.resource_policies``),
written through the meta group, which checks ExpectedRevisionId against the
current revision (cluster/meta.py); the Authorizer (router/auth/authorize.py)
reads it from the router's metadata view. A call returns once this router's
view has the change, so the next request through it is decided by it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ddb import resource_policies as rp
from ddb.errors import ResourceNotFoundException, ValidationException
from router.context import Tables

ACCOUNT = "000000000000"
WAIT_S = 5.0
Op = Callable[[dict], Awaitable[Any]]


def _target(api: Tables, arn: Any) -> tuple[str, str, str]:
    """(ARN, table, stream label or "") of an existing table or stream."""
    table, label = rp.parse_resource_arn(arn, region=api.region, account=ACCOUNT)
    state = api.cluster.state
    t = state.tables.get(table) if state is not None else None
    if t is None or "IndexOf" in t.spec or "System" in t.spec or t.status == "DELETING" \
            or (label and t.stream(label) is None):
        raise ResourceNotFoundException(f"Requested resource not found: ResourceArn: {arn} not found")
    return arn, table, label


async def _change(api: Tables, arn: str, table: str, label: str, policy: str | None, expect: Any) -> str | None:
    if expect is not None and not isinstance(expect, str):
        raise ValidationException("ExpectedRevisionId must be a string")
    result = await api.cluster.meta("resource_policy", {"name": table, "label": label, "arn": arn,
                                                        "policy": policy, "expect": expect})
    version = result.get("version", 0)
    await api.cluster.wait_for(lambda s: s.version >= version, WAIT_S)
    return result.get("revision")


async def put_resource_policy(api: Tables, body: dict) -> dict:
    arn, table, label = _target(api, body.get("ResourceArn"))
    rp.check_policy(body.get("Policy"), stream=bool(label))
    return {"RevisionId": await _change(api, arn, table, label, body["Policy"], body.get("ExpectedRevisionId"))}


async def get_resource_policy(api: Tables, body: dict) -> dict:
    arn, table, label = _target(api, body.get("ResourceArn"))
    entry = api.cluster.state.tables[table].resource_policies.get(label)
    if entry is None:
        raise rp.not_found(arn)
    return {"Policy": entry["policy"], "RevisionId": entry["revision"]}


async def delete_resource_policy(api: Tables, body: dict) -> dict:
    arn, table, label = _target(api, body.get("ResourceArn"))
    revision = await _change(api, arn, table, label, None, body.get("ExpectedRevisionId"))
    return {"RevisionId": revision} if revision is not None else {}


def operations(api: Tables) -> dict[str, Op]:
    return {"PutResourcePolicy": lambda body: put_resource_policy(api, body),
            "GetResourcePolicy": lambda body: get_resource_policy(api, body),
            "DeleteResourcePolicy": lambda body: delete_resource_policy(api, body)}
