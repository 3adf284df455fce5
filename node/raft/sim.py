"""A deterministic simulator for the Raft core, FoundationDB-style.

One seed fixes everything: the cluster size, each replica's clock rate, the
network's drops, delays, duplicates and reorderings, partitions, crashes and
restarts, membership changes and the client workload. Replicas are real
`Raft` objects; the simulator plays their disk (durable state survives a
crash, nothing else does), their network and their clocks, and after every
step checks the safety properties of Raft:

- election safety: at most one leader per term;
- log matching: entries with the same index and term carry the same data and
  follow the same history;
- leader completeness: a new leader holds every entry committed before it;
- state-machine safety: every replica applies the same entry at each index,
  and snapshots agree with what was applied;
- durable-state sanity: terms never go back, no replica votes twice in a term;
- linearizable reads: a lease or ReadIndex read reflects every write that
  could have been acknowledged before the read was issued;
- no lost acknowledged write;

and, once the network heals and every replica is back, liveness: a leader
emerges and a new proposal commits on every member within a bounded number
of ticks.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field

from .core import Config, Raft, bootstrap
from .messages import (ConfChange, ConfChangeType, Entry, EntryKind, HardState, Message,
                       NotLeader, ProposalDropped, Ready, Role, Snapshot)

TICK = 100  # simulated time units per nominal tick

TRACE_LEGEND = (
    "time is in nominal ticks; 'recv' = delivered, 'lost' = lost by the lossy network, "
    "'cut' = dropped by a partition, 'down' = receiver crashed; N@M = the entry at index N from term M, "
    "* = membership entry")

INVARIANTS = (
    "election safety (one leader per term)",
    "log matching",
    "leader completeness",
    "state-machine safety (same entry applied at each index, snapshots agree)",
    "durable terms never decrease, one vote per term",
    "linearizable lease and ReadIndex reads",
    "no acknowledged write lost",
    "liveness after heal (leader elected, proposal committed on every member)",
)


class Violation(Exception):
    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(invariant, detail)  # picklable: results cross process boundaries
        self.invariant = invariant
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@dataclass
class SimOptions:
    replicas: int | None = None  # None: the seed picks 3 to 5
    chaos_ticks: int = 240  # ticks of faults before the heal
    heal_ticks: int = 200  # liveness bound after the heal
    election_tick: int = 10
    heartbeat_tick: int = 1
    promise_tick: int = 0  # 0: election_tick (node.raft.core.Config.promise_tick)
    campaign_tick: int = 0  # 0: election_tick (node.raft.core.Config.campaign_tick)
    drift: float | None = None  # actual clock-rate spread; None: within the configured bound
    max_clock_drift: float = 0.05  # the bound the leases are configured for
    lease_reads: bool = True
    crashes: bool = True
    partitions: bool = True
    membership: bool = True
    snapshots: bool = True
    # A crash closes the crashed replica's connections: the others hear of it
    # (`Raft.peer_lost`) a moment later; and connections flap now and then,
    # telling replicas that a live peer was lost.
    connection_signals: bool = True
    trace: bool = False


@dataclass
class SimResult:
    seed: int
    ok: bool
    steps: int
    violation: Violation | None = None
    trace: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    replicas: int = 0


class _Disk:
    """What survives a crash: exactly what the Ready contract says to persist."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []


class _StateMachine:
    """A hash chain over applied entries: cheap to compare across replicas."""

    __slots__ = ("applied", "chain", "writes")

    def __init__(self) -> None:
        self.applied = 0
        self.chain = b""
        self.writes = 0

    def apply(self, e: Entry) -> None:
        self.applied = e.index
        self.chain = hashlib.blake2b(self.chain + e.data + bytes([e.kind]) + e.term.to_bytes(8, "big"),
                                     digest_size=8).digest()
        if e.data.startswith(b"w"):
            self.writes += 1

    def snapshot(self) -> bytes:
        return b"%d:%d:" % (self.applied, self.writes) + self.chain.hex().encode()

    def restore(self, data: bytes) -> None:
        applied, writes, chain = data.split(b":")
        self.applied, self.writes, self.chain = int(applied), int(writes), bytes.fromhex(chain.decode())


