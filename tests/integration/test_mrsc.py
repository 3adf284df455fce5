"""Multi-Region strong consistency across three real regions (deploy/regions.py
MultiRegion: a cluster per region and the cross-region link, whose peer
ports carry the shared Raft groups), driven with boto3 clients per region."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chaos.faults import LocalRegionChaos
from chaos.runner import CheckConfig
from chaos.strong_check import run_strong_check
from cluster.rpc import Channels, call_once
from deploy.local import post
from deploy.regions import MultiRegion
from tests.integration.admin import leader_of, meta, node_addr
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_backups import _available
from tests.integration.test_pitr import _next_second

pytestmark = [pytest.mark.slow, pytest.mark.serial]

# Three regions of DynamoDB's US Region set (an MRSC table's regions must share one); the names keep
# this file's roles: US makes the tables, EU and AP are the two others.
US, EU, AP = "us-east-1", "us-east-2", "us-west-2"
KEYS = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"}


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    m = MultiRegion(tmp_path_factory.mktemp("mrsc") / "data", [US, EU, AP], router_port=0, node_base_port=0,
                    latency_ms=10, cluster_args={"router_deadline_s": 6.0,
                                                 "partitions_per_table": 2})  # (partitions led from different regions)
    try:
        m.start(wait_s=120)
        yield m
    finally:
        m.stop()


def ddb(m: MultiRegion, region: str):
    c = make_client(m.clusters[region].endpoint, retries=2, read_timeout=30)
    c.meta.config.region_name = region
    return c


def _error(exc_info) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


GSI = {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
       "GlobalSecondaryIndexes": [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                       {"AttributeName": "pk", "KeyType": "RANGE"}],
                                   "Projection": {"ProjectionType": "ALL"}}]}


def _strong_table(m: MultiRegion, witness: bool = False, extra_keys: dict | None = None) -> str:
    name = f"mrsc-{uuid.uuid4().hex[:8]}"
    us = ddb(m, US)
    us.create_table(TableName=name, **{**KEYS, **(extra_keys or {})})
    us.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    extra = {"GlobalTableWitnessUpdates": [{"Create": {"RegionName": AP}}]} if witness else {}
    replicas = [{"Create": {"RegionName": EU}}] + ([] if witness else [{"Create": {"RegionName": AP}}])
    out = us.update_table(TableName=name, ReplicaUpdates=replicas, MultiRegionConsistency="STRONG", **extra)
    assert out["TableDescription"]["MultiRegionConsistency"] == "STRONG"
    for region in ([US, EU] if witness else [US, EU, AP]):
        ddb(m, region).get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def test_a_write_in_one_region_is_read_strongly_in_every_other(regions):
    m = regions
    name = _strong_table(m)
    desc = ddb(m, EU).describe_table(TableName=name)["Table"]
    assert desc["MultiRegionConsistency"] == "STRONG"
    assert sorted(r["RegionName"] for r in desc["Replicas"]) == sorted([AP, US])
    for i, (writer, reader) in enumerate([(EU, AP), (AP, US), (US, EU), (EU, US)]):
        ddb(m, writer).put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"N": str(i)}})
        item = ddb(m, reader).get_item(TableName=name, Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
        assert item["v"] == {"N": str(i)}, (writer, reader)
    # Conditional writes see the latest write whichever region they come from.
    with pytest.raises(ClientError) as e:
        ddb(m, AP).put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"N": "9"}},
                            ConditionExpression="v = :v", ExpressionAttributeValues={":v": {"N": "0"}})
    assert _error(e)[0] == "ConditionalCheckFailedException"
    # Eventually consistent reads are served in the region: they catch up.
    wait_until(lambda: ddb(m, AP).get_item(TableName=name, Key={"pk": {"S": "k"}}).get("Item", {}).get("v")
               == {"N": "3"}, 10, f"the eventually consistent read in {AP}")
    # Every region counts its own copy (wherever the leaders are).
    for region in (US, EU, AP):
        wait_until(lambda: ddb(m, region).describe_table(TableName=name)["Table"]["ItemCount"] == 1, 30,
                   f"the item count in {region}")
    # DeleteTable in a region deletes its replica only: the others drop it, and go on with two of three.
    ddb(m, AP).delete_table(TableName=name)
    assert [r["RegionName"] for r in ddb(m, EU).describe_table(TableName=name)["Table"]["Replicas"]] == [US]
    ddb(m, EU).put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"N": "4"}})
    assert ddb(m, US).get_item(TableName=name, Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]["v"] == {"N": "4"}


def test_strongly_consistent_scans_and_batches_read_partitions_led_from_different_regions(regions):
    """A Scan or BatchGetItem spans partitions: each strongly consistent read
    goes to its own partition's leader region, wherever the others are led."""
    m = regions
    name = _strong_table(m)
    keys = [f"k{i}" for i in range(24)]
    for k in keys:
        ddb(m, US).put_item(TableName=name, Item={"pk": {"S": k}, "v": {"S": k}})
    assert len(meta(m.clusters[US])["tables"][name]["partitions"]) >= 2
    _lead_from(m, name, [US, AP])  # p0 from one region, p1 from another, neither the reader's
    for reader in (EU, US, AP):
        got = ddb(m, reader).scan(TableName=name, ConsistentRead=True)
        assert sorted(i["pk"]["S"] for i in got["Items"]) == sorted(keys), reader
        batch = ddb(m, reader).batch_get_item(RequestItems={name: {
            "Keys": [{"pk": {"S": k}} for k in keys], "ConsistentRead": True}})
        assert sorted(i["pk"]["S"] for i in batch["Responses"][name]) == sorted(keys), reader
        assert not batch.get("UnprocessedKeys"), reader


