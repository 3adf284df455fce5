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

from deploy.local import alive, post
from tests.integration.conftest import make_client, own_cluster, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

TIMEOUT_S = 2  # TRIREME_TXN_TIMEOUT_S: how old an abandoned lock gets before recovery settles it
TABLES = ("kill-from", "kill-to")
# step -> whether the transfer must be applied once the router died there
STEPS = {"after_begin": False, "after_prepare:1": False, "after_decide": True, "after_commit:1": True}


def _make_tables(ddb) -> None:
    for name in TABLES:
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for name in TABLES:
        wait_until(lambda name=name: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE",
                   60, f"{name} ACTIVE")


def _transfer(step: str) -> dict:
    entry = {":id": {"L": [{"S": step}]}, ":amt": {"N": "10"}}
    return {"TransactItems": [
        {"Update": {"TableName": TABLES[0], "Key": {"pk": {"S": "alice"}}, "ConditionExpression": "balance >= :amt",
                    "UpdateExpression": "SET balance = balance - :amt, steps = list_append(steps, :id)",
                    "ExpressionAttributeValues": entry}},
        {"Update": {"TableName": TABLES[1], "Key": {"pk": {"S": "bob"}},
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


def test_a_transfer_whose_coordinator_dies_at_any_step_ends_all_or_nothing_and_unlocked(own_cluster):
    cluster = own_cluster(routers=2, router_deadline_s=3.0, extra_env={"TRIREME_TXN_TIMEOUT_S": str(TIMEOUT_S)})
    survivor = make_client(cluster.endpoint)
    victim_name = "router2"
    victim = make_client(f"http://{cluster.procs[victim_name].addr}", read_timeout=20)
    _make_tables(survivor)
    survivor.put_item(TableName=TABLES[0], Item={"pk": {"S": "alice"}, "balance": {"N": "100"}, "steps": {"L": []}})
    survivor.put_item(TableName=TABLES[1], Item={"pk": {"S": "bob"}, "balance": {"N": "0"}, "steps": {"L": []}})
    applied: list[str] = []
    for step, commits in STEPS.items():
        proc = cluster.start_proc(victim_name)
        wait_until(lambda: victim.list_tables() is not None, 30, f"{victim_name} serving")
        status, answer = post(f"http://{proc.addr}", "SetFaults",
                              {"txn_crash_at": step, "ClusterId": cluster.cluster_id}, prefix="TriremeAdmin_1")
        assert status == 200, answer
        with pytest.raises(BotoCoreError):  # the connection closes: the router is gone mid-call
            victim.transact_write_items(**_transfer(step))
        wait_until(lambda: not alive(proc.pid), 10, f"{victim_name} to exit at {step}")
        assert f"txn_crash_at {step}" in open(proc.log).read()

        if commits:
            applied.append(step)
        expect = {"alice": (100 - 10 * len(applied), applied), "bob": (10 * len(applied), applied)}
        seen = wait_until(lambda: _snapshot(survivor), 30, f"the accounts free of the transaction ({step})")
        assert seen == expect, f"after the coordinator died {step}: {json.dumps(seen)}"
        for table, key in ((TABLES[0], "alice"), (TABLES[1], "bob")):
            wait_until(lambda table=table, key=key: _writable(survivor, table, key), 30,
                       f"{table}/{key} writable after the coordinator died {step}")
