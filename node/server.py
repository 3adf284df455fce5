"""The storage node process and its composition root: `Node` builds each
subsystem and hands it only the parts it uses.

- `node/groups/`: the Raft groups on one loop (engine, replicas, snapshots),
  reaching peers through `node/net/` (the peer port);
- `node/partition/`: the partition state machine with its indexes;
- `node/control/`: the metadata view, the meta group and its controller,
  partition statistics;
- `node/feed/`: readers of applied changes (the index shipper, the TTL
  sweeper, the stream keeper, the triggers, the global tables' replicator,
  the transaction recovery);
- `node/services/`: the gRPC services (Data, Meta, Admin).
"""

from __future__ import annotations

import logging
import os
import socket

import grpc

from cluster.frames import GRPC_OPTIONS
from cluster.kms import MasterKeys
from node.config import NodeConfig
from node.control.metareplica import META_GROUP, MetaReplica
from node.control.stats import PartitionStats
from node.control.view import Control
from node.feed.index_shipper import IndexShipper
from node.feed.replicator import Replicator
from node.feed.ttl_sweeper import TtlSweeper
from node.feed.streams import StreamKeeper
from node.feed.triggers import Triggers
from node.feed.txn_recovery import TxnRecovery
from node.services.malloc import Trimmer
from node.groups.engine import Engine
from node.groups.replica import Replica
from node.services.metrics_http import NodeCollector, registry_of, serve as serve_metrics
from node.partition.replica import PartitionReplica
from node.services.admin import AdminServicer
from node.services.admission import Admission
from node.services.data import DataServicer
from node.services.meta import MetaServicer
from node.storage import Storage
from trireme_pb import node_pb2_grpc

log = logging.getLogger(__name__)


