"""bench/leader_path.py: a one-member partition answers every update it is fed."""

from __future__ import annotations

import asyncio
import random

from bench import leader_path


def test_the_updates_are_the_routers_encoding_of_ycsb_a():
    reqs = leader_path.updates(5, random.Random(1))
    assert [r.id for r in reqs] == list(range(5))
    assert all(r.op == r.UPDATE and r.update and r.key_names == ["key"] for r in reqs)


def test_a_short_run_answers_every_write_and_reports_each_repetition(tmp_path):
    reps = asyncio.run(leader_path.run(rounds=3, batch=4, reps=2, data_dir=tmp_path))
    assert len(reps) == 2 and all(x > 0 for x in reps)
