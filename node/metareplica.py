"""The replica of the `meta` group: the cluster's metadata as a state machine.

Its state lives in memory and is rebuilt at restart by replaying the group's
log (the config marks it `replay`): the metadata is small and changes rarely.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from cluster.meta import MetaState
from node.raft.messages import Entry
from node.replica import Replica
from node.storage import Batch

META_GROUP = "meta"


class MetaReplica(Replica):
    kind = "meta"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = MetaState()
        self.changed = asyncio.Event()

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
