"""The node's view of the metadata: a restart that replays metadata older
than what the node once acted on waits for a newer view."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from cluster.keys import u64
from cluster.meta import MetaState
from node.config import NodeConfig
from node.control.view import _VIEW_FLOOR_KEY, Control
from node.storage import Storage


class _Counting(Control):
    """Counts how often the reconcile loop reads the view: a loop that spins
    on a stale view reads it without end and never lets the event loop run."""

    reads = 0

    @property
    def view(self):  # noqa: D102
        self.reads += 1
        if self.reads > 1000:
            raise RuntimeError("the reconcile loop spins on a view older than its floor")
        return self._view

    @view.setter
    def view(self, state):
        self._view = state


def test_a_view_older_than_the_floor_is_waited_out_not_spun_on(tmp_path):
    storage = Storage.open(tmp_path / "db")
    try:
        batch = storage.batch()
        batch.put("meta", _VIEW_FLOOR_KEY, u64(7))
        storage.write(batch, sync=True)
        engine = SimpleNamespace(replicas={}, split_applied=None)
        control = _Counting(NodeConfig(id="n1", az="a", listen="127.0.0.1:1", data_dir=tmp_path), engine, storage,
                            stats=dict)
        reconciled: list[int] = []
        control.reconcile = lambda view: reconciled.append(view.version)

        async def run() -> None:
            control._set_view(MetaState(version=5))  # the local meta replica's state replayed at start
            task = asyncio.create_task(control._reconcile_loop())
            ticks = 0
            for _ in range(20):  # the event loop keeps turning: the loop waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert reconciled == [] and ticks == 20
            control._set_view(MetaState(version=8))  # the group caught up
            for _ in range(100):
                if reconciled:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(run())
        assert reconciled == [8]
        assert control.reads < 50
    finally:
        storage.close()
