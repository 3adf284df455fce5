"""A sans-I/O Raft replica in the style of etcd's raft.

The driver feeds it `tick()`, `step(message)`, `propose(data)` and
`read_index(ctx)`, and collects a `Ready` of durable state, messages and
committed entries (see `Ready` for the order of handling). It never touches
sockets, disks, clocks, threads or randomness of its own: time is a count of
ticks and randomness comes from the `random.Random` it is given, so a seeded
simulation replays exactly.

Features: PreVote and CheckQuorum; batched, pipelined AppendEntries with
per-follower flow control; commit by majority of the current configuration;
leader leases (safe while clock rates differ by at most `max_clock_drift`)
with ReadIndex as the fallback; snapshots; learners and single-server
membership changes taking effect when appended (Raft thesis §4.1); leadership
transfer.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from .log import LogReader, RaftLog
from .messages import (ConfChange, ConfChangeType, ConfState, Entry, EntryKind, HardState,
                       Message, MsgType, NotLeader, ProposalDropped, Ready, ReadState, Role,
                       Snapshot, SnapshotMeta, SoftState)
from .progress import Progress, ProgressState


@dataclass
class Config:
    id: str
    election_tick: int = 10
    heartbeat_tick: int = 1
    # Ticks a follower refuses to help elect anyone but the leader it last
    # heard (its promise, on which the leader's lease rests); 0: election_tick.
    # Shorter than the election timeout, a dead leader whose connections
    # closed (`Raft.peer_lost`) is replaced sooner while missed heartbeats
    # alone still take a whole timeout to start an election.
    promise_tick: int = 0
    # Ticks without a word from a leader before a follower campaigns,
    # randomized in [campaign_tick, 2 * campaign_tick); 0: election_tick.
    # Between the promise and the election timeout, a silent (paused, cut
    # off) leader is replaced sooner than after a whole election timeout,
    # while a leader still steps down only when a quorum stayed silent that
    # long (CheckQuorum); pre-votes still win only once the promises ended.
    campaign_tick: int = 0
    max_msg_entries: int = 64
    max_inflight: int = 256
    pre_vote: bool = True
    check_quorum: bool = True
    lease_reads: bool = True
    # Bound on how much two replicas' tick rates may differ (0.05 = 5%).
    max_clock_drift: float = 0.05
    # Compaction may leave a member this many committed entries behind (it
    # then needs a snapshot); 0: never compact past what a member holds.
    compact_lag: int = 0
    # False: a voter that never campaigns, so never leads (a witness region's
    # member of a strongly consistent global table: it holds the log and votes).
    campaigns: bool = True

    @property
    def promise_ticks(self) -> int:
        return self.promise_tick or self.election_tick

    @property
    def campaign_ticks(self) -> int:
        return self.campaign_tick or self.election_tick

    @property
    def lease_ticks(self) -> int:
        """How long an acknowledged heartbeat keeps the leader's lease.

        A follower that acknowledged a heartbeat refuses to vote for anyone
        else for `promise_ticks` of its own ticks, at least
        (promise_ticks - 1) periods after the leader sent it. The lease must
        end before that, even when the leader's clock runs slow and the
        follower's fast, hence the drift factor.
        """
        if not self.check_quorum:
            return 0
        rho = self.max_clock_drift
        return int((self.promise_ticks - 1) * (1 - rho) / (1 + rho))


def bootstrap(voters: list[str] | tuple[str, ...]) -> tuple[list[Entry], HardState]:
    """The initial durable state of every founding member of a new group.

    The founding configuration is written into the log itself, one committed
    entry per voter (as etcd does), so a replica that joins later learns the
    whole configuration history by replaying the log from index 1.
    """
    entries = [Entry(1, i, ConfChange(ConfChangeType.ADD_VOTER, v).encode(), EntryKind.CONF)
               for i, v in enumerate(voters, start=1)]
    return entries, HardState(term=1, vote=None, commit=len(entries))


class Raft:
    def __init__(self, cfg: Config, rng: random.Random, *, snapshot: Snapshot | None = None,
                 entries: list[Entry] | None = None, hard_state: HardState = HardState(),
                 applied: int = 0, reader: LogReader | None = None, base: int | None = None) -> None:
        """Start (or restart) a replica from its durable state.

        A founding member starts from `bootstrap(voters)`; a replica joining
        an existing group starts empty and learns everything from the leader.
        A restart may hold only the entries after `base` in memory; `reader`
        serves the older ones from the driver's storage (see RaftLog.evict).
        """
        if cfg.heartbeat_tick >= cfg.promise_ticks:
            raise ValueError("heartbeat_tick must be smaller than election_tick and promise_tick")
        if cfg.promise_ticks > cfg.election_tick:
            raise ValueError("promise_tick must not exceed election_tick")
        if not cfg.promise_ticks <= cfg.campaign_ticks <= cfg.election_tick:
            raise ValueError("campaign_tick must lie between promise_tick and election_tick")
        self.cfg = cfg
        self.id = cfg.id
        self._rng = rng
        self.log = RaftLog(snapshot, entries, hard_state.commit, applied, reader=reader, base=base)
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.role = Role.FOLLOWER
        self.lead: str | None = None
        self.now = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._randomized_timeout = cfg.campaign_ticks
        # The tick until which this replica helps elect nobody but the leader
        # it last heard (see `_in_lease`). A restarted replica may have
        # acknowledged a leader's heartbeat just before it went down: it must
        # respect that leader's lease too. Only a replica that has seen a term
        # past bootstrap (1) can have done so, because it persists a leader's
        # term before answering it.
        self._promise_end = cfg.promise_ticks if hard_state.term > 1 else 0
        self._lost: str | None = None  # our leader, whose connection the driver saw close
        self._pre_won = False  # pre-vote won while still bound by our promise: campaign at its end
        self._deferred_vote: Message | None = None  # a vote asked of us, leaderless, before our promise ended
        self._confs: list[tuple[int, ConfState]] = [(self.log.offset, self.log.snapshot.meta.conf)]
        self._rebuild_conf(self.log.first_index())
        self._prs: dict[str, Progress] = {}
        self._votes: dict[str, bool] = {}
        self._msgs: list[Message] = []
        self.lead_transferee: str | None = None
        self._term_start = 0
        # Read-index and lease bookkeeping (leader only).
        self._read_seq = 0
        self._seq_sent: dict[int, int] = {}
        self._acked: dict[str, int] = {}
        self._lease_until = 0
        self._lease_broken = False
        self._pending_reads: deque[tuple[int, int, bytes]] = deque()
        self._waiting_reads: list[bytes] = []
        self._read_states: list[ReadState] = []
        self._dropped_reads: list[bytes] = []
        self._bcast = False
        self._bcast_commit = False
        self._hb_needed = False
        self._compact_hint = 0  # follower: the leader's word on what every member holds
        self._prev_hs = HardState(self.term, self.vote, self.log.commit)
        self._prev_ss = SoftState(None, Role.FOLLOWER)
        self._reset_timeout()

    # ------------------------------------------------------------------
    # Configuration
    @property
    def conf(self) -> ConfState:
        return self._confs[-1][1]

    def _rebuild_conf(self, changed_from: int) -> None:
        """Re-derive the configuration after the log changed at `changed_from`."""
        while len(self._confs) > 1 and self._confs[-1][0] >= changed_from:
            self._confs.pop()
        for e in self.log.conf_entries(max(changed_from, self.log.first_index()), self.log.last_index() + 1):
            self._confs.append((e.index, ConfChange.decode(e.data).apply(self.conf)))
        if self.role == Role.LEADER:
            self._sync_progress()

    def _sync_progress(self) -> None:
        conf = self.conf
        members = conf.members()  # a tuple: iteration order must not depend on hashing
        for peer in list(self._prs):
            if peer not in members:
                del self._prs[peer]
                self._acked.pop(peer, None)
        for peer in members:
            if peer == self.id:
                continue
            pr = self._prs.get(peer)
            if pr is None:
                pr = self._prs[peer] = Progress(self.log.last_index() + 1)
                pr.recent_active = True
            pr.learner = peer in conf.learners
        if self.lead_transferee is not None and self.lead_transferee not in conf.voters:
            self.lead_transferee = None

    def _promotable(self) -> bool:
        return self.cfg.campaigns and self.id in self.conf.voters and self.log.pending_snapshot is None

    def _quorum(self) -> int:
        return len(self.conf.voters) // 2 + 1

    # ------------------------------------------------------------------
    # Role changes
    def _reset_timeout(self) -> None:
        c = self.cfg.campaign_ticks
        self._randomized_timeout = c + self._rng.randrange(c)

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.lead = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_timeout()
        self.lead_transferee = None
        self._votes = {}
        self._pre_won = False
        self._prs = {}
        self._acked = {}
        self._seq_sent = {}
        self._lease_until = 0
        self._lease_broken = False
        for _, _, ctx in self._pending_reads:
            self._dropped_reads.append(ctx)
        self._pending_reads.clear()
        self._dropped_reads.extend(self._waiting_reads)
        self._waiting_reads = []
        self._bcast = self._bcast_commit = self._hb_needed = False

    def _become_follower(self, term: int, lead: str | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.lead = lead

    def _become_pre_candidate(self) -> None:
        # Term and vote stay: a pre-candidate disrupts nobody.
        self.role = Role.PRE_CANDIDATE
        self.lead = None
        self._votes = {}
        self._pre_won = False

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.lead = self.id
        self._sync_progress()
        for pr in self._prs.values():
            pr.recent_active = True
        # An empty entry of the new term commits everything before it and
        # tells us when reads are safe (Raft §8).
        self._term_start = self._append(b"").index

    # ------------------------------------------------------------------
    # Inputs
    def tick(self) -> None:
        """Advance logical time by one tick."""
        self.now += 1
        if self.role == Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if not self._in_lease():
            # Our promise to the old leader is over: answer the vote we held
            # back, then run if our early pre-vote (`peer_lost`) won.
            deferred, self._deferred_vote = self._deferred_vote, None
            if deferred is not None:
                self.step(deferred)
            if self._pre_won and self.role == Role.PRE_CANDIDATE:
                self._campaign(pre=False)
                return
        if self._promotable() and self.election_elapsed >= self._randomized_timeout:
            self.election_elapsed = 0
            self._campaign(pre=self.cfg.pre_vote)
        elif self.role == Role.PRE_CANDIDATE and not self._pre_won:
            self._ask_again()

    def _tick_leader(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum:
                active = 1 + sum(1 for p, pr in self._prs.items()
                                 if not pr.learner and pr.recent_active and p in self.conf.voters)
                if active < self._quorum():
                    self._become_follower(self.term, None)
                    return
                for pr in self._prs.values():
                    pr.recent_active = False
            self.lead_transferee = None  # a transfer that did not finish in time
        for peer, pr in self._prs.items():
            if (pr.state == ProgressState.SNAPSHOT
                    and self.now - pr.snapshot_sent_at >= self.cfg.election_tick):
                # The snapshot or its answer was lost: probe again, which
                # sends a fresh snapshot if the follower still needs one.
                pr.state = ProgressState.PROBE
                pr.next = pr.match + 1
                pr.probe_sent = False
                pr.pending_snapshot = 0
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self._hb_needed = True

    def campaign(self) -> None:
        """Start an election now (tests and bootstrap), honouring PreVote."""
        if self.role != Role.LEADER and self._promotable():
            self._campaign(pre=self.cfg.pre_vote)

    def peer_lost(self, peer: str) -> None:
        """The driver saw its connection with `peer` close (the peer's process
        died, most likely: its kernel closed the sockets). When `peer` is our
        leader, start a pre-vote now instead of waiting for missed heartbeats.

        Safe against a connection that merely flapped: a pre-vote moves no
        term, the other voters grant it only when they too lost the leader
        (a live leader's heartbeats keep them bound), and the real election
        still waits until every promise made to the old leader has run out
        (`_in_lease`), so its lease stays sound. A leader that is alive
        reconnects and its next heartbeat makes us its follower again.
        """
        if self.role != Role.FOLLOWER or self.lead != peer or not self.cfg.check_quorum:
            return
        self._lost = peer
        if self.cfg.pre_vote and self._promotable():
            self._campaign(pre=True)

    def lost_leader_recently(self) -> bool:
        """Did this replica hear its leader within the promise period, and
        lose it only by a closed connection (`peer_lost`)? Its state is then
        as recent as a follower's, though it no longer names a leader."""
        return self._lost is not None and self.now < self._promise_end

    def _campaign(self, pre: bool, force: bool = False) -> None:
        if pre:
            self._become_pre_candidate()
            term, mtype = self.term + 1, MsgType.PRE_VOTE
        else:
            self._become_candidate()
            term, mtype = self.term, MsgType.VOTE
        if self._poll(self.id, True):
            return
        last, last_term = self.log.last_index(), self.log.last_term()
        for v in self.conf.voters:
            if v != self.id:
                self._msgs.append(Message(mtype, v, self.id, term, index=last, log_term=last_term,
                                          force=force))

    def _ask_again(self) -> None:
        """Ask the voters that have not granted our pre-vote once more. A
        voter that still heard the leader when our first request came (we saw
        its connection close a moment sooner) ignored it, and may have lost
        the leader since; without asking again the election waits for a
        random timeout (0.7-1.4 s) instead of the promise (0.3 s). A pre-vote
        moves no term, so asking again disturbs nobody."""
        self._votes = {v: g for v, g in self._votes.items() if g}
        last, last_term = self.log.last_index(), self.log.last_term()
        for v in self.conf.voters:
            if v not in self._votes:
                self._msgs.append(Message(MsgType.PRE_VOTE, v, self.id, self.term + 1, index=last,
                                          log_term=last_term))

    def _poll(self, frm: str, granted: bool) -> bool:
        """Count a vote; True if the election was decided by it."""
        if frm not in self.conf.voters:
            return False
        self._votes.setdefault(frm, granted)
        yes = sum(1 for g in self._votes.values() if g)
        q = self._quorum()
        if yes >= q:
            if self.role == Role.PRE_CANDIDATE:
                if self._in_lease():
                    self._pre_won = True  # we still owe the old leader our vote: see _tick_election
                    return True
                self._campaign(pre=False, force=False)
            else:
                self._become_leader()
            return True
        if len(self._votes) - yes >= q:
            self._become_follower(self.term, None)
            return True
        return False

    def _in_lease(self) -> bool:
        """True while this replica must not help elect anyone but its leader:
        while it leads, and for `promise_ticks` after it last heard the
        leader (the leader's lease relies on that) or restarted."""
        return self.cfg.check_quorum and (self.role == Role.LEADER or self.now < self._promise_end)

    def step(self, m: Message) -> None:
        """Handle a message from a peer."""
        if m.term > self.term:
            if m.type in (MsgType.PRE_VOTE, MsgType.VOTE) and not m.force and self._in_lease():
                if self._lost is None or self.role == Role.LEADER:
                    return
                # We lost our leader too: a pre-vote is harmless, a vote waits
                # until our promise to the old leader ends (_tick_election).
                if m.type == MsgType.VOTE:
                    self._deferred_vote = m
                    return
            if m.type == MsgType.PRE_VOTE or (m.type == MsgType.PRE_VOTE_RESP and not m.reject):
                pass  # a pre-vote moves no terms
            else:
                lead = m.frm if m.type in (MsgType.APP, MsgType.HEARTBEAT, MsgType.SNAP) else None
                self._become_follower(m.term, lead)
        elif m.term < self.term:
            if m.type in (MsgType.APP, MsgType.HEARTBEAT) and (self.cfg.check_quorum or self.cfg.pre_vote):
                # A deposed leader that cannot hear the new one would otherwise
                # keep its followers' pre-votes failing forever: tell it.
                self._msgs.append(Message(MsgType.APP_RESP, m.frm, self.id, self.term))
            elif m.type == MsgType.PRE_VOTE:
                self._msgs.append(Message(MsgType.PRE_VOTE_RESP, m.frm, self.id, self.term, reject=True))
            return

        if m.type in (MsgType.PRE_VOTE, MsgType.VOTE):
            self._handle_vote_request(m)
        elif self.role == Role.LEADER:
            self._step_leader(m)
        elif self.role in (Role.PRE_CANDIDATE, Role.CANDIDATE):
            self._step_candidate(m)
        else:
            self._step_follower(m)

    def _handle_vote_request(self, m: Message) -> None:
        resp = MsgType.PRE_VOTE_RESP if m.type == MsgType.PRE_VOTE else MsgType.VOTE_RESP
        can_vote = (self.vote == m.frm
                    or (self.vote is None and self.lead is None)
                    or (m.type == MsgType.PRE_VOTE and m.term > self.term))
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._msgs.append(Message(resp, m.frm, self.id, m.term))
            if m.type == MsgType.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
            elif self.role == Role.PRE_CANDIDATE and self._in_lease() and m.frm < self.id:
                # Two voters that lost the leader at once both run early; the
                # lower id goes on alone, so their votes do not split.
                self._become_follower(self.term, None)
        else:
            self._msgs.append(Message(resp, m.frm, self.id, self.term, reject=True))

    def _step_candidate(self, m: Message) -> None:
        if m.type in (MsgType.APP, MsgType.HEARTBEAT, MsgType.SNAP):
            self._become_follower(self.term, m.frm)
            self._step_follower(m)
        elif ((m.type == MsgType.PRE_VOTE_RESP and self.role == Role.PRE_CANDIDATE)
              or (m.type == MsgType.VOTE_RESP and self.role == Role.CANDIDATE)):
            self._poll(m.frm, not m.reject)

    def _step_follower(self, m: Message) -> None:
        if m.type in (MsgType.APP, MsgType.HEARTBEAT, MsgType.SNAP):
            self.election_elapsed = 0
            self.lead = m.frm
            self._promise_end = self.now + self.cfg.promise_ticks
            self._lost = None
            self._deferred_vote = None
            if m.type == MsgType.APP:
                self._handle_append(m)
            elif m.type == MsgType.HEARTBEAT:
                self.log.commit_to(min(m.commit, self.log.last_index()))
                self._compact_hint = max(self._compact_hint, m.compact)
                self._msgs.append(Message(MsgType.HEARTBEAT_RESP, m.frm, self.id, self.term, seq=m.seq))
            else:
                self._handle_snapshot(m)
        elif m.type == MsgType.TIMEOUT_NOW and self._promotable():
            # Leadership transfer: the old leader asked us to run now; voters
            # set their leases aside for this election only.
            self._campaign(pre=False, force=True)

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.commit:
            self._msgs.append(Message(MsgType.APP_RESP, m.frm, self.id, self.term, index=log.commit))
            return
        res = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if res is not None:
            last_new, changed = res
            if changed is not None:
                self._rebuild_conf(changed)
            if not m.quiet:
                self._msgs.append(Message(MsgType.APP_RESP, m.frm, self.id, self.term, index=last_new))
            return
        hint = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
        self._msgs.append(Message(MsgType.APP_RESP, m.frm, self.id, self.term, index=m.index,
                                  reject=True, reject_hint=hint, log_term=log.term(hint) or 0))

    def _handle_snapshot(self, m: Message) -> None:
        assert m.snapshot is not None
        meta = m.snapshot.meta
        log = self.log
        if meta.index <= log.commit:
            pass
        elif log.match_term(meta.index, meta.term):
            log.commit_to(meta.index)  # we already have it all: fast-forward
        else:
            log.restore(m.snapshot)
            self._confs = [(meta.index, meta.conf)]
        self._msgs.append(Message(MsgType.APP_RESP, m.frm, self.id, self.term, index=log.commit))

    def _step_leader(self, m: Message) -> None:
        pr = self._prs.get(m.frm)
        if pr is None:
            return
        if m.type == MsgType.APP_RESP:
            pr.recent_active = True
            if m.reject:
                hint = m.reject_hint
                if m.log_term > 0:
                    hint = self.log.find_conflict_by_term(hint, m.log_term)
                if pr.maybe_decr_to(m.index, hint):
                    self._send_append(m.frm)
                return
            was_paused = pr.paused(self.cfg.max_inflight)
            if not pr.maybe_update(m.index):
                return
            if pr.state == ProgressState.PROBE:
                pr.become_replicate()
            elif pr.state == ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
                pr.become_probe()
                pr.become_replicate()
            if self._maybe_commit():
                self._bcast_commit = True
            elif was_paused:
                self._send_append(m.frm)
            while self._send_append(m.frm, send_empty=False):
                pass
            if m.frm == self.lead_transferee and pr.match == self.log.last_index():
                self._send_timeout_now(m.frm)
        elif m.type == MsgType.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == ProgressState.REPLICATE and pr.paused(self.cfg.max_inflight):
                pr.inflight.popleft()
            if pr.match < self.log.last_index():
                self._send_append(m.frm)
            if m.seq:
                self._ack_read(m.frm, m.seq)

    def propose(self, data: bytes) -> tuple[int, int]:
        """Append a command; returns (term, index). It was committed if the
        entry applied at that index carries that term."""
        self._check_can_propose()
        e = self._append(data)
        return e.term, e.index

    def propose_conf_change(self, cc: ConfChange) -> tuple[int, int]:
        """Propose a single-server membership change; one may be pending at a time."""
        self._check_can_propose()
        if self._confs[-1][0] > self.log.commit:
            raise ProposalDropped("a membership change is still pending")
        if self.log.commit < self._term_start:
            raise ProposalDropped("the leader has not yet committed an entry of its term")
        if cc.type == ConfChangeType.REMOVE and cc.node == self.id:
            raise ProposalDropped("transfer leadership away before removing the leader")
        try:
            cc.apply(self.conf)
        except ValueError as exc:
            raise ProposalDropped(str(exc)) from None
        e = self._append(cc.encode(), EntryKind.CONF)
        return e.term, e.index

    def _check_can_propose(self) -> None:
        if self.role != Role.LEADER:
            raise NotLeader(self.lead)
        if self.lead_transferee is not None:
            raise ProposalDropped(f"leadership is being transferred to {self.lead_transferee}")

    def _append(self, data: bytes, kind: EntryKind = EntryKind.NORMAL) -> Entry:
        e = Entry(self.term, self.log.last_index() + 1, data, kind)
        self.log.append([e])
        if kind == EntryKind.CONF:
            self._rebuild_conf(e.index)
        self._bcast = True
        return e

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read; a ReadState(ctx) in a later Ready says
        which index to wait for, or ctx shows up in `dropped_reads`."""
        if self.role != Role.LEADER:
            raise NotLeader(self.lead)
        if self.log.commit < self._term_start:
            self._waiting_reads.append(ctx)  # until our term's first entry commits
        else:
            self._serve_read(ctx)

    def _serve_read(self, ctx: bytes) -> None:
        if self.lease_valid():
            self._read_states.append(ReadState(self.log.commit, ctx))
        else:
            self._pending_reads.append((self._read_seq + 1, self.log.commit, ctx))
            self._hb_needed = True

    def lease_valid(self, late: float = 0.0) -> bool:
        """Can the leader answer a strongly consistent read without a round trip?

        `late`: the time, in ticks, that has passed since the last `tick()`
        (a caller between ticks, or whose ticks run late, counts it so that
        the lease ends on time)."""
        if self.role != Role.LEADER or not self.cfg.lease_reads or self._lease_broken:
            return False
        if len(self.conf.voters) == 1:
            return True
        return self.now + late < self._lease_until

    def _ack_read(self, frm: str, seq: int) -> None:
        voters = self.conf.voters
        if frm not in voters or seq <= self._acked.get(frm, 0):
            return
        self._acked[frm] = seq
        acks = sorted((self._read_seq if v == self.id else self._acked.get(v, 0) for v in voters),
                      reverse=True)
        qseq = acks[self._quorum() - 1]
        if qseq == 0:
            return
        sent = self._seq_sent.get(qseq)
        if sent is not None and self.cfg.lease_ticks > 0:
            self._lease_until = max(self._lease_until, sent + self.cfg.lease_ticks)
        for s in [s for s in self._seq_sent if s < qseq]:
            del self._seq_sent[s]
        while self._pending_reads and self._pending_reads[0][0] <= qseq:
            _, index, ctx = self._pending_reads.popleft()
            self._read_states.append(ReadState(index, ctx))

    def transfer_leadership(self, target: str) -> None:
        """Hand leadership to `target` once its log has caught up."""
        if self.role != Role.LEADER:
            raise NotLeader(self.lead)
        if target == self.id or target not in self.conf.voters:
            raise ProposalDropped(f"cannot transfer leadership to {target}")
        self.lead_transferee = target
        self.election_elapsed = 0  # the transfer gets one election timeout
        if self._prs[target].match == self.log.last_index():
            self._send_timeout_now(target)
        else:
            self._send_append(target)

    def _send_timeout_now(self, target: str) -> None:
        # The target's election will ignore leases, so ours ends here.
        self._lease_broken = True
        self._msgs.append(Message(MsgType.TIMEOUT_NOW, target, self.id, self.term))

    def held_by_all(self) -> int:
        """Leader: the highest index every member holds, committed (a member
        never loses a committed entry), or past a member that lags more than
        `compact_lag`; 0 when not the leader."""
        if self.role != Role.LEADER:
            return 0
        commit = self.log.commit
        held = min([commit] + [pr.match for pr in self._prs.values()])
        return max(held, commit - self.cfg.compact_lag) if self.cfg.compact_lag else held

    def compactable(self) -> int:
        """How far this replica may compact its log without any current member
        ever needing a snapshot from it: applied entries that every member
        holds (the leader knows; a follower has the leader's word for it)."""
        held = self.held_by_all() if self.role == Role.LEADER else self._compact_hint
        return min(self.log.applied, held)

    def conf_at(self, index: int) -> ConfState:
        """The membership as of `index` (at or after the snapshot)."""
        return next(c for i, c in reversed(self._confs) if i <= index)

    def compact(self, index: int, data: bytes) -> Snapshot:
        """Record a snapshot of the state machine at applied `index` and drop
        the log before it. The driver persists the returned snapshot."""
        log = self.log
        if index <= log.offset:
            return log.snapshot
        conf = self.conf_at(index)
        snap = Snapshot(SnapshotMeta(index, log.term(index) or 0, conf), data)
        log.compact(snap)
        keep = [(i, c) for i, c in self._confs if i > index]
        self._confs = [(index, conf)] + keep
        return snap

    # ------------------------------------------------------------------
    # Sending
    def _send_append(self, to: str, send_empty: bool = True) -> bool:
        pr = self._prs[to]
        if pr.paused(self.cfg.max_inflight):
            return False
        log = self.log
        if pr.next > log.last_index() + 1:
            pr.next = log.last_index() + 1
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None:
            snap = log.snapshot
            self._msgs.append(Message(MsgType.SNAP, to, self.id, self.term, snapshot=snap))
            pr.become_snapshot(snap.meta.index, self.now)
            return True
        ents = log.slice(pr.next, log.last_index() + 1, self.cfg.max_msg_entries)
        if not ents and not send_empty:
            return False
        # An empty APP to a follower in REPLICATE only tells it the commit index:
        # its answer would say nothing new (quiet), half the messages of a lone write.
        self._msgs.append(Message(MsgType.APP, to, self.id, self.term, index=prev, log_term=prev_term,
                                  entries=tuple(ents), commit=log.commit,
                                  quiet=not ents and pr.state == ProgressState.REPLICATE))
        pr.sent(ents[-1].index if ents else prev, len(ents))
        return True

    def _bcast_heartbeat(self) -> None:
        self._read_seq += 1
        seq = self._read_seq
        self._seq_sent[seq] = self.now
        commit = self.log.commit
        held = self.held_by_all()
        for peer, pr in self._prs.items():
            self._msgs.append(Message(MsgType.HEARTBEAT, peer, self.id, self.term,
                                      commit=min(pr.match, commit), seq=seq, compact=held))
        if len(self.conf.voters) == 1:
            self._ack_read(self.id, seq)

    def _maybe_commit(self) -> bool:
        voters = self.conf.voters
        matches = sorted((self.log.stable if v == self.id else
                          (self._prs[v].match if v in self._prs else 0) for v in voters), reverse=True)
        mci = matches[self._quorum() - 1]
        if mci <= self.log.commit or self.log.term(mci) != self.term:
            return False
        first_in_term = self.log.commit < self._term_start <= mci
        self.log.commit_to(mci)
        if first_in_term:
            waiting, self._waiting_reads = self._waiting_reads, []
            for ctx in waiting:
                self._serve_read(ctx)
        return True

    def _flush(self) -> None:
        if self.role == Role.LEADER:
            if self._bcast or self._bcast_commit:
                for peer, pr in self._prs.items():
                    if self._send_append(peer, send_empty=self._bcast_commit):
                        while pr.state == ProgressState.REPLICATE and self._send_append(peer, False):
                            pass
            if self._hb_needed:
                self._bcast_heartbeat()
        self._bcast = self._bcast_commit = self._hb_needed = False

    # ------------------------------------------------------------------
    # Ready / advance
    def has_ready(self) -> bool:
        log, hs, ss = self.log, self._prev_hs, self._prev_ss
        return bool(self._msgs or self._bcast or self._bcast_commit or self._hb_needed
                    or log.stable < log.last_index() or log.pending_snapshot is not None
                    or log.commit > max(log.applied, log.offset)
                    or self._read_states or self._dropped_reads
                    # (fields compared, not new HardState/SoftState: this runs for every group every turn)
                    or self.term != hs.term or self.vote != hs.vote or log.commit != hs.commit
                    or self.lead != ss.leader or self.role != ss.role)

    def ready(self) -> Ready:
        """Collect the work the driver must do; call `advance` when done."""
        self._flush()
        log = self.log
        rd = Ready()
        ss = SoftState(self.lead, self.role)
        if ss != self._prev_ss:
            rd.soft_state = ss
        hs = HardState(self.term, self.vote, log.commit)
        if hs != self._prev_hs:
            rd.hard_state = hs
        rd.entries = log.unstable()
        rd.snapshot = log.pending_snapshot
        rd.committed = log.next_committed()
        rd.messages, self._msgs = self._msgs, []
        rd.read_states, self._read_states = self._read_states, []
        rd.dropped_reads, self._dropped_reads = self._dropped_reads, []
        prev = self._prev_hs
        rd.must_sync = bool(rd.entries) or rd.snapshot is not None or (
            hs.term != prev.term or hs.vote != prev.vote)
        # A leader's messages are appends, heartbeats and answers that vouch
        # for nothing it has yet to persist (its commit quorum counts its own
        # log only up to `stable`), so they may travel while it writes: the
        # followers' fsyncs overlap its own. Not when its term or vote is new:
        # those must be durable before anyone hears of them.
        rd.send_first = (self.role == Role.LEADER and hs.term == prev.term and hs.vote == prev.vote
                         and rd.snapshot is None)
        return rd

    def advance(self, rd: Ready) -> None:
        """Acknowledge that `rd` was persisted, sent and applied."""
        log = self.log
        if rd.soft_state is not None:
            self._prev_ss = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hs = rd.hard_state
        if rd.snapshot is not None:
            if log.pending_snapshot is rd.snapshot:
                log.pending_snapshot = None
            log.applied_to(rd.snapshot.meta.index)
        if rd.entries:
            e = rd.entries[-1]
            log.stable_to(e.index, e.term)
        if rd.committed:
            log.applied_to(rd.committed[-1].index)
        if self.role == Role.LEADER and rd.entries and self._maybe_commit():
            self._bcast_commit = True

    # ------------------------------------------------------------------
    @property
    def term_start(self) -> int:
        """Index of the leader's first entry of its term: state is current
        for evaluating new writes once this is applied."""
        return self._term_start

    def match_of(self, peer: str) -> int:
        """How much of the log the leader knows `peer` holds (0 if unknown)."""
        pr = self._prs.get(peer)
        return pr.match if pr is not None else 0

    def status(self) -> dict:
        """A readable summary for operators and traces."""
        return {
            "id": self.id, "role": self.role.name, "term": self.term, "vote": self.vote,
            "leader": self.lead, "commit": self.log.commit, "applied": self.log.applied,
            "last_index": self.log.last_index(), "snapshot_index": self.log.offset,
            "voters": list(self.conf.voters), "learners": list(self.conf.learners),
            "progress": {p: repr(pr) for p, pr in self._prs.items()},
            "lease": self.lease_valid(),
        }
