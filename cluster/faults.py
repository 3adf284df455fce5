"""The faults the chaos tooling asks a process to inject: set on nodes (their
Raft transport and clock) and on routers (their links to nodes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    """What the chaos tooling asked this node's transport to break.

    `drop_to` / `drop_from`: peer ids whose links are cut in that direction;
    `loss`: probability of dropping any message; `delay_ms` and `jitter_ms`:
    added latency on outgoing batches; `clock_rate`: how fast the node's
    Raft clock runs (applied by the node to its engine's clock, not here).
    """

    drop_to: set[str] = field(default_factory=set)
    drop_from: set[str] = field(default_factory=set)
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    clock_rate: float = 1.0
    # Routers only: the step of a transaction at which the router exits at once
    # (router/transactions.py; the coordinator-kill tests), see `parse_crash_at`.
    txn_crash_at: str = ""
    # Routers only: seconds a conversion to MRSC waits once the table is frozen and found
    # empty (router/strong_tables.py; the test that writes during a conversion).
    strong_pause_s: float = 0.0

    def to_json(self) -> dict:
        return {"drop_to": sorted(self.drop_to), "drop_from": sorted(self.drop_from),
                "loss": self.loss, "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms,
                "clock_rate": self.clock_rate, "txn_crash_at": self.txn_crash_at, "strong_pause_s": self.strong_pause_s}

    @classmethod
    def from_json(cls, d: Any) -> Faults:
        """Faults from a chaos tool's JSON; ValueError naming the field when malformed."""
        if not isinstance(d, dict):
            raise ValueError(f"faults must be a JSON object, not {type(d).__name__}")
        unknown = set(d) - _FAULT_FIELDS
        if unknown:
            raise ValueError(f"unknown fault field {sorted(unknown)[0]!r}; known: {', '.join(sorted(_FAULT_FIELDS))}")
        if not isinstance(d.get("heal", False), bool):
            raise ValueError(f"heal must be true or false, not {d['heal']!r}")
        f = cls(_ids(d, "drop_to"), _ids(d, "drop_from"), _number(d, "loss", 0.0, 0.0, 1.0),
                _number(d, "delay_ms", 0.0, 0.0, 600_000.0), _number(d, "jitter_ms", 0.0, 0.0, 600_000.0),
                _number(d, "clock_rate", 1.0, 0.0, 100.0))
        if f.clock_rate <= 0:
            raise ValueError("clock_rate must be greater than 0")
        crash = d.get("txn_crash_at", "")
        if not isinstance(crash, str):
            raise ValueError(f"txn_crash_at must be a string, not {crash!r}")
        if crash:
            parse_crash_at(crash)
        f.txn_crash_at = crash
        f.strong_pause_s = _number(d, "strong_pause_s", 0.0, 0.0, 600.0)
        return f

    def active(self) -> bool:
        return bool(self.drop_to or self.drop_from or self.loss or self.delay_ms or self.jitter_ms)


# Accepted in a fault body besides the faults: `heal` (clear them all) and the
# caller's cluster id (routers' TriremeAdmin_1.SetFaults).
_FAULT_FIELDS = frozenset(("drop_to", "drop_from", "loss", "delay_ms", "jitter_ms", "clock_rate", "heal",
                           "ClusterId", "txn_crash_at", "strong_pause_s"))
CRASH_STEPS = ("after_begin", "after_prepare", "after_decide", "after_commit")


def parse_crash_at(value: str) -> tuple[str, int]:
    """`txn_crash_at`: a step, and for the counted steps (after_prepare:N,
    after_commit:N) how many acknowledgements come first."""
    step, _, count = value.partition(":")
    counted = step in ("after_prepare", "after_commit")
    if step not in CRASH_STEPS or counted != bool(count) or (count and not count.isdigit()):
        raise ValueError("txn_crash_at must be one of after_begin, after_prepare:N, after_decide, after_commit:N; "
                         f"not {value!r}")
    return step, int(count or 0)


def _ids(d: dict, name: str) -> set[str]:
    v = d.get(name, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"{name} must be a list of node ids (strings)")
    return set(v)


def _number(d: dict, name: str, default: float, lo: float, hi: float) -> float:
    v = d.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a number from {lo:g} to {hi:g}, not {v!r}")
    return float(v)
