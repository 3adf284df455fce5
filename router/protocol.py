"""The DynamoDB JSON protocol on top of HTTP: target header, content type,
JSON body, the request's types checked against DynamoDB's service model,
operation dispatch, and errors rendered as DynamoDB renders them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from ddb.errors import (AccessDeniedException, DynamoDBError, InternalServerError, ResourceNotFoundException,
                        SerializationException, UnknownOperationException)
from ddb.shapes import Check, compile_model
from router.auth.authenticate import CALLER, DYNAMODB, SCALING, Authenticator
from router.auth.caller import Caller

log = logging.getLogger(__name__)

Op = Callable[[dict], Awaitable[Any]]
# The last: operations regions call on each other (global tables; router/global_tables.py).
PREFIXES = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.", "TriremeAdmin_1.", "TriremeReplication_1.",
            "AnyScaleFrontendService.")  # the last: Application Auto Scaling (router/autoscaling_api.py)
CONTENT_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1")
INTERNAL = (PREFIXES[2], PREFIXES[3])  # the cluster's own operations: admin callers only when enforced
FORM = "application/x-www-form-urlencoded"
# The authorization hook (router/auth/authorize.py): raises AccessDeniedException.
Authorize = Callable[[Caller, str, dict], Awaitable[None]]
Sts = Callable[[dict[str, str], bytes], Awaitable[tuple[int, bytes]]]


def service_checks() -> dict[str, Check]:
    """Target -> type checker of its input, from the DynamoDB and DynamoDB
    Streams models that botocore ships (the models the SDKs are built from)."""
    from botocore.loaders import Loader  # read once, at start-up

    loader = Loader()
    checks: dict[str, Check] = {}
    for prefix, service in zip(PREFIXES, ("dynamodb", "dynamodbstreams")):
        model = loader.load_service_model(service, "service-2")
        checks.update({prefix + op: check for op, check in compile_model(model).items()})
    return checks


class Dispatcher:
    """`(target, body, headers) -> (status, body)`: the router's HTTP handler."""

    def __init__(self, operations: Mapping[str, Op], streams: Mapping[str, Op] | None = None,
                 admin: Mapping[str, Op] | None = None, checks: Mapping[str, Check] | None = None,
                 replication: Mapping[str, Op] | None = None, scaling: Mapping[str, Op] | None = None,
                 authenticate: Authenticator | None = None, authorize: Authorize | None = None,
                 sts: Sts | None = None, catch_up: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.ops = {PREFIXES[0] + name: op for name, op in operations.items()}
        self.ops.update({PREFIXES[1] + name: op for name, op in (streams or {}).items()})
        self.ops.update({PREFIXES[2] + name: op for name, op in (admin or {}).items()})
        self.ops.update({PREFIXES[3] + name: op for name, op in (replication or {}).items()})
        self.ops.update({PREFIXES[4] + name: op for name, op in (scaling or {}).items()})
        self.checks = service_checks() if checks is None else checks
        # Open mode (the default): every request is ANONYMOUS and no policy is evaluated.
        self.authenticate = authenticate or Authenticator(None, "")
        self.authorize = authorize
        self.sts = sts  # STS's query protocol (router/auth/sts.py): POST / without a target, a form body
        # Whether the router's metadata lagged the meta leader's and caught up
        # (Cluster.catch_up): a request that met ResourceNotFound runs once more then.
        self.catch_up = catch_up

    async def __call__(self, target: str | None, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            if target is None and self.sts is not None and headers.get("content-type", "").startswith(FORM):
                return await self.sts(headers, body)
            caller = self.authenticate(headers, body, SCALING if target and target.startswith(PREFIXES[4])
                                       else DYNAMODB)
            CALLER.set(caller)
            op = self.ops.get(target or "")
            if op is not None and caller.enforced and not caller.admin and target.startswith(INTERNAL):
                # The cluster's own calls (fault injection, replication between regions): its credential only.
                raise AccessDeniedException(f"User: {caller.arn} is not authorized to perform: {target} "
                                            "(an internal operation of the cluster)")
            if op is None:
                # Real DynamoDB answers a missing or unknown target, and a body
                # that is not the JSON content type, with UnknownOperation.
                raise UnknownOperationException(f"Unknown operation exception: {target} is not supported" if target
                                                else "Unknown operation exception: no X-Amz-Target header")
            ctype = headers.get("content-type", "")
            if ctype not in CONTENT_TYPES and ctype.split(";", 1)[0].strip().lower() not in CONTENT_TYPES:
                raise UnknownOperationException(f"Unknown operation exception: {target} needs Content-Type "
                                                f"{CONTENT_TYPES[0]}, not {ctype!r}")
            try:
                request = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                raise SerializationException() from None
            if type(request) is not dict:
                raise SerializationException("Start of structure or map found where not expected")
            check = self.checks.get(target)  # type: ignore[arg-type]
            if check is not None:
                check(request)
            if self.authorize is not None and caller.enforced:
                await self.authorize(caller, target, request)
            try:
                result = await op(request)
            except ResourceNotFoundException:
                # Another router may have made the table a moment ago: this one's
                # metadata follows the leader's by a watch. Told "not found" only
                # once it caught up (nothing was written: the table was not found).
                if self.catch_up is None or not await self.catch_up():
                    raise
                result = await op(request)
        except DynamoDBError as exc:
            status, wire = exc.to_wire()
            return status, orjson.dumps(wire)
        except Exception:  # noqa: BLE001 (a bug answers 500, never a stack trace to the client)
            log.exception("%s failed", target)
            status, wire = InternalServerError().to_wire()
            return status, orjson.dumps(wire)
        if type(result) is bytes:
            return 200, result
        return 200, orjson.dumps(result)
