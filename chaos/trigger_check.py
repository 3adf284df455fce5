"""The trigger check (``trireme check --workload trigger``): the stream
workload's writes, delivered by an event source mapping to a function whose
idempotent side effect copies each record into a second table (per key: the
set of values seen, and the value of the last record handled). After the
faults heal and delivery catches up, valid when

* every acknowledged write reached the handler (at least once);
* the handler saw no value that was never written;
* each key's last handled value is the item's final value: records came in
  order, and a redelivery after a leader change resumed in order from its
  checkpoint (so the side effects equal the table's final state).
"""

from __future__ import annotations

from chaos.history import OK
from chaos.stream_check import StreamResult, WritesThenRead


class TriggerChecker(WritesThenRead):
    """Fed ``write`` (key, value) operations and the final ``read`` whose result is
    {"items": {key: value}, "seen": {key: [values]}, "last": {key: value}}."""

    name = "trigger"

    def result(self) -> StreamResult:
        writes = self._writes
        res = self._counted()
        if self._final is None:
            return res
        items, seen, last = (self._final.result[k] for k in ("items", "seen", "last"))
        res.records = sum(map(len, seen.values()))
        for key in sorted(set(writes) | set(seen) | set(items)):
            mine, got = writes.get(key, {}), set(seen.get(key, []))
            res.problems += [f"{key}: acknowledged write {v} never reached the handler"
                             for v, (st, _, _) in sorted(mine.items()) if st == OK and v not in got]
            res.problems += [f"{key}: the handler saw {v}, a value never written" for v in sorted(got - set(mine))]
            if items.get(key) != last.get(key):
                res.problems.append(f"{key}: final value {items.get(key)} but the handler's last {last.get(key)}")
        res.valid = not res.problems
        return res