class _Node:
    def __init__(self, nid: str, disk: _Disk) -> None:
        self.id = nid
        self.disk = disk
        self.up = False
        self.incarnation = 0
        self.raft: Raft | None = None
        self.sm = _StateMachine()
        self.past: dict[int, bytes] = {}  # applied index -> state then (compacting behind applied)
        self.rate = 1.0
        self.reads: list[tuple[int, bytes]] = []  # ReadStates waiting for apply
        self.recorded_commit = 0


class Simulation:
    PROBE = b"probe"

    def __init__(self, seed: int, opts: SimOptions | None = None) -> None:
        self.seed = seed
        self.opts = opts = opts or SimOptions()
        self.rng = random.Random(seed)
        rng = self.rng
        self.n = opts.replicas or rng.choice((3, 3, 4, 5, 5))
        ids = [f"n{i}" for i in range(1, self.n + 1)]
        spares = [f"n{i}" for i in range(self.n + 1, self.n + 3)] if opts.membership else []
        self.nodes: dict[str, _Node] = {}
        for i in ids:
            disk = self.nodes.setdefault(i, _Node(i, _Disk())).disk
            disk.entries, disk.hard_state = bootstrap(ids)
        for i in spares:
            self.nodes[i] = _Node(i, _Disk())
        self.drift = opts.drift if opts.drift is not None else opts.max_clock_drift * 0.9
        # Network behaviour for this seed.
        self.drop = rng.choice((0.0, 0.01, 0.05, 0.15))
        self.dup = rng.choice((0.0, 0.0, 0.02, 0.05))
        self.long_delay = rng.choice((0.0, 0.02, 0.1))
        self.compact_every = rng.choice((5, 10, 25, 1000)) if opts.snapshots else 0
        # As the node's partitions do: compact only what every member holds
        # (as the leader says), or past a member lagging more than compact_lag.
        self.compact_behind = rng.random() < 0.5
        self.compact_lag = rng.choice((0, 0, 15, 60))
        # Its own stream: with the signals off, every seed runs as it did before they existed.
        self.conn_rng = random.Random(seed ^ 0x5EED) if opts.connection_signals else None
        self.blocked: set[tuple[str, str]] = set()
        self.now = 0
        self._seq = 0
        self._events: list[tuple[int, int, str, object]] = []
        self.steps = 0
        self.healed = False
        self.trace: list[str] = []
        self.stats = {k: 0 for k in ("messages", "dropped", "elections", "commits", "writes_acked",
                                     "lease_reads", "index_reads", "snapshots_sent", "conf_changes",
                                     "transfers", "crashes", "partitions", "flaps")}
        # Global knowledge for the invariants.
        self.leaders: dict[int, str] = {}
        self.entry_registry: dict[tuple[int, int], tuple[bytes, int, int]] = {}
        self.committed: dict[int, Entry] = {}
        self.commit_terms: dict[int, int] = {}  # index -> term of the node that first saw it committed
        self.max_commit = 0
        self.chains: dict[int, bytes] = {}
        self.acked: list[tuple[int, int, bytes]] = []
        self.proposals: dict[tuple[str, int], tuple[int, bytes]] = {}
        self.pending_reads: dict[bytes, tuple[str, int, int]] = {}
        self.read_seq = 0
        self.write_seq = 0
        self.probe_index: int | None = None  # where the first post-heal probe committed
        self.probe_done = False

    # -- plumbing -------------------------------------------------------
    def _log(self, text: str) -> None:
        if self.opts.trace:
            self.trace.append(f"[{self.now / TICK:9.2f}] {text}")

    def _at(self, when: int, kind: str, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, payload))

    def _start(self, node: _Node) -> None:
        d = node.disk
        node.incarnation += 1
        node.up = True
        node.rate = 1.0 + self.rng.uniform(-self.drift, self.drift)
        node.sm = _StateMachine()
        node.past = {}
        if d.snapshot is not None and d.snapshot.data:
            node.sm.restore(d.snapshot.data)
        node.reads = []
        cfg = Config(node.id, election_tick=self.opts.election_tick, promise_tick=self.opts.promise_tick,
                     campaign_tick=self.opts.campaign_tick,
                     heartbeat_tick=self.opts.heartbeat_tick, lease_reads=self.opts.lease_reads,
                     max_clock_drift=self.opts.max_clock_drift, max_msg_entries=8, max_inflight=16,
                     compact_lag=self.compact_lag)
        node.raft = Raft(cfg, random.Random(self.rng.getrandbits(32)), snapshot=d.snapshot,
                         entries=list(d.entries), hard_state=d.hard_state, applied=node.sm.applied)
        node.recorded_commit = 0
        self._schedule_tick(node)
        self._log(f"{node.id} {'restart' if node.incarnation > 1 else 'start'} "
                  f"(clock rate {node.rate:.3f})")

    def _schedule_tick(self, node: _Node) -> None:
        period = max(1, round(TICK / node.rate))
        self._at(self.now + period, "tick", (node.id, node.incarnation))

    # -- running --------------------------------------------------------
    def run(self) -> SimResult:
        opts = self.opts
        try:
            for node in self.nodes.values():
                if self._has_state(node) or self.rng.random() < 0.5:
                    self._start(node)
            self._at(self.rng.randrange(TICK // 2), "client", None)
            self._at(TICK * 5, "nemesis", None)
            self._at(opts.chaos_ticks * TICK, "heal", None)
            deadline = (opts.chaos_ticks + opts.heal_ticks) * TICK
            while self._events:
                when, _, kind, payload = heapq.heappop(self._events)
                if when > deadline:
                    self.now = deadline
                    break
                self.now = when
                self.steps += 1
                self._handle(kind, payload)
                if self.healed and self._probe_applied_everywhere():
                    break
            if not self.probe_done:
                self._fail_liveness()
            self._check_acked()
            return self._result(None)
        except Violation as v:
            self._log(f"VIOLATION {v}")
            return self._result(v)

    def _result(self, v: Violation | None) -> SimResult:
        return SimResult(self.seed, v is None, self.steps, v, self.trace, self.stats, self.n)

    def _handle(self, kind: str, payload: object) -> None:
        if kind == "tick":
            nid, inc = payload  # type: ignore[misc]
            node = self.nodes[nid]
            if node.up and node.incarnation == inc:
                node.raft.tick()
                self._process(node)
                self._schedule_tick(node)
        elif kind == "deliver":
            self._deliver(payload)  # type: ignore[arg-type]
        elif kind == "client":
            self._client()
            self._at(self.now + self.rng.randrange(5, TICK), "client", None)
        elif kind == "nemesis":
            if not self.healed:
                self._nemesis()
                self._at(self.now + self.rng.randrange(5 * TICK, 40 * TICK), "nemesis", None)
        elif kind == "heal":
            self._heal()
        elif kind == "lost":
            nid, peer = payload  # type: ignore[misc]
            node = self.nodes[nid]
            if node.up:
                self._log(f"  {nid} saw its connection with {peer} close")
                node.raft.peer_lost(peer)
                self._process(node)

    def _connections_closed(self, peer: str, observers: list[str] | None = None) -> None:
        """`peer`'s connections closed (it crashed, or they flapped): tell the
        replicas that are up, a moment later, as their transports would."""
        rng = self.conn_rng
        if rng is None:
            return
        for nid in observers if observers is not None else list(self.nodes):
            if nid != peer and self.nodes[nid].up:
                self._at(self.now + rng.randrange(1, 30), "lost", (nid, peer))

    def _flap(self) -> None:
        """Sometimes a live leader's connections to some replicas close and
        reopen: it must not be deposed while they still hear it."""
        rng = self.conn_rng
        leader = self._leader()
        if rng is None or leader is None or rng.random() >= 0.3:
            return
        others = [n for n in self.nodes if n != leader.id]
        seen = rng.sample(others, rng.randrange(1, len(others) + 1))
        self.stats["flaps"] += 1
        self._log(f"NEMESIS connections of {leader.id} flap at " + ",".join(sorted(seen)))
        self._connections_closed(leader.id, seen)

    def _deliver(self, m: Message) -> None:
        node = self.nodes[m.to]
        if not node.up or (m.frm, m.to) in self.blocked:
            self.stats["dropped"] += 1
            self._log(f"  {'cut ' if node.up else 'down'} {m}")
            return
        self._log(f"  recv {m}")
        node.raft.step(m)
        self._process(node)

    def _send(self, m: Message) -> None:
        self.stats["messages"] += 1
        if m.type.name == "SNAP":
            self.stats["snapshots_sent"] += 1
        rng = self.rng
        if not self.healed and rng.random() < self.drop:
            self.stats["dropped"] += 1
            self._log(f"  lost {m}")
            return
        copies = 2 if (not self.healed and rng.random() < self.dup) else 1
        for _ in range(copies):
            delay = rng.randrange(1, 30)
            if not self.healed and rng.random() < self.long_delay:
                delay = rng.randrange(TICK, 30 * TICK)
            self._at(self.now + delay, "deliver", m)

    # -- the driver: what a node does with a Ready -----------------------
    def _process(self, node: _Node) -> None:
        raft = node.raft
        while raft.has_ready():
            rd = raft.ready()
            if rd.send_first:  # the engine sends a leader's appends while it fsyncs
                for m in rd.messages:
                    self._send(m)
                if self._crash_mid_write(node, rd):
                    return
            self._persist(node, rd)
            if not rd.send_first:
                for m in rd.messages:
                    self._send(m)
            self._apply(node, rd)
            raft.advance(rd)
            self._maybe_compact(node)
        self._serve_reads(node)

    def _crash_mid_write(self, node: _Node, rd: Ready) -> bool:
        """Sometimes a leader dies after its appends left and before its own
        write finished: followers then hold entries its disk never got."""
        if not (self.opts.crashes and not self.healed and rd.entries and self.rng.random() < 0.03):
            return False
        node.up = False
        self.stats["crashes"] += 1
        self._connections_closed(node.id)
        self._log(f"NEMESIS crash {node.id} while writing {rd.entries[0].index}..{rd.entries[-1].index} "
                  f"(sent, not durable)")
        return True

    def _maybe_compact(self, node: _Node) -> None:
        sm = node.sm
        index = node.raft.compactable() if self.compact_behind else sm.applied
        if not self.compact_every or index - node.raft.log.offset < self.compact_every:
            return
        data = sm.snapshot() if index == sm.applied else node.past.get(index)
        if data is not None:
            node.past = {i: d for i, d in node.past.items() if i > index}
            snap = node.raft.compact(index, data)
            node.disk.snapshot = snap
            node.disk.entries = [e for e in node.disk.entries if e.index > snap.meta.index]
            self._log(f"{node.id} compacted its log up to {snap.meta.index}")

    def _persist(self, node: _Node, rd: Ready) -> None:
        d = node.disk
        if rd.snapshot is not None:
            d.snapshot = rd.snapshot
            d.entries = []  # a received snapshot replaces the whole log
        if rd.entries:
            first = rd.entries[0].index
            d.entries = [e for e in d.entries if e.index < first]
            d.entries.extend(rd.entries)
            self._check_log_matching(node, rd.entries)
        if rd.hard_state is not None:
            old, new = d.hard_state, rd.hard_state
            if new.term < old.term:
                raise Violation(INVARIANTS[4], f"{node.id} term went back from {old.term} to {new.term}")
            if new.term == old.term and old.vote is not None and new.vote != old.vote:
                raise Violation(INVARIANTS[4],
                                f"{node.id} voted for {old.vote} and then {new.vote} in term {new.term}")
            d.hard_state = new
            self._record_commit(node)
        if rd.soft_state is not None:
            ss = rd.soft_state
            self._log(f"{node.id} is {ss.role.name} in term {node.raft.term} (leader {ss.leader})")
            if ss.role == Role.LEADER:
                self._check_new_leader(node)

    def _check_log_matching(self, node: _Node, entries: list[Entry]) -> None:
        log = node.raft.log
        for e in entries:
            prev_term = log.term(e.index - 1)
            key = (e.index, e.term)
            rec = (e.data, int(e.kind), -1 if prev_term is None else prev_term)
            seen = self.entry_registry.get(key)
            if seen is None:
                self.entry_registry[key] = rec
            elif seen[:2] != rec[:2] or (seen[2] != rec[2] and -1 not in (seen[2], rec[2])):
                raise Violation(INVARIANTS[1], f"{node.id} holds entry {e.index}@{e.term} = {rec}, "
                                               f"another replica held {seen}")

    def _record_commit(self, node: _Node) -> None:
        log = node.raft.log
        commit = log.commit
        lo = max(node.recorded_commit, log.offset) + 1
        for i in range(lo, commit + 1):
            e = log.entry(i)
            seen = self.committed.get(i)
            if seen is None:
                self.committed[i] = e
                self.commit_terms[i] = node.raft.term
                self.stats["commits"] += 1
                if e.data == self.PROBE and self.probe_index is None:
                    self.probe_index = i
            elif seen != e:
                raise Violation(INVARIANTS[3],
                                f"{node.id} committed {e} ({e.data!r}) at index {i}, but {seen} "
                                f"({seen.data!r}) was committed there before")
        node.recorded_commit = max(node.recorded_commit, commit)
        if commit > self.max_commit:
            self.max_commit = commit
            self._log(f"{node.id} commit -> {commit}")

    def _check_new_leader(self, node: _Node) -> None:
        raft = node.raft
        term = raft.term
        self.stats["elections"] += 1
        other = self.leaders.setdefault(term, node.id)
        if other != node.id:
            raise Violation(INVARIANTS[0], f"{other} and {node.id} are both leaders of term {term}")
        log = raft.log
        for i in range(log.first_index(), self.max_commit + 1):
            e = self.committed.get(i)
            # Raft promises committed entries to the leaders of *later* terms:
            # a candidate of an older term may still win with late votes, but
            # it can neither commit nor serve reads against the newer term.
            if e is not None and self.commit_terms[i] < term and log.term(i) != e.term:
                raise Violation(INVARIANTS[2], f"{node.id} became leader of term {term} without "
                                               f"committed entry {e} (it has term {log.term(i)} there)")

    def _apply(self, node: _Node, rd: Ready) -> None:
        sm = node.sm
        if rd.snapshot is not None:
            sm.restore(rd.snapshot.data)
            want = self.chains.get(sm.applied)
            if want is not None and want != sm.chain:
                raise Violation(INVARIANTS[3], f"{node.id} installed a snapshot at {sm.applied} "
                                               "that disagrees with what others applied")
            self._log(f"{node.id} installed snapshot at {sm.applied}")
        for e in rd.committed:
            if e.index != sm.applied + 1:
                raise Violation(INVARIANTS[3], f"{node.id} applied {e} after {sm.applied}")
            seen = self.committed.get(e.index)
            if seen is not None and seen != e:
                raise Violation(INVARIANTS[3], f"{node.id} applied {e} but {seen} was committed there")
            sm.apply(e)
            if self.compact_behind and self.compact_every:
                node.past[e.index] = sm.snapshot()
            want = self.chains.setdefault(e.index, sm.chain)
            if want != sm.chain:
                raise Violation(INVARIANTS[3], f"{node.id} state after applying {e} differs from others'")
            prop = self.proposals.pop((node.id, e.index), None)
            if prop is not None and prop[0] == e.term:
                self.acked.append((e.index, e.term, prop[1]))
                self.stats["writes_acked"] += 1
            if e.kind == EntryKind.CONF:
                self._log(f"{node.id} applied conf change {ConfChange.decode(e.data)} at {e.index}")
        for rs in rd.read_states:
            node.reads.append((rs.index, rs.ctx))
        for ctx in rd.dropped_reads:
            self.pending_reads.pop(ctx, None)

    def _serve_reads(self, node: _Node) -> None:
        if not node.reads:
            return
        keep = []
        for index, ctx in node.reads:
            if node.sm.applied < index:
                keep.append((index, ctx))
                continue
            pending = self.pending_reads.pop(ctx, None)
            if pending is None:
                continue
            _, invoked_at, must_see = pending
            if node.sm.applied < must_see:
                raise Violation(INVARIANTS[5],
                                f"read {ctx.decode()} on {node.id} (issued at t={invoked_at / TICK:.2f}) "
                                f"saw state at index {node.sm.applied}, but index {must_see} was "
                                "already committed when it was issued: a stale read")
            self._log(f"{node.id} served read {ctx.decode()} at index {node.sm.applied}")
        node.reads = keep

    # -- workload -------------------------------------------------------
    def _leader(self) -> _Node | None:
        best = None
        for node in self.nodes.values():
            if node.up and node.raft.role == Role.LEADER:
                if best is None or node.raft.term > best.raft.term:
                    best = node
        return best

    def _client(self) -> None:
        rng = self.rng
        # Clients talk to whoever believes it leads, stale leaders included:
        # that is exactly where stale reads would come from.
        leaders = [n for n in self.nodes.values() if n.up and n.raft.role == Role.LEADER]
        if not leaders:
            return
        node = rng.choice(leaders)
        raft = node.raft
        op = rng.random()
        try:
            if self.healed and self.probe_index is None:
                raft.propose(self.PROBE)
                self._log(f"client: probe write at {node.id}")
            elif op < 0.55 or self.healed:
                self.write_seq += 1
                data = b"w%d" % self.write_seq
                term, index = raft.propose(data)
                self.proposals[(node.id, index)] = (term, data)
                self._log(f"client: write {data.decode()} at {node.id} -> {index}@{term}")
            elif op < 0.9:
                self.read_seq += 1
                ctx = b"r%d" % self.read_seq
                lease = raft.lease_valid()
                self.pending_reads[ctx] = (node.id, self.now, self.max_commit)
                raft.read_index(ctx)
                self.stats["lease_reads" if lease else "index_reads"] += 1
                self._log(f"client: read {ctx.decode()} at {node.id} "
                          f"({'lease' if lease else 'read index'}), must see {self.max_commit}")
            elif op < 0.97 and self.opts.membership:
                self._membership(node)
            else:
                others = [v for v in raft.conf.voters if v != node.id]
                if others:
                    target = rng.choice(others)
                    raft.transfer_leadership(target)
                    self.stats["transfers"] += 1
                    self._log(f"client: transfer leadership {node.id} -> {target}")
        except (NotLeader, ProposalDropped) as exc:
            self._log(f"client: {node.id} refused: {exc}")
        self._process(node)

    def _membership(self, leader: _Node) -> None:
        raft = leader.raft
        conf = raft.conf
        rng = self.rng
        outside = [n for n in self.nodes if n not in conf.members()]
        choices = []
        if outside and len(conf.members()) < len(self.nodes):
            choices.append(ConfChange(ConfChangeType.ADD_LEARNER, rng.choice(outside)))
        for lid in conf.learners:
            match = raft.match_of(lid)
            if match + 5 >= raft.log.last_index() and len(conf.voters) < 5:
                choices.append(ConfChange(ConfChangeType.PROMOTE, lid))
        if len(conf.voters) > 3:
            choices.append(ConfChange(ConfChangeType.REMOVE,
                                      rng.choice([v for v in conf.voters if v != leader.id])))
        if conf.learners:
            choices.append(ConfChange(ConfChangeType.REMOVE, rng.choice(conf.learners)))
        if not choices:
            return
        cc = rng.choice(choices)
        raft.propose_conf_change(cc)
        self.stats["conf_changes"] += 1
        self._log(f"client: propose {cc} at {leader.id}")
        target = self.nodes[cc.node]
        if not target.up and cc.type == ConfChangeType.ADD_LEARNER:
            self._start(target)

    # -- faults ---------------------------------------------------------
    def _nemesis(self) -> None:
        rng = self.rng
        opts = self.opts
        ids = list(self.nodes)
        choice = rng.random()
        if opts.partitions and choice < 0.45:
            self.blocked.clear()
            kind = rng.random()
            if kind < 0.4:
                # Cutting off the leader is the fault that tests leases and
                # leader completeness hardest: favour it.
                leader = self._leader()
                victim = leader.id if leader and rng.random() < 0.6 else rng.choice(ids)
                for o in ids:
                    if o != victim:
                        self.blocked.add((victim, o))
                        self.blocked.add((o, victim))
                desc = f"isolate {victim}"
            elif kind < 0.8:
                side = set(rng.sample(ids, rng.randrange(1, len(ids))))
                for a in ids:
                    for b in ids:
                        if (a in side) != (b in side):
                            self.blocked.add((a, b))
                desc = "split " + ",".join(sorted(side)) + " | " + ",".join(
                    sorted(i for i in ids if i not in side))
            else:
                a, b = rng.sample(ids, 2)
                self.blocked.add((a, b))
                desc = f"cut link {a}->{b} (one way)"
            self.stats["partitions"] += 1
            self._log(f"NEMESIS {desc}")
        elif opts.partitions and choice < 0.6:
            self.blocked.clear()
            self._log("NEMESIS heal network")
        elif opts.crashes and choice < 0.85:
            up = [n for n in self.nodes.values() if n.up]
            if up:
                node = rng.choice(up)
                node.up = False
                self.stats["crashes"] += 1
                self._connections_closed(node.id)
                self._log(f"NEMESIS crash {node.id} (durable: term {node.disk.hard_state.term}, "
                          f"{len(node.disk.entries)} entries)")
        elif opts.crashes:
            down = [n for n in self.nodes.values() if not n.up and self._has_state(n)]
            if down:
                node = rng.choice(down)
                self._log(f"NEMESIS restart {node.id}")
                self._start(node)
        self._flap()
        if rng.random() < 0.2:
            self.drop = rng.choice((0.0, 0.01, 0.05, 0.15, 0.3))
            self._log(f"NEMESIS message loss now {self.drop:.0%}")

    @staticmethod
    def _has_state(node: _Node) -> bool:
        return node.disk.snapshot is not None or bool(node.disk.entries) or node.incarnation > 0

    def _heal(self) -> None:
        self.healed = True
        self.blocked.clear()
        self._log("HEAL: network whole, every replica up, no loss; liveness bound starts")
        for node in self.nodes.values():
            if not node.up and self._has_state(node):
                self._start(node)

    def _probe_applied_everywhere(self) -> bool:
        if self.probe_index is None:
            return False
        leader = self._leader()
        if leader is None:
            return False
        for m in leader.raft.conf.members():
            node = self.nodes[m]
            if not node.up or node.sm.applied < self.probe_index:
                return False
        self.probe_done = True
        self._log(f"liveness: probe write (index {self.probe_index}) applied on every member")
        return True

    def _fail_liveness(self) -> None:
        leader = self._leader()
        state = ", ".join(f"{n.id}:{n.raft.role.name}/t{n.raft.term}/c{n.raft.log.commit}"
                          for n in self.nodes.values() if n.up)
        raise Violation(INVARIANTS[7], f"no progress {self.opts.heal_ticks} ticks after heal "
                                       f"(leader {leader.id if leader else None}; {state})")

    def _check_acked(self) -> None:
        for index, term, data in self.acked:
            e = self.committed.get(index)
            if e is None or e.term != term or e.data != data:
                raise Violation(INVARIANTS[6], f"acknowledged write {data!r} at {index}@{term} is gone")


def run_seed(seed: int, opts: SimOptions | None = None) -> SimResult:
    return Simulation(seed, opts).run()
