"""The data the Raft core consumes and produces.

Everything here is plain data: the core never does I/O, so these records are
the whole contract between it and whatever drives it (the simulator, the
node's gRPC transport and rocksdict storage).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class MsgType(enum.IntEnum):
    """Message kinds exchanged between replicas (etcd's raftpb names in spirit)."""

    PRE_VOTE = 1
    PRE_VOTE_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    APP = 5  # AppendEntries: entries after (index, log_term), plus the leader's commit
    APP_RESP = 6  # index = last matching index, or the rejected index with a hint
    HEARTBEAT = 7  # commit and a read/lease sequence number
    HEARTBEAT_RESP = 8
    SNAP = 9  # InstallSnapshot
    TIMEOUT_NOW = 10  # leadership transfer: campaign now, skipping PreVote
    # Driver-level, never stepped into the core (node/groups/snapshots.py): a chunk
    # of a streamed snapshot (index = stream id, seq = chunk number, snapshot =
    # its metadata and the chunk, force = the last one) and its acknowledgement
    # (index = stream id, seq = chunk number, reject = out of order: start over).
    SNAP_CHUNK = 11
    SNAP_ACK = 12


class EntryKind(enum.IntEnum):
    NORMAL = 0
    CONF = 1  # data is an encoded ConfChange


class Role(enum.IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(slots=True, frozen=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL
    # The entry's encoding, opaque to the core: set by the driver's codec
    # when it first encodes the entry or received it encoded, so the leader
    # encodes an entry once for its log and every follower's frame, and a
    # follower stores the bytes it received (node/net/raft_codec.py). Not an
    # argument: an entry made from another's fields (`dataclasses.replace`)
    # never inherits bytes that say something else.
    wire: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.index}@{self.term}" + ("*" if self.kind == EntryKind.CONF else "")


@dataclass(slots=True, frozen=True)
class HardState:
    """What must be durable before any message that depends on it is sent."""

    term: int = 0
    vote: str | None = None
    commit: int = 0


@dataclass(slots=True, frozen=True)
class ConfState:
    voters: tuple[str, ...] = ()
    learners: tuple[str, ...] = ()

    def members(self) -> tuple[str, ...]:
        return self.voters + self.learners

    def __str__(self) -> str:
        s = "voters=" + ",".join(self.voters)
        if self.learners:
            s += " learners=" + ",".join(self.learners)
        return s


class ConfChangeType(enum.IntEnum):
    ADD_VOTER = 0  # adds a voter directly (prefer ADD_LEARNER then PROMOTE)
    ADD_LEARNER = 1
    PROMOTE = 2  # learner -> voter
    REMOVE = 3  # voter or learner


@dataclass(slots=True, frozen=True)
class ConfChange:
    """A single-server membership change: one voter more or less at a time."""

    type: ConfChangeType
    node: str

    def encode(self) -> bytes:
        return f"{self.type.name}:{self.node}".encode()

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        name, _, node = data.decode().partition(":")
        return cls(ConfChangeType[name], node)

    def apply(self, conf: ConfState) -> ConfState:
        """The configuration after this change; ValueError if it does not fit."""
        voters, learners = list(conf.voters), list(conf.learners)
        n = self.node
        if self.type in (ConfChangeType.ADD_VOTER, ConfChangeType.ADD_LEARNER):
            if n in voters or n in learners:
                raise ValueError(f"{n} is already a member ({conf})")
            (voters if self.type == ConfChangeType.ADD_VOTER else learners).append(n)
        elif self.type == ConfChangeType.PROMOTE:
            if n not in learners:
                raise ValueError(f"{n} is not a learner ({conf})")
            learners.remove(n)
            voters.append(n)
        else:
            if n in voters:
                voters.remove(n)
            elif n in learners:
                learners.remove(n)
            else:
                raise ValueError(f"{n} is not a member ({conf})")
            if not voters:
                raise ValueError("cannot remove the last voter")
        return ConfState(tuple(voters), tuple(learners))

    def __str__(self) -> str:
        return f"{self.type.name.lower()} {self.node}"


@dataclass(slots=True, frozen=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf: ConfState = field(default_factory=ConfState)


@dataclass(slots=True, frozen=True)
class Snapshot:
    meta: SnapshotMeta
    data: bytes = b""


@dataclass(slots=True)
class Message:
    type: MsgType
    to: str
    frm: str
    term: int
    index: int = 0  # APP: prev index; APP_RESP: match or rejected index; votes: last index
    log_term: int = 0  # APP: prev term; votes: last term; APP_RESP reject: hint term
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    seq: int = 0  # HEARTBEAT(_RESP): read-index / lease round
    snapshot: Snapshot | None = None
    force: bool = False  # VOTE during leadership transfer: ignore leader leases
    compact: int = 0  # HEARTBEAT: every member holds the log up to here (followers may compact to it)
    # APP without entries to a follower in REPLICATE: it carries only the commit
    # index, and the follower answers only a rejection (the leader's flow waits
    # on no answer to it; heartbeats keep the follower's liveness known).
    quiet: bool = False

    def __str__(self) -> str:
        t = self.type
        head = f"{t.name} {self.frm}->{self.to} t{self.term}"
        if t in (MsgType.PRE_VOTE, MsgType.VOTE):
            return f"{head} last={self.index}@{self.log_term}" + (" force" if self.force else "")
        if t in (MsgType.PRE_VOTE_RESP, MsgType.VOTE_RESP):
            return f"{head} {'reject' if self.reject else 'grant'}"
        if t == MsgType.APP:
            ents = ",".join(str(e) for e in self.entries)
            return f"{head} prev={self.index}@{self.log_term} [{ents}] commit={self.commit}" + (
                " quiet" if self.quiet else "")
        if t == MsgType.APP_RESP:
            if self.reject:
                return f"{head} reject {self.index} hint={self.reject_hint}@{self.log_term}"
            return f"{head} match={self.index}"
        if t == MsgType.HEARTBEAT:
            return f"{head} commit={self.commit} seq={self.seq}"
        if t == MsgType.HEARTBEAT_RESP:
            return f"{head} seq={self.seq}"
        if t == MsgType.SNAP and self.snapshot is not None:
            m = self.snapshot.meta
            return f"{head} snapshot={m.index}@{m.term} {m.conf}"
        return head


@dataclass(slots=True, frozen=True)
class ReadState:
    """A linearizable read may be served once the replica has applied `index`."""

    index: int
    ctx: bytes


@dataclass(slots=True, frozen=True)
class SoftState:
    leader: str | None
    role: Role


@dataclass(slots=True)
class Ready:
    """One batch of work for the driver, handled in this order:

    1. persist `snapshot`, then `entries` (replacing any persisted entries at or
       after `entries[0].index`), then `hard_state` (fsync if `must_sync`);
    2. send `messages` (when `send_first`, they may go before or while step 1
       runs: a leader's appends, whose entries count towards its own commit
       quorum only once `advance` says they are stable; Raft thesis 10.2.1);
    3. install `snapshot` into the state machine, then apply `committed`;
       serve `read_states` once applied reaches their index; fail
       `dropped_reads`;
    4. call `advance(ready)`.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    dropped_reads: list[bytes] = field(default_factory=list)
    must_sync: bool = False
    send_first: bool = False


class NotLeader(Exception):
    """Raised by propose/read_index on a replica that is not the leader."""

    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not the leader (leader hint: {leader})")
        self.leader = leader


class ProposalDropped(Exception):
    """The leader cannot take this proposal now (transfer in progress, a
    membership change still pending, or an invalid change)."""
