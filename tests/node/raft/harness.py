"""A tiny synchronous driver for scripted Raft scenarios.

Unlike the simulator it has no randomness of its own: tests decide exactly
which messages move, which links are cut and whose clock ticks.
"""

from __future__ import annotations

import random

from node.raft.core import Config, Raft, bootstrap
from node.raft.messages import Entry, EntryKind, HardState, Message, Ready, Role, Snapshot


class Replica:
    def __init__(self, raft: Raft) -> None:
        self.raft = raft
        self.hard_state = raft._prev_hs
        self.snapshot: Snapshot | None = raft.log.snapshot if raft.log.offset else None
        self.entries: list[Entry] = list(raft.log.entries)
        self.applied: list[Entry] = []
        self.reads: list = []
        self.dropped_reads: list[bytes] = []
        self.installed: list[Snapshot] = []


class Cluster:
    def __init__(self, ids: list[str], *, voters: list[str] | None = None, seed: int = 1, **cfg) -> None:
        self.cfg = cfg
        self.seed = seed
        self.replicas: dict[str, Replica] = {}
        self.queue: list[Message] = []
        self.cut: set[tuple[str, str]] = set()
        voters = voters if voters is not None else ids
        for i in ids:
            if i in voters:
                entries, hs = bootstrap(voters)
                self.replicas[i] = Replica(self._new(i, entries=entries, hard_state=hs))
            else:
                self.replicas[i] = Replica(self._new(i))

    def _new(self, nid: str, **state) -> Raft:
        return Raft(Config(nid, **self.cfg), random.Random(f"{self.seed}:{nid}"), **state)

    def __getitem__(self, nid: str) -> Raft:
        return self.replicas[nid].raft

    def add(self, nid: str) -> Raft:
        self.replicas[nid] = Replica(self._new(nid))
        return self[nid]

    # -- driving ---------------------------------------------------------
    def process(self, nid: str) -> None:
        rep = self.replicas[nid]
        raft = rep.raft
        while raft.has_ready():
            rd: Ready = raft.ready()
            if rd.snapshot is not None:
                rep.snapshot = rd.snapshot
                rep.entries = []
                rep.installed.append(rd.snapshot)
            if rd.entries:
                first = rd.entries[0].index
                rep.entries = [e for e in rep.entries if e.index < first] + rd.entries
            if rd.hard_state is not None:
                rep.hard_state = rd.hard_state
            self.queue.extend(rd.messages)
            rep.applied.extend(rd.committed)
            rep.reads.extend(rd.read_states)
            rep.dropped_reads.extend(rd.dropped_reads)
            raft.advance(rd)

    def deliver(self, max_rounds: int = 1000, only=None) -> int:
        """Deliver queued messages (and the ones they cause) until quiet."""
        delivered = 0
        for nid in self.replicas:
            self.process(nid)
        for _ in range(max_rounds):
            if not self.queue:
                return delivered
            batch, self.queue = self.queue, []
            held = []
            for m in batch:
                if (m.frm, m.to) in self.cut or m.to not in self.replicas:
                    continue
                if only is not None and not only(m):
                    held.append(m)  # not now: stays queued for a later deliver()
                    continue
                self.replicas[m.to].raft.step(m)
                delivered += 1
                self.process(m.to)
            if held and not self.queue:
                self.queue = held
                return delivered
            self.queue.extend(held)
        raise AssertionError("messages never settled")

    def tick(self, nid: str, n: int = 1) -> None:
        for _ in range(n):
            self[nid].tick()
            self.process(nid)

    def tick_all(self, n: int = 1, deliver: bool = True) -> None:
        for _ in range(n):
            for nid in self.replicas:
                self[nid].tick()
                self.process(nid)
            if deliver:
                self.deliver()

    def isolate(self, nid: str) -> None:
        for o in self.replicas:
            if o != nid:
                self.cut.add((nid, o))
                self.cut.add((o, nid))

    def heal(self) -> None:
        self.cut.clear()

    def elect(self, nid: str) -> Raft:
        self[nid].campaign()
        self.process(nid)
        self.deliver()
        assert self[nid].role == Role.LEADER, self[nid].status()
        return self[nid]

    def leader(self) -> str | None:
        best = None
        for nid, rep in self.replicas.items():
            if rep.raft.role == Role.LEADER and (best is None or rep.raft.term > self[best].term):
                best = nid
        return best

    def restart(self, nid: str) -> Raft:
        """Crash and restart from exactly what was persisted."""
        rep = self.replicas[nid]
        applied = rep.snapshot.meta.index if rep.snapshot else 0
        raft = self._new(nid, snapshot=rep.snapshot, entries=list(rep.entries),
                         hard_state=rep.hard_state, applied=applied)
        new = Replica(raft)
        new.hard_state = rep.hard_state
        new.snapshot, new.entries = rep.snapshot, list(rep.entries)
        self.replicas[nid] = new
        self.queue = [m for m in self.queue if m.to != nid and m.frm != nid]
        return raft

    def data(self, nid: str) -> list[bytes]:
        return [e.data for e in self.replicas[nid].applied if e.kind == EntryKind.NORMAL and e.data]


__all__ = ["Cluster", "HardState", "Role"]
