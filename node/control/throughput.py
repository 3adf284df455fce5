"""Throughput limits of the partitions a node hosts, and consumed capacity
summed on the meta leader.

Limits (node/partition/capacity.py enforces them): a provisioned table's
read and write units per second are divided evenly over its partitions, and
each global index's write units over the base table's partitions (an index
short of capacity throttles its base table's writes, as in DynamoDB); an
index's read units over the index's own partitions. An on-demand table's
partitions are capped at DynamoDB's 3,000 read and 1,000 write units per
second (TRIREME_ON_DEMAND_READ_UNITS / _WRITE_UNITS make them small in tests).
Adaptive capacity: the meta leader may lend a hot partition what its
table's other partitions leave unused (`allocate`); its heartbeat answer
carries those rates, which replace the even share until the next answer.

Metering: every replica counts the units it decided since it started and
reports the counters of every partition it holds in its heartbeat; the meta
leader adds each (partition, node)'s increase to a running total per table
(soft state, like the item counts: a new meta leader starts from the
counters the nodes report, which hold everything since they started) and
keeps a rate per second over the last `RATE_WINDOW_S`.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from node.partition.capacity import BURST_S, Limits
from node.partition.replica import PartitionReplica

if TYPE_CHECKING:
    from cluster.meta import MetaState, TableInfo
    from node.groups.engine import Engine

ON_DEMAND_READ = float(os.environ.get("TRIREME_ON_DEMAND_READ_UNITS", "3000"))  # per partition per second
ON_DEMAND_WRITE = float(os.environ.get("TRIREME_ON_DEMAND_WRITE_UNITS", "1000"))
BURST = float(os.environ.get("TRIREME_BURST_S", str(BURST_S)))
RATE_WINDOW_S = 5.0
BOOST_TTL_S = 5.0  # a lent rate lapses unless the meta leader renews it


def _throughput(spec: dict | None) -> tuple[float | None, float | None]:
    pt = (spec or {}).get("ProvisionedThroughput") or {}
    r, w = pt.get("ReadCapacityUnits"), pt.get("WriteCapacityUnits")
    return (float(r) if r else None), (float(w) if w else None)


def provisioned(state: MetaState, t: TableInfo) -> tuple[float | None, float | None, dict[str, float]]:
    """(read units, write units, {global index: write units}) per second of a
    table's partitions, summed over them; None: not limited by provisioning."""
    base_name = t.spec.get("IndexOf")
    if base_name is not None:  # a global index's hidden table: its reads
        base = state.tables.get(base_name)
        if base is None or base.spec.get("BillingMode") == "PAY_PER_REQUEST":
            return None, None, {}
        g = next((g for g in base.spec.get("GlobalSecondaryIndexes") or []
                  if g["IndexName"] == t.spec.get("IndexName")), None)
        return _throughput(g)[0], None, {}
    if t.spec.get("BillingMode") == "PAY_PER_REQUEST":
        return None, None, {}
    r, w = _throughput(t.spec)
    gsi = {g["IndexName"]: w2 for g in t.spec.get("GlobalSecondaryIndexes") or []
           if (w2 := _throughput(g)[1]) is not None}
    return r, w, gsi


def limits_of(state: MetaState, t: TableInfo, lent: list[float] | None = None) -> Limits:
    """One partition's limits (``lent``: the meta leader's [read, write] rates for it)."""
    if "System" in t.spec:
        return Limits()  # Trireme's own tables (transaction records, function code) are never throttled
    n = max(1, len(t.partitions))
    on_demand = (state.tables.get(t.spec["IndexOf"]) if "IndexOf" in t.spec else t)
    if on_demand is not None and on_demand.spec.get("BillingMode") == "PAY_PER_REQUEST":
        return Limits(read=ON_DEMAND_READ, write=None if "IndexOf" in t.spec else ON_DEMAND_WRITE,
                      on_demand=True, burst_s=BURST)
    r, w, gsi = provisioned(state, t)
    read = None if r is None else r / n
    write = None if w is None else w / n
    if lent is not None:
        read = lent[0] if read is not None and lent[0] else read
        write = lent[1] if write is not None and lent[1] else write
    return Limits(read=read, write=write, gsi_write={k: v / n for k, v in gsi.items()}, burst_s=BURST)


def apply_limits(engine: Engine, state: MetaState | None, lent: dict[str, list[float]]) -> None:
    """Give every partition replica here its current limits."""
    if state is None:
        return
    by_id = {t.id: t for t in state.tables.values()}
    now = time.monotonic()
    for replica in list(engine.replicas.values()):
        if not isinstance(replica, PartitionReplica):
            continue
        t = by_id.get(replica.config.get("table_id"))
        if t is None:
            continue
        replica.capacity.configure(limits_of(state, t, lent.get(replica.group)), now)


