"""A cluster started with TLS (issue 19): boto3 reaches its routers over
HTTPS trusting the cluster's CA, and its nodes admit only certificates of
their own cluster, signed by its CA, on the gRPC and Raft peer ports: a node
or tool with another CA's certificate, or with the same CA's certificate of
another cluster, is refused and the refusal logged."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import grpc
import pytest

from cluster import tls
from cluster.frames import GRPC_OPTIONS
from cluster.identity import METADATA_KEY
from cluster.rpc import Channels, call_once
from deploy.local import LocalCluster, free_port, post
from node.net.hello import opening
from tests.integration.conftest import discard, make_client, start_cluster, wait_until
from trireme_pb import node_pb2, node_pb2_grpc

TRIREME = [sys.executable, "-m", "client.cli"]
ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("tls"), tls=True)
    yield c
    discard(c)


@pytest.fixture(scope="module")
def strangers(secure, tmp_path_factory) -> dict[str, tls.Identity]:
    """Node certificates the cluster must refuse: `other_ca` names the
    cluster but comes from another CA; `other_cluster` comes from the
    cluster's CA but names another cluster."""
    d = tmp_path_factory.mktemp("strangers")
    return {"other_ca": tls.Authority.create().issue_files(d / "a", tls.Member(secure.cluster_id, "node", "n8")),
            "other_cluster": tls.Authority.load(secure.tls_dir).issue_files(
                d / "b", tls.Member("intruders", "node", "n9"))}


def log_text(path: str | Path) -> str:
    return Path(path).read_text(errors="replace")


def meta_nodes(cluster: LocalCluster) -> set[str]:
    async def go():
        ch = Channels(cluster.cluster_id)  # the cluster's admin certificate (LocalCluster registered it)
        try:
            return await call_once(ch, cluster.procs["n1"].addr, "admin", "meta", timeout=3)
        finally:
            await ch.close()
    return set(asyncio.run(go())["nodes"])


def test_boto3_works_over_https_with_the_clusters_ca_and_nothing_else_does(secure):
    assert secure.endpoint.startswith("https://")
    ddb = make_client(secure.endpoint)  # verify= the cluster's CA
    ddb.create_table(TableName="tls_t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    for i in range(3):
        ddb.put_item(TableName="tls_t", Item={"pk": {"S": "a"}, "sk": {"N": str(i)}})
    assert ddb.get_item(TableName="tls_t", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                        ConsistentRead=True)["Item"]["sk"] == {"N": "1"}
    got = ddb.query(TableName="tls_t", KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "a"}}, ConsistentRead=True)
    assert [it["sk"]["N"] for it in got["Items"]] == ["0", "1", "2"]

    untrusting = boto3.client("dynamodb", endpoint_url=secure.endpoint, region_name="us-east-1",
                              aws_access_key_id="t", aws_secret_access_key="t")
    with pytest.raises(botocore.exceptions.SSLError):
        untrusting.list_tables()
    with pytest.raises(OSError):  # plain HTTP on the HTTPS port: the connection is dropped
        post(secure.endpoint.replace("https://", "http://"), "ListTables", {}, timeout=5)


async def _grpc(addr: str, creds: grpc.ChannelCredentials | None, cluster_id: str, call: str = "admin",
                op: str = "health") -> object:
    """One call to a node with raw credentials (None: plaintext); the answer or the AioRpcError."""
    name = tls.cluster_dns_name(cluster_id)
    ch = (grpc.aio.secure_channel(addr, creds, options=[*GRPC_OPTIONS, ("grpc.ssl_target_name_override", name)])
          if creds else grpc.aio.insecure_channel(addr, options=GRPC_OPTIONS))
    md = ((METADATA_KEY, cluster_id),)
    try:
        if call == "data":
            stream = node_pb2_grpc.DataStub(ch).Stream(metadata=md)
            await asyncio.wait_for(stream.read(), 5)
            return stream
        return await node_pb2_grpc.AdminStub(ch).Call(node_pb2.Call(op=op, body=b"{}"), timeout=5, metadata=md)
    except grpc.aio.AioRpcError as exc:
        return exc
    finally:
        await ch.close()