def test_a_global_secondary_index_is_kept_in_every_region(regions):
    """Each region's member of a partition ships the writes it applies to its
    own region's index partitions: the index converges everywhere, whichever
    region wrote (eventually consistent, as DynamoDB's index reads)."""
    m = regions
    name = _strong_table(m, extra_keys=GSI)
    for region in (US, EU, AP):
        desc = ddb(m, region).describe_table(TableName=name)["Table"]
        assert [ix["IndexName"] for ix in desc["GlobalSecondaryIndexes"]] == ["by-g"], region
    for i, writer in enumerate([US, EU, AP, EU, US, AP]):
        ddb(m, writer).put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "g": {"S": "a" if i % 2 else "b"},
                                                      "v": {"N": str(i)}})
    ddb(m, EU).update_item(TableName=name, Key={"pk": {"S": "k0"}}, UpdateExpression="SET g = :a",
                           ExpressionAttributeValues={":a": {"S": "a"}})  # moves from b to a
    ddb(m, AP).delete_item(TableName=name, Key={"pk": {"S": "k1"}})
    want = {"a": ["k0", "k3", "k5"], "b": ["k2", "k4"]}

    def index_of(region: str) -> dict[str, list[str]]:
        c = ddb(m, region)
        return {g: [it["pk"]["S"] for it in c.query(TableName=name, IndexName="by-g",
                                                     KeyConditionExpression="g = :g",
                                                     ExpressionAttributeValues={":g": {"S": g}})["Items"]]
                for g in want}
    for region in (US, EU, AP):
        wait_until(lambda: index_of(region) == want, 30, f"the index in {region}")
    with pytest.raises(ClientError) as e:  # kept alike in every region: not changed in one
        ddb(m, US).update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}],
                                GlobalSecondaryIndexUpdates=[{"Create": {
                                    "IndexName": "by-h", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}}])
    assert _error(e)[0] == "ValidationException" and "MultiRegionConsistency STRONG" in _error(e)[1]


