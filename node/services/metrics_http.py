"""A storage node's Prometheus metrics, served at `GET /metrics` on a port of
its own (`--metrics-listen`).

Read at scrape time from what the node keeps anyway: its Raft groups (roles,
terms, commit and apply indexes, pending proposals), the engine's counters
and histograms of batch writes and fsyncs (node/groups/engine.py), snapshot
streams, the global tables' replication lag (node/feed/replicator.py), the
event source mappings' iterator age (node/feed/triggers/), and the
process's CPU, memory and open files (prometheus_client's process
collector). Groups are aggregated per kind (`meta`, `partition`), so the
label sets stay few however many partitions a node hosts; only role changes
are counted as they happen (the engine's role hook).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from cluster.histogram import Buckets
from node.groups.engine import Engine
from node.groups.replica import Replica
from node.raft.messages import Role

log = logging.getLogger(__name__)

PATH = b"/metrics"
MAX_HEAD = 16 * 1024
READ_S = 10.0  # a scraper that sends no request line in this long is dropped


class NodeCollector:
    def __init__(self, engine: Engine, region: str, replication: Callable[[], list[dict]],
                 trigger_ages: Callable[[], dict[str, float]]) -> None:
        self.engine = engine
        self.region = region
        self.replication = replication  # Replicator.status: lag per (table, destination region)
        self.trigger_ages = trigger_ages  # Triggers.iterator_ages: mapping uuid -> ms
        self.role_changes: dict[tuple[str, str], int] = {}  # (kind, new role) -> count

    def on_role(self, replica: Replica) -> None:
        """The engine's role hook: one more change of a group's role here."""
        key = (replica.kind, replica.raft.role.name)
        self.role_changes[key] = self.role_changes.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        yield from self._groups()
        e = self.engine
        yield from (_histogram("trireme_node_raft_append_seconds",
                               "Writing one engine turn's batch (log entries, hard state, applied data)",
                               e.append_seconds),
                    _histogram("trireme_node_raft_fsync_seconds", "One group-commit fsync of the WAL", e.fsync_seconds))
        for name, doc, value in (("trireme_node_raft_fsyncs", "Group-commit fsyncs", e.fsyncs),
                                 ("trireme_node_raft_proposals", "Entries proposed by the leaders here", e.proposals),
                                 ("trireme_node_raft_read_index_rounds",
                                  "Strongly consistent reads that confirmed leadership by a quorum round (no lease)",
                                  e.read_index_rounds),
                                 ("trireme_node_snapshots_sent", "Snapshot streams started to followers",
                                  e.snapshots_sent),
                                 ("trireme_node_snapshots_received", "Snapshot streams received in full",
                                  e.snapshots_received)):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
        changes = CounterMetricFamily("trireme_node_raft_role_changes",
                                      "Changes of a group's role here, by the role taken (LEADER: leader changes)",
                                      labels=["kind", "role"])
        for (kind, role), n in sorted(self.role_changes.items()):
            changes.add_metric([kind, role], n)
        yield changes
        yield from self._replication()
        age = GaugeMetricFamily("trireme_node_trigger_iterator_age_seconds",
                                "Age of the oldest record of the latest batch an event source mapping handed "
                                "to its function here (Lambda's IteratorAge)", labels=["mapping"])
        for uuid_, ms in sorted(self.trigger_ages().items()):
            age.add_metric([uuid_], ms / 1000)
        yield age

    def _groups(self) -> Iterator[Metric]:
        groups = GaugeMetricFamily("trireme_node_raft_groups", "Raft groups hosted here, by role",
                                   labels=["kind", "role"])
        term = GaugeMetricFamily("trireme_node_raft_term", "Highest Raft term among the groups here",
                                 labels=["kind"])
        lag = GaugeMetricFamily("trireme_node_raft_apply_lag_entries",
                                "Committed entries not yet applied, summed over the groups here", labels=["kind"])
        lag_max = GaugeMetricFamily("trireme_node_raft_apply_lag_max_entries",
                                    "Committed entries not yet applied, in the group furthest behind",
                                    labels=["kind"])
        uncommitted = GaugeMetricFamily("trireme_node_raft_uncommitted_entries",
                                        "Entries the leaders here appended but have not committed yet",
                                        labels=["kind"])
        pending = GaugeMetricFamily("trireme_node_raft_pending_proposals",
                                    "Proposals waiting for their outcome", labels=["kind"])
        roles: dict[tuple[str, str], int] = {}
        per_kind: dict[str, list[int]] = {}  # kind -> [term, lag, max lag, uncommitted, pending]
        for r in list(self.engine.replicas.values()):
            raft = r.raft
            roles[(r.kind, raft.role.name)] = roles.get((r.kind, raft.role.name), 0) + 1
            k = per_kind.setdefault(r.kind, [0, 0, 0, 0, 0])
            behind = raft.log.commit - raft.log.applied
            k[0] = max(k[0], raft.term)
            k[1] += behind
            k[2] = max(k[2], behind)
            if raft.role == Role.LEADER:
                k[3] += raft.log.last_index() - raft.log.commit
            k[4] += len(r._proposals)
        for (kind, role), n in sorted(roles.items()):
            groups.add_metric([kind, role], n)
        for kind, (t, behind, most, ahead, waiting) in sorted(per_kind.items()):
            term.add_metric([kind], t)
            lag.add_metric([kind], behind)
            lag_max.add_metric([kind], most)
            uncommitted.add_metric([kind], ahead)
            pending.add_metric([kind], waiting)
        yield from (groups, term, lag, lag_max, uncommitted, pending)

    def _replication(self) -> Iterator[Metric]:
        labels = ["table", "source_region", "region"]
        ours = GaugeMetricFamily("trireme_node_replication_lag_seconds",
                                 "Age of the oldest change not yet replicated to a global table's replica, "
                                 "over the partitions led here", labels=labels)
        cw = GaugeMetricFamily("dynamodb_ReplicationLatency_seconds", "CloudWatch ReplicationLatency",
                               labels=["TableName", "SourceRegion", "ReceivingRegion"])
        for row in self.replication():
            values = [row["table"], self.region, row["region"]]
            ours.add_metric(values, row["lag_ms"] / 1000)
            cw.add_metric(values, row["lag_ms"] / 1000)
        yield from (ours, cw)


def _histogram(name: str, doc: str, b: Buckets) -> HistogramMetricFamily:
    h = HistogramMetricFamily(name, doc)
    h.add_metric([], b.cumulative(), b.sum)
    return h


def registry_of(collector: NodeCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


async def serve(registry: CollectorRegistry, host: str, port: int) -> asyncio.Server:
    """Answer `GET /metrics` on host:port (one request per connection; 404 elsewhere)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_S)
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            if method == b"GET" and path == PATH:
                status, ctype, body = b"200 OK", CONTENT_TYPE_LATEST.encode(), generate_latest(registry)
            else:
                status, ctype, body = b"404 Not Found", b"text/plain", b"GET /metrics\n"
            writer.write(b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (status, ctype, len(body), body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
    return await asyncio.start_server(handle, host, port, limit=MAX_HEAD)
