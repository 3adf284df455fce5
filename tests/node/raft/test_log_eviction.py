"""Entries evicted from memory are served by the driver's reader: the log
answers exactly as if it held everything, lagging followers catch up from
disk without a snapshot, and a restart can load only the tail."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from node.raft.core import Config, Raft
from node.raft.log import RaftLog
from node.raft.messages import Entry, EntryKind, Role

from .harness import Cluster

ABC = ["a", "b", "c"]


class Durable:
    """A LogReader over a list of persisted entries (what the node keeps in RocksDB)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.all = entries
        self.reads = 0

    def entries(self, lo: int, hi: int) -> list[Entry]:
        self.reads += 1
        out = [e for e in self.all if lo <= e.index < hi]
        assert len(out) == hi - lo, (lo, hi)
        return out

    def conf_entries(self, lo: int, hi: int) -> list[Entry]:
        return [e for e in self.all if lo <= e.index < hi and e.kind == EntryKind.CONF]


def _replica_reader(c: Cluster, nid: str) -> Durable:
    rep = c.replicas[nid]
    reader = Durable(rep.entries)
    c[nid].log.reader = reader
    return reader


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "commit", "apply", "stable", "evict"]),
                          st.integers(0, 8), st.integers(1, 4)), max_size=60))
def test_an_evicting_log_answers_like_one_that_keeps_everything(ops):
    plain = RaftLog()
    durable: list[Entry] = []
    evicting = RaftLog(reader=Durable(durable))
    for op, n, term in ops:
        last = plain.last_index()
        if op == "append":
            first = max(plain.commit + 1, last + 1 - n)
            t = max(plain.last_term(), term)
            batch = [Entry(t, i, b"%d" % i) for i in range(first, last + 2)]
            for log in (plain, evicting):
                log.append(batch)
        elif op == "commit":
            target = min(last, plain.commit + n)
            for log in (plain, evicting):
                log.commit_to(target)
        elif op == "apply":
            target = min(plain.commit, plain.applied + n)
            for log in (plain, evicting):
                log.applied_to(target)
        elif op == "stable":
            unstable = plain.unstable()
            if unstable:
                e = unstable[min(n, len(unstable) - 1)]
                for log in (plain, evicting):
                    log.stable_to(e.index, e.term)
                durable[:] = [x for x in durable if x.index < unstable[0].index] + unstable[:min(n, len(unstable) - 1) + 1]
        else:
            evicting.evict(plain.last_index() - n)
            assert evicting.base <= min(evicting.applied, evicting.stable)
        last = plain.last_index()
        assert evicting.last_index() == last and evicting.last_term() == plain.last_term()
        assert [evicting.term(i) for i in range(last + 2)] == [plain.term(i) for i in range(last + 2)]
        assert evicting.slice(1, last + 1) == plain.slice(1, last + 1)
        assert evicting.slice(1, last + 1, 3) == plain.slice(1, last + 1, 3)
        assert evicting.unstable() == plain.unstable()
        assert evicting.next_committed() == plain.next_committed()
        assert evicting.conf_entries(1, last + 1) == []


def test_lagging_follower_catches_up_from_evicted_entries_without_a_snapshot():
    c = Cluster(ABC, max_msg_entries=4)
    a = c.elect("a")
    c.isolate("c")
    for i in range(40):
        a.propose(b"v%d" % i)
    c.deliver()
    reader = _replica_reader(c, "a")
    assert a.log.evict(a.log.applied) > 40
    assert a.log.entries == []
    c.heal()
    c.tick_all(3)
    assert c.data("c") == c.data("a") == [b"v%d" % i for i in range(40)]
    assert reader.reads > 0 and not c.replicas["c"].installed
    a.propose(b"after")
    c.deliver()
    assert c.data("c")[-1] == b"after"


def _written(n: int) -> tuple[Cluster, Raft]:
    """Three replicas, "a" leading, `n` entries committed everywhere."""
    c = Cluster(ABC)
    a = c.elect("a")
    for i in range(n):
        a.propose(b"v%d" % i)
    c.deliver()
    return c, a


def test_evicted_leader_keeps_voting_rules_and_hands_over():
    c, _ = _written(10)
    for nid in ABC:
        _replica_reader(c, nid)
        c[nid].log.evict(c[nid].log.applied)
    # Every log is empty in memory: the election restriction uses the last term kept aside.
    c.isolate("a")
    for _ in range(100):
        c.tick_all(1)
        new = next((n for n in "bc" if c[n].role == Role.LEADER), None)
        if new is not None:
            break
    assert new is not None
    c[new].propose(b"from-" + new.encode())
    c.deliver()
    assert c.data("b")[-1] == c.data("c")[-1] == b"from-" + new.encode()


def test_restart_with_only_the_tail_in_memory():
    c, _ = _written(30)
    rep = c.replicas["a"]
    persisted = list(rep.entries)
    base = persisted[-1].index - 5
    raft = Raft(Config("a"), random.Random(1), entries=[e for e in persisted if e.index > base],
                hard_state=rep.hard_state, applied=persisted[-1].index, reader=Durable(persisted), base=base)
    assert raft.conf.voters == tuple(ABC)  # rebuilt from the membership entries on disk
    assert raft.log.last_index() == persisted[-1].index
    assert raft.log.slice(1, raft.log.last_index() + 1) == persisted
    assert raft.log.term(3) == persisted[2].term