def _stream_changes(m: MultiRegion, region: str, name: str) -> dict[str, list[tuple[str, str | None]]]:
    """Every record of the table's stream in ``region``: per item, (event, new v) in order."""
    c = boto3_streams(m, region)
    arn = ddb(m, region).describe_table(TableName=name)["Table"]["LatestStreamArn"]
    assert f":{region}:" in arn
    out: dict[str, list[tuple[str, str | None]]] = {}
    for shard in c.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = c.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = c.get_records(ShardIterator=it)
            for r in page["Records"]:
                assert r["awsRegion"] == region
                new = r["dynamodb"].get("NewImage", {}).get("v", {}).get("N")
                out.setdefault(r["dynamodb"]["Keys"]["pk"]["S"], []).append((r["eventName"], new))
            it = page.get("NextShardIterator") if page["Records"] else None
    return out


def boto3_streams(m: MultiRegion, region: str):
    return boto3.client("dynamodbstreams", endpoint_url=m.clusters[region].endpoint, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 3, "mode": "standard"}, read_timeout=30))


def test_each_region_s_stream_has_every_change_once_in_order(regions):
    """Every member applies every write of the shared log and records it:
    each serving region's stream has one record per change, in order per item,
    wherever the change was written."""
    m = regions
    name = _strong_table(m, extra_keys={"StreamSpecification": {"StreamEnabled": True,
                                                               "StreamViewType": "NEW_AND_OLD_IMAGES"}})
    writes = [(US, "a", 1), (EU, "a", 2), (AP, "b", 3), (US, "b", 4), (EU, "a", 5)]
    for region, key, v in writes:
        ddb(m, region).put_item(TableName=name, Item={"pk": {"S": key}, "v": {"N": str(v)}})
    ddb(m, AP).delete_item(TableName=name, Key={"pk": {"S": "b"}})
    want = {"a": [("INSERT", "1"), ("MODIFY", "2"), ("MODIFY", "5")],
            "b": [("INSERT", "3"), ("MODIFY", "4"), ("REMOVE", None)]}
    for region in (US, EU, AP):
        wait_until(lambda: _stream_changes(m, region, name) == want, 30, f"the stream in {region}")
    with pytest.raises(ClientError) as e:  # the same stream in every region: not changed in one
        ddb(m, EU).update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    assert _error(e)[0] == "ValidationException" and "MultiRegionConsistency STRONG" in _error(e)[1]


def _router_faults(m: MultiRegion, region: str, faults: dict) -> None:
    c = m.clusters[region]
    status, answer = post(c.admin_endpoint(), "SetFaults", {"ClusterId": c.cluster_id, **faults}, prefix="TriremeAdmin_1")
    assert status == 200, answer


def test_no_write_is_lost_while_a_table_is_made_strong(regions):
    """The conversion freezes the table's writes (through each partition's
    log) before finding it empty: a write meanwhile is refused with a
    retryable 503, never acknowledged and then dropped with the old partitions.
    The router pauses after the check (`strong_pause_s`) to hold the window open."""
    m = regions
    us = ddb(m, US)
    _router_faults(m, US, {"strong_pause_s": 4.0})
    try:
        for attempt in range(3):  # the writer must start after the check: on a slow machine, again
            name = f"mrsc-{uuid.uuid4().hex[:8]}"
            us.create_table(TableName=name, **KEYS)
            us.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            outcome: list = []
            converter = threading.Thread(target=lambda: outcome.append(_convert(us, name)))
            converter.start()
            time.sleep(1.0 + attempt)  # (into the pause; a bare sleep is the point here: the window's timing)
            acked, codes = _write_until(m, name, converter)
            if outcome == ["ok"]:
                break
            assert "holds items" in outcome[0], outcome
    finally:
        _router_faults(m, US, {"heal": True})
    assert outcome == ["ok"] and acked, (outcome, codes)
    for region in (US, EU):
        c = ddb(m, region)
        missing = [k for k in acked if "Item" not in c.get_item(TableName=name, Key={"pk": {"S": k}},
                                                                ConsistentRead=True)]
        assert not missing, (region, missing, len(acked))
    assert "ServiceUnavailable" in codes, codes  # writes came during the conversion, and were refused


