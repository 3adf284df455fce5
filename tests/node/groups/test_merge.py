"""Merging neighbouring proposals into one entry (node/groups/merge.py): order
kept, untagged proposals never merged and never moved past, limits held, and
a merged proposal's outcome reaching each part."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.groups import merge
from node.groups.merge import merge_runs


def combine(parts):
    return b"|".join(data for data, _ in parts)


def queued(loop, data: bytes, tag, answer=None, on_done=None):
    return data, loop.create_future(), on_done, answer, tag


@given(st.lists(st.booleans(), max_size=200))
def test_runs_merge_in_order_within_the_limits(tagged):
    async def go():
        loop = asyncio.get_running_loop()
        qs = [queued(loop, b"%d" % i, 1 if t else None) for i, t in enumerate(tagged)]
        out = merge_runs(qs, combine)
        flat = []
        for data, _, _, _, _ in out:
            parts = data.split(b"|")
            assert len(parts) <= merge.MAX_PARTS
            flat += parts
        assert flat == [q[0] for q in qs]
        # An untagged proposal stays a proposal of its own, at its place.
        untagged = [q for q in qs if q[4] is None]
        assert [q for q in out if q in untagged] == untagged
        # Neighbouring tagged proposals merge: as few entries as the limit allows.
        runs, current = [], 0
        for t in tagged + [False]:
            if t:
                current += 1
            elif current:
                runs.append(current)
                current = 0
        assert len(out) == len(untagged) + sum(-(-n // merge.MAX_PARTS) for n in runs)
    asyncio.run(go())


def test_the_byte_limit_starts_a_new_entry():
    async def go():
        loop = asyncio.get_running_loop()
        big = b"x" * (merge.MAX_BYTES // 2 + 1)
        qs = [queued(loop, big, 1), queued(loop, big, 1), queued(loop, b"y", 1)]
        out = merge_runs(qs, combine)
        assert out[0] is qs[0] and out[1][0] == big + b"|y"
    asyncio.run(go())


def test_a_merged_outcome_reaches_every_part():
    async def go():
        loop = asyncio.get_running_loop()
        done: list = []

        def refuse(result):
            raise ValueError(result)
        qs = [queued(loop, b"a", 1, lambda r: ("a", r), done.append),
              queued(loop, b"b", 1, refuse, done.append),
              queued(loop, b"c", 1)]
        [(data, fut, on_done, answer, tag)] = merge_runs(qs, combine)
        assert (data, tag) == (b"a|b|c", None)
        on_done(True)
        fut.set_result(answer([1, 2, 3]))
        assert done == [True, True]
        assert await qs[0][1] == ("a", 1)
        with pytest.raises(ValueError):
            await qs[1][1]
        assert await qs[2][1] == 3
        # A failure of the merged proposal (never applied, outcome unknown) fails each part.
        qs = [queued(loop, b"a", 1), queued(loop, b"b", 1)]
        [(_, fut, _, _, _)] = merge_runs(qs, combine)
        fut.set_exception(TimeoutError("unknown"))
        for q in qs:
            with pytest.raises(TimeoutError):
                await q[1]
    asyncio.run(go())
