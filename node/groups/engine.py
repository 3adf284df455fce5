"""The multi-Raft driver: every replica on this node, one loop.

Each turn of the loop ticks the cores by wall-clock time, feeds them what
arrived (messages, proposals, reads), then handles all their Readies together:
one RocksDB write batch holding every group's new log entries, hard states and
applied data, one fsync for all of it (group commit), then the messages to
each peer in one frame, then the answers. A leader's appends leave before
the fsync, and so do its answers for entries already committed (their
durability is the quorum's, not this batch's). Requests that arrive during
the fsync ride the next turn.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from cluster.histogram import Buckets
from cluster.regions import split_qualified
from node.groups.clock import Clock
from node.groups.disk_log import MEMORY_ENTRIES, DiskLog, trim
from node.raft.core import Config, Raft, bootstrap
from node.raft.messages import HardState, Message, MsgType, Ready, Role, Snapshot
from node.groups.replica import Replica
from node.groups.snapshots import pump
from node.groups.syncer import Syncer
from node.storage import Storage
from node.net.peers import Transport
from node.net.raft_codec import decode_entry, decode_hard_state, decode_snapshot

log = logging.getLogger(__name__)

TICK_S = 0.05         # one Raft tick
# A leader that heard no quorum for an election timeout (1 s) steps down.
ELECTION_TICKS = 20
# A follower owes its leader's lease 0.3 s after it last heard it (the lease:
# 0.2 s, renewed by every heartbeat): a leader whose connections closed
# (its process died) is replaced that soon (node.raft.core.Raft.peer_lost).
PROMISE_TICKS = 6
HEARTBEAT_TICKS = 1   # 0.05 s: a lease outlives a heartbeat answered within 0.15 s
# A follower that heard nothing for 0.7-1.4 s (a paused or cut-off leader) campaigns
# (not sooner: a leader whose messages lag 0.5 s is slow, not gone).
CAMPAIGN_TICKS = 14
MAX_CATCH_UP = 3 * ELECTION_TICKS
# Compaction leaves a member that lags this far behind to a snapshot.
COMPACT_LAG = int(os.environ.get("TRIREME_RAFT_COMPACT_LAG", "20000"))
EXPIRE_EVERY_S = 0.25  # how often proposals past their deadline are answered


class Engine:
    def __init__(self, node_id: str, storage: Storage, address_of: Callable[[str], str | None],
                 *, tick_s: float = TICK_S, election_ticks: int = ELECTION_TICKS,
                 seed: int | None = None) -> None:
        self.node_id = node_id
        self.storage = storage
        self.tick_s = tick_s
        self.election_ticks = election_ticks
        self.replicas: dict[str, Replica] = {}
        self.transport = Transport(node_id, address_of, self._deliver)
        self.transport.on_lost = self._peer_lost
        self._inbox: dict[str, list[Message]] = {}
        self._lost_peers: set[str] = set()  # connections that ended since the last turn
        self._elected: dict[str, float] = {}  # group -> when this node became its leader, until writable
        self._wake = asyncio.Event()
        self._rng = random.Random(seed)
        self.clock = Clock()
        self._last_tick = self.clock.now()
        self._task: asyncio.Task | None = None
        self._pumps: set[asyncio.Task] = set()  # snapshot streams being read (node/groups/snapshots.py)
        self.factories: dict[str, Callable[..., Replica]] = {}
        self.on_unknown_group: Callable[[str, Message], None] | None = None
        self.meta_changed: Callable[[Any], None] = lambda state: None
        self.role_changed: Callable[[Replica], None] = lambda replica: None
        # A leader applied writes that leave global-index changes to ship (node.feed.index_shipper).
        self.outbox_filled: Callable[[str], None] = lambda group: None
        # Is this global index (its hidden table) still being created? (node.feed.index_shipper)
        self.index_creating: Callable[[str], bool] = lambda table: False
        # A partition split: its new group's replica was opened here (node.control.view registers it).
        self.split_applied: Callable[[Replica], None] = lambda child: None
        self.loop_turns = 0
        self.fsyncs = 0
        # For /metrics (node/services/metrics_http.py): a turn's batch write and its fsync,
        # snapshot streams, entries proposed by this node's leaders (node/groups/replica.py).
        self.append_seconds = Buckets()
        self.fsync_seconds = Buckets()
        self.snapshots_sent = 0
        self.snapshots_received = 0
        self.proposals = 0
        # Strongly consistent reads that needed a ReadIndex round (the leader's lease had lapsed)
        self.read_index_rounds = 0
        self._syncer = Syncer(lambda: self.storage.flush_wal(True), name=f"wal-sync-{node_id}")

    # --- lifecycle --------------------------------------------------------

    def start(self) -> None:
        self._last_tick = self.clock.now()
        self._task = asyncio.create_task(self._run(), name="engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for t in list(self._pumps):
            t.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        for r in self.replicas.values():
            r.close("node stopping")
        await self.transport.close()
        await asyncio.get_running_loop().run_in_executor(None, self._syncer.close)

    def wake(self) -> None:
        self._wake.set()

    def ticks_late(self) -> float:
        """The time since the cores last ticked, in ticks: a lease read adds it
        to the cores' clocks, which stand still between ticks (and a busy or
        stalled loop ticks late). Without it, a read that found the loop a
        moment late for its tick had to take a ReadIndex round (about 1% of
        YCSB-C's strongly consistent reads at 64 clients)."""
        return (self.clock.now() - self._last_tick) / self.tick_s

    # --- replicas -----------------------------------------------------------

    def _raft_config(self, config: dict) -> Config:
        """A group's Raft settings: its member id is this node's id, or for a
        group spanning regions the `REGION/NODE` it has there (`member`); a
        `witness` member never campaigns."""
        return Config(id=config.get("member") or self.node_id, campaigns=not config.get("witness"),
                      election_tick=self.election_ticks, promise_tick=PROMISE_TICKS,
                      campaign_tick=min(CAMPAIGN_TICKS, self.election_ticks), heartbeat_tick=HEARTBEAT_TICKS,
                      max_msg_entries=256, max_inflight=512, compact_lag=COMPACT_LAG)

    def recover(self) -> None:
        """Recreate every replica this node's storage holds."""
        for group in self.storage.list_groups():
            raw = self.storage.group_config(group)
            config = orjson.loads(raw) if raw else {}
            self._load(group, config)

    def _load(self, group: str, config: dict) -> Replica:
        log_ = self.storage.raft
        hs_raw = log_.hard_state(group)
        hs = decode_hard_state(hs_raw) if hs_raw else HardState()
        snap_raw = log_.snapshot(group)
        snap = decode_snapshot(snap_raw) if snap_raw else None
        first, last = log_.first_index(group), log_.last_index(group)
        factory = self.factories[config.get("kind", "partition")]
        # A replica whose state lives in memory (`replay`) starts from its
        # snapshot's state; one whose state is in storage from its applied index.
        applied = (snap.meta.index if snap else 0) if config.get("replay") else self.storage.applied_index(group)
        # Only the tail goes back into memory; older entries stay on disk.
        base = max(first - 1, min(applied, last) - MEMORY_ENTRIES)
        entries = [decode_entry(b) for b in log_.entries(group, base + 1, last + 1)] if last > base else []
        raft = Raft(self._raft_config(config), random.Random(self._rng.random()), snapshot=snap, entries=entries,
                    hard_state=hs, applied=applied, reader=DiskLog(self.storage, group), base=base)
        replica = factory(self, group, raft, config)
        self.replicas[group] = replica
        self.wake()
        return replica

    def open(self, group: str, config: dict) -> Replica:
        """A replica whose whole state an applied entry wrote to storage
        (a split's new group, node/partition/split.py)."""
        return self.replicas.get(group) or self._load(group, config)

    def create(self, group: str, config: dict, voters: list[str] | None) -> Replica:
        """Create a replica: a founding member (with `voters`) or an empty one
        that learns everything from its group's leader."""
        if group in self.replicas:
            return self.replicas[group]
        batch = self.storage.batch()
        batch.set_group_config(group, orjson.dumps(config))
        if voters:
            entries, hs = bootstrap(voters)
            from node.net.raft_codec import encode_entry, encode_hard_state
            self.storage.raft.append_entries(batch, group, [(e.index, encode_entry(e)) for e in entries])
            self.storage.raft.save_hard_state(batch, group, encode_hard_state(hs))
        self.storage.write(batch, sync=True)
        replica = self._load(group, config)
        if voters and replica.raft.id == voters[0]:
            replica.raft.campaign()  # a new group's first voter runs at once, not after an election timeout
        return replica

    def destroy(self, group: str) -> None:
        """Remove a replica: its Raft state and every key range its state
        occupies (a partition's items, index entries, versions, stream, change
        log, tombstones: ``Replica.state_ranges``), so nothing of it lingers."""
        replica = self.replicas.pop(group, None)
        ranges = replica.state_ranges() if replica is not None else []
        if replica is not None:
            replica.close(f"replica {group} removed from {self.node_id}")
        self._inbox.pop(group, None)
        batch = self.storage.batch()
        self.storage.drop_group(batch, group)
        for cf, lo, hi in ranges:
            batch.delete_range(cf, lo, hi)
        self.storage.write(batch, sync=True)

    def _deliver(self, group: str, m: Message) -> None:
        if group not in self.replicas:
            if self.on_unknown_group is not None:
                self.on_unknown_group(group, m)
            if group not in self.replicas:
                return
        if m.type in (MsgType.SNAP_CHUNK, MsgType.SNAP_ACK):
            self._stream_message(self.replicas[group], m)
            return
        self._inbox.setdefault(group, []).append(m)
        self._wake.set()

    def _peer_lost(self, peer: str) -> None:
        self._lost_peers.add(peer)
        self._wake.set()

    def _tell_lost(self) -> None:
        """Tell the replicas whose leader's connection ended (Raft.peer_lost),
        after the messages that arrived before the end were stepped. Members
        of groups spanning regions are `REGION/NODE`; this region's travel
        under their plain ids."""
        lost, self._lost_peers = self._lost_peers, set()
        region = self.transport.region
        for r in self.replicas.values():
            lead = r.raft.lead
            if lead is None or lead == r.raft.id:
                continue
            home, node = split_qualified(lead)
            if lead in lost or (home == region and node in lost):
                r.raft.peer_lost(lead)
                log.info("%s: connection to leader %s closed; %s at term %d", r.group, lead,
                         r.raft.role.name.lower(), r.raft.term)

    # --- the loop -------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_expire = time.monotonic()
        while True:
            delay = (self._last_tick + self.tick_s - self.clock.now()) / self.clock.rate
            if delay > 0 and not self._wake.is_set():
                # A timer, not wait_for (a task and a timer every turn).
                timer = loop.call_later(delay, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    timer.cancel()
            self._wake.clear()
            try:
                await self._turn(loop)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug in one turn must not kill the node silently; the next
                # turn retries with the state the cores still hold.
                log.exception("engine turn failed")
                for r in self.replicas.values():
                    r.log_last_unknown()  # the failed batch may not have been written
                await asyncio.sleep(0.05)
            now = time.monotonic()
            if now - last_expire >= EXPIRE_EVERY_S:
                last_expire = now
                for r in list(self.replicas.values()):
                    r.expire(now)
                    r.streams.expire(now)

    async def _turn(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop_turns += 1
        ticked = self.clock.now()
        now = time.monotonic()
        ticks = int((ticked - self._last_tick) / self.tick_s)
        if ticks:
            self._last_tick += ticks * self.tick_s
            # After a stall (GC, SIGSTOP) tick enough for leases and election
            # timers to see the time that passed, not every missed tick.
            for r in self.replicas.values():
                raft = r.raft
                for _ in range(min(ticks, MAX_CATCH_UP)):
                    raft.tick()
        inbox, self._inbox = self._inbox, {}
        for group, msgs in inbox.items():
            r = self.replicas.get(group)
            if r is None:
                continue
            for m in msgs:
                try:
                    r.raft.step(m)
                except Exception:
                    log.exception("%s: step %s failed", group, m)
        if self._lost_peers:
            self._tell_lost()
        readies: list[tuple[Replica, Ready]] = []
        for r in list(self.replicas.values()):
            r.feed(now)
            if r.raft.has_ready():
                readies.append((r, r.raft.ready()))
        if not readies:
            return
        for r, rd in readies:
            if rd.soft_state is not None:
                self._role_changed(r, rd.soft_state.role, now)
        # Leaders' appends leave first, so the followers' fsyncs overlap this
        # node's own (the core counts the leader's entries only once stable).
        for r, rd in readies:
            if rd.send_first:
                self._send(r, rd)
        self.transport.flush()
        batch = self.storage.batch()
        must_sync = False
        results = []
        for r, rd in readies:
            r.persist(batch, rd)
            results.append(r.apply(batch, rd))
            must_sync = must_sync or rd.must_sync
        started = time.perf_counter()
        self.storage.write(batch, sync=False)
        written = time.perf_counter()
        self.append_seconds.observe(written - started)
        early = [False] * len(readies)
        if must_sync:
            # A leader's answers vouch only for entries already committed,
            # durable on a quorum, and their applied state is written: they
            # need not wait for this batch's fsync (the new entries' own).
            now = time.monotonic()
            for i, ((r, rd), res) in enumerate(zip(readies, results)):
                if rd.send_first and rd.soft_state is None and (rd.committed or rd.read_states):
                    early[i] = True
                    r.after(rd, res, now)
            self.fsyncs += 1
            await self._syncer.sync()
            self.fsync_seconds.observe(time.perf_counter() - written)
        for r, rd in readies:
            if not rd.send_first:
                self._send(r, rd)
        self.transport.flush()
        now = time.monotonic()
        compacted = None
        for (r, rd), res, answered in zip(readies, results, early):
            if not answered:
                r.after(rd, res, now)
            r.raft.advance(rd)
            if rd.committed and r.compact_due() and r.group in self.replicas:
                compacted = compacted or self.storage.batch()
                r.compact(compacted)
            trim(r.raft.log)
        if compacted is not None:
            self.storage.write(compacted, sync=False)
        if self._elected:
            self._note_writable(now)
        if any(r.raft.has_ready() for r, _ in readies):
            self._wake.set()

    def _role_changed(self, r: Replica, role: Role, now: float) -> None:
        """Log an election step: where a failover's time went is read off
        these lines (a closed connection, pre-vote, vote, leader, writable)."""
        raft = r.raft
        log.info("%s: %s at term %d (leader %s)", r.group, role.name.lower(), raft.term, raft.lead)
        if role == Role.LEADER:
            self._elected[r.group] = now
        else:
            self._elected.pop(r.group, None)

    def _note_writable(self, now: float) -> None:
        """Log when a new leader applied its term's first entry (writable)."""
        for group, since in list(self._elected.items()):
            r = self.replicas.get(group)
            if r is None or r.raft.role != Role.LEADER:
                del self._elected[group]
            elif r.writable():
                del self._elected[group]
                log.info("%s: writable at term %d, %.0f ms after its election", group, r.raft.term,
                         (now - since) * 1000)

    def _send(self, r: Replica, rd: Ready) -> None:
        if rd.messages and r.group in self.replicas:
            self.transport.send(r.group, self._sendable(r, rd.messages), flush_soon=False)  # _turn flushes

    def _sendable(self, r: Replica, msgs: list[Message]) -> list[Message]:
        """SNAP messages as the replica's snapshots travel: inline as they
        are; streamed (node/groups/snapshots.py) by starting a stream to that member
        unless one runs; never (the member waits; the core probes again)."""
        if r.snapshot_mode == "inline" or not any(m.type == MsgType.SNAP for m in msgs):
            return msgs
        out = []
        for m in msgs:
            if m.type != MsgType.SNAP:
                out.append(m)
            elif r.snapshot_mode != "stream":
                log.warning("%s: %s needs entries compacted away; this group cannot send snapshots",
                            r.group, m.to)
            elif m.to not in r.streams.out:
                self._start_stream(r, m.to)
        return out

    def _start_stream(self, r: Replica, to: str) -> None:
        """A snapshot stream to ``to``, its chunks read off the loop (snapshots.pump)."""
        meta, records = r.snapshot_state()
        stream = r.streams.start(to, meta, records)
        self.snapshots_sent += 1
        log.info("%s: streaming a snapshot at %d to %s", r.group, meta.index, to)

        def send() -> None:
            self.transport.send(r.group, stream.next_messages(to, r.raft.id, r.raft.term))

        task = asyncio.create_task(pump(stream, send, lambda: self.replicas.get(r.group) is r and r.is_leader),
                                   name=f"snapshot {r.group} to {to}")
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    def _stream_message(self, r: Replica, m: Message) -> None:
        """A chunk of a snapshot stream, or its acknowledgement."""
        if m.type == MsgType.SNAP_ACK:
            stream = r.streams.on_ack(m)
            if stream is not None and r.is_leader:
                self.transport.send(r.group, stream.next_messages(m.frm, r.raft.id, r.raft.term))
            return
        ack, complete = r.streams.on_chunk(m)
        self.transport.send(r.group, [ack])
        if complete:
            self.snapshots_received += 1
            log.info("%s: snapshot at %d received from %s", r.group, m.snapshot.meta.index, m.frm)
            # The core sees an ordinary snapshot; the replica installs the staged state.
            self._inbox.setdefault(r.group, []).append(
                Message(MsgType.SNAP, m.to, m.frm, m.term, snapshot=Snapshot(m.snapshot.meta)))
            self._wake.set()

    # --- introspection ----------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        return [r.status() for r in sorted(self.replicas.values(), key=lambda r: r.group)]

    def leader_of(self, group: str) -> str | None:
        r = self.replicas.get(group)
        if r is None:
            return None
        return r.raft.lead if r.raft.role != Role.LEADER else r.raft.id