def _convert(c, name: str) -> str:
    try:
        c.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": EU}}, {"Create": {"RegionName": AP}}],
                       MultiRegionConsistency="STRONG")
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Message"]


def _write_until(m: MultiRegion, name: str, converter: threading.Thread) -> tuple[list[str], list[str]]:
    """Writes (no retries) while the conversion runs and 1 s after: the keys acknowledged, the errors."""
    c = make_client(m.clusters[US].endpoint, retries=0, read_timeout=30)
    acked, codes = [], []
    end = None
    i = 0
    while end is None or time.monotonic() < end:
        if end is None and not converter.is_alive():
            end = time.monotonic() + 1.0
        try:
            c.put_item(TableName=name, Item={"pk": {"S": f"w{i}"}})
            acked.append(f"w{i}")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
            time.sleep(0.05)
        i += 1
    converter.join()
    return acked, codes


def test_two_replicas_and_a_witness(regions):
    m = regions
    name = _strong_table(m, witness=True)
    desc = ddb(m, US).describe_table(TableName=name)["Table"]
    assert desc["GlobalTableWitnesses"] == [{"RegionName": AP, "WitnessStatus": "ACTIVE"}]
    assert [r["RegionName"] for r in desc["Replicas"]] == [EU]
    with pytest.raises(ClientError) as e:  # a witness serves no reads or writes: it has no table
        ddb(m, AP).describe_table(TableName=name)
    assert _error(e)[0] == "ResourceNotFoundException"
    ddb(m, EU).put_item(TableName=name, Item={"pk": {"S": "w"}, "v": {"N": "1"}})
    assert ddb(m, US).get_item(TableName=name, Key={"pk": {"S": "w"}}, ConsistentRead=True)["Item"]["v"] == {"N": "1"}
    m.kill_region(EU)  # the witness and one replica are a majority: still writable
    try:
        wait_until(lambda: _put(ddb(m, US), name, "w2"), 30, f"a write with {EU} down")
    finally:
        m.start_region(EU)
    wait_until(lambda: _has(ddb(m, EU), name, "w2"), 60, f"{EU} catching up")


def test_making_a_table_strong_is_checked_as_dynamodb_does(regions):
    m = regions
    us = ddb(m, US)
    name = f"mrsc-{uuid.uuid4().hex[:8]}"
    us.create_table(TableName=name, **KEYS)
    with pytest.raises(ClientError) as e:
        us.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": EU}}],
                        MultiRegionConsistency="STRONG")
    assert _error(e)[0] == "ValidationException" and "exactly three Regions" in _error(e)[1]
    for outside in ({"ReplicaUpdates": [{"Create": {"RegionName": EU}}, {"Create": {"RegionName": "eu-west-1"}}]},
                    {"ReplicaUpdates": [{"Create": {"RegionName": EU}}],
                     "GlobalTableWitnessUpdates": [{"Create": {"RegionName": "ap-northeast-1"}}]}):
        with pytest.raises(ClientError) as e:  # DynamoDB's Region-set rule (an MREC replica may be anywhere)
            us.update_table(TableName=name, MultiRegionConsistency="STRONG", **outside)
        assert _error(e)[0] == "ValidationException" and "must all be in one Region set" in _error(e)[1]
        assert _error(e)[1].endswith(f"not in the US Region set of {US}"), _error(e)[1]
    assert "Replicas" not in us.describe_table(TableName=name)["Table"]  # refused before anything was made
    us.put_item(TableName=name, Item={"pk": {"S": "x"}})
    with pytest.raises(ClientError) as e:
        us.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": EU}}, {"Create": {"RegionName": AP}}],
                        MultiRegionConsistency="STRONG")
    assert "empty table" in _error(e)[1]
    strong = _strong_table(m)
    with pytest.raises(ClientError) as e:
        us.update_time_to_live(TableName=strong, TimeToLiveSpecification={"Enabled": True, "AttributeName": "t"})
    assert "Time to Live is not supported" in _error(e)[1]
    with pytest.raises(ClientError) as e:
        us.update_table(TableName=strong, ReplicaUpdates=[{"Delete": {"RegionName": EU}}])
    assert "cannot be changed" in _error(e)[1]
    for call in (lambda: us.transact_write_items(TransactItems=[{"Put": {"TableName": strong,
                                                                         "Item": {"pk": {"S": "t"}}}}]),
                 lambda: us.transact_get_items(TransactItems=[{"Get": {"TableName": strong,
                                                                       "Key": {"pk": {"S": "t"}}}}])):
        with pytest.raises(ClientError) as e:
            call()
        assert _error(e)[0] == "ValidationException" and "Transactions are not supported" in _error(e)[1]


