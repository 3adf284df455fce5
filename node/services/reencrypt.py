"""A data key rotation's background re-encryption on this node (`trireme keys
rotate TABLE --reencrypt`): every value of the table still sealed under an
older key version is sealed again under the current one, a step at a time on
the engine's loop (``Storage.reseal``), so writes go on meanwhile. Encryption
is local to a node (what replicas exchange is plaintext), so each node
re-encrypts its own copy; the answer is the job's progress."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from cluster.keys import table_bounds
from node.storage import DATA, RAFT, STREAMS, VERSIONS, Storage

log = logging.getLogger(__name__)

STEP = 512  # keys examined per loop step
LEARN_WAIT_S = 30.0  # how long a job waits for this node's metadata view to bring the version


class Reencryption:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.jobs: dict[int, dict[str, Any]] = {}  # table id -> progress
        self._tasks: dict[int, asyncio.Task] = {}

    def start(self, table_id: int, version: int) -> dict[str, Any]:
        """Start (once per table and version) or report the job."""
        job = self.jobs.get(table_id)
        if job is None or job["version"] < version:
            job = self.jobs[table_id] = {"table_id": table_id, "version": version, "examined": 0,
                                         "resealed": 0, "done": False, "error": ""}
            self._tasks[table_id] = asyncio.create_task(self._run(job))
        return dict(job)

    async def _run(self, job: dict[str, Any]) -> None:
        tid = job["table_id"]
        try:
            deadline = time.monotonic() + LEARN_WAIT_S
            while self.storage.cipher.versions(tid)[0] < job["version"]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"key version {job['version']} of table id {tid} not known here")
                await asyncio.sleep(0.1)
            lo, hi = table_bounds(tid)
            # A table's items and versions by its key range; logs and stream-side records of every
            # group (only stale values are rewritten).
            for cf, start, end in ((DATA, lo, hi), (VERSIONS, lo, hi), (STREAMS, b"", None), (RAFT, b"", None)):
                at: bytes | None = start
                while at is not None:
                    seen, resealed, at = self.storage.reseal(cf, at, end, STEP)
                    job["examined"] += seen
                    job["resealed"] += resealed
                    await asyncio.sleep(0)  # the engine's turns run between steps
            job["done"] = True
        except Exception as exc:  # noqa: BLE001 (reported to whoever asks)
            log.warning("re-encryption of table id %d failed: %s", tid, exc)
            job["error"], job["done"] = str(exc), True
