"""The clock that drives a node's Raft ticks, with a rate the chaos tooling
can skew.

Leases are only safe while replicas' clocks run at rates within
`max_clock_drift` of each other (see `node.raft.core.Config.lease_ticks`).
A skewed rate lets people watch that bound hold, and break it on purpose:
a leader whose clock runs slow keeps believing in a lease its followers have
long stopped honouring.
"""

from __future__ import annotations

import time


class Clock:
    """Monotonic seconds at an adjustable rate (1.0 = real time)."""

    def __init__(self) -> None:
        self.rate = 1.0
        self._real0 = time.monotonic()
        self._virtual0 = self._real0

    def now(self) -> float:
        if self.rate == 1.0 and self._real0 == self._virtual0:
            return time.monotonic()
        return self._virtual0 + (time.monotonic() - self._real0) * self.rate

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on; the clock never jumps or goes back."""
        if not 0 < rate <= 100:
            raise ValueError("clock rate must be in (0, 100]")
        virtual = self.now()
        self._real0, self._virtual0, self.rate = time.monotonic(), virtual, rate
