"""The coordinator of a transaction dies at each step of it: the transfer
still ends all or nothing, and no item stays locked.

A cluster with two routers. For each step of the router fault
`txn_crash_at` (after the record's begin, after one prepare, after the
decision, after one commit) the second router, told to exit there, runs a
transfer between accounts in two tables (two partitions) and dies. Through
the first router, within a deadline: a TransactGetItems shows the transfer in
both accounts or in neither (the one the step implies: committed once the
decision is durable, else nothing), and a plain write to each item succeeds
(the partitions' recovery settled the abandoned locks from the record).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from deploy.local import LocalCluster, alive, post
from tests.integration.conftest import make_client, start_cluster, wait_until

pytestmark = pytest.mark.slow

TIMEOUT_S = 3  # TRIREME_TXN_TIMEOUT_S: how old an abandoned lock gets before recovery settles it (the
# replay test must resend its call within it)
TABLES = ("kill-from", "kill-to")
# step -> whether the transfer must be applied once the router died there
STEPS = {"after_begin": False, "after_prepare:1": False, "after_decide": True, "after_commit:1": True}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two routers: the second is the one told to die."""
    c = start_cluster(tmp_path_factory.mktemp("txn-kill"), routers=2, router_deadline_s=3.0,
                      extra_env={"TRIREME_TXN_TIMEOUT_S": str(TIMEOUT_S)})
    _make_tables(make_client(c.endpoint))
    yield c
    c.stop()


def _doomed(cluster: LocalCluster, step: str):
    """The second router, (re)started and told to exit at `step`; its process."""
    proc = cluster.start_proc("router2")
    client = make_client(f"http://{proc.addr}", read_timeout=20)
    wait_until(lambda: client.list_tables() is not None, 30, "router2 serving")
    status, answer = post(cluster.admin_endpoint("router2"), "SetFaults", {"txn_crash_at": step, "ClusterId": cluster.cluster_id},
                          prefix="TriremeAdmin_1")
    assert status == 200, answer
    return client, proc


def _dies_during(cluster: LocalCluster, step: str, request: dict) -> None:
    """Run `request` through a router told to exit at `step`, and see it exit there."""
    client, proc = _doomed(cluster, step)
    with pytest.raises(BotoCoreError):  # the connection closes: the router is gone mid-call
        client.transact_write_items(**request)
    wait_until(lambda: not alive(proc.pid), 10, f"router2 to exit at {step}")
    assert f"txn_crash_at {step}" in open(proc.log).read()


def _accounts(ddb, alice: str, bob: str) -> None:
    ddb.put_item(TableName=TABLES[0], Item={"pk": {"S": alice}, "balance": {"N": "100"}, "steps": {"L": []}})
    ddb.put_item(TableName=TABLES[1], Item={"pk": {"S": bob}, "balance": {"N": "0"}, "steps": {"L": []}})


def _make_tables(ddb) -> None:
    for name in TABLES:
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for name in TABLES:
        wait_until(lambda name=name: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE",
                   60, f"{name} ACTIVE")


def _transfer(step: str, src: str = "alice", dst: str = "bob") -> dict:
    entry = {":id": {"L": [{"S": step}]}, ":amt": {"N": "10"}}
    return {"TransactItems": [
        {"Update": {"TableName": TABLES[0], "Key": {"pk": {"S": src}}, "ConditionExpression": "balance >= :amt",
                    "UpdateExpression": "SET balance = balance - :amt, steps = list_append(steps, :id)",
                    "ExpressionAttributeValues": entry}},
        {"Update": {"TableName": TABLES[1], "Key": {"pk": {"S": dst}},
                    "UpdateExpression": "SET balance = balance + :amt, steps = list_append(steps, :id)",
                    "ExpressionAttributeValues": entry}}]}


def _snapshot(ddb) -> dict | None:
    """Both accounts at once, or None while a transaction holds one of them."""
    try:
        answer = ddb.transact_get_items(TransactItems=[
            {"Get": {"TableName": TABLES[0], "Key": {"pk": {"S": "alice"}}}},
            {"Get": {"TableName": TABLES[1], "Key": {"pk": {"S": "bob"}}}}])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            return None
        raise
    return {r["Item"]["pk"]["S"]: (int(r["Item"]["balance"]["N"]), [s["S"] for s in r["Item"]["steps"]["L"]])
            for r in answer["Responses"]}


def _writable(ddb, table: str, key: str) -> bool:
    try:
        ddb.update_item(TableName=table, Key={"pk": {"S": key}}, UpdateExpression="ADD touched :one",
                        ExpressionAttributeValues={":one": {"N": "1"}})
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionConflictException":
            return False
        raise
    return True


def test_a_transfer_whose_coordinator_dies_at_any_step_ends_all_or_nothing_and_unlocked(cluster):
    survivor = make_client(cluster.endpoint)
    _accounts(survivor, "alice", "bob")
    applied: list[str] = []
    for step, commits in STEPS.items():
        _dies_during(cluster, step, _transfer(step))
        if commits:
            applied.append(step)
        expect = {"alice": (100 - 10 * len(applied), applied), "bob": (10 * len(applied), applied)}
        seen = wait_until(lambda: _snapshot(survivor), 30, f"the accounts free of the transaction ({step})")
        assert seen == expect, f"after the coordinator died {step}: {json.dumps(seen)}"
        for table, key in ((TABLES[0], "alice"), (TABLES[1], "bob")):
            wait_until(lambda table=table, key=key: _writable(survivor, table, key), 30,
                       f"{table}/{key} writable after the coordinator died {step}")


def test_a_replayed_token_of_a_decided_transfer_answers_only_once_its_writes_are_visible(cluster):
    """The SDK resends a call whose answer it lost with the same token. Here
    the first coordinator died right after deciding COMMITTED: the success the
    replay gets back must mean what any success means, the writes visible to
    a strongly consistent read (not only once recovery commits the locks).
    The bank check found this (a Scan missed a transfer acknowledged by a replay)."""
    survivor = make_client(cluster.endpoint)
    _accounts(survivor, "carol", "dave")
    request = _transfer("replayed", "carol", "dave") | {"ClientRequestToken": "replayed-after-decide"}
    _dies_during(cluster, "after_decide", request)
    survivor.transact_write_items(**request)
    item = survivor.get_item(TableName=TABLES[1], Key={"pk": {"S": "dave"}}, ConsistentRead=True)["Item"]
    assert [s["S"] for s in item["steps"]["L"]] == ["replayed"]