def test_a_nodes_grpc_port_admits_only_certificates_of_its_cluster_in_a_role_that_may_call(secure, strangers):
    n1 = secure.procs["n1"]
    ca = secure.ca_file.read_bytes()
    admin = tls.Identity.in_dir(secure.tls_dir, "admin")

    def creds(ident: tls.Identity | None) -> grpc.ChannelCredentials:
        if ident is None:
            return grpc.ssl_channel_credentials(root_certificates=ca)
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=ident.key,
                                            certificate_chain=ident.cert)

    # No TLS at all, no client certificate, or another CA's: nothing gets through.
    for c in (None, creds(None), creds(strangers["other_ca"])):
        answer = asyncio.run(_grpc(n1.addr, c, secure.cluster_id))
        assert isinstance(answer, grpc.aio.AioRpcError) and answer.code() == grpc.StatusCode.UNAVAILABLE
    # The CLI's admin certificate may call Admin, not open the Data stream.
    assert asyncio.run(_grpc(n1.addr, creds(admin), secure.cluster_id)).status == node_pb2.OK
    denied = asyncio.run(_grpc(n1.addr, creds(admin), secure.cluster_id, call="data"))
    assert isinstance(denied, grpc.aio.AioRpcError) and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "admin certificates may not make this call" in denied.details()
    # The cluster's CA, another cluster's certificate (even when the caller names our cluster): refused.
    refused = asyncio.run(_grpc(n1.addr, creds(strangers["other_cluster"]), secure.cluster_id, op="meta"))
    assert isinstance(refused, grpc.aio.AioRpcError) and refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cluster id mismatch" in refused.details() and "node n9" in refused.details()
    wait_until(lambda: re.search(r"certificate of node n9 at \S+ states cluster intruders: refused",
                                 log_text(n1.log)) and "refused the caller" in log_text(n1.log),
               10, "the node to log both refusals")


async def _peer_port(addr: str, ctx: ssl.SSLContext | None, hello: bytes) -> bytes:
    """Dial a node's Raft peer port (TLS with `ctx`), say `hello`, read until it closes."""
    host, _, port = addr.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
    try:
        writer.write(hello)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def test_the_raft_peer_port_refuses_other_certificates_and_plaintext(secure, strangers):
    n1 = secure.procs["n1"]
    said = opening("n9", secure.cluster_id)  # even stating the right cluster id in the hello
    assert asyncio.run(_peer_port(n1.peer_addr, strangers["other_cluster"].client_context(), said)) == b""
    wait_until(lambda: "refused the raft connection with the node at" in log_text(n1.log)
               and "its certificate is of cluster intruders" in log_text(n1.log), 10, "the refusal logged")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        asyncio.run(_peer_port(n1.peer_addr, strangers["other_ca"].client_context(), said))
    wait_until(lambda: "TLS handshake failed" in log_text(n1.log), 10, "the failed handshake logged")
    assert asyncio.run(_peer_port(n1.peer_addr, None, said)) == b""  # plaintext: no handshake, closed
    # (logged too, but a host's failed handshakes at most once per 10 s: a retrying stranger dials often)


@pytest.mark.parametrize("stranger", ["other_ca", "other_cluster"])
def test_a_node_with_another_ca_or_clusters_certificate_cannot_join(secure, strangers, stranger, tmp_path):
    ident = strangers[stranger]
    log = tmp_path / "stranger.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            TRIREME + ["node", "--id", ident.member.name, "--az", "us-east-1a",
                       "--listen", f"127.0.0.1:{free_port()}", "--peer-listen", f"127.0.0.1:{free_port()}",
                       "--data-dir", str(tmp_path / "data"), "--join", secure.procs["n1"].addr,
                       "--tls-dir", str(ident.cert_file.parent)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: "TLS handshake with" in log_text(log) and "failed" in log_text(log), 30,
                   "the stranger to log that the cluster's nodes refuse it")
        assert proc.poll() is None  # it keeps trying, and keeps being refused
    finally:
        proc.terminate()
        proc.wait(10)
    assert meta_nodes(secure) == {"n1", "n2", "n3"}


