"""Transaction records on a real cluster (cluster/txn_records.py): the table
appears on first use, `begin` starts attempt 1 once, `decide` moves a
PENDING attempt exactly once whoever races for it, `restart` makes the next
attempt of an aborted one, and `finish` marks only decided attempts done."""

from __future__ import annotations

import asyncio

from cluster.partitions import Cluster
from cluster.txn_records import ABORTED, COMMITTED, PENDING, TXN_TABLE, TxnRecords
from tests.integration.conftest import cluster  # noqa: F401 (the fixture)


def run(cluster, test) -> None:  # noqa: F811
    async def go() -> None:
        seeds = [p.addr for p in cluster.procs.values() if p.kind == "node"]
        c = Cluster(seeds, "az-a", cluster_id=cluster.cluster_id)
        c.start()
        try:
            assert await c.wait_for(lambda s: True, 20)
            await test(TxnRecords(c))
        finally:
            await c.close()
    asyncio.run(go())


def test_begin_starts_once_and_answers_the_record_after(cluster):  # noqa: F811
    async def test(records: TxnRecords) -> None:
        assert await records.read("rnd-none") is None
        started, rec = await records.begin("rnd-1", "fp1")
        assert started and (rec.state, rec.attempt, rec.fingerprint, rec.done) == (PENDING, 1, "fp1", False)
        assert TXN_TABLE in records.cluster.state.tables
        again, same = await records.begin("rnd-1", "fp2")
        assert not again and same == rec  # the caller compares fingerprints and ages
    run(cluster, test)


def test_racing_decisions_have_exactly_one_winner(cluster):  # noqa: F811
    async def test(records: TxnRecords) -> None:
        ids = [f"rnd-race-{i}" for i in range(8)]
        await asyncio.gather(*(records.begin(i, "fp") for i in ids))
        for i in ids:
            commit, abort = await asyncio.gather(records.decide(i, 1, COMMITTED), records.decide(i, 1, ABORTED))
            assert commit.state == abort.state and commit.state in (COMMITTED, ABORTED)  # both see the one decision
            assert (await records.decide(i, 1, PENDING if commit.state == ABORTED else ABORTED)).state == commit.state
            assert (await records.read(i)).state == commit.state
    run(cluster, test)


def test_restart_and_finish(cluster):  # noqa: F811
    async def test(records: TxnRecords) -> None:
        await records.begin("rnd-r", "fp")
        await records.finish("rnd-r", 1)
        assert not (await records.read("rnd-r")).done  # PENDING: not done
        aborted = await records.decide("rnd-r", 1, ABORTED)
        nxt = await records.restart(aborted)
        assert (nxt.state, nxt.attempt) == (PENDING, 2)
        assert await records.restart(aborted) is None  # moved already
        stale = await records.decide("rnd-r", 1, COMMITTED)  # the old attempt lost its say
        assert (stale.state, stale.attempt) == (PENDING, 2)
        assert (await records.decide("rnd-r", 2, COMMITTED)).state == COMMITTED
        await records.finish("rnd-r", 1)  # not this attempt
        assert not (await records.read("rnd-r")).done
        await records.finish("rnd-r", 2)
        assert (await records.read("rnd-r")).done
    run(cluster, test)
