"""Edge cases of multi-Region strong consistency on the storage nodes, across
three real regions (deploy/regions.py MultiRegion) driven with boto3: a
region's member that catches up by a snapshot (the log compacted past it)
keeps its region's global index exact; a transaction committed before a
table is made strong is never lost with its old partitions, and one during
the conversion is cancelled cleanly."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from deploy.local import alive, post
from deploy.regions import MultiRegion
from tests.integration.admin import replicas
from tests.integration.conftest import make_client, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.serial]

US1, US2, USW = "us-east-1", "us-east-2", "us-west-2"
COMPACT_EVERY, COMPACT_LAG = 20, 10  # a member down for a few dozen writes is left to a snapshot
SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                        {"AttributeName": "pk", "KeyType": "RANGE"}],
                                    "Projection": {"ProjectionType": "ALL"}}],
        "BillingMode": "PAY_PER_REQUEST"}
GROUPS = ("a", "b", "c")
TXN_TIMEOUT_S = 15  # a transaction's locks outlive its dead coordinator this long (then recovery settles them)


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    m = MultiRegion(tmp_path_factory.mktemp("mrsc-edges") / "data", [US1, US2, USW], router_port=0,
                    node_base_port=0, latency_ms=10,
                    cluster_args={"router_deadline_s": 6.0,
                                  "extra_env": {"TRIREME_RAFT_COMPACT_EVERY": str(COMPACT_EVERY),
                                                "TRIREME_RAFT_COMPACT_LAG": str(COMPACT_LAG),
                                                "TRIREME_TXN_TIMEOUT_S": str(TXN_TIMEOUT_S)}})
    try:
        m.start(wait_s=120)
        yield m
    finally:
        m.stop()


def ddb(m: MultiRegion, region: str, retries: int = 2):
    c = make_client(m.clusters[region].endpoint, retries=retries, read_timeout=30)
    c.meta.config.region_name = region
    return c


def plain_table(m: MultiRegion) -> str:
    name = f"edges-{uuid.uuid4().hex[:8]}"
    c = ddb(m, US1)
    c.create_table(TableName=name, **SPEC)
    c.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def make_strong(c, name: str) -> None:
    c.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": US2}}, {"Create": {"RegionName": USW}}],
                   MultiRegionConsistency="STRONG")


def convert(c, name: str) -> str:
    """`make_strong`'s outcome: "ok" or the error's message."""
    try:
        make_strong(c, name)
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Message"]


def strong_table(m: MultiRegion) -> str:
    name = plain_table(m)
    make_strong(ddb(m, US1), name)
    for region in (US2, USW):
        ddb(m, region).get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def set_faults(m: MultiRegion, faults: dict) -> None:
    """Faults of us-east-1's router (its admin endpoint)."""
    c = m.clusters[US1]
    status, answer = post(c.admin_endpoint(), "SetFaults", {"ClusterId": c.cluster_id, **faults},
                          prefix="TriremeAdmin_1")
    assert status == 200, answer


def members(m: MultiRegion, region: str) -> dict[str, tuple[str, dict]]:
    """This region's members of groups spanning regions: group -> (node, its replica row)."""
    c = m.clusters[region]
    return {g: (node, r) for node in c.node_ids() for g, r in replicas(c, node).items()
            if any(v.startswith(f"{region}/") for v in r["voters"])}


