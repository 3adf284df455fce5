"""The console's JSON API against a real cluster: the snapshot, the event
stream, chaos through the nodes' Admin service, the cost estimate (router/console/)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conformance.test_lambda import ROLE, lambda_client, zipped
from tests.integration.conftest import make_client, start_cluster, wait_until
from tests.integration.test_cost import get_records


PRINTER = zipped("""
    def handler(event, context):
        for r in event["Records"]:
            print("got", r["dynamodb"]["Keys"]["k"]["S"])
""")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A cluster of the module's own: its tests inject faults (and heal them)."""
    c = start_cluster(tmp_path_factory.mktemp("console"), extra_env={"TRIREME_TRIGGER_POLL_S": "0.1"})
    yield c
    c.stop()


def get(cluster, path: str) -> dict:
    with urllib.request.urlopen(cluster.endpoint + path, timeout=10) as r:
        return json.loads(r.read())


def post(cluster, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(cluster.endpoint + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def partition(cluster, pid: str) -> dict:
    return next(p for p in get(cluster, "/console/api/state")["partitions"] if p["id"] == pid)


def test_state_events_and_chaos(cluster):
    ddb = make_client(cluster.endpoint, retries=3)
    ddb.create_table(TableName="Tab", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.get_waiter("table_exists").wait(TableName="Tab", WaiterConfig={"Delay": 0.2})
    state = wait_until(lambda: (s := get(cluster, "/console/api/state"))["tables"] and s, 20, "the table in the state")
    assert sorted(n["id"] for n in state["nodes"] if n["reachable"]) == sorted(cluster.node_ids())
    pid = next(p["id"] for p in state["partitions"] if p["table"] == "Tab")

    # One event stream: a state event arrives without asking again.
    with urllib.request.urlopen(cluster.endpoint + "/console/api/events", timeout=10) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        lines = iter(stream)
        line = next(lines)
        while not line.startswith(b"data: "):
            line = next(lines)
        assert any(p["id"] == pid for p in json.loads(line[6:])["partitions"])

    # Step down: the leadership moves to the voter named.
    leader = wait_until(lambda: partition(cluster, pid)["leader"], 20, f"a leader of {pid}")
    to = next(n for n in cluster.node_ids() if n != leader)
    status, answer = post(cluster, "/console/api/chaos", {"action": "step_down", "partition": pid, "to": to})
    assert status == 200 and answer == {"action": "step_down", "partition": pid, "from": leader, "to": to}
    wait_until(lambda: partition(cluster, pid)["leader"] == to, 20, f"{to} leading {pid}")

    # Isolate a node: both ends of each of its links drop; the page's state shows it. Heal clears it.
    status, answer = post(cluster, "/console/api/chaos", {"action": "isolate", "node": to})
    assert status == 200 and not any("error" in a for a in answer["nodes"].values())
    others = sorted(n for n in cluster.node_ids() if n != to)
    faults = wait_until(lambda: {n["id"]: n["faults"] for n in get(cluster, "/console/api/state")["nodes"]
                                 if n["faults"]} or None, 10, "the faults in the state")
    assert faults[to] == {"drop_to": others, "drop_from": others}
    assert all(faults[o] == {"drop_to": [to], "drop_from": [to]} for o in others)
    status, _ = post(cluster, "/console/api/chaos", {"action": "heal"})
    assert status == 200
    wait_until(lambda: not any(n["faults"] for n in get(cluster, "/console/api/state")["nodes"]), 10, "healed")

    # Bad input: a DynamoDB-style error naming what is wrong.
    status, err = post(cluster, "/console/api/chaos", {"action": "isolate", "node": "n99"})
    assert status == 400 and err["__type"] == "ValidationException" and "unknown node 'n99'" in err["message"]
    status, err = post(cluster, "/console/api/chaos", {"action": "latency", "value": "x"})
    assert status == 400 and "number" in err["message"]
    with pytest.raises(urllib.error.HTTPError) as exc:
        get(cluster, "/console/static/../app.py")
    assert exc.value.code == 404


def test_a_triggers_position_lag_and_log(cluster):
    ddb, lam = make_client(cluster.endpoint, retries=3), lambda_client(cluster.endpoint)
    ddb.create_table(TableName="Src", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    ddb.get_waiter("table_exists").wait(TableName="Src", WaiterConfig={"Delay": 0.2})
    arn = ddb.describe_table(TableName="Src")["Table"]["LatestStreamArn"]
    lam.create_function(FunctionName="printer", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": PRINTER}, Timeout=30)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="printer",
                                           StartingPosition="TRIM_HORIZON")["UUID"]
    for i in range(4):
        ddb.put_item(TableName="Src", Item={"k": {"S": f"key{i}"}})

    def logged() -> bool:
        logs = get(cluster, "/console/api/function_log?name=printer")["nodes"]
        return all(f"got key{i}" in "".join(a.get("text", "") for a in logs.values()) for i in range(4))
    wait_until(logged, 60, "the four records in the function's log on the nodes")

    def positions() -> dict:
        parts = [p for p in get(cluster, "/console/api/state")["partitions"] if p["table"] == "Src"]
        return {p["id"]: p["triggers"][uuid] for p in parts if uuid in p.get("triggers", {})}
    # Every partition that had records checkpointed past them; the leader's applied index is not behind it.
    got = wait_until(positions, 30, "the mapping's position in the partitions")
    assert all(index > 0 and behind >= 0 for index, behind in got.values())


def test_cost_lines_add_up_from_the_units_consumed(cluster):
    """/console/api/cost: the month's bill from the same metadata, counts and
    stream reads as `trireme cost`, every line's arithmetic and the total."""
    ddb = make_client(cluster.endpoint, retries=3)
    ddb.create_table(TableName="Bill", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    ddb.get_waiter("table_exists").wait(TableName="Bill", WaiterConfig={"Delay": 0.2})
    for i in range(5):  # each item between 1 and 2 KB: two write units
        ddb.put_item(TableName="Bill", Item={"k": {"S": f"{i}"}, "pad": {"S": "x" * 1500}})
    get_records(cluster.endpoint, ddb.describe_table(TableName="Bill")["Table"]["LatestStreamArn"], 2)

    def lines(bill: dict) -> dict:
        return {x["entry"]: x for x in bill["lines"] if x["table"] == "Bill"}
    bill = wait_until(lambda: (b := get(cluster, "/console/api/cost?table=Bill"))
                      and lines(b).get("write_request_units", {}).get("observed", 0) >= 10 and b,
                      20, "the writes metered in the console's estimate")
    mine = lines(bill)
    assert {x["table"] for x in bill["lines"]} <= {"Bill", "(account)"}  # ?table= keeps one table
    assert mine["write_request_units"]["observed"] == 10
    assert mine["stream_read_requests"]["observed"] == 2  # this router served both GetRecords calls
    writes = mine["write_request_units"]
    assert writes["price"] == 0.625 and writes["per"] == 1e6
    assert writes["arithmetic"].startswith(f"{writes['month']:,.0f} WRU x $0.625 per 1M WRU = $")
    for x in bill["lines"]:
        assert x["cost"] == pytest.approx(x["month"] * x["price"] / x["per"])
    assert bill["monthly_total"] == pytest.approx(sum(x["cost"] for x in bill["lines"]))
    assert bill["monthly_total"] > 0 and "Bill" in {t["table"] for t in bill["tables"]}
