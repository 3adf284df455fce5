"""A global secondary index converges to exactly the base table's content after
random writes while the leaders of base and index partitions are killed."""

from __future__ import annotations

import random
import threading

import pytest
from botocore.exceptions import ClientError

from tests.integration.admin import leader_of, meta, raw_items
from tests.integration.conftest import make_client, wait_until

pytestmark = pytest.mark.slow

KEYS = 80


def _expected(ddb) -> set[tuple[str, str, str]]:
    """(g, n, pk) of every base item the index must hold, read strongly."""
    out, start = set(), None
    while True:
        r = ddb.scan(TableName="gsif", ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        for i in r["Items"]:
            if "g" in i and "n" in i:
                out.add((i["g"]["S"], i["n"]["N"], i["pk"]["S"]))
        start = r.get("LastEvaluatedKey")
        if not start:
            return out


def _indexed(ddb) -> set[tuple[str, str, str]]:
    out, start = set(), None
    while True:
        r = ddb.scan(TableName="gsif", IndexName="by_g", **({"ExclusiveStartKey": start} if start else {}))
        out |= {(i["g"]["S"], i["n"]["N"], i["pk"]["S"]) for i in r["Items"]}
        start = r.get("LastEvaluatedKey")
        if not start:
            return out


def test_index_converges_under_leader_kills(own_cluster):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint, retries=3)
    ddb.create_table(
        TableName="gsif", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "n", "KeyType": "RANGE"}]}])
    wait_until(lambda: ddb.describe_table(TableName="gsif")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    stop = threading.Event()
    done = [0]

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        client = make_client(cluster.endpoint, retries=1)
        while not stop.is_set():
            pk = {"S": f"k{rng.randrange(KEYS)}"}
            op = rng.random()
            try:
                if op < 0.4:
                    client.put_item(TableName="gsif", Item={"pk": pk, "g": {"S": rng.choice("abcd")},
                                                            "n": {"N": str(rng.randrange(50))}})
                elif op < 0.65:
                    client.update_item(TableName="gsif", Key={"pk": pk}, UpdateExpression="SET g = :g",
                                       ExpressionAttributeValues={":g": {"S": rng.choice("abcd")}})
                elif op < 0.8:
                    client.update_item(TableName="gsif", Key={"pk": pk}, UpdateExpression="REMOVE n")
                else:
                    client.delete_item(TableName="gsif", Key={"pk": pk})
                done[0] += 1
            except ClientError:
                pass  # unavailable while a leader is down: the outcome does not matter here

    threads = [threading.Thread(target=writer, args=(s,), daemon=True) for s in range(2)]
    for t in threads:
        t.start()
    try:
        state = meta(cluster)
        groups = [p for p in state["partitions"] if p.startswith("t")]
        rng = random.Random(7)
        for _ in range(4):
            wait_until(lambda: done[0] > 0, 30, "writes to flow")
            before = done[0]
            wait_until(lambda: done[0] >= before + 60, 60, "writes to flow between kills")
            group = rng.choice(groups)
            victim = wait_until(lambda: leader_of(cluster, group), 20, f"a leader of {group}")
            cluster.kill(victim)
            others = [n for n in cluster.node_ids() if n != victim]
            wait_until(lambda: leader_of(cluster, group, live=others), 30, f"{group} to fail over")
            cluster.start_proc(victim)
            wait_until(lambda: leader_of(cluster, group), 30, f"a leader of {group} again")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert done[0] > 200, "the writers barely ran"
    expected = _expected(ddb)
    assert expected, "nothing to index"
    seen: list = []

    def converged() -> bool:
        seen[:] = [_indexed(ddb)]
        return seen[0] == expected

    try:
        wait_until(converged, 60, "the index to converge", interval=0.5)
    except AssertionError:
        got = seen[0] if seen else set()
        raise AssertionError(f"index differs: missing {sorted(expected - got)[:10]}, "
                             f"extra {sorted(got - expected)[:10]}") from None
    # Every replica of every index partition holds the same entries.
    state = meta(cluster)
    index_id = state["tables"]["gsif#by_g"]["id"]
    for gid, p in state["partitions"].items():
        if p["table_id"] != index_id:
            continue

        def agree(voters=p["voters"], gid=gid) -> bool:
            copies = [raw_items(cluster, n, gid) for n in voters]
            return all(c == copies[0] for c in copies)

        wait_until(agree, 30, f"replicas of {gid} to agree")