def test_concurrent_writes_of_an_item_from_two_regions_conflict(regions):
    m = regions
    name = _strong_table(m)
    errors: dict[str, list[str]] = {EU: [], AP: []}
    done: dict[str, int] = {EU: 0, AP: 0}

    def writer(region: str) -> None:
        c = make_client(m.clusters[region].endpoint, retries=0, read_timeout=30)
        for i in range(25):
            try:
                c.put_item(TableName=name, Item={"pk": {"S": "hot"}, "w": {"S": f"{region}-{i}"}})
                done[region] += 1
            except ClientError as exc:
                errors[region].append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=writer, args=(r,)) for r in (EU, AP)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = errors[EU] + errors[AP]
    assert "ReplicatedWriteConflictException" in codes, (codes, done)
    assert set(codes) <= {"ReplicatedWriteConflictException"}, codes
    # Writes went through (one region's may all lose their races on a loaded machine: the
    # exception is retryable, and a client that retries gets through).
    assert done[EU] + done[AP] > 0, (codes, done)
    # Whatever won, every region reads the same item strongly.
    seen = {ddb(m, r).get_item(TableName=name, Key={"pk": {"S": "hot"}}, ConsistentRead=True)["Item"]["w"]["S"]
            for r in (US, EU, AP)}
    assert len(seen) == 1


def test_two_regions_serve_while_the_third_is_down_and_it_catches_up(regions):
    m = regions
    name = _strong_table(m)
    ddb(m, US).put_item(TableName=name, Item={"pk": {"S": "before"}})
    m.kill_region(AP)
    try:
        start = time.monotonic()
        for i in range(5):
            wait_until(lambda: _put(ddb(m, US if i % 2 else EU), name, f"k{i}"), 30, f"write k{i}")
        for region in (US, EU):
            items = [ddb(m, region).get_item(TableName=name, Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
                     .get("Item") for i in range(5)]
            assert all(items), region
        assert time.monotonic() - start < 60
    finally:
        m.start_region(AP)
    wait_until(lambda: _has(ddb(m, AP), name, "k4"), 60, f"{AP} catching up")
    ddb(m, AP).put_item(TableName=name, Item={"pk": {"S": "after"}})
    assert ddb(m, US).get_item(TableName=name, Key={"pk": {"S": "after"}}, ConsistentRead=True).get("Item")


def _put(c, name: str, key: str) -> bool:
    try:
        c.put_item(TableName=name, Item={"pk": {"S": key}})
        return True
    except ClientError:
        return False


def _has(c, name: str, key: str) -> bool:
    try:
        return "Item" in c.get_item(TableName=name, Key={"pk": {"S": key}}, ConsistentRead=True)
    except ClientError:
        return False


def test_the_register_across_the_three_regions_is_linearizable_under_region_faults(regions, tmp_path):
    """`trireme check --regions 3 --consistency strong`, bounded (its regions shared with the tests above)."""
    cfg = CheckConfig(workload="register", nemesis=("isolate-region", "kill-region", "region-latency"),
                      duration=12, clients=2, seed=3, keys=3, interval=2.0, out_dir=tmp_path / "check",
                      progress_s=5, leave_clean=True)
    report = run_strong_check(LocalRegionChaos(regions), cfg)
    print("\n" + report.summary + "\n" + report.explanation)
    assert report.valid is True, report.summary + "\n" + report.explanation
    for kind in cfg.nemesis:  # a seeded rotation: each kind gets its turn in 12 s
        assert f"{kind} x" in report.summary, report.summary
    assert "write ok" in report.summary and "read ok" in report.summary


def _pitr(c, name: str) -> dict:
    return c.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]


