"""Fuzzing every operation the router serves with requests derived from
DynamoDB's own service model (the one the router checks requests against):
mostly well-typed, with wrong types, nulls, deep nesting and large sizes mixed
in at every level. Against a real cluster, every answer must be a clean
DynamoDB answer: no 5xx, none slower than 1 s, and no traceback in any log.

Bounded (derandomized: the same examples on every run): 40 examples an
operation in make test, 200 in make test-long (TRIREME_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.loaders import Loader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.api import Api
from tests.integration.conftest import make_client, wait_until

EXAMPLES = int(os.environ.get("TRIREME_FUZZ_EXAMPLES", "40"))
SLOW_S = 1.0
TABLE = "fuzz_t"
RANGE_TABLE = "fuzz_r"
TRACEBACK = "Traceback (most recent call last)"

MODEL = Loader().load_service_model("dynamodb", "service-2")
SHAPES = MODEL["shapes"]
OPS = sorted(Api(None, "us-east-1").operations())  # type: ignore[arg-type]
# Table management that may legitimately take a while when it succeeds.
SLOW_WHEN_OK = {"CreateTable", "DeleteTable", "UpdateTable", "CreateBackup", "DeleteBackup", "RestoreTableFromBackup",
                "RestoreTableToPointInTime", "UpdateContinuousBackups", "ExportTableToPointInTime", "ImportTable"}

# --------------------------------------------------------------- strategies

NAMES = ["k", "r", "v", "a", "b", "", "x" * 256, "#a", "é"]
EXPRESSIONS = [
    "#a = :v", "k = :v", "k = :v AND r > :w", "attribute_exists(#a)", "attribute_not_exists(k)",
    "SET #a = :v", "SET v = v + :v", "REMOVE #a", "ADD v :v", "DELETE v :v", "SET #a = list_append(#a, :v)",
    "#a, v", "v.w[1]", "size(#a) > :v", "begins_with(#a, :v)", "#a IN (:v, :w)", "#a BETWEEN :v AND :w",
    "((((((((((((((((((((((((((((((((((a = :v))))))))))))))))))))))))))))))))))",
    ".".join(["a"] * 40), "a" + "[0]" * 40, "SET " + ".".join(["a"] * 40) + " = :v", "", "=", "SET", ":v",
]
STRING_POOLS = {
    "TableName": [TABLE, RANGE_TABLE, TABLE, RANGE_TABLE, "nope", "ab", "x" * 300, "bad name", "fuzz_new"],
    "TableArn": [TABLE, RANGE_TABLE, "nope", "ab"],
    "IndexName": ["lsi", "gsi", "nope", ""],
    "AttributeName": NAMES,
    "KeySchemaAttributeName": NAMES,
    "NonKeyAttributeName": NAMES,
    "ExpressionAttributeNameVariable": ["#a", "#b", "a", "#" + "x" * 300],
    "ExpressionAttributeValueVariable": [":v", ":w", "v", ":" + "x" * 300],
    "NumberAttributeValue": ["1", "-1.5", "1e400", "1e-131", "abc", "", "0" * 40, "9" * 39],
    "StringAttributeValue": ["a", "", "é", "x" * 70_000],
}
EXPRESSION_MEMBERS = {"ConditionExpression", "KeyConditionExpression", "FilterExpression", "ProjectionExpression",
                      "UpdateExpression"}
BASE64 = ["AA==", "", "!!", "YWJj", "A"]

_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 64), 1 << 64),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4))
WRONG = st.one_of(_scalar, st.lists(_scalar, max_size=2), st.dictionaries(st.text(max_size=2), _scalar, max_size=2))


def _deep(levels: int) -> dict:
    value: dict = {"S": "x"}
    for i in range(levels):
        value = {"L": [value]} if i % 2 else {"M": {"a": value}}
    return value


class Requests:
    """Request strategies per shape, built once; recursive shapes through st.deferred."""

    def __init__(self) -> None:
        self.memo: dict[str, st.SearchStrategy] = {}

    def member(self, shape: str, member: str) -> st.SearchStrategy:
        right = self.shape(shape, member)
        # about one value in forty has the wrong type (or is null)
        return st.integers(0, 39).flatmap(lambda i: WRONG if i == 39 else right)

    def shape(self, name: str, member: str = "") -> st.SearchStrategy:
        if member in EXPRESSION_MEMBERS:
            return st.one_of(st.sampled_from(EXPRESSIONS), st.text(max_size=20))
        if member in STRING_POOLS or name in STRING_POOLS:
            pool = st.sampled_from(STRING_POOLS.get(member) or STRING_POOLS[name])
            return st.one_of(pool, pool, pool, st.text(max_size=8))
        if name not in self.memo:
            self.memo[name] = st.deferred(lambda: self._build(name))
        return self.memo[name]

    def _build(self, name: str) -> st.SearchStrategy:
        spec = SHAPES[name]
        kind = spec["type"]
        if name == "AttributeValue":
            one = [st.fixed_dictionaries({m: self.member(s["shape"], m)}) for m, s in spec["members"].items()]
            one += [st.fixed_dictionaries({"S": st.sampled_from(["a", "b"])})] * 3
            return st.one_of(*one, st.sampled_from([_deep(31), _deep(33), _deep(40), {}]), self._struct(spec))
        if kind == "structure":
            return self._struct(spec)
        if kind == "list":
            inner = self.member(spec["member"]["shape"], "")
            return st.one_of(st.lists(inner, max_size=3), st.lists(inner, min_size=20, max_size=30))
        if kind == "map":
            key = self.shape(spec["key"]["shape"])
            value = self.member(spec["value"]["shape"], "")
            values = st.one_of(st.dictionaries(key, value, min_size=1, max_size=3), st.dictionaries(key, value, max_size=3))
            if spec["value"]["shape"] != "AttributeValue":
                return values
            # items and keys: often with the fixture tables' key attributes, to reach the partitions
            keys = st.fixed_dictionaries({"k": st.fixed_dictionaries({"S": st.sampled_from(["a", "b", ""])})},
                                         optional={"r": st.fixed_dictionaries({"N": st.sampled_from(["1", "2"])})})
            keyed = st.tuples(keys, values).map(lambda kv: {**kv[1], **kv[0]})
            return st.one_of(keyed, keyed, keyed, values)
        if kind == "string":
            if "enum" in spec:
                enum = st.sampled_from(spec["enum"])
                return st.one_of(enum, enum, enum, st.text(max_size=6))
            return st.text(max_size=12)
        if kind == "boolean":
            return st.booleans()
        if kind in ("integer", "long"):
            return st.one_of(st.integers(-2, 120), st.sampled_from([0, 1, 25, 100, 101, (1 << 31) - 1, 1 << 40]))
        if kind in ("double", "float", "timestamp"):
            return st.floats(allow_nan=False, allow_infinity=False)
        if kind == "blob":
            return st.sampled_from(BASE64)
        return WRONG

    def _struct(self, spec: dict) -> st.SearchStrategy:
        """The required members and a few optional ones: a request with every
        optional member set is invalid somewhere and tests little past that."""
        members = spec.get("members", {})
        required = {m: self.member(s["shape"], m) for m, s in members.items() if m in spec.get("required", ())}
        optional = {m: self.member(s["shape"], m) for m, s in members.items() if m not in required}
        if not optional:
            return st.fixed_dictionaries(required)
        chosen = st.lists(st.sampled_from(sorted(optional)), max_size=4, unique=True)
        return st.tuples(st.fixed_dictionaries(required), chosen.flatmap(
            lambda names: st.fixed_dictionaries({m: optional[m] for m in names}))).map(lambda p: {**p[0], **p[1]})

    def request(self, op: str) -> st.SearchStrategy:
        body = self.shape(MODEL["operations"][op]["input"]["shape"])
        if op in SLOW_WHEN_OK:  # never drop or reshape the tables the other operations use
            return body.filter(lambda b: b.get("TableName") not in (TABLE, RANGE_TABLE))
        return body


REQUESTS = Requests()

# Valid requests (and the reproducers) mixed in, so that the partitions see traffic too.
_K = {"k": {"S": "a"}}
_RK = {"k": {"S": "a"}, "r": {"N": "1"}}
SEEDS: dict[str, list[dict]] = {
    "Query": [
        {"TableName": TABLE, "KeyConditionExpression": "k = :v", "ExpressionAttributeValues": {":v": {"S": "a"}}},
        {"TableName": RANGE_TABLE, "KeyConditionExpression": "k = :v AND r > :w", "ConsistentRead": True,
         "ExpressionAttributeValues": {":v": {"S": "a"}, ":w": {"N": "0"}}, "FilterExpression": "size(a) > :w"},
        {"TableName": RANGE_TABLE, "IndexName": "lsi", "KeyConditionExpression": "k = :v",
         "ExpressionAttributeValues": {":v": {"S": "a"}}, "ProjectionExpression": "#a",
         "ExpressionAttributeNames": {"#a": "a"}},
        {"TableName": RANGE_TABLE, "IndexName": "gsi", "KeyConditionExpression": "v = :v",
         "ExpressionAttributeValues": {":v": {"N": "2"}}},
        {"TableName": TABLE, "KeyConditionExpression": "#a = :v", "ExpressionAttributeNames": {"#a": {"a": 1}},
         "ExpressionAttributeValues": {":v": {"S": "a"}}},
    ],
    "BatchGetItem": [
        {"RequestItems": {TABLE: {"Keys": [_K, {"k": {"S": "b"}}]}, RANGE_TABLE: {"Keys": [_RK]}}},
        {"RequestItems": {TABLE: {"Keys": [_K], "ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": 5}}}},
    ],
    "BatchWriteItem": [
        {"RequestItems": {TABLE: [{"PutRequest": {"Item": {**_K, "v": {"N": "1"}}}},
                                  {"DeleteRequest": {"Key": {"k": {"S": "b"}}}}],
                          RANGE_TABLE: [{"PutRequest": {"Item": {**_RK, "a": {"S": "x"}, "v": {"N": "2"}}}}]}},
    ],
    "GetItem": [{"TableName": TABLE, "Key": _K, "ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": 5}}],
    "PutItem": [{"TableName": TABLE, "Item": _K, "ConditionExpression": "attribute_not_exists(#a)",
                 "ExpressionAttributeNames": {"#a": 5}}],
    "UpdateItem": [{"TableName": TABLE, "Key": _K, "UpdateExpression": "SET #a = :v",
                    "ExpressionAttributeNames": {"#a": ""}, "ExpressionAttributeValues": {":v": {"N": "1"}}}],
}

# --------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def fuzz_tables(cluster):
    ddb = make_client(cluster.endpoint)
    ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.create_table(
        TableName=RANGE_TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in (("k", "S"), ("r", "N"),
                                                                                    ("a", "S"), ("v", "N"))],
        LocalSecondaryIndexes=[{"IndexName": "lsi", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"},
                                              {"AttributeName": "a", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}]}])
    for name in (TABLE, RANGE_TABLE):
        wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 30, name)
    ddb.put_item(TableName=TABLE, Item={"k": {"S": "a"}, "v": {"N": "1"}, "a": {"L": [{"S": "x"}]}})
    ddb.put_item(TableName=RANGE_TABLE, Item={"k": {"S": "a"}, "r": {"N": "1"}, "a": {"S": "x"}, "v": {"N": "2"}})
    # The first transaction creates the hidden table of transaction records (seconds, once): not a fuzzed call.
    ddb.transact_write_items(TransactItems=[{"ConditionCheck": {"TableName": TABLE, "Key": {"k": {"S": "a"}},
                                                                "ConditionExpression": "attribute_exists(k)"}}])
    url = urlparse(cluster.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    yield conn
    conn.close()


def _post(conn: http.client.HTTPConnection, op: str, body: dict) -> tuple[int, bytes, float]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{op}"}
    start = time.monotonic()
    for attempt in (1, 2):
        try:
            conn.request("POST", "/", body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(), time.monotonic() - start
        except (http.client.HTTPException, OSError):
            conn.close()  # the router closed the connection: reconnect once and send again
            if attempt == 2:
                raise
            start = time.monotonic()
    raise AssertionError("unreachable")


def _tracebacks(cluster) -> list[str]:
    """Each log holding a traceback, with the lines around the first (what to fix)."""
    found = []
    for p in cluster.procs.values():
        log = Path(p.log)
        text = log.read_text(errors="replace") if log.exists() else ""
        at = text.find(TRACEBACK)
        if at >= 0:
            found.append(f"{p.log}:\n{text[max(0, at - 600):at + 2500]}")
    return found


def _check(conn: http.client.HTTPConnection, op: str, body: dict) -> None:
    status, out, took = _post(conn, op, body)
    assert status < 500, (status, out[:500], body)
    if not (status == 200 and op in SLOW_WHEN_OK):
        assert took < SLOW_S, (took, status, out[:500], body)
    if status != 200:
        assert json.loads(out)["__type"].rpartition("#")[2] in (
            "ValidationException", "SerializationException", "ResourceNotFoundException",
            "ResourceInUseException", "ConditionalCheckFailedException", "LimitExceededException",
            "ItemCollectionSizeLimitExceededException",
            # the global table operations' and PartiQL's own, as DynamoDB declares them
            "GlobalTableNotFoundException", "GlobalTableAlreadyExistsException", "ReplicaNotFoundException",
            "ReplicaAlreadyExistsException", "TableNotFoundException", "IndexNotFoundException",
            "DuplicateItemException",
            # transactions: cancellations, conflicts and ClientRequestToken reuse
            "TransactionCanceledException", "TransactionConflictException", "TransactionInProgressException",
            "IdempotentParameterMismatchException",
            # backups, point-in-time recovery, export and import
            "BackupNotFoundException", "BackupInUseException", "TableAlreadyExistsException", "TableInUseException",
            "PointInTimeRecoveryUnavailableException", "ContinuousBackupsUnavailableException",
            "InvalidExportTimeException", "InvalidRestoreTimeException", "ExportNotFoundException",
            "ImportNotFoundException", "ExportConflictException", "ImportConflictException",
            # capacity: a provisioned table's throughput
            "ProvisionedThroughputExceededException", "ThrottlingException"), out


@pytest.mark.parametrize("op", OPS)
def test_fuzzed_requests_get_clean_answers(cluster, fuzz_tables, op):
    for body in SEEDS.get(op, ()):
        _check(fuzz_tables, op, body)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=REQUESTS.request(op))
    def check(body: dict) -> None:
        _check(fuzz_tables, op, body)

    check()
    assert _tracebacks(cluster) == []