class Node:
    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        master = MasterKeys.load(cfg.key_file) if cfg.key_file else None
        self.storage = Storage.open(cfg.data_dir / "db", master=master)
        self.engine = Engine(cfg.id, self.storage, lambda node_id: self.control.address_of(node_id))
        self.engine.factories = {"partition": PartitionReplica, "meta": MetaReplica}
        self.trimmer = Trimmer()  # glibc's freed pages back to the kernel (node/services/malloc.py)
        self.engine.transport.cluster_id = cfg.cluster_id
        self.engine.transport.region = cfg.region
        self.engine.transport.remote_peers = cfg.remote_peers
        self.engine.transport.peer_clusters = frozenset(cfg.peer_clusters)
        self.engine.transport.tls = cfg.tls
        self.stats = PartitionStats(self.engine, self.storage, lambda: self.control.view)
        self.control = Control(cfg, self.engine, self.storage, lambda: self.stats.latest)
        self.control.channels.cluster_id = cfg.cluster_id
        self.control.master = master  # wraps new tables' data keys while this node leads the metadata
        self.engine.meta_changed = self.control.on_local_meta
        self.engine.role_changed = self._role_changed
        self.shipper = IndexShipper(cfg.az, cfg.cluster_id, self.engine, self.storage, self.control)
        self.ttl = TtlSweeper(self.engine, lambda: self.control.view)
        self.stream_keeper = StreamKeeper(self.engine, self.control)
        self.triggers = Triggers(self.engine, lambda: self.control.view, self.shipper.partition_client,
                                 self.control.meta_request,
                                 functions_dir=cfg.functions_dir,
                                 endpoint_url=cfg.router_endpoint or "http://127.0.0.1:8000")
        self.replicator = Replicator(self.engine, lambda: self.control.view, cfg.region, cfg.remote_regions,
                                     self.control.meta_request)
        self.txn_recovery = TxnRecovery(self.engine, self.shipper.partition_client)
        self.admission = Admission(cfg.cluster_id, f"node {cfg.id} ({cfg.addr})", tls_required=cfg.tls is not None)
        self.metrics = NodeCollector(self.engine, cfg.region, self.replicator.status, self.triggers.iterator_ages)
        self.server: grpc.aio.Server | None = None
        self.metrics_server = None

    def _role_changed(self, replica: Replica) -> None:
        self.metrics.on_role(replica)
        self.control.poke()

    async def start(self) -> None:
        # Bind first: a node whose port is taken (another cluster's node, say)
        # must fail before it founds or joins anything.
        server = grpc.aio.server(options=GRPC_OPTIONS)
        try:
            if self.cfg.tls is not None:
                bound = server.add_secure_port(self.cfg.listen, self.cfg.tls.server_credentials())
            else:
                bound = server.add_insecure_port(self.cfg.listen)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise OSError(f"cannot listen on {self.cfg.listen}: {_bind_error(self.cfg.listen)}; "
                          f"choose another port with --listen")
        host, _, port = self.cfg.peer_listen.rpartition(":")
        try:
            await self.engine.transport.bind(host.strip("[]"), int(port))
        except (OSError, ValueError) as exc:
            why = os.strerror(exc.errno) if getattr(exc, "errno", None) else str(exc)
            raise OSError(f"cannot listen on {self.cfg.peer_listen}: {why}; "
                          f"choose another port with --peer-listen") from None
        if self.cfg.metrics_listen:
            host, _, port = self.cfg.metrics_listen.rpartition(":")
            try:
                self.metrics_server = await serve_metrics(registry_of(self.metrics), host.strip("[]"), int(port))
            except (OSError, ValueError) as exc:
                raise OSError(f"cannot listen on {self.cfg.metrics_listen}: {getattr(exc, 'strerror', None) or exc}; "
                              "choose another port with --metrics-listen") from None
        node_pb2_grpc.add_MetaServicer_to_server(MetaServicer(self.control, self.admission), server)
        node_pb2_grpc.add_AdminServicer_to_server(
            AdminServicer(self.cfg, self.engine, self.control, self.admission, self.replicator.status,
                          self.trimmer), server)
        node_pb2_grpc.add_DataServicer_to_server(
            DataServicer(self.engine.replicas, self.control.address_of, self.cfg.id, self.admission), server)
        self.engine.recover()
        if META_GROUP not in self.engine.replicas and self.cfg.id in self.cfg.initial_cluster \
                and not self.storage.list_groups():
            # A founding member's first start: found the meta group.
            self.engine.create(META_GROUP, {"kind": "meta", "replay": True},
                               sorted(self.cfg.initial_cluster))
        self.engine.start()
        await self.engine.transport.serve()
        await server.start()
        self.server = server
        self.control.start()
        self.shipper.start()
        self.ttl.start()
        self.stream_keeper.start()
        self.triggers.start()
        self.replicator.start()
        self.txn_recovery.start()
        self.stats.start()
        self.trimmer.start()
        log.info("node %s (%s) of cluster %s serving gRPC on %s, Raft on %s%s, metrics on %s", self.cfg.id,
                 self.cfg.az, self.cfg.cluster_id, self.cfg.listen, self.cfg.peer_listen,
                 " (mutual TLS)" if self.cfg.tls is not None else "",
                 f"http://{self.cfg.metrics_listen}/metrics" if self.cfg.metrics_listen else "none")
        if self.cfg.key_file is None:  # said once the node serves (a node that cannot start says only why)
            log.warning("no --key-file: tables created now are NOT encrypted at rest")

    async def stop(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.close()
        await self.shipper.stop()
        await self.ttl.stop()
        await self.stream_keeper.stop()
        await self.triggers.stop()
        await self.replicator.stop()
        await self.txn_recovery.stop()
        await self.stats.stop()
        self.trimmer.stop()
        await self.control.stop()
        if self.server is not None:
            await self.server.stop(0.5)
        await self.engine.stop()
        self.storage.close()


def _bind_error(addr: str) -> str:
    """Why gRPC could not bind `addr`, in words (it only says that it failed)."""
    host, _, port = addr.rpartition(":")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host.strip("[]"), int(port)))
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return "gRPC could not bind it"
