"""A new group's founding members: the first voter runs for leader at once,
so a new table's partitions take writes without waiting out an election
timeout (1-2 s: CreateTable spent most of its time there)."""

from __future__ import annotations

from node.groups.engine import Engine
from node.partition.replica import PartitionReplica
from node.raft.core import Role
from node.storage import Storage

CONFIG = {"kind": "partition", "table_id": 1, "lo": 0, "hi": 2**64 - 1}


def _engine(tmp_path, node_id: str) -> tuple[Storage, Engine]:
    storage = Storage.open(tmp_path / node_id)
    engine = Engine(node_id, storage, lambda peer: None)
    engine.factories = {"partition": PartitionReplica}
    return storage, engine


def test_the_first_founding_voter_campaigns_at_once_and_the_others_wait(tmp_path):
    for node_id, campaigns in (("n1", True), ("n2", False)):
        storage, engine = _engine(tmp_path, node_id)
        try:
            replica = engine.create("t1.p0", CONFIG, ["n1", "n2", "n3"])
            assert (replica.raft.role in (Role.PRE_CANDIDATE, Role.CANDIDATE)) is campaigns, node_id
            assert replica.raft.role != Role.LEADER  # it still needs its peers' votes
        finally:
            storage.close()


def test_an_empty_member_waits_for_its_leader(tmp_path):
    storage, engine = _engine(tmp_path, "n1")
    try:
        assert engine.create("t1.p0", CONFIG, None).raft.role == Role.FOLLOWER
    finally:
        storage.close()
