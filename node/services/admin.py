"""The node's `Admin` gRPC service."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Callable

from cluster.faults import Faults
from cluster.rpc import reply
from functions.runtime import read_log
from ddb.errors import ValidationException
from node.config import NodeConfig
from node.control.view import Control
from node.groups.engine import Engine
from node.services.malloc import Trimmer
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica
from node.partition.split import WRONG_GROUP, median_hash
from node.services.admission import Admission
from node.services.backup_reads import BackupReads
from node.services import memory
from node.services.bodies import json_body
from node.services.reencrypt import Reencryption
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)


async def split_here(engine: Engine, body: dict) -> dict:
    """Split a partition this node leads at ``mid`` (else at its median
    item's hash); answers the split once applied here."""
    replica = engine.replicas.get(body.get("group", ""))
    if not isinstance(replica, PartitionReplica):
        raise Rejected("WRONG_GROUP", f"no replica of {body.get('group')}")
    replica.check_leader()
    mid = body.get("mid")
    if mid is None and body.get("by") == "heat":
        mid = replica.hot_split_point()
    if mid is None:
        mid = await asyncio.to_thread(median_hash, engine.storage, *replica.data_range(), replica.config["lo"])
    if mid is None:
        raise ValidationException(f"{replica.group} holds the items of one partition key at most: "
                                  "a split needs two hashes")
    result = await replica.propose_split(int(mid))
    if result == WRONG_GROUP:
        raise Rejected("UNAVAILABLE", f"{replica.group} changed before the split applied")
    return result

FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a log file's name: never a path


class AdminServicer(node_pb2_grpc.AdminServicer):
    """Operators' and tools' calls: health, replica states, faults, raw reads,
    membership steps and leadership transfer."""

    def __init__(self, cfg: NodeConfig, engine: Engine, control: Control, admission: Admission,
                 replication: Callable[[], list[dict]] = list, trimmer: Trimmer | None = None) -> None:
        self.cfg = cfg
        self.engine = engine
        self.control = control
        self.admission = admission
        self.trimmer = trimmer  # node/services/malloc.py: what it gave back, in the memory op
        self.replication = replication  # global tables' replication lag from here (node/feed/replicator.py)
        self.started = time.time()
        self.backup_reads = BackupReads(engine)
        self.reencryption = Reencryption(engine.storage)

    async def Call(self, request, context):  # noqa: N802
        await self.admission.admit(context, request.op)
        cfg, engine = self.cfg, self.engine
        op = request.op
        try:
            body = json_body(request.body)
            if op == "health":
                return reply({"id": cfg.id, "az": cfg.az, "addr": cfg.addr,
                              "cluster_id": cfg.cluster_id,
                              "uptime_s": time.time() - self.started, "replicas": len(engine.replicas),
                              "meta_version": self.control.view.version if self.control.view else 0,
                              "loop_turns": engine.loop_turns, "fsyncs": engine.fsyncs,
                              "read_index_rounds": engine.read_index_rounds,
                              "peer_addr": cfg.peer_addr})
            if op == "replicas":
                return reply({"node": cfg.id, "replicas": engine.status()})
            if op == "memory":  # what holds this node's memory (node/services/memory.py)
                return reply({"node": cfg.id, **memory.report(engine, int(body.get("top", 0)), bool(body.get("trim")),
                                                                  self.trimmer)})
            if op == "replication":  # per (table, region) of the partitions led here: lag of the oldest unsent change
                return reply({"node": cfg.id, "region": cfg.region, "replication": self.replication()})
            if op == "meta":
                view = self.control.view
                return reply(view.to_json() if view is not None else None)
            if op == "fault":
                faults = Faults.from_json(body)  # ValueError naming the bad field
                if body.get("heal") is True:
                    faults = Faults()
                engine.clock.set_rate(faults.clock_rate)  # ValueError when out of range
                engine.transport.faults = faults
                return reply(faults.to_json())
            if op == "function_log":  # `trireme logs`: what event source mappings ran here
                name, offset = str(body.get("name", "")), max(0, int(body.get("offset", 0)))
                if not FUNCTION_NAME.fullmatch(name):
                    raise ValidationException(f"invalid function name {name!r}")
                data = await asyncio.to_thread(read_log, cfg.functions_dir / "logs" / f"{name}.log", offset)
                return reply({"data": base64.b64encode(data).decode(), "next": offset + len(data)})
            if op == "faults":
                return reply(engine.transport.faults.to_json())
            if op == "read_raw":
                replica = engine.replicas.get(body.get("group", ""))
                if not isinstance(replica, PartitionReplica):
                    return reply(status=node_pb2.WRONG_GROUP, message=f"no replica of {body.get('group')}")
                items = [[base64.b64encode(k).decode(), v.decode()] for k, v in replica.read_raw()]
                return reply({"group": replica.group, "applied": replica.applied, "items": items})
            if op == "backup_read":  # a page of a partition's items for a backup (router/backups.py)
                return reply(self.backup_reads.read(body))
            if op == "pitr_read":  # a page of a partition's point-in-time recovery log (router/pitr.py)
                return reply(self.backup_reads.pitr(body))
            if op == "pitr_trim":  # drop a partition's point-in-time log up to its oldest base (router/pitr.py)
                return reply(await self.backup_reads.trim_pitr(body))
            if op == "reconfigure":
                replica = engine.replicas.get(body["group"])
                if replica is None:
                    return reply(status=node_pb2.WRONG_GROUP, message=f"no replica of {body['group']}")
                return reply(replica.reconfigure_step(body["voters"], body.get("learners", [])))
            if op == "reencrypt":  # `trireme keys rotate TABLE --reencrypt`: start, then progress
                return reply(self.reencryption.start(int(body["table_id"]), int(body["version"])))
            if op == "split":  # the controller's (node/control/controller.py split_table)
                return reply(await split_here(engine, body))
            if op == "transfer_leader":
                replica = engine.replicas.get(body["group"])
                if replica is None:
                    return reply(status=node_pb2.WRONG_GROUP, message=f"no replica of {body['group']}")
                replica.raft.transfer_leadership(body["to"])
                engine.wake()
                return reply({"ok": True})
        except Rejected as exc:
            return reply(status=node_pb2.Status.Value(exc.status), message=str(exc), leader=exc.leader or "")
        except ValidationException as exc:
            return reply(status=node_pb2.DDB_ERROR, error_type="ValidationException", message=exc.message or "")
        except ValueError as exc:
            return reply(status=node_pb2.DDB_ERROR, error_type="ValidationException", message=str(exc))
        except Exception as exc:  # noqa: BLE001 (admin errors are answers, not crashes)
            log.exception("admin %s failed", op)
            return reply(status=node_pb2.UNAVAILABLE, message=f"{type(exc).__name__}: {exc}")
        return reply(status=node_pb2.DDB_ERROR, error_type="UnknownOperationException",
                     message=f"unknown admin op {op!r}")