def _items(c, name: str, keys: list[str] | None = None) -> dict[str, dict]:
    """The table's items by key: a scan of a regional table, or strongly consistent reads of ``keys``."""
    if keys is not None:
        got = {k: c.get_item(TableName=name, Key={"pk": {"S": k}}, ConsistentRead=True).get("Item") for k in keys}
        return {k: it for k, it in got.items() if it}
    items, kwargs = {}, {"TableName": name}
    while True:
        page = c.scan(**kwargs)
        items.update({it["pk"]["S"]: it for it in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _admin_call(cluster, node: str, op: str, body: dict) -> dict:
    """An admin op at one node, stating the node's cluster id (as its own cluster's callers do)."""
    async def go() -> dict:
        ch = Channels(cluster.cluster_id)
        try:
            return await call_once(ch, node_addr(cluster, node), "admin", op, body, timeout=3.0)
        finally:
            await ch.close()
    return asyncio.run(go())


def _lead_from(m: MultiRegion, name: str, region: str | list[str]) -> None:
    """Every partition of MRSC table ``name`` led by its member in ``region``
    (a list: partition i from region i modulo its length), asked of every member."""
    regions = [region] if isinstance(region, str) else region
    here = meta(m.clusters[regions[0]])
    groups = {g: next(v for v in here["partitions"][g]["voters"] if v.startswith(regions[i % len(regions)] + "/"))
              for i, g in enumerate(here["tables"][name]["partitions"])}

    def led() -> bool:
        for group, member in groups.items():
            if leader_of(m.clusters[member.split("/")[0]], group) != member.split("/")[1]:
                for r in (US, EU, AP):
                    for node in m.clusters[r].node_ids():
                        try:
                            _admin_call(m.clusters[r], node, "transfer_leader", {"group": group, "to": member})
                        except Exception:  # noqa: BLE001 (no member there, or not its leader)
                            pass
                return False
        return True
    wait_until(led, 30, f"the partitions of {name} led from {regions}", interval=0.5)


def _restore_at(m: MultiRegion, region: str, name: str, at: float) -> dict[str, dict]:
    c = ddb(m, region)
    target = f"{name}-{region}-{int(at)}"
    c.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=target, RestoreDateTime=at)
    c.get_waiter("table_exists").wait(TableName=target, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return _items(c, target)


def _refused(m: MultiRegion, region: str, name: str) -> None:
    assert _pitr(ddb(m, region), name) == {"PointInTimeRecoveryStatus": "DISABLED"}
    with pytest.raises(ClientError) as e:
        ddb(m, region).restore_table_to_point_in_time(SourceTableName=name, TargetTableName=f"{name}-no",
                                                      UseLatestRestorableTime=True)
    assert _error(e)[0] == "PointInTimeRecoveryUnavailableException"


def test_point_in_time_recovery_is_each_region_s_own(regions):
    """Each region's replica has its own PointInTimeRecovery setting, over the
    partitions' one shared log: a region with it off reports DISABLED and
    refuses restores; one with it on restores exactly, whichever region wrote,
    even while every leader is in a region with it off (which keeps the log
    for it, and is where its base and log are read)."""
    m = regions
    name = _strong_table(m)
    _lead_from(m, name, EU)
    on = ddb(m, US).update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert on["PointInTimeRecoveryStatus"] == "ENABLED" and "EarliestRestorableDateTime" in on, on
    _refused(m, EU, name)
    keys = [f"k{i}" for i in range(6)]
    for i, writer in enumerate([US, EU, AP, EU, AP, US]):
        ddb(m, writer).put_item(TableName=name, Item={"pk": {"S": keys[i]}, "v": {"N": "1"}})
    want = _items(ddb(m, US), name, keys)
    assert len(want) == 6
    mark = _next_second()
    ddb(m, EU).put_item(TableName=name, Item={"pk": {"S": "k0"}, "v": {"N": "2"}})
    ddb(m, AP).delete_item(TableName=name, Key={"pk": {"S": "k1"}})
    assert _restore_at(m, US, name, mark) == want

    # Recovery on in us-east-2, then off in us-east-1, whose members now lead: the log goes on for us-east-2.
    ddb(m, EU).update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 3})
    ddb(m, US).update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": False})
    _refused(m, US, name)
    assert _pitr(ddb(m, EU), name)["RecoveryPeriodInDays"] == 3
    _lead_from(m, name, US)
    for writer, key in ((US, "k2"), (AP, "k6")):
        ddb(m, writer).put_item(TableName=name, Item={"pk": {"S": key}, "v": {"N": "3"}})
    want = _items(ddb(m, EU), name, [*keys, "k6"])
    mark = _next_second()
    ddb(m, US).delete_item(TableName=name, Key={"pk": {"S": "k2"}})
    assert _restore_at(m, EU, name, mark) == want


