"""The benchmark's peers for real: install (first run only), start, use with boto3, stop.

start_peer waits for a 200 to a ListTables carrying AUTH_HEADERS, so a passing
start also shows that each peer accepts the fake SigV4 headers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import boto3
import pytest

from bench.peers import PEERS, Peer, free_port, start_peer

# Not serial: nothing here is timed (a start waits up to 60 s), and no other test installs or starts
# the peers; the first run installs them (npm, a venv): in the parallel phase that waiting overlaps other files.
pytestmark = pytest.mark.slow


def client(peer: Peer):
    return boto3.client("dynamodb", endpoint_url=peer.endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def wait_active(ddb, table: str, within_s: float = 5.0) -> None:
    """dynalite answers CreateTable with CREATING and flips to ACTIVE a timer tick
    later even with --createTableMs 0; writes in between get ResourceNotFound."""
    deadline = time.monotonic() + within_s
    while ddb.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, f"{table} not ACTIVE within {within_s}s"
        time.sleep(0.01)


def stop_and_check_gone(peer: Peer) -> None:
    peer.stop()
    assert peer.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(peer.pids()[0], 0)


@pytest.mark.parametrize("name", PEERS)
def test_peer_serves_dynamodb(name: str, tmp_path: Path) -> None:
    peer = start_peer(name, free_port(), tmp_path)
    try:
        assert peer.pids() == [peer.proc.pid]
        ddb = client(peer)
        ddb.create_table(TableName="bench", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        wait_active(ddb, "bench")
        ddb.put_item(TableName="bench", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
        got = ddb.get_item(TableName="bench", Key={"pk": {"S": "a"}}, ConsistentRead=True)
        assert got["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    finally:
        stop_and_check_gone(peer)
    assert (tmp_path / f"{name}.log").exists()


def test_dynalite_leveldb_keeps_data_across_restart(tmp_path: Path) -> None:
    peer = start_peer("dynalite-leveldb", free_port(), tmp_path)
    try:
        ddb = client(peer)
        ddb.create_table(TableName="bench", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        wait_active(ddb, "bench")
        ddb.put_item(TableName="bench", Item={"pk": {"S": "a"}})
    finally:
        stop_and_check_gone(peer)
    peer = start_peer("dynalite-leveldb", free_port(), tmp_path)
    try:
        got = client(peer).get_item(TableName="bench", Key={"pk": {"S": "a"}})
        assert got["Item"] == {"pk": {"S": "a"}}
    finally:
        stop_and_check_gone(peer)
