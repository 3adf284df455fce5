"""Capacity units consumed by a partition, and the token buckets that cap them.

Pure (the caller passes the time): a partition replica meters the units it
decides (reads where it answers them, writes where its leader evaluates them)
and, for a table whose capacity is enforced, admits a request only while its
bucket holds the units. Limits come from the metadata (node/control sets them
on every view change and from the meta leader's adaptive boosts).

How units are priced: a request whose size the node measures anyway (the
caller asked for ConsumedCapacity, or the table is provisioned) costs exactly
what DynamoDB charges (``ddb.capacity``); otherwise the node prices it by the
length of the stored item's DynamoDB JSON, which it holds without a walk (an
overestimate of DynamoDB's item size by the type descriptors), so metering
costs the data path a few float additions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ddb.errors import ProvisionedThroughputExceededException, ThrottlingException

BURST_S = 300.0  # DynamoDB keeps up to five minutes of unused capacity per partition
GSI_THROTTLED = ("The level of configured provisioned throughput for one or more global secondary indexes of the "
                 "table was exceeded. Consider increasing your provisioning level for the under-provisioned global "
                 "secondary indexes with the UpdateTable API")
ON_DEMAND_THROTTLED = ("Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
                       "scaling your table or index so please try again shortly. If exceptions persist, check if "
                       "you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                       "bp-partition-key-design.html")


THROTTLES = (ProvisionedThroughputExceededException, ThrottlingException)


def raw_read_units(nbytes: int, consistent: bool) -> float:
    """``ddb.capacity.read_units`` without its float conversion, for the hot path."""
    units = max(1, -(-nbytes // 4096))
    return units if consistent else units / 2


def raw_write_units(nbytes: int) -> int:
    return max(1, -(-nbytes // 1024))


class TokenBucket:
    """Tokens accrue at ``rate`` per second up to ``rate * burst_s`` (at least
    one second's worth). A request is admitted when the bucket holds its units,
    or when the bucket is full and the request is larger than the bucket (it
    leaves the bucket in debt, as DynamoDB charges a large read after it):
    so the units admitted over any window of ``w`` seconds never exceed
    ``rate * w + capacity`` plus that one oversized request."""

    __slots__ = ("rate", "capacity", "tokens", "at")

    def __init__(self, rate: float, burst_s: float, now: float) -> None:
        self.rate = float(rate)
        self.capacity = self.rate * max(1.0, burst_s)
        self.tokens = self.capacity  # a new bucket starts with its burst (a new table may burst at once)
        self.at = now

    def refill(self, now: float) -> float:
        if now > self.at:
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
        return self.tokens

    def take(self, units: float, now: float) -> bool:
        tokens = self.refill(now)
        if tokens >= units or (units > self.capacity and tokens >= self.capacity):
            self.tokens = tokens - units
            return True
        return False

    def set_rate(self, rate: float, burst_s: float, now: float) -> None:
        """A new limit keeps the tokens saved so far (within the new capacity)."""
        self.refill(now)
        self.rate = float(rate)
        self.capacity = self.rate * max(1.0, burst_s)
        self.tokens = min(self.tokens, self.capacity)


@dataclass
class Limits:
    """One partition's share of its table's throughput, per second; None: not
    limited. ``gsi_write``: each global index's write share (``{index: rate}``),
    for the back-pressure of an under-provisioned index on the base table."""

    read: float | None = None
    write: float | None = None
    gsi_write: dict[str, float] = field(default_factory=dict)
    on_demand: bool = False  # exceeding a ceiling is ThrottlingException, not ProvisionedThroughputExceeded
    burst_s: float = BURST_S


def _throttled(limits: Limits, gsi: bool = False) -> Exception:
    if limits.on_demand:
        return ThrottlingException(ON_DEMAND_THROTTLED)
    return ProvisionedThroughputExceededException(GSI_THROTTLED if gsi else None)


class PartitionCapacity:
    """One partition replica's meter (units decided here, and units refused)
    and, when limited, its buckets."""

    __slots__ = ("read_units", "write_units", "throttled_reads", "throttled_writes", "limits", "_read", "_write",
                 "_gsi", "exact")

    def __init__(self) -> None:
        self.read_units = 0.0
        self.write_units = 0.0
        self.throttled_reads = 0.0  # units refused: the demand adaptive capacity sees
        self.throttled_writes = 0.0
        self.limits = Limits()
        self._read: TokenBucket | None = None
        self._write: TokenBucket | None = None
        self._gsi: dict[str, TokenBucket] = {}
        # Price requests exactly (DynamoDB's item size): a provisioned table's
        # limits. An on-demand table's ceilings make do with the stored length.
        # (Kept with the limits: every write asks.)
        self.exact = False

    @property
    def enforced(self) -> bool:
        lim = self.limits
        return lim.read is not None or lim.write is not None or bool(lim.gsi_write)

    def configure(self, limits: Limits, now: float) -> None:
        self.limits = limits
        self.exact = self.enforced and not limits.on_demand
        self._read = _bucket(self._read, limits.read, limits.burst_s, now)
        self._write = _bucket(self._write, limits.write, limits.burst_s, now)
        self._gsi = {name: b for name, rate in limits.gsi_write.items()
                     if (b := _bucket(self._gsi.get(name), rate, limits.burst_s, now)) is not None}

    def read(self, units: float, now: float) -> None:
        """Admit and meter a read of ``units``; raises the throttling error."""
        b = self._read
        if b is not None and not b.take(units, now):
            self.throttled_reads += units
            raise _throttled(self.limits)
        self.read_units += units

    def write(self, units: float, now: float, index_units: dict[str, float] | None = None) -> None:
        """Admit and meter a write of ``units`` (and the writes ``index_units`` it
        causes to global indexes: refused when an index's share is spent)."""
        b = self._write
        if self._gsi and index_units:
            for name, u in index_units.items():
                g = self._gsi.get(name)
                if g is not None and g.refill(now) < min(u, g.capacity):
                    self.throttled_writes += units
                    raise _throttled(self.limits, gsi=True)
        if b is not None and not b.take(units, now):
            self.throttled_writes += units
            raise _throttled(self.limits)
        if self._gsi and index_units:
            for name, u in index_units.items():
                g = self._gsi.get(name)
                if g is not None:
                    g.tokens -= u
        self.write_units += units

    def count_write(self, units: float) -> None:
        """Meter a write no bucket refuses (an index entry shipped from its base table)."""
        self.write_units += units

    def report(self) -> list[float]:
        """[read units, write units, read units refused, write units refused], since this replica started."""
        return [self.read_units, self.write_units, self.throttled_reads, self.throttled_writes]


def _bucket(old: TokenBucket | None, rate: float | None, burst_s: float, now: float) -> TokenBucket | None:
    if rate is None:
        return None
    if old is None:
        return TokenBucket(rate, burst_s, now)
    if old.rate != rate or old.capacity != rate * max(1.0, burst_s):
        old.set_rate(rate, burst_s, now)
    return old
