"""The leader's view of each follower: how far it matches and how to feed it.

PROBE sends one AppendEntries at a time until the follower's position is
known; REPLICATE pipelines up to `max_inflight` messages; SNAPSHOT waits for a
snapshot to land. This is etcd's flow control, which keeps a slow or
far-behind follower from flooding the network.
"""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Progress:
    __slots__ = ("match", "next", "state", "probe_sent", "inflight", "pending_snapshot",
                 "snapshot_sent_at", "recent_active", "learner")

    def __init__(self, next_index: int, learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.inflight: deque[int] = deque()  # last index of each in-flight APP
        self.pending_snapshot = 0
        self.snapshot_sent_at = 0
        self.recent_active = False
        self.learner = learner

    def paused(self, max_inflight: int) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_snapshot(self, index: int, now: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.snapshot_sent_at = now
        self.inflight.clear()

    def sent(self, last: int, count: int) -> None:
        """Record an AppendEntries carrying entries up to `last`."""
        if self.state == ProgressState.REPLICATE:
            if count:
                self.next = last + 1
                self.inflight.append(last)
        else:
            self.probe_sent = True

    def maybe_update(self, index: int) -> bool:
        """A successful APP_RESP up to index; True if match moved forward."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        if self.next < index + 1:
            self.next = index + 1
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
        return updated

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        """A rejected APP for `rejected`; False if the rejection is stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            self.become_probe()
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), self.match + 1, 1)
        self.probe_sent = False
        return True

    def __repr__(self) -> str:
        return f"Progress(match={self.match}, next={self.next}, {self.state.name})"
