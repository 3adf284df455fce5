"""Where the shard pollers run: one per (enabled mapping, partition led
here whose table's stream is the mapping's source), so one per shard in the
cluster."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.meta import MetaState
from cluster.partitions import Cluster
from cluster.tasks import cancel, every
from node.feed.triggers.context import TriggerContext, mappings_of
from node.feed.triggers.shard import RETRY_S, ShardPoller
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

CHECK_S = 0.5  # how often leaderships and mappings are looked at


class Triggers:
    """Starts the pollers of the partitions this node leads; each ends by
    itself once the leadership or the mapping goes."""

    def __init__(self, engine: Engine, view: Callable[[], MetaState | None], cluster: Callable[[], Cluster],
                 report: Callable[[str, dict], Awaitable[Any]], *, functions_dir: str | Path,
                 endpoint_url: str) -> None:
        self.context = TriggerContext(engine, view, cluster, report, functions_dir=functions_dir,
                                      endpoint_url=endpoint_url)
        self._pollers: dict[tuple[str, str], asyncio.Task] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(every(CHECK_S, self._plan, "trigger planning", log))

    async def stop(self) -> None:
        await cancel([self._task, *self._pollers.values()])
        await self.context.close()

    def _plan(self) -> None:
        self._pollers = {k: t for k, t in self._pollers.items() if not t.done()}
        state = self.context.view()
        if state is None or not state.mappings:
            return
        for group, replica in list(self.context.engine.replicas.items()):
            if not isinstance(replica, PartitionReplica) or not replica.is_leader:
                continue
            for mapping in mappings_of(state, replica):
                key = (mapping["uuid"], group)
                if key not in self._pollers:
                    self._pollers[key] = asyncio.create_task(self._poll(mapping["uuid"], group))

    def iterator_ages(self) -> dict[str, float]:
        """Mapping uuid -> its IteratorAge in ms, the largest over the partitions it is delivering here."""
        ages = self.context.iterator_age_ms
        for key in [k for k in ages if k not in self._pollers or self._pollers[k].done()]:
            del ages[key]
        out: dict[str, float] = {}
        for (uuid_, _), age in ages.items():
            out[uuid_] = max(out.get(uuid_, 0.0), age)
        return out

    async def _poll(self, uuid_: str, group: str) -> None:
        poller = ShardPoller(self.context, uuid_, group)
        try:
            await poller.run()
        except Rejected:
            return  # no longer the leader: the next one resumes from the checkpoint
        except Exception:  # noqa: BLE001 (restarted at the next plan, from the checkpoint)
            log.exception("trigger %s on %s failed; restarting from its checkpoint", uuid_, group)
            await asyncio.sleep(RETRY_S)
