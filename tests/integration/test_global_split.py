"""A global table (MREC) splits under writes in both regions: two real
LocalClusters whose nodes reach each other's router, writers in each region,
`trireme split` of a partition in one region mid-writes. Once the writers
stop, both regions hold identical items, and every acknowledged write (put
or delete) is there or superseded by a later one of the same writer: the
parent sent its change log up to the split, the child its own from its
start, nothing skipped (node/partition/split.py, node/feed/replicator.py)."""

from __future__ import annotations

import threading

import pytest

from tests.integration.admin import meta
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_global_replication import EU, US, digest, items, regions, replicating, set_replicas
from tests.integration import test_splits as splits
from tests.integration.test_splits import cli

pytestmark = pytest.mark.slow
__all__ = ["regions"]  # (the module-shared two-region fixture)

TABLE = "gsplit"
KEYS = 7  # per writer (prime to 3 and 5: each key gets puts and deletes)
SHARED = 4  # keys every writer of both regions writes: one version wins everywhere


class Writers(splits.Writers):
    """Two writers per region. Each owns its keys and puts rising values to
    them, deleting every fifth time; per key, the operations attempted in
    order (None: a delete) and the index of the last one acknowledged."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        super().__init__("")
        self.endpoints = endpoints
        self.attempted: dict[str, list[int | None]] = {}
        self.acked: dict[str, int] = {}  # type: ignore[assignment]
        self.threads = [threading.Thread(target=self.run, args=(r, w), daemon=True)
                        for r in endpoints for w in range(2)]

    def run(self, region: str, w: int) -> None:  # type: ignore[override]
        ddb = make_client(self.endpoints[region], retries=3)
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 3 == 0:  # a contended key: whatever wins, both regions must agree
                pk = f"shared{n % SHARED}"
                try:
                    ddb.put_item(TableName=TABLE,
                                 Item={"pk": {"S": pk}, "sk": {"S": "x"}, "by": {"S": f"{region}/{w}/{n}"}})
                except Exception:  # noqa: BLE001 (an unknown outcome)
                    pass
                continue
            pk = f"{region}-w{w}-k{n % KEYS}"
            ops = self.attempted.setdefault(pk, [])
            ops.append(None if n % 5 == 0 else n)
            try:
                if ops[-1] is None:
                    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "x"}})
                else:
                    ddb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": "x"}, "v": {"N": str(n)}})
            except Exception:  # noqa: BLE001 (an unknown outcome: it may or may not have applied)
                continue
            self.acked[pk] = len(ops) - 1


def test_a_global_table_splits_under_writes_in_both_regions_and_converges(regions):
    us, eu = regions
    a, b = make_client(us.endpoint, retries=3), make_client(eu.endpoint, retries=3)
    for client in (a, b):
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")])
        client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    set_replicas(us, [{"region": EU, "status": "ACTIVE"}], TABLE)
    set_replicas(eu, [{"region": US, "status": "ACTIVE"}], TABLE)
    for cluster in (us, eu):  # (every table's partitions: the module's other tables replicate too)
        wait_until(lambda c=cluster: replicating(c) >= sum(len(t["partitions"]) for t in meta(c)["tables"].values()
                                                           if t.get("replicas")), 30,
                   f"{cluster.region}'s partitions to replicate")
    before = len(meta(us)["tables"][TABLE]["partitions"])
    with Writers({US: us.endpoint, EU: eu.endpoint}) as writers:
        wait_until(lambda: len(writers.acked) >= 20, 60, "writes going on in both regions")
        done = cli(us, "split", TABLE)
        assert done.returncode == 0, done.stderr
        grown = dict(writers.acked)
        wait_until(lambda: sum(writers.acked.get(k, -1) > i for k, i in grown.items()) >= 10, 30,
                   "writes acknowledged after the split")
    assert len(meta(us)["tables"][TABLE]["partitions"]) == before + 1
    wait_until(lambda: digest(a, TABLE) == digest(b, TABLE), 60, "both regions to hold the same items",
               interval=0.5)
    got = {i["pk"]["S"]: i for i in items(a, TABLE)}
    for pk, last in writers.acked.items():
        outcomes = writers.attempted[pk][last:]  # the acknowledged one, or a later one whose answer was lost
        have = got.get(pk)
        value = int(have["v"]["N"]) if have is not None else None
        assert value in outcomes, (pk, value, outcomes)
    assert sum(pk.startswith("shared") for pk in got) == SHARED
