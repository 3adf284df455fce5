"""Item versions of global tables: a hybrid logical clock and the order that
resolves conflicts between regions (last writer wins). Pure: no I/O.

A timestamp is 64 bits, ``physical ms << 16 | logical counter``, so timestamps
compare as integers and a counter overflow carries into the milliseconds. A
version is ``(ts, region)``: ties between regions (the same timestamp) are
broken by the region name, so every region orders any two versions alike.
``BASE`` is the version of an item that has none stored. An item written
before its table went global has none; it counts as ``base_version(region)``
(timestamp 1, its own region) wherever it is compared or sent (the backfill
of a new replica region): older than every versioned write, and the same
order in every region should two regions hold such an item.

Stored (the partition's versions column family, keyed like the item):
``ts u64 BE | flags u8 | region UTF-8``; flag 1 marks a tombstone (the item
was deleted at that version, so an older write arriving late stays deleted).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import NamedTuple

LOGICAL_BITS = 16
# How far another region's timestamps may run ahead of this region's wall
# clock. Further ahead, a change would win every conflict until the clocks
# meet and drag this region's clock along; it is refused instead (and
# accepted once it is no longer that far ahead), as CockroachDB refuses peers
# past its maximum clock offset.
MAX_OFFSET_MS = 60_000
_HEAD = struct.Struct(">QB")
_TOMBSTONE = 1


class Version(NamedTuple):
    ts: int
    region: str


BASE = Version(0, "")


def base_version(region: str) -> Version:
    """The version of an item written before its table went global, in ``region``."""
    return Version(1, region)


def make_ts(ms: int, logical: int = 0) -> int:
    return (ms << LOGICAL_BITS) | logical


def ms_of(ts: int) -> int:
    """The physical milliseconds of a timestamp."""
    return ts >> LOGICAL_BITS


def wall_ms() -> int:
    return int(time.time() * 1000)


def ahead_ms(ts: int, now_ms: int | None = None) -> int:
    """How far a timestamp is ahead of the wall clock here (0: not ahead)."""
    return max(0, ms_of(ts) - (wall_ms() if now_ms is None else now_ms))


class HybridClock:
    """Timestamps that never go back, stay close to the wall clock, and come
    after every timestamp observed (applied here, or received from another
    region): a write stamped after seeing another one is newer than it."""

    def __init__(self, physical_ms: Callable[[], int] = wall_ms) -> None:
        self.physical_ms = physical_ms
        self.last = 0

    def now(self) -> int:
        """A new timestamp, greater than every one given or observed so far."""
        self.last = max(make_ts(self.physical_ms()), self.last + 1)
        return self.last

    def observe(self, ts: int) -> None:
        """Merge a timestamp seen elsewhere: later ones come after it."""
        if ts > self.last:
            self.last = ts


def pack(version: Version, tombstone: bool) -> bytes:
    return _HEAD.pack(version.ts, _TOMBSTONE if tombstone else 0) + version.region.encode()


def unpack(data: bytes) -> tuple[Version, bool]:
    """(version, tombstone) of a stored version."""
    ts, flags = _HEAD.unpack_from(data)
    return Version(ts, data[_HEAD.size:].decode()), bool(flags & _TOMBSTONE)


def to_wire(version: Version) -> dict:
    """The version as TriremeReplication_1.Replicate carries it."""
    return {"Ts": version.ts, "Region": version.region}


def from_wire(data: object) -> Version:
    """Parse a Replicate change's ``Version``; ValueError when malformed."""
    if not isinstance(data, dict) or set(data) != {"Ts", "Region"}:
        raise ValueError("Version must be {\"Ts\": int, \"Region\": str}")
    ts, region = data["Ts"], data["Region"]
    if type(ts) is not int or not 0 < ts < 1 << 64 or not isinstance(region, str) or not region:
        raise ValueError("Version.Ts must be an integer in (0, 2**64) and Version.Region a region name")
    return Version(ts, region)
