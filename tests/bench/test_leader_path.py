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


def test_the_puts_are_the_routers_encoding_of_a_ycsb_record():
    reqs = leader_path.puts(3, random.Random(1))
    assert all(r.op == r.PUT and len(r.item) > 1000 and not r.update for r in reqs)


def test_puts_alone_and_in_one_batch_write_are_each_answered(tmp_path):
    for op in ("put", "batch"):  # (each run fails if any write is not answered OK)
        reps = asyncio.run(leader_path.run(rounds=3, batch=4, reps=1, data_dir=tmp_path / op, encrypt=True, op=op,
                                           provisioned=op == "batch"))
        assert len(reps) == 1 and reps[0] > 0


def test_gets_read_the_loaded_records_eventually_and_strongly(tmp_path):
    reqs = leader_path.gets(3, random.Random(1), consistent=True)
    assert all(r.op == r.GET and r.consistent and r.key for r in reqs)
    for consistent in (False, True):  # (each run fails if a get is refused or finds no item)
        reps = asyncio.run(leader_path.run(rounds=3, batch=4, reps=1, data_dir=tmp_path / str(consistent), op="get",
                                           consistent=consistent))
        assert len(reps) == 1 and reps[0] > 0
