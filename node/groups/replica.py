"""One replica of one Raft group on this node: the core plus what the driver
needs around it (durable state, proposals waiting for their outcome, reads
waiting for their index, membership steps).

Subclasses say what applying an entry means (`apply_entry`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.raft.core import Raft
from node.raft.messages import (ConfChange, ConfChangeType, Entry, EntryKind, NotLeader,
                                ProposalDropped, Ready, Role, Snapshot, SnapshotMeta)
from node.groups.merge import Queued, merge_runs
from node.groups.snapshots import Streams
from node.storage import Batch
from node.net.raft_codec import encode_entry, encode_hard_state, encode_snapshot

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

# (An enum member looked up on its class costs a few hundred ns on Python 3.11: every request asks the role.)
LEADER, NORMAL = Role.LEADER, EntryKind.NORMAL
PROPOSAL_TIMEOUT_S = 8.0
# A group compacts its stored log once this many entries lie behind the point
# it may compact to: the log on disk stays within about this many entries.
COMPACT_EVERY = int(os.environ.get("TRIREME_RAFT_COMPACT_EVERY", "2000"))
# Or once about this many bytes of them do (estimated from the newest entry):
# 2,000 merged BatchWriteItem entries are 60 MB or more per group on disk.
COMPACT_BYTES = int(os.environ.get("TRIREME_RAFT_COMPACT_MB", "16")) << 20
STEP_DOWN_GRACE_S = 0.5  # after losing leadership, see on_role


class Rejected(Exception):
    """The request was not applied and may be retried elsewhere or later.

    `status` is a node_pb2.Status name: NOT_LEADER or UNAVAILABLE.
    """

    def __init__(self, status: str, message: str, leader: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.leader = leader


class UnknownOutcome(Exception):
    """A proposal whose fate this replica cannot tell (leadership lost and the
    index not yet reached before the deadline)."""


class Reply:
    """A proposal's outcome handed to ``callback(result, exception)`` the
    moment it is known: for a caller that only wants a callback, what a future
    does without the future and the loop turn that runs its callbacks (a
    request stream answers its writes so: node/services/data.py). As much of
    a future as the proposal path uses; `cancel` hands over a CancelledError."""

    __slots__ = ("_callback", "_done")

    def __init__(self, callback: Callable[[Any, BaseException | None], None]) -> None:
        self._callback = callback
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any) -> None:
        self._finish(result, None)

    def set_exception(self, exc: BaseException) -> None:
        self._finish(None, exc)

    def cancel(self) -> bool:
        if self._done:
            return False
        self._finish(None, asyncio.CancelledError())
        return True

    def _finish(self, result: Any, exc: BaseException | None) -> None:
        if self._done:
            raise asyncio.InvalidStateError("the reply was given already")
        self._done = True
        try:
            self._callback(result, exc)
        except Exception:  # noqa: BLE001 (as a future's callback: logged, never the proposer's failure)
            log.exception("a proposal's reply failed")


@dataclass(slots=True)
class _Proposal:
    term: int
    future: asyncio.Future | Reply
    deadline: float
    on_done: Callable[[bool], None] | None
    answer: Callable[[Any], Any] | None  # the future's value from the applied result


class Replica:
    kind = "replica"
    # How this replica's state reaches a member behind the compacted log:
    # "inline" (small, inside the SNAP message), "stream" (node/groups/snapshots.py),
    # or "none" (it compacts only what every member holds).
    snapshot_mode = "none"
    compact_every = COMPACT_EVERY

    def __init__(self, engine: Engine, group: str, raft: Raft, config: dict) -> None:
        self.engine = engine
        self.group = group
        self.raft = raft
        self.config = config  # kind, table id, hash range... (persisted)
        self._queued: list[Queued] = []
        self._mergeable = 0  # queued proposals with a merge tag (node/groups/merge.py)
        self._proposals: dict[int, _Proposal] = {}
        self._read_queue: list[tuple[bytes, asyncio.Future]] = []
        self._reads: dict[bytes, asyncio.Future] = {}
        self._reads_at: list[tuple[int, asyncio.Future]] = []
        self._read_seq = 0
        self._msgs: list = []
        self._log_last: int | None = None  # last index in the stored log (None: not read yet)
        self.streams = Streams()

    # --- state the handlers look at ------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.raft.role == LEADER

    @property
    def leader(self) -> str | None:
        return self.raft.lead

    @property
    def applied(self) -> int:
        return self.raft.log.applied

    def writable(self) -> bool:
        """Leader whose state includes every entry of earlier terms."""
        r = self.raft
        return r.role == LEADER and r.lead_transferee is None and r.log.applied >= r.term_start

    def in_touch(self) -> bool:
        """Leader, or a follower that heard from its leader within an election
        timeout and applied all it knows committed: its state is current.

        A replica removed from its group never hears of its removal; it drops
        out of touch instead, which is how the node learns not to trust it.
        """
        r = self.raft
        if r.role == LEADER:
            return self.writable()
        return (r.role == Role.FOLLOWER and r.lead is not None
                and r.election_elapsed < r.cfg.election_tick and r.log.applied >= r.log.commit)

    def check_leader(self) -> None:
        if self.raft.role != LEADER:
            raise Rejected("NOT_LEADER", f"{self.engine.node_id} is not the leader of {self.group}",
                           self.raft.lead)
        if not self.writable():
            raise Rejected("UNAVAILABLE", f"leader of {self.group} is not ready yet", self.raft.lead)

    # --- inputs (queued; the engine feeds them to the core) ----------------

    def propose(self, data: bytes | ConfChange, on_done: Callable[[bool], None] | None = None,
                answer: Callable[[Any], Any] | None = None, merge: Any = None,
                reply: Reply | None = None) -> asyncio.Future | Reply:
        """Queue a proposal. The future resolves to `apply_entry`'s result once
        applied (to ``answer(result)``, or the exception it raises, when given:
        one future and one loop callback less than chaining another), or fails
        with Rejected (never applied) or UnknownOutcome. `on_done(applied)`
        runs first, when the outcome is known. ``merge``: a tag that lets the
        proposal share an entry with its tagged neighbours (`combine`).
        ``reply``: given the outcome instead of a future, and returned."""
        fut = reply if reply is not None else asyncio.get_running_loop().create_future()
        self._queued.append((data, fut, on_done, answer, merge))
        if merge is not None:
            self._mergeable += 1
        self.engine.wake()
        return fut

    def combine(self, parts: list[tuple[bytes, Any]]) -> bytes:
        """The entry of several merged proposals' (data, merge tag); its
        `apply_entry` returns a list of their results, in order."""
        raise NotImplementedError

    def lease_held(self) -> bool:
        """Does this replica lead under a lease now (real time, not the last tick's)?"""
        return self.raft.lease_valid(self.engine.ticks_late())

    def lease_read_ok(self) -> bool:
        """Can this leader read its own state now, without a quorum round?
        (The lease last: the other checks are cheaper, and every strongly
        consistent read asks.)"""
        r = self.raft
        log = r.log
        return r.role == LEADER and log.applied >= log.commit and log.applied >= r.term_start and self.lease_held()

    def linearizable_read(self) -> asyncio.Future:
        """Resolves when this leader's applied state reflects every write
        acknowledged before the call (lease or ReadIndex)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self.lease_read_ok():
            fut.set_result(self.raft.log.applied)
            return fut
        self._read_seq += 1
        self.engine.read_index_rounds += 1
        self._read_queue.append((self._read_seq.to_bytes(8, "big"), fut))
        self.engine.wake()
        return fut

    # --- engine hooks ----------------------------------------------------

    def feed(self, now: float) -> None:
        """Hand queued proposals and reads to the core (between readies)."""
        if not self._queued and not self._read_queue:
            return  # the common case for most groups on most turns: nothing to allocate
        r = self.raft
        queued, self._queued = self._queued, []
        if self._mergeable > 1:
            queued = merge_runs(queued, self.combine)
        self._mergeable = 0
        for i, (data, fut, on_done, answer, _) in enumerate(queued):
            try:
                if isinstance(data, ConfChange):
                    term, index = r.propose_conf_change(data)
                else:
                    term, index = r.propose(data)
            except (NotLeader, ProposalDropped) as exc:
                # This and everything queued after it was evaluated on state
                # that will not be: none of it was proposed.
                err = Rejected("NOT_LEADER" if isinstance(exc, NotLeader) else "UNAVAILABLE",
                               str(exc), r.lead)
                for _, f, cb, _, _ in queued[i:]:
                    if cb is not None:
                        cb(False)
                    if not f.done():
                        f.set_exception(err)
                break
            self._proposals[index] = _Proposal(term, fut, now + PROPOSAL_TIMEOUT_S, on_done, answer)
            self.engine.proposals += 1
        reads, self._read_queue = self._read_queue, []
        for ctx, fut in reads:
            try:
                r.read_index(ctx)
                self._reads[ctx] = fut
            except NotLeader as exc:
                if not fut.done():
                    fut.set_exception(Rejected("NOT_LEADER", str(exc), exc.leader))

    def persist(self, batch: Batch, rd: Ready) -> None:
        log = self.engine.storage.raft
        if rd.snapshot is not None:
            # The snapshot replaces the whole log and the state, in one batch.
            index = rd.snapshot.meta.index
            if self.snapshot_mode == "stream":
                staged = self.streams.staged
                if staged is None or staged[0] != rd.snapshot.meta:
                    raise RuntimeError(f"{self.group}: snapshot {rd.snapshot.meta} was not staged")
                self.write_state(batch, staged[0], staged[1])
            elif self.snapshot_mode != "inline":
                raise RuntimeError(f"{self.group}: this replica cannot install snapshots")
            log.save_snapshot(batch, self.group, encode_snapshot(rd.snapshot))
            log.compact(batch, self.group, index)
            log.truncate_suffix(batch, self.group, index + 1)
            batch.set_applied_index(self.group, index)
            self._log_last = index
        if rd.entries:
            if self._log_last is None:
                self._log_last = log.last_index(self.group)
            # Only a conflicting tail needs a range delete: one per append would
            # pile range tombstones into the memtable, which every read of the
            # family and every flush must fragment again.
            if rd.entries[0].index <= self._log_last:
                log.truncate_suffix(batch, self.group, rd.entries[0].index)
            log.append_entries(batch, self.group, [(e.index, encode_entry(e)) for e in rd.entries])
            self._log_last = rd.entries[-1].index
        if rd.hard_state is not None:
            log.save_hard_state(batch, self.group, encode_hard_state(rd.hard_state))

    def log_last_unknown(self) -> None:
        self._log_last = None

    def apply(self, batch: Batch, rd: Ready) -> list[tuple[Entry, Any]]:
        """Apply committed entries into `batch`; returns results to hand out."""
        out = []
        if rd.snapshot is not None:
            self.install_snapshot(rd.snapshot)
        for e in rd.committed:
            result = None
            if e.kind == NORMAL and e.data:
                result = self.apply_entry(batch, e)
            out.append((e, result))
        if rd.committed:
            batch.set_applied_index(self.group, rd.committed[-1].index)
        return out

    def after(self, rd: Ready, results: list[tuple[Entry, Any]], now: float) -> None:
        """After the batch is durable: answer proposals and reads."""
        for e, result in results:
            p = self._proposals.pop(e.index, None)
            if p is None:
                continue
            ok = p.term == e.term
            if p.on_done is not None:
                p.on_done(ok)
            if p.future.done():
                continue
            if ok:
                if p.answer is None:
                    p.future.set_result(result)
                    continue
                try:
                    p.future.set_result(p.answer(result))
                except Exception as exc:  # noqa: BLE001 (a refusal, or a bug: the caller hears of it)
                    p.future.set_exception(exc)
            else:
                p.future.set_exception(Rejected("NOT_LEADER", "leadership changed before commit",
                                                self.raft.lead))
        if rd.soft_state is not None:
            self.on_role(rd.soft_state.role)
        applied = rd.committed[-1].index if rd.committed else self.raft.log.applied
        for rs in rd.read_states:
            fut = self._reads.pop(rs.ctx, None)
            if fut is not None and not fut.done():
                self._reads_at.append((rs.index, fut))
        for ctx in rd.dropped_reads:
            fut = self._reads.pop(ctx, None)
            if fut is not None and not fut.done():
                fut.set_exception(Rejected("NOT_LEADER", "leadership changed during the read",
                                           self.raft.lead))
        if self._reads_at:
            waiting = []
            for index, fut in self._reads_at:
                if fut.done():
                    continue
                if index <= applied:
                    fut.set_result(applied)
                else:
                    waiting.append((index, fut))
            self._reads_at = waiting

    def on_role(self, role: Role) -> None:
        self.engine.role_changed(self)
        if role != LEADER:
            # A deposed leader learns its proposals' fate only from the new
            # leader's log; cut off, it never will. Wait briefly, then answer
            # "unknown" rather than hold clients until the full timeout.
            soon = now() + STEP_DOWN_GRACE_S
            for p in self._proposals.values():
                p.deadline = min(p.deadline, soon)
            for fut in self._reads.values():
                if not fut.done():
                    fut.set_exception(Rejected("NOT_LEADER", "no longer the leader", self.raft.lead))
            self._reads.clear()

    def expire(self, now: float) -> None:
        """Give up on proposals past their deadline: their outcome is unknown."""
        for index in [i for i, p in self._proposals.items() if p.deadline <= now]:
            p = self._proposals.pop(index)
            if p.on_done is not None:
                p.on_done(False)
            if not p.future.done():
                p.future.set_exception(UnknownOutcome(
                    f"{self.group}: entry {index} not applied in time (leadership lost, or no quorum)"))

    def close(self, reason: str) -> None:
        err = Rejected("UNAVAILABLE", reason)
        for _, fut, cb, _, _ in self._queued:
            if cb is not None:
                cb(False)
            if not fut.done():
                fut.set_exception(err)
        for p in self._proposals.values():
            if p.on_done is not None:
                p.on_done(False)
            if not p.future.done():
                p.future.set_exception(UnknownOutcome(reason))
        for fut in list(self._reads.values()) + [f for _, f in self._reads_at] + [f for _, f in self._read_queue]:
            if not fut.done():
                fut.set_exception(err)
        self._queued.clear()
        self._mergeable = 0
        self._proposals.clear()
        self._reads.clear()
        self._reads_at.clear()
        self._read_queue.clear()
        self.streams.close()

    def apply_entry(self, batch: Batch, entry: Entry) -> Any:
        raise NotImplementedError

    # --- compaction ---------------------------------------------------------

    def snapshot_data(self) -> bytes:
        """The state machine at the applied index, for an "inline" snapshot
        (others keep their state in storage)."""
        return b""

    def state_ranges(self) -> list[tuple[str, bytes, bytes]]:
        """The (family, lo, hi) key ranges this replica's state occupies outside
        its Raft log: removed with the replica (Engine.destroy)."""
        return []

    def snapshot_state(self) -> tuple[SnapshotMeta, Iterable[tuple[str, bytes, bytes]]]:
        """A "stream" snapshot: the metadata at the stored applied index and
        the (family, key, value) records of the state at it, fixed now (between
        two writes) and read lazily, from another thread."""
        raise RuntimeError(f"{self.group}: cannot stream a snapshot")

    def write_state(self, batch: Batch, meta: SnapshotMeta, chunks: list[bytes]) -> None:
        """Replace this replica's stored state with a streamed snapshot's."""
        raise RuntimeError(f"{self.group}: cannot install a streamed snapshot")

    def install_snapshot(self, snap: Snapshot) -> None:
        """The snapshot is in the batch: refresh what is held in memory."""

    def compact_to(self) -> int:
        """The index this replica may compact its log to now."""
        return self.raft.log.applied if self.snapshot_mode == "inline" else self.raft.compactable()

    def compact_due(self) -> bool:
        """Do `compact_every` entries, or about `COMPACT_BYTES`, lie behind the point we may compact to?"""
        behind = self.compact_to() - self.raft.log.offset
        if behind >= self.compact_every:
            return True
        entries = self.raft.log.entries
        return behind > 0 and bool(entries) and behind * len(entries[-1].data) >= COMPACT_BYTES

    def compact(self, batch: Batch) -> None:
        """Drop the stored log up to `compact_to`, recording the snapshot (its
        metadata, and the state when it travels in it) so a restart starts there."""
        r = self.raft
        index = self.compact_to()
        snap = r.compact(index, self.snapshot_data())
        log_ = self.engine.storage.raft
        log_.save_snapshot(batch, self.group, encode_snapshot(snap))
        log_.compact(batch, self.group, index)

    # --- membership -------------------------------------------------------

    def reconfigure_step(self, voters: list[str], learners: list[str]) -> dict:
        """Take one safe step toward the target membership; report where we are.

        Called repeatedly by the controller: add missing members as learners,
        promote learners that caught up, then remove members not in the target
        (handing leadership away first if that is us).
        """
        r = self.raft
        if r.role != LEADER:
            raise Rejected("NOT_LEADER", f"not the leader of {self.group}", r.lead)
        conf = r.conf
        target_v, target_l = list(voters), [n for n in learners if n not in voters]
        status = {"voters": list(conf.voters), "learners": list(conf.learners)}
        pending = r._confs[-1][0] > r.log.commit  # noqa: SLF001 (the one pending change)
        if sorted(conf.voters) == sorted(target_v) and sorted(conf.learners) == sorted(target_l):
            return {**status, "done": True}
        if pending or self._queued:
            return {**status, "done": False, "step": "waiting for the previous change"}
        step: ConfChange | None = None
        for n in target_v + target_l:
            if n not in conf.members():
                step = ConfChange(ConfChangeType.ADD_LEARNER, n)
                break
        if step is None:
            for n in target_v:
                if n in conf.learners:
                    if r.match_of(n) + 16 >= r.log.last_index():
                        step = ConfChange(ConfChangeType.PROMOTE, n)
                        break
                    return {**status, "done": False, "step": f"{n} catching up",
                            "match": r.match_of(n), "last": r.log.last_index()}
        if step is None:
            for n in conf.members():
                if n not in target_v and n not in target_l:
                    if n == r.id:
                        others = [v for v in target_v if v in conf.voters and v != r.id]
                        best = max(others, key=r.match_of, default=None)
                        if best is None:
                            return {**status, "done": False, "step": "no voter to hand leadership to"}
                        r.transfer_leadership(best)
                        self.engine.wake()
                        return {**status, "done": False, "step": f"transferring leadership to {best}"}
                    step = ConfChange(ConfChangeType.REMOVE, n)
                    break
        if step is not None:
            self.propose(step)
            return {**status, "done": False, "step": str(step)}
        return {**status, "done": False}

    def status(self) -> dict:
        r = self.raft
        return {"group": self.group, "kind": self.kind, "role": r.role.name, "leader": r.lead,
                "term": r.term, "commit": r.log.commit, "applied": r.log.applied,
                "last_index": r.log.last_index(), "snapshot_index": r.log.offset,
                "in_memory": len(r.log.entries), "voters": list(r.conf.voters),
                "learners": list(r.conf.learners), "lease": r.lease_valid(),
                "match": {p: r.match_of(p) for p in r.conf.members() if p != r.id}
                if r.role == LEADER else {}}


def now() -> float:
    return time.monotonic()
