"""What each request asks of the policies: per operation the IAM action, the
resource ARN(s) and the request's condition keys, as DynamoDB's developer
guide ("Using IAM policy conditions for fine-grained access control", "API
permissions reference") describes them.

A request may need several checks: BatchGetItem and BatchWriteItem one per
table; TransactWriteItems one per action (dynamodb:PutItem, UpdateItem,
DeleteItem, ConditionCheckItem) and TransactGetItems one GetItem per item,
with ``dynamodb:EnclosingOperation``; PartiQL one dynamodb:PartiQLSelect,
Insert, Update or Delete per statement. Reads carry ``dynamodb:Select``
(always: ALL_ATTRIBUTES unless the request says otherwise or projects), writes
``dynamodb:ReturnValues`` (always: NONE unless given), so that
``StringEquals`` works on them as the guide says. ``dynamodb:Attributes``
lists every top-level attribute a request reads, writes or tests (its key's
too: the guide asks policies to list the key attributes), and
``dynamodb:LeadingKeys`` the partition key values it touches (none for a
Scan: the guide warns that LeadingKeys does not restrict Scan).

The request is parsed with the operations' own parsers, so a check sees the
request exactly as the operation will; a request they refuse raises their
ValidationException here already.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable
from urllib.parse import unquote

from ddb import legacy
from ddb.errors import DynamoDBError, ValidationException
from ddb.expressions import key_conditions, parse_projection, request_context
from ddb.items import ItemRequest, parse_delete_item, parse_get_item, parse_put_item, parse_update_item
from ddb.partiql import compile_statement, parse
from ddb.partiql.ast import Select
from ddb.reads import parse_query, parse_scan, top_level_names

ACCOUNT = "000000000000"
DYNAMODB, STREAMS, ADMIN, REPLICATION, SCALING = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.",
                                                  "TriremeAdmin_1.", "TriremeReplication_1.",
                                                  "AnyScaleFrontendService.")
# Targets only the cluster itself calls (`trireme` tools, other regions' routers): admin credentials only.
INTERNAL = (ADMIN, REPLICATION)

# (table, index or None) -> the (partition, sort) key attributes of what is read or written, None if unknown.
KeysOf = Callable[[str, "str | None"], "tuple[str, str | None] | None"]


def _pk(keys_of: KeysOf, table: str, index: str | None = None) -> str | None:
    keys = keys_of(table, index)
    return keys[0] if keys else None


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    keys: dict[str, Any] = field(default_factory=dict)


class Arns:
    """The ARNs of one region's resources."""

    def __init__(self, region: str, account: str = ACCOUNT) -> None:
        self.prefix = f"arn:aws:dynamodb:{region}:{account}:"
        self.account = account

    def table(self, name: str) -> str:
        return f"{self.prefix}table/{name}"

    def index(self, table: str, index: str) -> str:
        return f"{self.prefix}table/{table}/index/{index}"

    def read(self, table: str, index: str | None) -> str:
        return self.table(table) if index is None else self.index(table, index)

    def global_table(self, name: str) -> str:
        return f"arn:aws:dynamodb::{self.account}:global-table/{name}"


