"""The checker of the ``ttl`` workload (chaos/runner.py ``TtlWorkload``).

Clients put items on a table with Time to Live on: ``k<n>`` expiring in a
day (*kept*), ``d<n>`` expired a minute ago (*doomed*), and *rescue* doomed
items they saw written: an UpdateItem moving the expiry a day ahead,
conditional on the item still existing. Once the faults are healed and the
sweeps had time, a strongly consistent ``read`` (result: the keys present)
must show:

* every kept item acknowledged ok (else *lost*), and every doomed item whose
  rescue was acknowledged ok (the rescue found it and moved its expiry: a TTL
  delete evaluated after it must fail its condition; else *lost*);
* no doomed item that no rescue may have reached (ok, or unknown outcome):
  TTL must have deleted it (else *unexpired*);
* nothing nobody wrote (*phantom*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.history import INFO, OK, Operation


@dataclass
class TtlResult:
    valid: bool | None
    kept: int = 0
    doomed: int = 0
    rescued: int = 0
    deleted: int = 0
    lost: tuple = ()
    unexpired: tuple = ()
    phantom: tuple = ()

    def explain(self, limit: int = 20) -> str:
        verdict = {True: "valid", False: "INVALID", None: "unknown (no final read)"}[self.valid]
        lines = [f"ttl history: {verdict}; {self.kept} kept and {self.doomed} expired items acknowledged, "
                 f"{self.rescued} rescues acknowledged, {self.deleted} items deleted by TTL"]
        for name, xs, why in (
                ("LOST", self.lost, "acknowledged (a kept item, or a rescue of an expired one), but missing"),
                ("UNEXPIRED", self.unexpired, "expired, never possibly rescued, yet still present"),
                ("PHANTOM", self.phantom, "present, but never written by anyone")):
            if xs:
                more = f", ... ({len(xs) - limit} more)" if len(xs) > limit else ""
                lines.append(f"  {name} ({len(xs)}): {', '.join(xs[:limit])}{more}\n      {why}")
        return "\n".join(lines)


class TtlChecker:
    """Fed one operation at a time; memory: one record per item written."""

    def __init__(self) -> None:
        self._adds: dict[str, set[str]] = {}  # key -> outcomes of its puts
        self._rescues: dict[str, set[str]] = {}  # doomed key -> outcomes of its rescues
        self._final: Operation | None = None

    def feed(self, op: Operation) -> None:
        if op.f == "add":
            self._adds.setdefault(op.value, set()).add(op.status)
        elif op.f == "rescue":
            self._rescues.setdefault(op.value, set()).add(op.status)
        elif op.f == "read":
            last = self._final
            if op.status == OK and op.complete_time is not None and (
                    last is None or (op.complete_time, op.index) > (last.complete_time, last.index)):  # type: ignore[operator]
                self._final = op
        else:
            raise ValueError(f"ttl checker: unsupported function {op.f!r} in {op}")

    def result(self) -> TtlResult:
        adds, rescues = self._adds, self._rescues
        acked = sorted(k for k, outcomes in adds.items() if OK in outcomes)
        rescued = sorted(k for k, outcomes in rescues.items() if OK in outcomes)
        res = TtlResult(None, kept=sum(k.startswith("k") for k in acked), doomed=sum(k.startswith("d") for k in acked),
                        rescued=len(rescued))
        if self._final is None:
            return res
        present: set[Any] = set(self._final.result or ())
        res.lost = tuple(k for k in acked if k.startswith("k") and k not in present) \
            + tuple(k for k in rescued if k not in present)
        res.unexpired = tuple(sorted(k for k in present if k.startswith("d") and k in adds
                                     and not rescues.get(k, set()) & {OK, INFO}))
        res.phantom = tuple(sorted(k for k in present if k not in adds))
        res.deleted = sum(1 for k in acked if k.startswith("d") and k not in present)
        res.valid = not (res.lost or res.unexpired or res.phantom)
        return res
