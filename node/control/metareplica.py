"""The replica of the `meta` group: the cluster's metadata as a state machine.

Its state lives in memory and is rebuilt at restart from its latest snapshot
(the state as JSON, stored with the Raft metadata) and the log after it (the
config marks it `replay`): the metadata is small, so the snapshot is small
enough to travel inside a snapshot message to a member that fell behind.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson

from cluster.meta import MetaState
from node.raft.messages import Entry, Snapshot
from node.groups.replica import Replica
from node.storage import Batch

META_GROUP = "meta"
# The meta group snapshots its (small) state and drops its log this often.
META_COMPACT_EVERY = int(os.environ.get("TRIREME_META_COMPACT_EVERY", "200"))


class MetaReplica(Replica):
    kind = "meta"
    snapshot_mode = "inline"
    compact_every = META_COMPACT_EVERY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = MetaState()
        self.changed = asyncio.Event()
        snap = self.raft.log.snapshot
        if snap.data:
            self.install_snapshot(snap)

    def snapshot_data(self) -> bytes:
        return orjson.dumps(self.state.to_json())

    def install_snapshot(self, snap: Snapshot) -> None:
        self.state = MetaState.from_json(orjson.loads(snap.data))
        self.engine.meta_changed(self.state)

    def apply_entry(self, batch: Batch, entry: Entry) -> Any:
        cmd = orjson.loads(entry.data)
        if cmd.get("op") == "bootstrap":
            if self.state.nodes:
                return {"ok": False, "error": "AlreadyBootstrapped", "message": "meta already founded"}
            version = self.state.version
            self.state = MetaState.bootstrap(cmd["nodes"])
            self.state.version = version + 1
            result = {"ok": True}
        else:
            result = self.state.apply(cmd)
        self.engine.meta_changed(self.state)
        return result

    async def run(self, cmd: dict) -> dict:
        """Propose a command and wait for its result."""
        self.check_leader()
        return await self.propose(orjson.dumps(cmd))