def index_of(m: MultiRegion, region: str, name: str) -> dict[str, list[str]]:
    c = ddb(m, region)
    return {g: sorted(it["pk"]["S"] for it in c.query(
        TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": g}})["Items"]) for g in GROUPS}


def put(c, name: str, key: str, g: str) -> None:
    c.put_item(TableName=name, Item={"pk": {"S": key}, "g": {"S": g}})


def test_a_region_caught_up_by_snapshot_has_exactly_the_items_in_its_index(regions):
    """us-west-2 goes down; the others write (new items, items moved to
    another index key, items deleted) until their logs are compacted past its
    members; back, each member installs a snapshot from another region's
    leader, and us-west-2's index must then hold exactly the items: not the
    leader region's leftover outbox, and not its own entries of before."""
    m = regions
    old_groups = set(members(m, USW))
    name = strong_table(m)
    want: dict[str, str] = {}
    for i in range(12):
        put(ddb(m, (US1, US2, USW)[i % 3]), name, f"k{i}", GROUPS[i % 3])
        want[f"k{i}"] = GROUPS[i % 3]

    def expected() -> dict[str, list[str]]:
        return {g: sorted(k for k, v in want.items() if v == g) for g in GROUPS}
    wait_until(lambda: index_of(m, USW, name) == expected(), 30, "the index in us-west-2 before")
    groups = set(members(m, USW)) - old_groups  # (every one has its member here: the index is complete)
    assert groups, "the table's groups have members in us-west-2"
    before = {g: r["last_index"] for g, (_, r) in members(m, USW).items() if g in groups}

    m.kill_region(USW)
    try:
        def writes(lo: int, hi: int, region: str) -> None:
            c = ddb(m, region, retries=8)
            for i in range(lo, hi):
                put(c, name, f"n{i}", GROUPS[i % 3])
        with ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(writes, lo, lo + 40, (US1, US2)[lo // 40 % 2]) for lo in range(0, 160, 40)]:
                f.result()
        want.update({f"n{i}": GROUPS[i % 3] for i in range(160)})
        c = ddb(m, US2, retries=8)
        for i in range(0, 12, 2):  # moved to another index key
            put(c, name, f"k{i}", "c" if want[f"k{i}"] != "c" else "a")
            want[f"k{i}"] = "c" if want[f"k{i}"] != "c" else "a"
        for i in (1, 5, 9):
            c.delete_item(TableName=name, Key={"pk": {"S": f"k{i}"}})
            del want[f"k{i}"]
        leaders = {g: r for region in (US1, US2) for node in m.clusters[region].node_ids()
                   for g, r in replicas(m.clusters[region], node).items() if g in groups and r["role"] == "LEADER"}
        assert all(leaders[g]["snapshot_index"] > before[g] for g in before), (leaders, before)
    finally:
        m.start_region(USW)

    def caught_up() -> bool:
        now = members(m, USW)
        return all(g in now and now[g][1]["snapshot_index"] > before[g] for g in before)
    wait_until(caught_up, 60, "us-west-2's members to install snapshots", interval=0.2)
    wait_until(lambda: index_of(m, USW, name) == expected(), 30, "the index in us-west-2 after its snapshots")
    for region in (US1, US2):
        assert index_of(m, region, name) == expected(), region


def test_a_transaction_committed_before_a_table_is_made_strong_is_not_lost(regions):
    """us-east-1's router decides a transaction COMMITTED and dies before
    committing its locks (recovery commits them after TXN_TIMEOUT_S). Making
    the table strong meanwhile is refused with a retryable 503 (its partitions
    hold locks: the freeze waits for them, then gives up); once recovery
    committed them the table holds the items and is not made strong. Before,
    the freeze ignored the locks, the table was found empty and moved, and the
    committed items went with the dropped partitions."""
    m = regions
    c = m.clusters[US1]
    us = ddb(m, US1)
    name = plain_table(m)
    set_faults(m, {"txn_crash_at": "after_decide"})
    router = c.procs["router1"]
    with pytest.raises(BotoCoreError):  # the router exits once the transaction is decided
        ddb(m, US1, retries=0).transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": k}, "g": {"S": "a"}}}} for k in ("t1", "t2")])
    wait_until(lambda: not alive(router.pid), 10, "router1 to exit after the decision")
    c.start_proc("router1")
    wait_until(lambda: ddb(m, US1).list_tables() is not None, 30, "router1 serving again")

    once = ddb(m, US1, retries=0)
    with pytest.raises(ClientError) as e:
        make_strong(once, name)
    err = e.value.response["Error"]
    assert (err["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceUnavailable", 503), err
    assert "transactions on its items are in progress" in err["Message"]
    wait_until(lambda: all("Item" in us.get_item(TableName=name, Key={"pk": {"S": k}}, ConsistentRead=True)
                           for k in ("t1", "t2")), TXN_TIMEOUT_S + 30, "recovery to commit the transaction")
    assert "holds items" in convert(once, name)
    assert us.describe_table(TableName=name)["Table"].get("MultiRegionConsistency", "EVENTUAL") == "EVENTUAL"


def test_a_transaction_on_a_table_being_made_strong_is_cancelled_cleanly(regions):
    """Once the conversion froze the table (the router holds it there for
    `strong_pause_s`), a transaction on it is cancelled (TransactionConflict,
    nothing locked or written): the conversion then finds the table empty and
    completes."""
    m = regions
    us = ddb(m, US1)
    name = plain_table(m)
    set_faults(m, {"strong_pause_s": 4.0})
    outcome: list = []
    try:
        converter = threading.Thread(target=lambda: outcome.append(convert(us, name)))
        converter.start()
        once = ddb(m, US1, retries=0)

        def frozen() -> bool:  # a write that changes nothing either way: refused (503) once frozen
            try:
                once.put_item(TableName=name, Item={"pk": {"S": "probe"}}, ConditionExpression="attribute_exists(pk)")
            except ClientError as exc:
                return exc.response["Error"]["Code"] == "ServiceUnavailable"
            return False
        wait_until(frozen, 30, "the conversion to freeze the table")
        with pytest.raises(ClientError) as e:
            once.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": {"pk": {"S": k}}}}
                                                     for k in ("t1", "t2")])
        err = e.value.response
        assert err["Error"]["Code"] == "TransactionCanceledException", err
        assert {r["Code"] for r in err["CancellationReasons"]} <= {"TransactionConflict", "None"}, err
        assert any(r["Code"] == "TransactionConflict" for r in err["CancellationReasons"]), err
        converter.join(60)
    finally:
        set_faults(m, {"heal": True})
    assert outcome == ["ok"], outcome
    for region in (US1, US2, USW):  # (its groups may still be electing leaders: retried)
        for k in ("t1", "t2"):
            got = wait_until(lambda: ddb(m, region).get_item(TableName=name, Key={"pk": {"S": k}},
                                                             ConsistentRead=True), 30, f"a read in {region}")
            assert "Item" not in got, (region, got)

