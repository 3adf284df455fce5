"""A deliberately naive linearizability checker, the oracle for `chaos.linear`.

It is the definition, searched exhaustively with no pruning beyond memoising
(placed set, value): each ok operation takes effect at one instant inside its
window, each info write/cas at any instant after its invoke or never, fail
operations and info reads never.  Exponential: tiny histories only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from chaos.history import INFO, OK, Operation


def brute_linearizable(ops: Sequence[Operation], initial: Any = None) -> bool:
    finite = [o for o in ops if o.status == OK and o.complete_time is not None]
    optional = [o for o in ops
                if (o.status == INFO or o.complete_time is None) and o.f != "read"]
    pool = finite + optional
    must = frozenset(range(len(finite)))

    @lru_cache(maxsize=None)
    def go(placed: frozenset, state: Any) -> bool:
        if must <= placed:
            return True
        bound = min(finite[i].complete_time for i in must - placed)
        for i, o in enumerate(pool):
            if i in placed or o.invoke_time > bound:
                continue
            if o.f == "read":
                if state != o.result:
                    continue
                new = state
            elif o.f == "write":
                new = o.value
            else:
                expected, new = o.value
                if state != expected:
                    continue
            if go(placed | {i}, new):
                return True
        return False

    return go(frozenset(), initial)