@pytest.mark.slow
def test_regions_share_one_ca_and_replicate_over_tls_through_the_link(tmp_path):
    """Three regions with TLS: a strongly consistent table's Raft groups
    span them (peer ports over TLS through the link, the other regions'
    node certificates admitted), an eventually consistent replica is fed over
    HTTPS between the routers."""
    from deploy.regions import MultiRegion

    us, eu, ap = "us-east-1", "us-east-2", "us-west-2"  # one Region set: MRSC's rule
    m = MultiRegion(tmp_path / "data", [us, eu, ap], router_port=0, node_base_port=0, latency_ms=5,
                    cluster_args={"tls": True})
    keys = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}

    def ddb(region: str):
        c = make_client(m.clusters[region].endpoint, retries=2)
        c.meta.config.region_name = region
        return c

    def wait_table(region: str, name: str) -> None:
        ddb(region).get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    try:
        m.start(wait_s=120)
        assert all(ep.startswith("https://") for ep in m.endpoints().values())
        assert len({(c.tls_dir / "ca.pem").read_bytes() for c in m.clusters.values()}) == 1
        ddb(us).create_table(TableName="strong", **keys)
        ddb(us).update_table(TableName="strong", MultiRegionConsistency="STRONG",
                             ReplicaUpdates=[{"Create": {"RegionName": eu}}, {"Create": {"RegionName": ap}}])
        for region in (us, eu, ap):
            wait_table(region, "strong")
        ddb(eu).put_item(TableName="strong", Item={"pk": {"S": "k"}, "v": {"N": "1"}})
        assert ddb(ap).get_item(TableName="strong", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]["v"] == {
            "N": "1"}
        ddb(us).create_table(TableName="eventual", **keys)
        wait_table(us, "eventual")
        ddb(us).update_table(TableName="eventual", ReplicaUpdates=[{"Create": {"RegionName": eu}}])
        wait_table(eu, "eventual")
        ddb(us).put_item(TableName="eventual", Item={"pk": {"S": "k"}, "v": {"N": "2"}})
        wait_until(lambda: ddb(eu).get_item(TableName="eventual", Key={"pk": {"S": "k"}}).get("Item"), 30,
                   f"the write replicated to {eu}")
    finally:
        m.stop()


def test_trireme_up_tls_prints_how_to_trust_it_and_the_cli_reaches_it(tmp_path):
    from tests.integration.test_lifetime import run_up, trireme

    data_dir = tmp_path / "data"
    up, banner = run_up("--tls", "--data-dir", str(data_dir), "--port", "0", "--node-base-port", "0")
    try:
        while "Ctrl-C" not in banner:  # the rest of the banner, printed at once
            banner += up.stdout.readline()
        ca = data_dir.resolve() / "tls" / "ca.pem"
        endpoint = re.search(r"DynamoDB endpoint (\S+)", banner).group(1)
        assert endpoint.startswith("https://127.0.0.1:")
        assert f"AWS_CA_BUNDLE={ca}" in banner and f'verify="{ca}"' in banner
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", verify=str(ca),
                           aws_access_key_id="x", aws_secret_access_key="x")
        assert ddb.list_tables()["TableNames"] == []
        status = trireme("status", "--data-dir", str(data_dir), "--json")  # the admin certificate, over mTLS
        assert status.returncode == 0, status.stderr
        assert set(json.loads(status.stdout)["nodes"]) >= {"n1", "n2", "n3"}
        again = trireme("up", "--tls", "--data-dir", str(data_dir))
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        assert trireme("stop", "--data-dir", str(data_dir)).returncode == 0
        up.wait(30)
    plain = tmp_path / "plain"
    LocalCluster(plain).save()  # a saved cluster without TLS
    refused = trireme("up", "--tls", "--data-dir", str(plain))
    assert refused.returncode == 2 and "--tls conflicts with the cluster saved" in refused.stderr