def value_text(value: Any) -> str | None:
    """A key attribute's value as the policy compares it: S and N as written,
    B as its base64 text."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    kind, v = next(iter(value.items()))
    return v if kind in ("S", "N", "B") and isinstance(v, str) else None


def _paths(node: Any, out: set[str]) -> None:
    """The attributes a parsed condition (or an update's value expression) names."""
    out.update(top_level_names(node))


def _update_paths(update: dict, out: set[str]) -> None:
    """Every attribute an update writes, removes or reads (SET a = b + :v reads b)."""
    for path, expr in update.get("set", []):
        out.add(path[0])
        _paths(expr, out)
    out.update(path[0] for path in update.get("remove", []))
    out.update(path[0] for path, _ in [*update.get("add", []), *update.get("delete", [])])


def _projected(projection: list | None, out: set[str]) -> None:
    out.update(path[0] for path in projection or [])


def _item_attributes(req: ItemRequest) -> set[str]:
    names: set[str] = set(req.key or {}) | set(req.item or {})
    if req.condition is not None:
        _paths(req.condition, names)
    if req.update is not None:
        _update_paths(req.update, names)
    _projected(req.projection, names)
    return names


def _leading(values: Iterable[Any]) -> list[str]:
    return sorted({t for t in (value_text(v) for v in values) if t is not None})


def _item_keys(req: ItemRequest, pk: str | None, *, read: bool) -> dict[str, Any]:
    keys: dict[str, Any] = {"dynamodb:Attributes": sorted(_item_attributes(req))}
    if pk is not None:
        source = req.item if req.item is not None else req.key or {}
        keys["dynamodb:LeadingKeys"] = _leading([source.get(pk)])
    if read:
        keys["dynamodb:Select"] = "SPECIFIC_ATTRIBUTES" if req.projection is not None else "ALL_ATTRIBUTES"
    return keys


def _with_capacity(keys: dict[str, Any], body: dict) -> dict[str, Any]:
    """dynamodb:ReturnConsumedCapacity: always present (NONE unless asked)."""
    keys["dynamodb:ReturnConsumedCapacity"] = body.get("ReturnConsumedCapacity") or "NONE"
    return keys


ITEM_PARSERS = {"GetItem": parse_get_item, "PutItem": parse_put_item, "UpdateItem": parse_update_item,
                "DeleteItem": parse_delete_item, "ConditionCheckItem": parse_delete_item}


def item_check(action: str, body: dict, arns: Arns, keys_of: KeysOf, **extra: Any) -> Check:
    """One item operation (alone or as a transaction's action)."""
    req = ITEM_PARSERS[action](body)
    keys = _item_keys(req, _pk(keys_of, req.table_name), read=action == "GetItem")
    if action in ("PutItem", "UpdateItem", "DeleteItem") and not extra:
        keys["dynamodb:ReturnValues"] = req.return_values
    return Check(f"dynamodb:{action}", arns.table(req.table_name), {**keys, **extra})


def read_check(action: str, body: dict, arns: Arns, keys_of: KeysOf) -> Check:
    """Query or Scan, of a table or of an index (the index's ARN)."""
    req = parse_query(body) if action == "Query" else parse_scan(body)
    names: set[str] = set()
    if req.filter is not None:
        _paths(req.filter, names)
    _projected(req.projection, names)
    keys: dict[str, Any] = {"dynamodb:Select": req.select}
    if action == "Query":
        conditions = _query_key_conditions(body)
        names |= set(conditions)
        key = _pk(keys_of, req.table_name, req.index_name)
        if key is not None and key in conditions:
            op, values = conditions[key]
            keys["dynamodb:LeadingKeys"] = _leading(values) if op in ("=", "EQ") else []
    keys["dynamodb:Attributes"] = sorted(names)
    return Check(f"dynamodb:{action}", arns.read(req.table_name, req.index_name), keys)


def _query_key_conditions(body: dict) -> dict[str, tuple[str, list]]:
    """{attribute: (operator, values)} of a Query's key condition, either form."""
    text = body.get("KeyConditionExpression")
    if text is not None:
        return key_conditions(text, request_context(body, True))
    return legacy.key_conditions(body["KeyConditions"])


def batch_get_checks(body: dict, arns: Arns, keys_of: KeysOf) -> list[Check]:
    out = []
    for table, entry in (body.get("RequestItems") or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        keys = [k for k in entry.get("Keys") or [] if isinstance(k, dict)]
        names = {n for k in keys for n in k}
        projection = entry.get("ProjectionExpression")
        if projection is not None:
            _projected(parse_projection(projection, request_context(entry, True)), names)
        names |= set(entry.get("AttributesToGet") or [])
        specific = projection is not None or entry.get("AttributesToGet") is not None
        ck: dict[str, Any] = {"dynamodb:Attributes": sorted(names),
                              "dynamodb:Select": "SPECIFIC_ATTRIBUTES" if specific else "ALL_ATTRIBUTES"}
        key = _pk(keys_of, table)
        if key is not None:
            ck["dynamodb:LeadingKeys"] = _leading(k.get(key) for k in keys)
        out.append(Check("dynamodb:BatchGetItem", arns.table(table), _with_capacity(ck, body)))
    return out


def batch_write_checks(body: dict, arns: Arns, keys_of: KeysOf) -> list[Check]:
    out = []
    for table, writes in (body.get("RequestItems") or {}).items():
        items = []
        for w in writes if isinstance(writes, list) else []:
            if not isinstance(w, dict):
                continue
            put, delete = w.get("PutRequest"), w.get("DeleteRequest")
            if isinstance(put, dict) and isinstance(put.get("Item"), dict):
                items.append(put["Item"])
            if isinstance(delete, dict) and isinstance(delete.get("Key"), dict):
                items.append(delete["Key"])
        ck: dict[str, Any] = {"dynamodb:Attributes": sorted({n for i in items for n in i})}
        key = _pk(keys_of, table)
        if key is not None:
            ck["dynamodb:LeadingKeys"] = _leading(i.get(key) for i in items)
        out.append(Check("dynamodb:BatchWriteItem", arns.table(table), _with_capacity(ck, body)))
    return out


TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                  "ConditionCheck": "ConditionCheckItem"}


def transact_checks(op: str, body: dict, arns: Arns, keys_of: KeysOf) -> list[Check]:
    out = []
    kinds = {"Get": "GetItem"} if op == "TransactGetItems" else TRANSACT_WRITE
    for entry in body.get("TransactItems") or []:
        if not isinstance(entry, dict):
            continue
        for kind, action in kinds.items():
            if isinstance(entry.get(kind), dict):
                out.append(item_check(action, entry[kind], arns, keys_of, **{"dynamodb:EnclosingOperation": op}))
    return out


PARTIQL = {"Select": "PartiQLSelect", "Insert": "PartiQLInsert", "Update": "PartiQLUpdate",
           "Delete": "PartiQLDelete"}


def partiql_check(entry: dict, arns: Arns, keys_of: KeysOf) -> Check | None:
    """One statement's check, with the condition keys of the operation it
    compiles to (ddb/partiql: a Query, Scan, PutItem, UpdateItem or
    DeleteItem). None when it does not parse: the operation then answers
    its ValidationException; one that does not compile (an unknown table)
    is checked without them, and the operation fails as it compiles alike."""
    try:
        stmt = parse(entry.get("Statement")) if isinstance(entry.get("Statement"), str) else None
    except ValidationException:
        return None
    if stmt is None:
        return None
    check = Check(f"dynamodb:{PARTIQL[type(stmt).__name__]}", arns.read(stmt.table, getattr(stmt, "index", None)))

    def known(table: str, index: str | None) -> tuple[str, str | None] | None:
        keys = keys_of(table, index)
        if keys is None and index is None:
            raise ValidationException(f"no table {table}")
        return keys

    try:
        plan = compile_statement(stmt, entry.get("Parameters"), known)
        bodies = [plan.body, *plan.more]
        found = [item_check(plan.operation, b, arns, keys_of) if plan.operation in ITEM_PARSERS
                 else read_check(plan.operation, b, arns, keys_of) for b in bodies]
    except DynamoDBError:
        return check
    keys = dict(found[0].keys)
    if isinstance(stmt, Select):  # AWS's key for denying a SELECT that reads the whole table
        keys["dynamodb:FullTableScan"] = plan.operation == "Scan"
    for name in ("dynamodb:LeadingKeys", "dynamodb:Attributes"):  # `pk IN [...]`: one Query per value
        if any(name in f.keys for f in found):
            keys[name] = sorted({v for f in found for v in f.keys.get(name, [])})
    return Check(check.action, check.resource, keys)


def _statements(op: str, body: dict) -> list[dict]:
    if op == "ExecuteStatement":
        return [body]
    entries = body.get("Statements") if op == "BatchExecuteStatement" else body.get("TransactStatements")
    return [e for e in entries or [] if isinstance(e, dict)]


def _table_of(arn: Any) -> str:
    """The table an ARN of a table or of one of its parts names ('' if none)."""
    if not isinstance(arn, str) or ":table/" not in arn:
        return ""
    return arn.split(":table/", 1)[1].split("/", 1)[0]


# Operations whose resource is the table named by TableName.
TABLE_OPS = {"CreateTable", "DescribeTable", "UpdateTable", "DeleteTable", "UpdateTimeToLive", "DescribeTimeToLive",
             "CreateBackup", "DescribeContinuousBackups", "UpdateContinuousBackups",
             "DescribeTableReplicaAutoScaling", "DescribeKinesisStreamingDestination",
             "DescribeContributorInsights", "UpdateContributorInsights"}
# Operations whose resource is the ARN a member names.
ARN_OPS = {"TagResource": "ResourceArn", "UntagResource": "ResourceArn", "ListTagsOfResource": "ResourceArn",
           "PutResourcePolicy": "ResourceArn", "GetResourcePolicy": "ResourceArn",
           "DeleteResourcePolicy": "ResourceArn", "DescribeBackup": "BackupArn", "DeleteBackup": "BackupArn",
           "ExportTableToPointInTime": "TableArn", "DescribeExport": "ExportArn", "DescribeImport": "ImportArn"}
GLOBAL_TABLE_OPS = {"CreateGlobalTable", "DescribeGlobalTable", "UpdateGlobalTable", "DescribeGlobalTableSettings",
                    "UpdateGlobalTableSettings"}
STREAM_OPS = {"DescribeStream": "StreamArn", "GetShardIterator": "StreamArn", "GetRecords": "ShardIterator"}


def dynamodb_checks(op: str, body: dict, arns: Arns, keys_of: KeysOf) -> list[Check]:
    """The checks of one DynamoDB operation (without the global keys)."""
    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        c = item_check(op, body, arns, keys_of)
        _with_capacity(c.keys, body)
        return [c]
    if op in ("Query", "Scan"):
        c = read_check(op, body, arns, keys_of)
        _with_capacity(c.keys, body)
        return [c]
    if op == "BatchGetItem":
        return batch_get_checks(body, arns, keys_of)
    if op == "BatchWriteItem":
        return batch_write_checks(body, arns, keys_of)
    if op in ("TransactGetItems", "TransactWriteItems"):
        return transact_checks(op, body, arns, keys_of)
    if op in ("ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"):
        return [c for c in (partiql_check(e, arns, keys_of) for e in _statements(op, body)) if c is not None]
    action = f"dynamodb:{op}"
    if op in TABLE_OPS:
        checks = [Check(action, arns.table(str(body.get("TableName"))))]
        if op == "CreateTable" and body.get("ResourcePolicy") is not None:
            checks.append(Check("dynamodb:PutResourcePolicy", checks[0].resource))
        return checks
    if op in ARN_OPS:
        return [Check(action, str(body.get(ARN_OPS[op])))]
    if op in GLOBAL_TABLE_OPS:
        return [Check(action, arns.global_table(str(body.get("GlobalTableName"))))]
    if op == "RestoreTableFromBackup":
        return [Check(action, str(body.get("BackupArn"))), Check(action, arns.table(str(body.get("TargetTableName"))))]
    if op == "RestoreTableToPointInTime":
        source = body.get("SourceTableName") or _table_of(body.get("SourceTableArn"))
        return [Check(action, arns.table(str(source))), Check(action, arns.table(str(body.get("TargetTableName"))))]
    if op == "ImportTable":
        params = body.get("TableCreationParameters") or {}
        return [Check(action, arns.table(str(params.get("TableName") if isinstance(params, dict) else "")))]
    if op == "ListTables":  # as AWS's denials name it
        return [Check(action, arns.table("*"))]
    return [Check(action, "*")]  # DescribeLimits, DescribeEndpoints, List*: the account


def stream_checks(op: str, body: dict) -> list[Check]:
    member = STREAM_OPS.get(op)
    if member is None:  # ListStreams
        return [Check(f"dynamodb:{op}", "*")]
    arn = body.get(member)
    arn = arn.split("|", 1)[0] if isinstance(arn, str) else ""  # an iterator starts with its stream's ARN
    return [Check(f"dynamodb:{op}", arn)]


def checks(target: str, body: dict, *, region: str, keys_of: KeysOf) -> list[Check]:
    """Every check one X-Amz-Target request needs, without the global keys."""
    arns = Arns(region)
    if target.startswith(DYNAMODB):
        return dynamodb_checks(target[len(DYNAMODB):], body, arns, keys_of)
    if target.startswith(STREAMS):
        return stream_checks(target[len(STREAMS):], body)
    if target.startswith(SCALING):
        return [Check(f"application-autoscaling:{target[len(SCALING):]}", "*")]
    return [Check(f"trireme:{target.rpartition('.')[2]}", "*")]  # the cluster's own operations


def global_keys(*, username: str, principal: str, source_ip: str, secure: bool, now: float,
                session: bool = False, region: str = "") -> dict[str, Any]:
    """The global condition keys of every request (aws:...)."""
    return {**_principal_keys(username, principal, source_ip, secure, session, region), **_time_keys(int(now), session)}


@lru_cache(maxsize=1024)
def _principal_keys(username: str, principal: str, source_ip: str, secure: bool, session: bool,
                    region: str) -> dict[str, Any]:
    """The keys that depend on who calls from where (the same for each of their requests; never mutated)."""
    keys: dict[str, Any] = {
        "aws:username": username, "aws:userid": username, "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": principal.split(":")[4] if principal.count(":") >= 5 else ACCOUNT,
        "aws:PrincipalType": "User", "aws:SecureTransport": secure, "aws:MultiFactorAuthPresent": False,
        "aws:ViaAWSService": False,
    }
    if source_ip:
        keys["aws:SourceIp"] = source_ip
    if region:
        keys["aws:RequestedRegion"] = region
    return keys


@lru_cache(maxsize=4)
def _time_keys(second: int, session: bool) -> dict[str, Any]:
    """The keys of the current time (the same for every request of one second; never mutated)."""
    now = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    keys: dict[str, Any] = {"aws:CurrentTime": now, "aws:EpochTime": str(second)}
    if session:
        keys["aws:TokenIssueTime"] = now
    return keys


# --- the Lambda REST API -----------------------------------------------------------------

FUNCTIONS, MAPPINGS, URL_CONFIG = "/2015-03-31/functions", "/2015-03-31/event-source-mappings", "/2021-10-31/functions/"
_FUNCTION_ROUTES = {("GET", ""): "GetFunction", ("DELETE", ""): "DeleteFunction",
                    ("GET", "configuration"): "GetFunctionConfiguration",
                    ("PUT", "configuration"): "UpdateFunctionConfiguration", ("PUT", "code"): "UpdateFunctionCode",
                    ("POST", "invocations"): "InvokeFunction"}
_URL_ROUTES = {"POST": "CreateFunctionUrlConfig", "GET": "GetFunctionUrlConfig", "PUT": "UpdateFunctionUrlConfig",
               "DELETE": "DeleteFunctionUrlConfig"}


def lambda_action(method: str, path: str, *, region: str, account: str = ACCOUNT, body: bytes = b"") -> Check | None:
    """The Lambda action and resource of a Lambda REST request (None for a
    function URL's own invocation, which its AuthType governs, and for a path
    no route serves: the API answers those itself). CreateFunction's resource
    is the function its body names."""
    path = path.partition("?")[0]

    def function(name: str) -> str:
        name = unquote(name)
        return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"

    if path.startswith(URL_CONFIG):
        name, _, what = path[len(URL_CONFIG):].strip("/").partition("/")
        action = "ListFunctionUrlConfigs" if what == "urls" and method == "GET" else \
            _URL_ROUTES.get(method) if what == "url" else None
        return None if action is None or not name else Check(f"lambda:{action}", function(name))
    if path.startswith(MAPPINGS):
        rest = path[len(MAPPINGS):].strip("/")
        if not rest:
            action = {"POST": "CreateEventSourceMapping", "GET": "ListEventSourceMappings"}.get(method)
            return None if action is None else Check(f"lambda:{action}", "*")
        action = {"GET": "GetEventSourceMapping", "PUT": "UpdateEventSourceMapping",
                  "DELETE": "DeleteEventSourceMapping"}.get(method)
        arn = f"arn:aws:lambda:{region}:{account}:event-source-mapping:{unquote(rest)}"
        return None if action is None or "/" in rest else Check(f"lambda:{action}", arn)
    if path.startswith("/trireme/functions/"):
        name, _, what = path[len("/trireme/functions/"):].partition("/")
        action = {("GET", "code"): "GetFunction", ("GET", "logs"): "GetFunction"}.get((method, what))
        return None if action is None else Check(f"lambda:{action}", function(name))
    if path.startswith(FUNCTIONS):
        rest = path[len(FUNCTIONS):].strip("/")
        if not rest:
            if method == "POST":
                return Check("lambda:CreateFunction", function(_function_name(body)) if _function_name(body) else "*")
            return Check("lambda:ListFunctions", "*") if method == "GET" else None
        name, _, what = rest.partition("/")
        action = _FUNCTION_ROUTES.get((method, what))
        return None if action is None else Check(f"lambda:{action}", function(name))
    return None


def _function_name(body: bytes) -> str:
    """CreateFunction's FunctionName ('' when the body has none: the API refuses it)."""
    try:
        name = json.loads(body).get("FunctionName") if body else None
    except (ValueError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""
