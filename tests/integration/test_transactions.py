"""Transactions end to end: concurrent transfers keep their sum in every
transactional read, and a coordinator that dies after locking an item leaves
a transaction that single-item writes, TransactGetItems and the same token
see in progress until the partitions' recovery aborts it."""

from __future__ import annotations

import json
import random
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from deploy.local import post
from tests.integration.conftest import make_client, wait_until

ACCOUNTS = 8
START = 100
TXN_TIMEOUT_S = 4.0  # long enough for the checks below while the lock is held


def _accounts(ddb, table: str) -> list[dict]:
    return [{"Get": {"TableName": table, "Key": {"pk": {"S": f"acct{i}"}}}} for i in range(ACCOUNTS)]


def test_concurrent_transfers_keep_the_sum(cluster, ddb):
    table = "txn_bank"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE", 30, "the table")
    for i in range(ACCOUNTS):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"acct{i}"}, "balance": {"N": str(START)}})
    expected = [START] * ACCOUNTS
    lock = threading.Lock()
    errors: list[BaseException] = []
    sums: list[int] = []
    done = threading.Event()

    def transfers(seed: int) -> None:
        client = make_client(cluster.endpoint)
        rnd = random.Random(seed)
        try:
            for _ in range(12):
                a, b = rnd.sample(range(ACCOUNTS), 2)
                amount = rnd.randint(1, 30)
                try:
                    client.transact_write_items(TransactItems=[
                        {"Update": {"TableName": table, "Key": {"pk": {"S": f"acct{a}"}},
                                    "UpdateExpression": "ADD balance :minus", "ConditionExpression": "balance >= :amt",
                                    "ExpressionAttributeValues": {":minus": {"N": str(-amount)},
                                                                  ":amt": {"N": str(amount)}}}},
                        {"Update": {"TableName": table, "Key": {"pk": {"S": f"acct{b}"}},
                                    "UpdateExpression": "ADD balance :plus",
                                    "ExpressionAttributeValues": {":plus": {"N": str(amount)}}}}])
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
                    continue  # a conflict or too little money: nothing changed
                with lock:
                    expected[a] -= amount
                    expected[b] += amount
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    def reads() -> None:
        client = make_client(cluster.endpoint)
        try:
            while not done.is_set():
                try:
                    got = client.transact_get_items(TransactItems=_accounts(client, table))["Responses"]
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
                    continue
                sums.append(sum(int(r["Item"]["balance"]["N"]) for r in got))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=transfers, args=(seed,)) for seed in range(4)]
    readers = [threading.Thread(target=reads) for _ in range(3)]
    for t in (*writers, *readers):
        t.start()
    for t in writers:
        t.join(120)
    done.set()
    for t in readers:
        t.join(60)
    assert errors == []
    assert sums and set(sums) == {START * ACCOUNTS}, sums
    final = ddb.transact_get_items(TransactItems=_accounts(ddb, table))["Responses"]
    assert [int(r["Item"]["balance"]["N"]) for r in final] == expected


def _router(cluster, n: int) -> str:
    return f"http://{cluster.procs[f'router{n}'].addr}"


def test_a_dead_coordinators_transaction_is_in_progress_until_recovered(own_cluster):
    c = own_cluster(routers=2, extra_env={"TRIREME_TXN_TIMEOUT_S": str(TXN_TIMEOUT_S)})
    doomed, live = make_client(_router(c, 1)), make_client(_router(c, 2), read_timeout=30)
    table = "txn_crash"
    live.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                      KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: live.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE", 30, "the table")
    wait_until(lambda: doomed.describe_table(TableName=table), 10, "router1 to see the table")
    live.put_item(TableName=table, Item={"pk": {"S": "x"}, "v": {"S": "before"}})
    status, answer = post(c.admin_endpoint("router1"), "SetFaults", {"ClusterId": c.cluster_id, "txn_crash_at": "after_prepare:1"},
                          prefix="TriremeAdmin_1")
    assert status == 200, answer
    token = str(uuid.uuid4())
    action = [{"Put": {"TableName": table, "Item": {"pk": {"S": "x"}, "v": {"S": "after"}}}}]
    with pytest.raises(Exception):  # the router exits once the item is locked
        doomed.transact_write_items(TransactItems=action, ClientRequestToken=token)

    with pytest.raises(ClientError) as exc:
        live.put_item(TableName=table, Item={"pk": {"S": "x"}, "v": {"S": "single"}})
    assert exc.value.response["Error"]["Code"] == "TransactionConflictException"
    assert exc.value.response["Error"]["Message"] == "Transaction is ongoing for the item"
    with pytest.raises(ClientError) as exc:
        live.transact_write_items(TransactItems=action, ClientRequestToken=token)
    assert exc.value.response["Error"]["Code"] == "TransactionInProgressException"
    with pytest.raises(ClientError) as exc:  # another transaction on the item
        live.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "y"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "x"}},
                                "ConditionExpression": "attribute_exists(pk)"}}])
    assert exc.value.response["CancellationReasons"] == [
        {"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    with pytest.raises(ClientError) as exc:  # a transactional read of it
        live.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"pk": {"S": "x"}}}}])
    assert [r["Code"] for r in exc.value.response["CancellationReasons"]] == ["TransactionConflict"]
    assert "Item" not in live.get_item(TableName=table, Key={"pk": {"S": "y"}}, ConsistentRead=True)
    # Reads see the committed item, never the prepared one.
    assert live.get_item(TableName=table, Key={"pk": {"S": "x"}}, ConsistentRead=True)["Item"]["v"] == {"S": "before"}

    # Recovery aborts the dead attempt; the token's retry then runs it as a new attempt.
    def retried() -> bool:
        try:
            live.transact_write_items(TransactItems=action, ClientRequestToken=token)
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] in ("TransactionInProgressException", "TransactionCanceledException"):
                return False
            raise
    wait_until(retried, 30, "the token's retry to commit")
    assert live.get_item(TableName=table, Key={"pk": {"S": "x"}}, ConsistentRead=True)["Item"]["v"] == {"S": "after"}
    live.put_item(TableName=table, Item={"pk": {"S": "x"}, "v": {"S": "single"}})  # no lock is left
    assert json.loads(post(c.admin_endpoint("router2"), "Faults", {}, prefix="TriremeAdmin_1")[1])["txn_crash_at"] == ""