def test_the_shared_log_is_trimmed_no_further_than_every_region_s_window_allows(regions):
    """us-east-2 turns recovery on first (its base at an older log index),
    then us-east-1, whose first trim would drop the log up to its own, newer
    base: it stops at what us-east-2's base still needs, so us-east-2 still
    restores exactly to a moment before us-east-1's base."""
    m = regions
    name = _strong_table(m)
    keys = [f"k{i}" for i in range(4)]
    ddb(m, EU).update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    for i, writer in enumerate([US, EU, AP, US]):
        ddb(m, writer).put_item(TableName=name, Item={"pk": {"S": keys[i]}, "v": {"N": "1"}})
    want = _items(ddb(m, EU), name, keys)
    mark = _next_second()
    ddb(m, AP).put_item(TableName=name, Item={"pk": {"S": "k0"}, "v": {"N": "2"}})
    ddb(m, US).update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 1})
    uuid = meta(m.clusters[US])["tables"][name]["uuid"]

    def us_trim_ran() -> bool:  # held back (or, were it not, done)
        return any(b.get("held") or b.get("trimmed") for b in meta(m.clusters[US])["backups"].values()
                   if b.get("kind") == "pitr-base" and b["table"]["uuid"] == uuid)
    wait_until(us_trim_ran, 30, "us-east-1's first trim of the log")
    assert _restore_at(m, EU, name, mark) == want



def test_an_on_demand_backup_reads_each_partition_where_it_is_led(regions):
    """CreateBackup in a region whose members lead nothing: each partition is
    read at its leader in another region, through that region's router."""
    m = regions
    name = _strong_table(m)
    keys = [f"k{i}" for i in range(5)]
    for i, key in enumerate(keys):
        ddb(m, (US, EU, AP)[i % 3]).put_item(TableName=name, Item={"pk": {"S": key}, "v": {"N": str(i)}})
    want = _items(ddb(m, AP), name, keys)
    _lead_from(m, name, US)
    ap = ddb(m, AP)
    arn = ap.create_backup(TableName=name, BackupName="mrsc-backup")["BackupDetails"]["BackupArn"]
    _available(ap, arn)
    ap.restore_table_from_backup(TargetTableName=f"{name}-bk", BackupArn=arn)
    ap.get_waiter("table_exists").wait(TableName=f"{name}-bk", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert _items(ap, f"{name}-bk") == want