def meter_report(engine: Engine) -> dict[str, list[float]]:
    """The counters of every partition replica here (for heartbeats; zeros
    too, so the meta leader's first sample of a new table is its start)."""
    return {r.group: r.capacity.report() for r in list(engine.replicas.values()) if isinstance(r, PartitionReplica)}


@dataclass
class Consumption:
    """The meta leader's sums: per partition, totals and recent samples."""

    last: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (group, node) -> counters seen
    totals: dict[str, list[float]] = field(default_factory=dict)  # group -> [read, write, refused r, refused w]
    samples: dict[str, deque] = field(default_factory=dict)  # group -> (time, totals) within the window

    def add(self, node: str, report: dict[str, list[float]], now: float) -> None:
        for group, counters in report.items():
            seen = self.last.get((group, node))
            # A counter below the last seen: the node restarted, and counts anew.
            delta = [c - s if seen is not None and c >= s else c for c, s in zip(counters, seen or counters)]
            self.last[(group, node)] = list(counters)
            total = self.totals.setdefault(group, [0.0, 0.0, 0.0, 0.0])
            for i, d in enumerate(delta):
                total[i] += d
        for group, total in self.totals.items():
            q = self.samples.setdefault(group, deque())
            if not q or now - q[-1][0] >= 0.25:
                q.append((now, list(total)))
            while len(q) > 2 and now - q[1][0] >= RATE_WINDOW_S:
                q.popleft()

    def rates(self, group: str, now: float) -> list[float]:
        """Units per second over the window: [read, write, refused read, refused write]."""
        q = self.samples.get(group)
        if not q:
            return [0.0, 0.0, 0.0, 0.0]
        t0, first = q[0]
        total = self.totals[group]
        span = max(now - t0, 1.0)
        return [(a - b) / span for a, b in zip(total, first)]

    def forget(self, keep: set[str]) -> None:
        for group in [g for g in self.totals if g not in keep]:
            del self.totals[group]
            self.samples.pop(group, None)
        for key in [k for k in self.last if k[0] not in keep]:
            del self.last[key]

    def table(self, t: TableInfo, now: float) -> dict[str, float]:
        """The ``consumed`` of a table in ``table_stats`` (ARCHITECTURE.md)."""
        tot = [0.0] * 4
        rate = [0.0] * 4
        for p in t.partitions:
            for i, v in enumerate(self.totals.get(p, ())):
                tot[i] += v
            for i, v in enumerate(self.rates(p, now) if p in self.totals else ()):
                rate[i] += v
        return {"read_units_total": tot[0], "write_units_total": tot[1],
                "read_units_per_s": rate[0], "write_units_per_s": rate[1],
                "throttled_read_units_total": tot[2], "throttled_write_units_total": tot[3],
                "throttled_read_units_per_s": rate[2], "throttled_write_units_per_s": rate[3]}


def allocate(total: float, demand: list[float]) -> list[float]:
    """Adaptive capacity: each partition's rate out of a table's ``total``
    units per second, given their ``demand`` (consumed plus refused, per
    second). Every partition keeps its even share; what the partitions under
    their share leave unused is lent to those over it, in proportion to their
    excess and never beyond it. A cold partition that turns hot uses its own
    share at once, so the table may briefly admit more than ``total`` (at most
    twice it) until the next allocation."""
    n = len(demand)
    if n == 0:
        return []
    even = total / n
    unused = sum(max(0.0, even - d) for d in demand)
    excess = [max(0.0, d - even) for d in demand]
    wanted = sum(excess)
    if wanted <= 0:
        return [even] * n
    lend = min(unused, wanted)
    return [even + lend * e / wanted for e in excess]


def lent_rates(state: MetaState, consumption: Consumption, reported: dict, now: float) -> dict[str, list[float]]:
    """The rates adaptive capacity lends to the partitions a heartbeat
    reported: ``{group: [read, write]}`` (0: the even share), only those
    whose allocation differs from it."""
    out: dict[str, list[float]] = {}
    tables: dict[int, TableInfo] = {}
    for group in reported:
        p = state.partitions.get(group)
        if p is None or p.table_id in tables:
            continue
        t = state.table_by_id(p.table_id)
        if t is None:
            continue
        tables[p.table_id] = t
        r, w, _ = provisioned(state, t)
        rates = [consumption.rates(g, now) for g in t.partitions]
        for k, total in ((0, r), (1, w)):
            if total is None:
                continue
            even = total / max(1, len(t.partitions))
            for g, rate in zip(t.partitions, allocate(total, [x[k] + x[k + 2] for x in rates])):
                if g in reported and rate > even * 1.001:
                    out.setdefault(g, [0.0, 0.0])[k] = rate
    return out
