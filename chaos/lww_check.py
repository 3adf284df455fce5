"""Checker for the ``global`` workload: writers in every region of a global
table (MREC, last writer wins), and after healing each region's final items
and stream. Pure: it sees only the history.

The clients cannot see item versions, so what is checked is what real time
implies about them. A region stamps a write with its hybrid logical clock
when it applies it, after every write it applied before, so an operation
acknowledged in a region before another one started there has the lower
version; between regions the same holds once the second started more than
``skew_s`` later (their clocks are the same host's wall clock).

Operations (process ``"REGION/n"``): ``put`` and ``update`` (value: a unique
number, stored as the item's ``v`` with ``r`` = the region and ``o`` = the
operation) and ``delete`` (value: a unique number of its own). Final reads
(process ``"final"``, key = the region): ``read`` (result: key -> ``[v, r, o]``)
and ``stream`` (result: ``[key, v]`` per record of the region's stream, ``v``
None for a REMOVE).

Verdicts:

* ``diverged``: the regions' final reads differ (they must be identical);
* ``phantom`` (in any region's final read): an item no put or update (ok or of unknown outcome)
  wrote, as it is (value, region and operation);
* ``lost`` (in any region's final read): the final state of a key is explained by no write that could be
  the newest: a write W is *superseded* when an acknowledged write B on the
  key started after W was acknowledged (in W's region, or ``skew_s`` later in
  another), since B then carries the higher version and was applied. The
  final item must come from a write not superseded; an absent key needs a
  delete not superseded, unless no put or update was ever acknowledged;
* ``missing from stream``: an acknowledged put or update absent from its
  region's stream, or a final value absent from some region's stream (it was
  applied there, locally or replicated), or a stream value nobody wrote.
  (Streams are checked only when read.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaos.history import FAIL, OK, Operation, format_value

WRITES = ("put", "update", "delete")


def _frozen(item: Any) -> tuple | None:
    return None if item is None else tuple(item)


def region_of(process: Any) -> str:
    return str(process).rpartition("/")[0]


@dataclass
class LwwResult:
    valid: bool | None
    keys: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    diverged: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stream: list[str] = field(default_factory=list)
    streams_checked: bool = False
    why_unknown: str = ""

    def explain(self, limit: int = 10) -> str:
        verdict = {True: "valid", False: "INVALID", None: f"unknown ({self.why_unknown})"}[self.valid]
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        lines = [f"global (last writer wins) history: {verdict}; {self.keys} key(s); {counts}"]
        for name, xs, why in (
                ("DIVERGED", self.diverged, "the regions' final items differ"),
                ("PHANTOM", self.phantom, "a final item no put or update wrote"),
                ("LOST", self.lost, "the final state is older than an acknowledged write"),
                ("STREAM", self.stream, "a region's stream does not hold the changes applied there")):
            if xs:
                lines.append(f"  {name} ({len(xs)}): {why}")
                lines += [f"    {x}" for x in xs[:limit]]
                if len(xs) > limit:
                    lines.append(f"    ... ({len(xs) - limit} more)")
        lines.append("  streams: " + ("every applied change found in each region's stream" if self.streams_checked
                                      and not self.stream else "checked" if self.streams_checked else "not read"))
        return "\n".join(lines)


class LwwChecker:
    """Fed operations one at a time (as `chaos.runner.judge` does), then `result()`."""

    def __init__(self, skew_s: float = 1.0) -> None:
        self.skew_s = skew_s
        self.writes: dict[Any, list[Operation]] = defaultdict(list)
        self.by_value: dict[int, Operation] = {}
        self.reads: dict[str, dict] = {}
        self.streams: dict[str, list] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def feed(self, op: Operation) -> None:
        if op.process == "final":
            if op.status == OK:
                (self.reads if op.f == "read" else self.streams)[op.key] = op.result
            return
        if op.f not in WRITES:
            return
        self.counts[f"{op.f} {op.status}"] += 1
        if op.status == FAIL:
            return  # definitely not applied
        self.writes[op.key].append(op)
        if op.f != "delete":
            self.by_value[op.value] = op

    def _superseded(self, w: Operation, acked: list[Operation]) -> Operation | None:
        """An acknowledged write on the key that must be newer than `w`, if any."""
        if w.status != OK or w.complete_time is None:
            return None  # of unknown outcome: it may have been applied at any time after its invoke
        for b in acked:
            gap = 0.0 if region_of(b.process) == region_of(w.process) else self.skew_s
            if b.invoke_time > w.complete_time + gap:
                return b
        return None

    def result(self) -> LwwResult:
        res = LwwResult(valid=True, counts=dict(self.counts))
        if not self.reads:
            res.valid, res.why_unknown = None, "no final read"
            return res
        regions = sorted(self.reads)
        final = self.reads[regions[0]]
        for r in regions[1:]:
            for key in sorted(set(final) | set(self.reads[r]), key=str):
                a, b = final.get(key), self.reads[r].get(key)
                if a != b:
                    res.diverged.append(f"{key}: {regions[0]} holds {format_value(a)}, {r} holds {format_value(b)}")
        states = {(key, _frozen(items.get(key))) for items in self.reads.values()
                  for key in set(self.writes) | set(items)}  # each region's final state of each key, once
        res.keys = len({key for key, _ in states})
        for key, item in sorted(states, key=str):
            self._check_key(res, key, item)
        self._check_streams(res)
        if res.diverged or res.phantom or res.lost or res.stream:
            res.valid = False
        return res

    def _check_key(self, res: LwwResult, key: Any, item: tuple | None) -> None:
        """One final state of a key (a region's): written by someone, and by a write not superseded."""
        ops = self.writes.get(key, [])
        acked = [o for o in ops if o.status == OK]
        if item is not None:
            v, region, kind = item
            w = self.by_value.get(v)
            if w is None or w.key != key or region_of(w.process) != region or w.f != kind:
                res.phantom.append(f"{key} = {format_value(item)}: " + (
                    "never written" if w is None else f"written as {w}"))
                return
            newer = self._superseded(w, acked)
            if newer is not None:
                res.lost.append(f"{key}: final value from {w}, but {newer} started after it was acknowledged")
            return
        if not any(o.f != "delete" for o in acked):
            return  # nothing certainly written: absent is fine
        deletes = [o for o in ops if o.f == "delete"]
        if not deletes:
            res.lost.append(f"{key}: absent, but never deleted; acknowledged: "
                            f"{', '.join(str(o) for o in acked if o.f != 'delete')[:300]}")
            return
        blocking = [self._superseded(d, acked) for d in deletes]
        if all(b is not None for b in blocking):
            last = max(deletes, key=lambda d: d.complete_time or 0.0)
            res.lost.append(f"{key}: absent, but every delete was followed by an acknowledged write, "
                            f"e.g. {last} then {blocking[deletes.index(last)]}")

    def _check_streams(self, res: LwwResult) -> None:
        if not self.streams:
            return
        res.streams_checked = True
        for region, records in sorted(self.streams.items()):
            seen = {(k, v) for k, v in records if v is not None}
            for k, v in sorted(seen, key=str):
                if v not in self.by_value:
                    res.stream.append(f"{region}: a record of {k} = {v}, a value nobody wrote")
            for ops in self.writes.values():
                for o in ops:
                    if o.status == OK and o.f != "delete" and region_of(o.process) == region \
                            and (o.key, o.value) not in seen:
                        res.stream.append(f"{region}: no record of {o}")
            for key, item in sorted(self.reads.get(region, {}).items(), key=lambda kv: str(kv[0])):
                if (key, item[0]) not in seen:
                    res.stream.append(f"{region}: no record of the final {key} = {format_value(item)}")
