"""When the controller splits a partition by itself (pure: it decides from
the soft state the meta leader holds, and node/control/controller.py acts).

Two triggers, as DynamoDB splits: size, a partition whose items take more
than ``TRIREME_SPLIT_BYTES`` (DynamoDB: 10 GB; its leader's statistics,
node/control/stats.py); and heat, a partition whose log grows faster than
``TRIREME_SPLIT_UNITS_PER_S`` write entries a second (from the applied index
its leader reports in each heartbeat) for ``TRIREME_SPLIT_HOT_S`` seconds in a
row. A size split divides at the median item, a heat split at the median of
the keys its leader saw written lately (`PartitionReplica.hot_hashes`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

GB = 1 << 30
COOLDOWN_S = 15.0  # a partition just split waits for fresh statistics before it may split again


@dataclass(frozen=True)
class SplitLimits:
    max_bytes: int = 10 * GB
    units_per_s: float = 0.0  # 0: no splits for heat
    hot_s: float = 10.0

    @classmethod
    def from_env(cls) -> SplitLimits:
        env = os.environ
        return cls(int(env.get("TRIREME_SPLIT_BYTES", 10 * GB)), float(env.get("TRIREME_SPLIT_UNITS_PER_S", 0)),
                   float(env.get("TRIREME_SPLIT_HOT_S", 10)))


@dataclass
class Heat:
    """A partition's write rate as its leader's heartbeats show it."""
    applied: int
    at: float
    hot_since: float | None = None


@dataclass
class SplitPlanner:
    limits: SplitLimits = field(default_factory=SplitLimits.from_env)
    heat: dict[str, Heat] = field(default_factory=dict)
    last_split: dict[str, float] = field(default_factory=dict)  # partition -> when it (or its parent) split

    def observe(self, group: str, applied: int, now: float) -> None:
        """A leader reported ``group`` applied up to ``applied`` at ``now``."""
        h = self.heat.get(group)
        if h is None or applied < h.applied:
            self.heat[group] = Heat(applied, now)
            return
        if now - h.at < 0.5:
            return  # too close to measure a rate
        rate = (applied - h.applied) / (now - h.at)
        hot = self.limits.units_per_s > 0 and rate > self.limits.units_per_s
        self.heat[group] = Heat(applied, now, (h.hot_since if h.hot_since is not None else h.at) if hot else None)

    def due(self, group: str, stats: list | None, now: float) -> str | None:
        """Why ``group`` should split now ("size" or "heat"), or None."""
        if now - self.last_split.get(group, -COOLDOWN_S) < COOLDOWN_S:
            return None
        if stats and stats[1] > self.limits.max_bytes:
            return "size"
        h = self.heat.get(group)
        if h is not None and h.hot_since is not None and now - h.hot_since >= self.limits.hot_s:
            return "heat"
        return None

    def split(self, parent: str, child: str, now: float) -> None:
        self.last_split[parent] = self.last_split[child] = now
        self.heat.pop(parent, None)

    def forget(self, live: set[str]) -> None:
        for d in (self.heat, self.last_split):
            for gone in d.keys() - live:
                del d[gone]
