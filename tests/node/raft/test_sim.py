"""The simulator: it must pass on the real core and fail on broken ones."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.raft import core, log as raft_log
from node.raft.messages import ReadState
from node.raft.sim import INVARIANTS, SimOptions, run_seed

SEEDS = 500  # the floor for every `make test`


def _first_violation(seeds, opts=None):
    for seed in seeds:
        r = run_seed(seed, opts)
        if not r.ok:
            return r
    return None


def test_500_seeds_hold_every_invariant():
    bad = [(r.seed, str(r.violation)) for r in (run_seed(s) for s in range(SEEDS)) if not r.ok]
    assert bad == []


@pytest.mark.parametrize("replicas", [3, 4, 5])
def test_each_cluster_size(replicas):
    for seed in range(10):
        r = run_seed(seed, SimOptions(replicas=replicas))
        assert r.ok, (seed, str(r.violation))
        assert r.replicas == replicas


def test_runs_exercise_every_feature():
    totals = {}
    for seed in range(40):
        for k, v in run_seed(seed).stats.items():
            totals[k] = totals.get(k, 0) + v
    for feature in ("elections", "commits", "lease_reads", "index_reads", "snapshots_sent",
                    "conf_changes", "transfers", "crashes", "partitions", "dropped", "flaps"):
        assert totals[feature] > 0, feature


def test_same_seed_same_run():
    a = run_seed(11, SimOptions(trace=True))
    b = run_seed(11, SimOptions(trace=True))
    assert a.trace == b.trace and a.steps == b.steps and len(a.trace) > 100


def test_trace_is_readable():
    r = run_seed(3, SimOptions(trace=True))
    text = "\n".join(r.trace)
    for phrase in ("is LEADER in term", "recv APP", "client: write", "HEAL", "liveness: probe write"):
        assert phrase in text


def test_catches_votes_for_stale_logs(monkeypatch):
    monkeypatch.setattr(raft_log.RaftLog, "is_up_to_date", lambda self, i, t: True)
    r = _first_violation(range(30))
    assert r is not None and r.violation.invariant in (INVARIANTS[2], INVARIANTS[3])


def test_catches_leases_longer_than_the_election_timeout(monkeypatch):
    monkeypatch.setattr(core.Config, "lease_ticks", property(lambda self: 3 * self.election_tick))
    r = _first_violation(range(60))
    assert r is not None and r.violation.invariant == INVARIANTS[5]
    assert "stale read" in r.violation.detail


def test_catches_reads_served_without_a_quorum(monkeypatch):
    monkeypatch.setattr(core.Raft, "_serve_read",
                        lambda self, ctx: self._read_states.append(ReadState(self.log.commit, ctx)))
    r = _first_violation(range(60), SimOptions(lease_reads=False))
    assert r is not None and r.violation.invariant == INVARIANTS[5]


def test_catches_a_lost_election(monkeypatch):
    monkeypatch.setattr(core.Raft, "_promotable", lambda self: False)
    r = run_seed(0)
    assert not r.ok and r.violation.invariant == INVARIANTS[7]


def test_clock_drift_beyond_the_lease_bound_shows_stale_reads():
    # Leases assume clocks within 5%; at ±90% a slow old leader outlives its
    # lease in real time, and the checker sees the stale read. (Without
    # connection signals: the seeds that show it fast were found so, 461 and
    # 542 the first since commit-only appends go unanswered.)
    opts = SimOptions(drift=0.9, connection_signals=False)
    seeds = range(450, 560)
    r = _first_violation(seeds, opts)
    assert r is not None and r.violation.invariant == INVARIANTS[5]
    # The same seeds with leases off (ReadIndex only) stay linearizable.
    assert _first_violation(range(seeds.start, r.seed + 1), replace(opts, lease_reads=False)) is None


def test_feature_switches():
    opts = SimOptions(membership=False, snapshots=False, crashes=False, partitions=False,
                      chaos_ticks=60)
    r = run_seed(5, opts)
    assert r.ok and r.stats["conf_changes"] == 0 and r.stats["snapshots_sent"] == 0
    assert r.stats["crashes"] == 0 and r.stats["partitions"] == 0
    assert run_seed(5, replace(opts, lease_reads=False)).stats["lease_reads"] == 0


def test_late_votes_may_elect_a_leader_of_an_older_term():
    """Seed 1079 (found by the 20,000-seed run): an isolated candidate of
    term 2 collects delayed votes after term 3 committed an entry. Raft allows
    that leader (it can neither commit nor read against term 3), so leader
    completeness only binds leaders of later terms than the commit."""
    r = run_seed(1079, SimOptions(trace=True))
    assert r.ok, r.violation
    assert any("is LEADER in term 2" in line for line in r.trace)


# The storage node's timing (node/groups/engine.py): a promise shorter than the
# election timeout, so a leader whose connections closed is replaced sooner,
# and followers that campaign before a leader would step down (CheckQuorum).
NODE_TIMING = SimOptions(election_tick=20, promise_tick=6, heartbeat_tick=1, campaign_tick=14)


def test_node_timing_holds_every_invariant():
    from node.groups.engine import CAMPAIGN_TICKS, ELECTION_TICKS, HEARTBEAT_TICKS, PROMISE_TICKS
    assert (ELECTION_TICKS, PROMISE_TICKS, HEARTBEAT_TICKS, CAMPAIGN_TICKS) == (20, 6, 1, 14)  # NODE_TIMING's
    bad = [(r.seed, str(r.violation)) for r in (run_seed(s, NODE_TIMING) for s in range(60)) if not r.ok]
    assert bad == []


def test_catches_a_lease_that_outlives_the_promise(monkeypatch):
    """A lease sized by the election timeout (17 ticks) instead of the
    promise (6): stale reads in seeds 7, 48 and 62 of the first 63 (the
    campaign timeout, 14 ticks and more, leaves the window to the elections a
    flapping connection starts at the promise's end)."""
    monkeypatch.setattr(core.Config, "lease_ticks",
                        property(lambda self: int((self.election_tick - 1) * 0.95 / 1.05)))
    r = _first_violation(range(5, 10), NODE_TIMING)
    assert r is not None and r.violation.invariant == INVARIANTS[5]


def test_catches_votes_given_early_because_a_connection_closed(monkeypatch):
    """Dropping the promise when the leader's connection closes (instead of
    only pre-voting early) lets a new leader commit under a live lease: seed
    84 is the first of 0-299 that shows it with the node's timing, 173 and 287
    the others (its connections flap less often than it is partitioned or
    crashes)."""
    in_lease = core.Raft._in_lease
    monkeypatch.setattr(core.Raft, "_in_lease", lambda self: self._lost is None and in_lease(self))
    r = _first_violation(range(80, 90), NODE_TIMING)
    assert r is not None and r.violation.invariant == INVARIANTS[5]
