"""The stream check (``trireme check --workload stream``): writes of unique
values to a few keys of a table with a stream, then, after the faults heal, a
consumer reads every shard and the final items. Valid when

* every acknowledged write has exactly one record, and no write has two;
* no record names a value never written;
* per key, records follow the real-time order of the writes (a write
  acknowledged before another began comes first);
* each key's last record is its final value: no write (acknowledged or of
  unknown outcome) changed an item without its record, or has a record
  without having changed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.history import OK, Operation


@dataclass
class StreamResult:
    valid: bool | None
    writes: int = 0
    acknowledged: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)

    def explain(self, limit: int = 20) -> str:
        verdict = {True: "valid", False: "INVALID", None: "unknown (no final read)"}[self.valid]
        head = (f"Stream history: {verdict} ({self.writes} writes, {self.acknowledged} acknowledged, "
                f"{self.records} records)")
        return "\n".join([head, *(f"  {p}" for p in self.problems[:limit])])


class WritesThenRead:
    """A checker fed ``write`` (key, value) operations and one final ``read``
    (the stream and the trigger checks): each write's (status, invoke time,
    completion time), and the final read if it succeeded."""

    name = "stream"

    def __init__(self) -> None:
        self._writes: dict[Any, dict[int, tuple[str, float, float | None]]] = {}
        self._final: Operation | None = None

    def feed(self, op: Operation) -> None:
        if op.f == "write":
            self._writes.setdefault(op.key, {})[op.value] = (op.status, op.invoke_time, op.complete_time)
        elif op.f == "read":
            if op.status == OK:
                self._final = op
        else:
            raise ValueError(f"{self.name} checker: unsupported function {op.f!r} in {op}")

    def _counted(self) -> StreamResult:
        """The result's counts, its verdict still unknown."""
        return StreamResult(None, sum(map(len, self._writes.values())),
                            sum(st == OK for w in self._writes.values() for st, _, _ in w.values()))


class StreamChecker(WritesThenRead):
    """Fed one operation at a time: ``write`` (key, value) and the final
    ``read`` of the stream, whose result is {"records": [[key, value], ...]
    in shard order, "items": {key: value}}."""

    def result(self) -> StreamResult:
        writes = self._writes
        res = self._counted()
        if self._final is None:
            return res
        records: list[list[Any]] = self._final.result["records"]
        items: dict[str, int] = self._final.result["items"]
        res.records = len(records)
        by_key: dict[Any, list[int]] = {}
        for key, value in records:
            by_key.setdefault(key, []).append(value)
        problems = res.problems
        for key in sorted(set(writes) | set(by_key)):
            mine = writes.get(key, {})
            seen = by_key.get(key, [])
            pos: dict[int, int] = {}
            for i, v in enumerate(seen):
                if v in pos:
                    problems.append(f"{key}: write {v} has two records")
                pos[v] = i
                if v not in mine:
                    problems.append(f"{key}: record of {v}, a value never written")
            for v, (st, _, _) in sorted(mine.items()):
                if st == OK and v not in pos:
                    problems.append(f"{key}: acknowledged write {v} has no record")
            # Real-time order: a write acknowledged before another began comes first.
            done = sorted((c, pos[v]) for v, (st, _, c) in mine.items() if st == OK and v in pos)
            j, latest = 0, -1
            for v, (_, start, _) in sorted(mine.items(), key=lambda kv: kv[1][1]):
                while j < len(done) and done[j][0] < start:
                    latest = max(latest, done[j][1])
                    j += 1
                if v in pos and pos[v] < latest:
                    problems.append(f"{key}: the record of {v} precedes one of a write acknowledged before it began")
            last = seen[-1] if seen else None
            if items.get(key) != last:
                problems.append(f"{key}: final value {items.get(key)} but last record {last}")
        res.valid = not problems
        return res
