"""`GET /metrics` on a real cluster: the router (on its DynamoDB port) and
every node (on its --metrics-listen port, as `trireme up` assigns it) answer
Prometheus' text format, which prometheus_client's parser reads; a PutItem
moves the request counter and the latency histograms, an error and a
throttled write are counted by name, the units consumed reach the table's
counters, and killing a partition's leader moves the survivors' leader changes.
The cluster logs JSON lines (`--log-format json`): the router's access line
of a request carries the request id the client got.

Every node runs with TRIREME_BURST_S=1, so a table of 1 write unit a second
throttles a quick run of writes at once."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from client.status import gather_cluster, render
from tests.conformance.test_lambda import ROLE, lambda_client, zipped
from tests.integration.admin import leader_of, meta
from tests.integration.conftest import discard, make_client, start_cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("metrics"), extra_env={"TRIREME_BURST_S": "1"},
                      log_format="json", access_log=True)
    yield c
    discard(c)


@pytest.fixture(scope="module")
def ddb(cluster):
    return make_client(cluster.endpoint)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def router_url(cluster) -> str:
    return f"{cluster.endpoint}/metrics"


def node_url(cluster, name: str) -> str:
    return f"http://{cluster.procs[name].metrics_addr}/metrics"


def create(ddb, wcu: int = 100) -> str:
    name = f"m{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": wcu})
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return name


def test_a_put_moves_the_routers_counters_and_histograms(cluster, ddb):
    table = create(ddb)
    before = scrape(router_url(cluster))
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    after = scrape(router_url(cluster))
    labels = {"operation": "PutItem", "table": table}
    assert value(before, "trireme_router_requests_total", **labels) == 0
    assert value(after, "trireme_router_requests_total", **labels) == 1
    assert value(after, "trireme_router_request_duration_seconds_count", **labels) == 1
    assert value(after, "trireme_router_request_duration_seconds_bucket", le="+Inf", **labels) == 1
    assert 0 < value(after, "trireme_router_request_duration_seconds_sum", **labels) < 10
    assert value(after, "dynamodb_SuccessfulRequestLatency_seconds_count", Operation="PutItem", TableName=table) == 1
    assert value(after, "process_resident_memory_bytes") > 0
    assert value(after, "process_open_fds") > 0
    # The units the nodes metered reach the table's counters (heartbeats: seconds).
    wait_until(lambda: value(scrape(router_url(cluster)), "dynamodb_ConsumedWriteCapacityUnits_total",
                             TableName=table) >= 1, 30, "the put's write unit in the router's metrics")
    assert value(scrape(router_url(cluster)), "trireme_table_consumed_write_units_total", table=table) >= 1


def test_errors_are_counted_by_exception_name(cluster, ddb):
    missing = f"missing{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError):
        ddb.get_item(TableName=missing, Key={"pk": {"S": "a"}})
    got = scrape(router_url(cluster))
    assert value(got, "trireme_router_errors_total", operation="GetItem", table=missing,
                 error="ResourceNotFoundException") == 1
    assert value(got, "trireme_router_requests_total", operation="GetItem", table=missing) == 1
    assert value(got, "dynamodb_UserErrors_total") >= 1
    assert value(got, "dynamodb_SuccessfulRequestLatency_seconds_count", Operation="GetItem",
                 TableName=missing) == 0


def test_a_throttled_write_counts(cluster, ddb):
    table = create(ddb, wcu=1)
    throttled = 0
    for i in range(60):
        try:
            ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}})
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            throttled += 1
    assert throttled > 0
    got = scrape(router_url(cluster))
    assert value(got, "trireme_router_throttled_requests_total", operation="PutItem", table=table) == throttled
    assert value(got, "dynamodb_ThrottledRequests_total", Operation="PutItem", TableName=table) == throttled
    assert value(got, "dynamodb_WriteThrottleEvents_total", TableName=table) == throttled
    assert value(got, "trireme_router_errors_total", operation="PutItem", table=table,
                 error="ProvisionedThroughputExceededException") == throttled


def test_every_node_serves_its_raft_and_process_metrics(cluster, ddb):
    table = create(ddb)
    ddb.put_item(TableName=table, Item={"pk": {"S": "n"}})
    for name in cluster.node_ids():
        got = scrape(node_url(cluster, name))
        assert value(got, "trireme_node_raft_groups", kind="meta") == 1
        assert value(got, "trireme_node_raft_groups", kind="partition") >= 1
        assert value(got, "trireme_node_raft_term", kind="meta") >= 1
        assert value(got, "trireme_node_raft_fsyncs_total") > 0
        assert value(got, "trireme_node_raft_fsync_seconds_count") == value(got, "trireme_node_raft_fsyncs_total")
        assert value(got, "trireme_node_raft_append_seconds_count") > 0
        assert value(got, "trireme_node_raft_apply_lag_entries", kind="partition") >= 0
        assert value(got, "process_resident_memory_bytes") > 0
        assert value(got, "process_cpu_seconds_total") > 0
    total = sum(value(scrape(node_url(cluster, n)), "trireme_node_raft_proposals_total") for n in cluster.node_ids())
    assert total > 0
    shown = render(asyncio.run(gather_cluster(cluster)))  # `trireme status`
    assert all(node_url(cluster, n) in shown for n in cluster.node_ids()) and router_url(cluster) in shown
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(node_url(cluster, "n1").replace("/metrics", "/other"), timeout=10)
    assert err.value.code == 404


def test_stream_and_trigger_lag(cluster, ddb):
    """A stream reader's lag (router) and an event source mapping's iterator age (the node delivering it)."""
    table = f"s{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "s"}})
    s = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test")
    for shard in s.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:  # the one holding the record
        page = s.get_records(ShardIterator=s.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"])
        if page["Records"]:
            break
    assert page["Records"]
    assert value(scrape(router_url(cluster)), "trireme_router_stream_iterator_age_seconds", table=table) > 0
    s.get_records(ShardIterator=page["NextShardIterator"])  # caught up
    assert value(scrape(router_url(cluster)), "trireme_router_stream_iterator_age_seconds", table=table) == 0

    lam = lambda_client(cluster.endpoint)
    fn = f"fn-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zipped("def handler(event, context):\n    return None\n")}, Timeout=30)
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn,
                                              StartingPosition="TRIM_HORIZON")["UUID"]

    def ages() -> list[float]:
        return [v for n in cluster.node_ids() for (name, ls), v in scrape(node_url(cluster, n)).items()
                if name == "trireme_node_trigger_iterator_age_seconds" and ("mapping", mapping) in ls]
    assert wait_until(ages, 60, "the mapping's iterator age")[0] > 0
    lam.delete_event_source_mapping(UUID=mapping)


def test_logs_are_json_lines_with_the_clients_request_id(cluster, ddb):
    table = create(ddb)
    rid = ddb.put_item(TableName=table, Item={"pk": {"S": "j"}})["ResponseMetadata"]["RequestId"]

    def access_line() -> dict | None:
        with open(cluster.procs["router1"].log) as f:
            lines = [json.loads(ln) for ln in f if ln.startswith("{")]
        return next((ln for ln in lines if ln.get("request_id") == rid), None)
    line = wait_until(access_line, 10, "the put's access line")
    assert (line["logger"], line["process"], line["operation"], line["table"], line["status"]) == \
        ("router.access", "router", "PutItem", table, "200")
    for name in cluster.node_ids():
        with open(cluster.procs[name].log) as f:
            logged = [ln for ln in f if ln.strip()]
        records = [json.loads(ln) for ln in logged if ln.startswith("{")]
        assert records and all(r["process"] == name for r in records)
        assert any("metrics on http://" in r["message"] for r in records)


def test_killing_a_leader_moves_leader_changes(cluster, ddb):
    """Last in the module: it leaves the cluster a node short."""
    table = create(ddb)
    group = meta(cluster)["tables"][table]["partitions"][0]
    leader = wait_until(lambda: leader_of(cluster, group), 30, f"a leader of {group}")
    survivors = [n for n in cluster.node_ids() if n != leader]

    def leader_changes() -> float:
        return sum(value(scrape(node_url(cluster, n)), "trireme_node_raft_role_changes_total", role="LEADER")
                   for n in survivors)

    before = leader_changes()
    cluster.kill(leader)
    wait_until(lambda: leader_of(cluster, group, survivors), 30, f"a new leader of {group}")
    assert leader_changes() > before
