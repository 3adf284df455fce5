"""The router's HTTP layer against a real cluster: pipelined requests on one
connection, boto3 with compressed requests and answers, the router's log of
failures and its access log, and the router right after a restart."""

from __future__ import annotations

import gzip
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.conftest import make_client, wait_until

KEYS = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


@pytest.fixture(scope="module")
def table(ddb):
    ddb.create_table(TableName="http", **KEYS)
    return "http"


def _request(op: str, body: dict) -> bytes:
    data = orjson.dumps(body)
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"X-Amz-Target: DynamoDB_20120810.%s\r\nContent-Length: %d\r\n\r\n%s") % (op.encode(), len(data), data)


def _read_answers(sock: socket.socket, count: int) -> list[tuple[int, dict]]:
    buf, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            assert data, "the router closed the connection"
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(buf) < length:
            buf += sock.recv(65536)
        out.append((int(head.split()[1]), orjson.loads(buf[:length])))
        buf = buf[length:]
    return out


def test_pipelined_writes_then_consistent_reads_see_their_writes(cluster, table):
    """50 PutItems then 50 ConsistentRead GetItems in one socket write: each
    GetItem runs after the PutItem before it on the connection finished."""
    url = urlparse(cluster.endpoint)
    puts = b"".join(_request("PutItem", {"TableName": table, "Item": {"pk": {"S": f"p{i}"}, "v": {"N": str(i)}}})
                    for i in range(50))
    gets = b"".join(_request("GetItem", {"TableName": table, "Key": {"pk": {"S": f"p{i}"}}, "ConsistentRead": True})
                    for i in range(50))
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(puts + gets)
        answers = _read_answers(sock, 100)
    assert [status for status, _ in answers] == [200] * 100
    assert [body.get("Item", {}).get("v") for _, body in answers[50:]] == [{"N": str(i)} for i in range(50)]


def _compressing_client(endpoint: str, **config):
    """boto3 that gzips every request body: botocore compresses only operations
    whose model has `requestcompression`, which DynamoDB's model does not
    (yet); the model is amended as ScyllaDB's Alternator tests do."""
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test",
                          config=Config(request_min_compression_size_bytes=1, **config))
    for op in client.meta.service_model._service_description["operations"].values():
        op["requestcompression"] = {"encodings": ["gzip"]}
    return client


def test_boto3_with_compressed_requests(cluster, table):
    client = _compressing_client(cluster.endpoint, retries={"total_max_attempts": 1, "mode": "standard"})
    sent = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request.headers.get(
        "Content-Encoding")))
    item = {"pk": {"S": "compressed"}, "v": {"S": "x" * 20000}}
    client.put_item(TableName=table, Item=item)
    assert client.get_item(TableName=table, Key={"pk": {"S": "compressed"}}, ConsistentRead=True)["Item"] == item
    assert [s.decode() if isinstance(s, bytes) else s for s in sent] == ["gzip", "gzip"]


def test_boto3_with_compressed_answers_and_their_crc32(cluster, table, ddb):
    """With Accept-Encoding: gzip the router gzips answers of 4 KiB or more, and
    x-amz-crc32 is of the gzipped bytes as DynamoDB sends it: botocore's
    legacy retry mode checks it before anything decompresses."""
    item = {"pk": {"S": "large"}, "v": {"S": "y" * 20000}}
    ddb.put_item(TableName=table, Item=item)
    client = boto3.client("dynamodb", endpoint_url=cluster.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(retries={"max_attempts": 0, "mode": "legacy"}))
    seen = []

    def accept_gzip(params, **_):
        params["headers"]["Accept-Encoding"] = "gzip"

    def decompress(response_dict, **_):
        seen.append((response_dict["headers"].get("Content-Encoding"), len(response_dict["body"])))
        if response_dict["headers"].get("Content-Encoding") == "gzip":
            response_dict["body"] = gzip.decompress(response_dict["body"])

    client.meta.events.register("before-call", accept_gzip)
    client.meta.events.register("before-parse", decompress)
    assert client.get_item(TableName=table, Key={"pk": {"S": "large"}})["Item"] == item
    assert client.list_tables()["TableNames"]  # small: not compressed
    assert seen[0][0] == "gzip" and seen[0][1] < 2000
    assert seen[1][0] is None


def _log(cluster, name: str = "router1") -> str:
    return Path(cluster.procs[name].log).read_text(errors="replace")


def _restart_router(cluster):
    """Restart router1; return a new client (retries off: the first answer
    must be right) as soon as the router answers its health check, which
    needs no metadata."""
    client = make_client(cluster.endpoint)  # made first: making one takes a while
    cluster.kill("router1")
    cluster.start_proc("router1")
    url = urlparse(cluster.endpoint)

    def healthy() -> bool:
        # (An answer, not a connect: a connect to a free ephemeral port may meet itself.)
        with socket.create_connection((url.hostname, url.port), timeout=1) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return sock.recv(100).startswith(b"HTTP/1.1 200")
    wait_until(healthy, 30, "the router to answer", interval=0.005)
    return client


def test_router_restart_access_log_and_failure_log(own_cluster):
    """Right after a restart the router holds requests until it has the
    metadata: never an empty ListTables or ResourceNotFound for tables that
    exist. Then: the access log (--access-log) and the log line of a 5xx."""
    cluster = own_cluster(router_deadline_s=2.0)
    ddb = make_client(cluster.endpoint)
    names = [f"tbl{i}" for i in range(3)]
    for name in names:
        ddb.create_table(TableName=name, **KEYS)
        ddb.put_item(TableName=name, Item={"pk": {"S": "k"}})
    cluster.access_log = True  # what `trireme up --access-log` sets
    for _ in range(3):
        assert _restart_router(cluster).list_tables()["TableNames"] == names
        assert _restart_router(cluster).describe_table(TableName="tbl1")["Table"]["TableStatus"] == "ACTIVE"
        fresh = _restart_router(cluster)
        assert fresh.get_item(TableName="tbl2", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]

    answer = fresh.get_item(TableName="tbl0", Key={"pk": {"S": "k"}})
    rid = answer["ResponseMetadata"]["RequestId"]
    line = wait_until(lambda: [ln for ln in _log(cluster).splitlines() if rid in ln], 5, "the access log line")[0]
    assert re.search(rf"operation=GetItem table=tbl0 status=200 latency_ms=[\d.]+ request_id={rid}$", line)

    # A partition without a majority: after the deadline a 503 (no leader) or a
    # 500 (the leader took the write and then could not commit it), logged
    # with its request id, the partition and the cause.
    cluster.kill("n2")
    cluster.kill("n3")
    with pytest.raises(ClientError) as e:
        fresh.put_item(TableName="tbl0", Item={"pk": {"S": "lost"}})
    status = e.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status in (500, 503)
    rid = e.value.response["ResponseMetadata"]["RequestId"]
    errors = [ln for ln in _log(cluster).splitlines() if f"request_id={rid}" in ln and "ERROR" in ln]
    assert len(errors) == 1, _log(cluster)[-3000:]
    assert re.search(rf" {status} request_id={rid} operation=PutItem table=tbl0 partition=(t\d+\.p\d+) node=\S+ "
                     rf"cause={e.value.response['Error']['Code']}: .*partition \1", errors[0], re.I)
