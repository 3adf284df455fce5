"""Encryption at rest, end to end: a known marker written to an item, a global
index projection and a stream record is in no file under any node's data
directory (RocksDB SSTs, WAL, Raft log, snapshots installed), through log
compaction and a member catching up from a snapshot, while every read
answers it."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

from cluster import keys
from cluster.kms import MasterKeys
from node.storage import DATA, Storage
from tests.integration.admin import meta, replicas
from tests.integration.conftest import make_client, wait_until

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "ZQX-secret-marker-7f3a9c"
COMPACT_EVERY, COMPACT_LAG = 20, 40


def create_marked_table(ddb) -> None:
    ddb.create_table(
        TableName="enc",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        BillingMode="PAY_PER_REQUEST")
    wait_until(lambda: ddb.describe_table(TableName="enc")["Table"]["TableStatus"] == "ACTIVE", 30, "table")


def stream_holds(cluster, marker: str) -> bool:
    s = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test")
    arn = s.list_streams(TableName="enc")["Streams"][0]["StreamArn"]
    for shard in s.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = s.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        if marker in str(s.get_records(ShardIterator=it)["Records"]):
            return True
    return False


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(f) for f in root.rglob("*") if f.is_file() and needle in f.read_bytes()]


def test_no_file_under_any_node_holds_the_marker(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_RAFT_COMPACT_EVERY": str(COMPACT_EVERY),
                                     "TRIREME_RAFT_COMPACT_LAG": str(COMPACT_LAG)})
    ddb = make_client(cluster.endpoint, retries=5)
    create_marked_table(ddb)
    before = {g: r["last_index"] for g, r in replicas(cluster, "n3").items() if g.startswith("t1.")}
    cluster.kill("n3")  # it gets the marker by a snapshot, the log compacted past it
    ddb.put_item(TableName="enc", Item={"pk": {"S": "m"}, "g": {"S": "G"}, "secret": {"S": MARKER}})
    for i in range(6 * COMPACT_LAG):
        ddb.put_item(TableName="enc", Item={"pk": {"S": f"f{i}"}, "g": {"S": "F"}})
    cluster.start_proc("n3")

    def caught_up() -> bool:
        mine = replicas(cluster, "n3")
        return all(g in mine and mine[g]["snapshot_index"] > before[g] and mine[g]["applied"] >= mine[g]["commit"]
                   for g in before)
    wait_until(caught_up, 60, "n3 to catch up from snapshots", interval=0.2)

    got = ddb.get_item(TableName="enc", Key={"pk": {"S": "m"}}, ConsistentRead=True)["Item"]
    assert got["secret"]["S"] == MARKER
    wait_until(lambda: ddb.query(TableName="enc", IndexName="byg", KeyConditionExpression="g = :g",
                                 ExpressionAttributeValues={":g": {"S": "G"}})["Items"], 30, "the index entry")
    assert ddb.query(TableName="enc", IndexName="byg", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "G"}})["Items"][0]["secret"]["S"] == MARKER
    assert wait_until(lambda: stream_holds(cluster, MARKER), 30, "the stream record")

    cluster.stop()
    master = MasterKeys.load(cluster.master_key_file)
    needle = MARKER.encode()
    for name in cluster.node_ids():
        # Every node holds the item (three nodes, three replicas): readable
        # with the key file, and flushed and compacted into SST files.
        with Storage.open(Path(cluster.data_dir) / name / "db", master=master) as db:
            assert any(needle in v for _, v in db.iter_range(DATA, b"", None)), f"{name} lacks the item"
            db._db.flush()
            db._db.compact_range(None, None)
        assert not files_holding(Path(cluster.data_dir) / name, needle)
    assert not files_holding(Path(cluster.data_dir) / "kms", needle)
    with Storage.open(Path(cluster.data_dir) / "n1" / "db") as db:  # without the key file: ciphertext only
        assert not any(needle in v for _, v in db.iter_range(DATA, b"", None))


def keys_cli(cluster, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "client.cli", "keys", *args, "--data-dir", str(cluster.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_sse_settings_show_and_key_rotation_keeps_reads_working_during_writes(own_cluster):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint, retries=5)
    readme = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "SSESpecification" in b)
    exec(compile(readme.replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), {})
    assert ddb.describe_table(TableName="vault")["Table"]["SSEDescription"]["KMSMasterKeyArn"] == \
        "arn:aws:kms:us-east-1:000000000000:key/my-other-key"
    schema = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName="owned", **schema)
    assert "SSEDescription" not in ddb.describe_table(TableName="owned")["Table"]
    with pytest.raises(ddb.exceptions.ClientError, match="The only valid SSEType is KMS"):
        ddb.create_table(TableName="bad", SSESpecification={"Enabled": True, "SSEType": "AES256"}, **schema)
    created = ddb.create_table(TableName="kms", SSESpecification={"Enabled": True, "SSEType": "KMS",
                                                                   "KMSMasterKeyId": "key-1"}, **schema)
    arn = "arn:aws:kms:us-east-1:000000000000:key/key-1"
    assert created["TableDescription"]["SSEDescription"] == {"Status": "ENABLED", "SSEType": "KMS",
                                                             "KMSMasterKeyArn": arn}
    wait_until(lambda: ddb.describe_table(TableName="kms")["Table"]["TableStatus"] == "ACTIVE", 30, "table")

    errors: list[str] = []
    written: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        client = make_client(cluster.endpoint, retries=5)
        i = 0
        while not stop.is_set():
            try:
                client.put_item(TableName="kms", Item={"pk": {"S": f"k{i}"}, "v": {"S": f"{MARKER}-{i}"}})
                got = client.get_item(TableName="kms", Key={"pk": {"S": f"k{i // 2}"}}, ConsistentRead=True)
                if got["Item"]["v"]["S"] != f"{MARKER}-{i // 2}":
                    errors.append(f"k{i // 2}: {got}")
            except Exception as exc:  # noqa: BLE001 (every failure is one to report)
                errors.append(repr(exc))
            written.append(i)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(written) > 20, 30, "writes before the rotation")
        updated = ddb.update_table(TableName="kms", SSESpecification={"Enabled": True, "SSEType": "KMS",
                                                                      "KMSMasterKeyId": "key-2"})
        assert updated["TableDescription"]["SSEDescription"]["Status"] == "UPDATING"
        assert ddb.describe_table(TableName="kms")["Table"]["SSEDescription"] == {
            "Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:000000000000:key/key-2"}
        mark = len(written)
        wait_until(lambda: len(written) > mark + 20, 30, "writes after the rotation")
        out = keys_cli(cluster, "rotate", "kms", "--reencrypt")  # every older value sealed again, writes going on
        assert "kms: data key version 3" in out and "resealed of" in out
        assert "rewrapped under it" in keys_cli(cluster, "rotate-master")
        mark = len(written)
        wait_until(lambda: len(written) > mark + 20, 30, "writes after the master key rotation")
        cluster.kill("n1")  # a restart opens what it replays with the keys it kept
        cluster.start_proc("n1")
        wait_until(lambda: all(r["applied"] >= r["commit"] and r["leader"] for r in replicas(cluster, "n1").values()),
                   60, "n1 to serve again")
        mark = len(written)
        wait_until(lambda: len(written) > mark + 20, 30, "writes after the restart")
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:5]
    for i in range(0, len(written), 7):
        got = ddb.get_item(TableName="kms", Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)["Item"]
        assert got["v"]["S"] == f"{MARKER}-{i}"
    table_id = meta(cluster)["tables"]["kms"]["id"]

    # A restore takes its own key (SSESpecificationOverride); its items come back readable.
    arn = ddb.create_backup(TableName="kms", BackupName="kms-backup")["BackupDetails"]["BackupArn"]
    wait_until(lambda: ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
               == "AVAILABLE", 60, "the backup")
    ddb.restore_table_from_backup(TargetTableName="kms_copy", BackupArn=arn, SSESpecificationOverride={
        "Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "key-3"})
    copy = wait_until(lambda: (t := ddb.describe_table(TableName="kms_copy")["Table"])["TableStatus"] == "ACTIVE"
                      and t, 60, "the restore")
    assert copy["SSEDescription"]["KMSMasterKeyArn"] == "arn:aws:kms:us-east-1:000000000000:key/key-3"
    got = ddb.get_item(TableName="kms_copy", Key={"pk": {"S": "k3"}}, ConsistentRead=True)["Item"]
    assert got["v"]["S"] == f"{MARKER}-3"

    cluster.stop()
    master = MasterKeys.load(cluster.master_key_file)
    assert master.current == "m2"
    with Storage.open(Path(cluster.data_dir) / "n2" / "db", master=master) as db:
        lo, hi = keys.table_bounds(table_id)
        versions = {int.from_bytes(v[1:5], "big") for _, v in db._scan(db._view(DATA), lo, hi, False, None)}
        assert versions == {3}, versions  # re-encrypted: nothing left under versions 1 and 2
        assert sum(1 for _ in db.iter_range(DATA, lo, hi)) == len(written)
