"""On-demand backups: CreateBackup, DescribeBackup, ListBackups, DeleteBackup
and RestoreTableFromBackup.

Consistency, as DynamoDB documents its own: a backup holds every write
acknowledged before CreateBackup was called and none made after it finished;
there is no single cross-partition instant (DynamoDB: "On-demand backup does
not support causal consistency"). Each partition is read from one consistent
RocksDB view at its leader (node/services/backup_reads.py), so within a
partition the backup is exactly its state at one applied index, which the
backup records.

Storage, replicated like any data: the backup's record (status, size, the
source table's spec, one entry per partition named by its hash range) is
cluster metadata (`MetaState.backups`, through the meta Raft group); each
partition's items, gzipped JSON lines, are chunks in the hidden table
`trireme#backups` (cluster/function_code.py's chunk store), written through
the partitions' Raft groups. Both survive the loss of any one node.

The work runs in this router after the call answered (BackupStatus CREATING,
then AVAILABLE); a partition read that fails (a leader killed mid-read)
restarts from a fresh view, within `RETRY_S`. A restore creates the target
table marked ``Loading`` in its spec, which keeps it CREATING (the controller
does not activate it) until every item is written; writes of a
restore are plain puts of whole items, so repeating one is harmless. A
restore that cannot finish deletes its table (the call can be made again).
``Loading`` also says how to fill the table (from a backup, a point in time,
an import's files) and until when its router holds it (a lease it renews);
a router that dies midway leaves the lease to run out, and another router
then fills the table again from the start (`_take_over_loads`), as backups
are taken over (`_sweep`).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import time
from typing import Any, Awaitable, Callable, TypeVar

import grpc
import orjson

from cluster.function_code import CodeStore
from cluster.meta import BACKUP_TABLE, TableInfo, hidden
from cluster.regions import split_qualified
from cluster.rpc import CallError, call_once
from cluster.tasks import cancel, every
from ddb import backups as model
from ddb import tables as ddb_tables
from ddb.errors import (BackupInUseException, BackupNotFoundException, ResourceInUseException, ServiceUnavailable,
                        TableAlreadyExistsException, TableInUseException, TableNotFoundException)
from ddb.keys import extract_key
from router import strong_tables
from router.region_calls import RegionUnreachable
from trireme_pb import node_pb2

log = logging.getLogger(__name__)
T = TypeVar("T")
Admin = Callable[[str, dict], Awaitable[dict]]  # an admin op (name, body) at one partition member

RETRY_S = 120.0  # how long a backup or restore keeps retrying its partitions before giving up
PARALLEL_PUTS = 16
LOAD_SWEEP_S = 1.0  # how often a router looks for restores and imports to take over
# A restore's or import's filler renews its lease a few times within it; past it, another router takes over.
LOAD_LEASE_S = float(os.environ.get("TRIREME_LOAD_LEASE_S", "30"))
LEASE_S = 30.0  # a backup's creator renews its lease after every partition; past it, another router takes over
CREATE_WAIT_S = 15.0  # CreateBackup waits this long for its backup to be AVAILABLE (5 s was short on a loaded machine)


class LeaseLost(Exception):
    """Another router took over the backup (this one's lease had run out)."""


class Backups:
    def __init__(self, api: Any) -> None:
        self.api = api
        self.cluster = api.cluster
        self.store = CodeStore(self.cluster, BACKUP_TABLE, "backups")
        self._tasks: set[asyncio.Task] = set()
        self._running: set[str] = set()  # the backups this router is taking
        self._loading: set[str] = set()  # the uuids of the tables this router is filling (restores, imports)
        self._rolling: set[str] = set()  # the uuids of the tables whose point-in-time upkeep runs here

    def operations(self) -> dict:
        return {"CreateBackup": self.create_backup, "DescribeBackup": self.describe_backup,
                "ListBackups": self.list_backups, "DeleteBackup": self.delete_backup,
                "RestoreTableFromBackup": self.restore_table_from_backup}

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _backups(self) -> dict[str, dict]:
        state = self.cluster.state
        return state.backups if state is not None else {}

    # --- the calls -----------------------------------------------------------------

    async def create_backup(self, body: dict) -> dict:
        name, backup_name = model.parse_create_backup(body)
        state = self.cluster.state
        t = state.tables.get(name) if state is not None else None
        if t is None or hidden(t) or t.status in ("CREATING", "DELETING"):
            if t is not None and not hidden(t) and t.status == "CREATING":
                raise TableInUseException(f"Table is being created: {name}")
            raise TableNotFoundException(f"Table not found: {name}")
        now = time.time()
        stream = t.enabled_stream()
        record = {"arn": model.new_backup_arn(self.api.region, name, now), "name": backup_name,
                  "status": "CREATING", "created": now, "size": 0, "items": 0, "lease": now + LEASE_S,
                  "table": {"name": name, "id": t.id, "uuid": t.uuid, "created": t.created, "spec": t.spec,
                            "stream": stream.get("view") if stream else None},
                  "parts": []}
        await self.cluster.meta("put_backup", {"record": record, "create": True})
        self._spawn(self._take(record, t))
        # DynamoDB answers CREATING; a small table's backup is done within
        # moments, and answering it AVAILABLE then lets scripts restore at once.
        arn = record["arn"]
        # (until this router's metadata has the record: it may lag the meta leader's answer)
        await self.cluster.wait_for(lambda s: s.backups.get(arn, {}).get("status", "CREATING") != "CREATING",
                                    CREATE_WAIT_S)
        return {"BackupDetails": model.details(self._backups().get(arn, record))}

    async def describe_backup(self, body: dict) -> dict:
        arn = model.parse_backup_arn(body)
        self._sweep()
        return {"BackupDescription": model.description(model.find(self._backups(), arn), self.api.region)}

    async def list_backups(self, body: dict) -> dict:
        self._sweep()
        return model.list_page(list(self._backups().values()), model.parse_list_backups(body), self.api.region)

    async def delete_backup(self, body: dict) -> dict:
        arn = model.parse_backup_arn(body)
        model.find(self._backups(), arn)
        old = await self.delete(arn, CREATE_WAIT_S)
        desc = model.description(old, self.api.region)
        desc["BackupDetails"]["BackupStatus"] = "DELETED"
        return {"BackupDescription": desc}

    async def delete(self, arn: str, wait_s: float, missing_ok: bool = False) -> dict | None:
        """Delete a backup record (a user's backup or a PITR base), then its
        chunks in the background; answers once this router's metadata no
        longer lists it (it may lag the meta leader's answer), up to `wait_s`.
        The deleted record, or None when it was gone already (`missing_ok`)."""
        try:
            old = (await self.cluster.meta("delete_backup", {"arn": arn}))["replaced"]
        except BackupNotFoundException:
            if not missing_ok:
                raise
            old = None
        if old is not None:
            self._spawn(self._drop(old))
        await self.cluster.wait_for(lambda s: arn not in s.backups, wait_s)
        return old

    async def restore_table_from_backup(self, body: dict) -> dict:
        arn = model.parse_backup_arn(body)
        b = model.find(self._backups(), arn)
        spec = model.restore_spec(body, b["table"]["spec"])
        if b["status"] != "AVAILABLE":
            raise BackupInUseException(f"Backup is being created: {arn}")
        now = time.time()
        spec["RestoreSummary"] = model.restore_summary(model.table_arn(self.api.region, b["table"]["name"]), now,
                                                       backup_arn=arn)
        return await self._restore(spec, {"kind": "backup", "arn": arn})

    async def create_filled(self, spec: dict, how: dict) -> TableInfo:
        """Create a table that stays CREATING until the fill ``how`` describes
        (a backup's, a point in time's, an import's: `_filler`) wrote its
        data; the filling runs on after this answers, under a lease (in the
        table's ``Loading``) that another router takes over if this one dies
        midway (`_take_over_loads`)."""
        target = spec["TableName"]
        spec["Loading"] = {**how, "lease": time.time() + LOAD_LEASE_S}
        state = self.cluster.state
        if state is not None and target in state.tables:
            raise TableAlreadyExistsException(f"Table already exists: {target}")
        try:
            result = await self.cluster.meta("create_table", {"name": target, "spec": spec})
        except ResourceInUseException:
            raise TableAlreadyExistsException(f"Table already exists: {target}") from None
        t = TableInfo(**result["table"])
        self._loading.add(t.uuid)
        self._spawn(self._filled(t, spec["Loading"]["lease"], self._filler(how, takeover=False)))
        return t

    def _filler(self, how: dict, takeover: bool) -> Callable[[TableInfo], Awaitable[None]]:
        """The fill a ``Loading`` description asks for (`takeover`: redone by
        another router; every fill writes whole items, so redoing one is harmless)."""
        if how["kind"] == "backup":
            return lambda t: self._fill(t, model.find(self._backups(), how["arn"]))
        return self.api.exports.filler(how, takeover)

    async def _restore(self, spec: dict, how: dict) -> dict:
        t = await self.create_filled(spec, how)
        return {"TableDescription": {**ddb_tables.describe_table(self.api._record(t), region=self.api.region)}}

    # --- the work ------------------------------------------------------------------

    def _sweep(self, kinds: tuple[str, ...] = ("backup", "pitr-base")) -> None:
        """Take over the backups (of `kinds`) whose creator's lease ran out (a
        router that died while it was taking them): another router redoes
        them. Delete the point-in-time bases of deleted tables."""
        state, now = self.cluster.state, time.time()
        if state is None:
            return
        for b in list(self._backups().values()):
            if b.get("kind") == "pitr-base" and b["status"] == "AVAILABLE" and b["arn"] not in self._running \
                    and not any(t.uuid == b["table"]["uuid"] for t in state.tables.values()):
                self._running.add(b["arn"])  # its table was deleted: the base goes too
                self._spawn(self._delete_base(b))
            if b.get("kind", "backup") in kinds and b["status"] == "CREATING" \
                    and b.get("lease", now) < now and b["arn"] not in self._running:
                self._running.add(b["arn"])
                self._spawn(self._take_over(b, state.tables.get(b["table"]["name"])))

    async def _delete_base(self, b: dict) -> None:
        try:
            result = await self.cluster.meta("delete_backup", {"arn": b["arn"]})
            await self._drop(result["replaced"])
        except Exception as exc:  # noqa: BLE001 (the next sweep tries again)
            log.warning("could not delete the point-in-time base %s: %s", b["arn"], exc)
        finally:
            self._running.discard(b["arn"])

    async def _take_over(self, b: dict, t: TableInfo | None) -> None:
        try:
            claimed = await self._renew(b)
            if t is None or t.uuid != b["table"]["uuid"]:
                log.warning("backup %s: its table is gone, withdrawn", b["arn"])
                await self._withdraw(claimed, [])
                return
            log.info("taking over backup %s of %s", b["arn"], t.name)
            await self._take(claimed, t)
        except LeaseLost:
            pass  # another router took it over first
        finally:
            self._running.discard(b["arn"])

    async def _take(self, record: dict, t: TableInfo) -> None:
        """Read every partition of the table and store it; AVAILABLE once all
        are in. The lease is renewed after each partition; losing it (another
        router took over) stops this run without touching the record."""
        deadline = time.monotonic() + RETRY_S
        parts, size, count = [], 0, 0
        state = self.cluster.state
        bid = record["arn"].rsplit("/", 1)[1]
        self._running.add(record["arn"])
        try:
            for pid in t.partitions:
                p = state.partitions[pid]
                applied, items = await self._read_partition(pid, deadline, pitr=record.get("kind") == "pitr-base")
                blob = gzip.compress(b"\n".join(items), mtime=0)
                key = f"{bid}/{p.lo:016x}"
                await self._retrying(lambda: self.store.put(key, blob), deadline)
                parts.append({"lo": p.lo, "hi": p.hi, "applied": applied, "key": key, "bytes": len(blob),
                              "items": len(items)})
                size += sum(len(i) for i in items)
                count += len(items)
                record = await self._renew(record)
            done = {**record, "status": "AVAILABLE", "size": size, "items": count, "parts": parts, "done": time.time()}
            done.pop("lease", None)
            await self._retrying(lambda: self.cluster.meta("put_backup", {
                "record": done, "expect_status": "CREATING", "expect_lease": record.get("lease")}), deadline)
        except LeaseLost:
            log.info("backup %s was taken over by another router", record["arn"])
        except Exception as exc:  # noqa: BLE001 (the backup is withdrawn, visibly: it is gone from ListBackups)
            log.warning("backup %s of %s failed, withdrawn: %s", record["arn"], t.name, exc)
            await self._withdraw(record, parts)
        finally:
            self._running.discard(record["arn"])

    async def _renew(self, record: dict) -> dict:
        """The record with a new lease, if it still holds the lease we read (else LeaseLost)."""
        renewed = {**record, "lease": time.time() + LEASE_S}
        result = await self.cluster.meta("put_backup", {"record": renewed, "expect_status": "CREATING",
                                                        "expect_lease": record.get("lease")})
        if not result.get("ok"):
            raise LeaseLost()
        return renewed

    async def _withdraw(self, record: dict, parts: list[dict]) -> None:
        try:
            await self.cluster.meta("delete_backup", {"arn": record["arn"], "withdraw": True})
        except Exception as exc:  # noqa: BLE001
            log.warning("could not withdraw backup %s: %s", record["arn"], exc)
        await self._drop({**record, "parts": parts})

    async def _drop(self, record: dict) -> None:
        for part in record.get("parts", []):
            await self.store.drop(part["key"], part["bytes"])

    async def _retrying(self, call, deadline: float):
        backoff = 0.1
        while True:
            try:
                return await call()
            except (ServiceUnavailable, CallError, grpc.aio.AioRpcError) as exc:
                if time.monotonic() + backoff > deadline:
                    raise
                log.info("backup step failed, retrying: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _on_a_voter(self, pid: str, read: Callable[[Admin], Awaitable[T]], deadline: float) -> T:
        """``read(admin)`` (paging admin ops of partition `pid` at one node:
        ``admin(op, body)``) at the first voter that answers. One error policy
        for every such read: a node that fails the call (down, no replica
        there any more, not the leader, a view lost midway) passes the turn to
        the next voter; when none answered, or the read found its data not
        ready (ServiceUnavailable), all is tried again from the first voter,
        with backoff, until `deadline`. A partition of a strongly consistent
        global table (voters ``REGION/NODE``) is read at this region's member,
        else at another region's, through that region's router (its leader
        may be there: router/strong_tables.py `member_admin`)."""
        async def attempt() -> T:
            state = self.cluster.state
            p = state.partitions.get(pid)
            if p is None:
                raise ServiceUnavailable(f"partition {pid} is gone")
            last: Exception = ServiceUnavailable(f"no replica of {pid} answered")
            for admin in self._admins(state, p):
                try:
                    return await read(admin)
                except (CallError, grpc.aio.AioRpcError, ServiceUnavailable, RegionUnreachable) as exc:
                    last = exc
            raise last
        return await self._retrying(attempt, deadline)

    def _admins(self, state: Any, p: Any) -> list[Admin]:
        """A partition's voters to read at, as admin callers: this region's nodes, then other regions'."""
        def local(addr: str) -> Admin:
            return lambda op, body: call_once(self.cluster.channels, addr, "admin", op, body, timeout=10.0)

        def remote(region: str) -> Admin:
            return lambda op, body: strong_tables.member_admin(self.api, region, p.id, op, body)
        here, there = [], []
        for voter in p.voters:
            region, node_id = split_qualified(voter)
            node = state.nodes.get(node_id) if region in (None, self.api.region) else None
            if node is not None:
                here.append(local(node.addr))
            elif region not in (None, self.api.region, p.witness):  # (a witness never leads)
                there.append(remote(region))
        return here + there

    async def _read_partition(self, pid: str, deadline: float, pitr: bool = False) -> tuple[int, list[bytes]]:
        """Every item of partition `pid` from one view at its leader, and that view's applied index;
        a view lost midway (a leader change, a killed node) is read again from the start.
        `pitr`: a view that includes the start of its point-in-time recovery log (router/pitr.py)."""
        async def read(admin: Admin) -> tuple[int, list[bytes]]:
            page = await admin("backup_read", {"group": pid})
            items = [i.encode() for i in page["items"]]
            while page["cursor"]:
                page = await admin("backup_read", {"cursor": page["cursor"]})
                items += [i.encode() for i in page["items"]]
            if pitr and page.get("pitr_start") is None:
                raise ServiceUnavailable(f"partition {pid} has not started its point-in-time log yet")
            return page["applied"], items
        return await self._on_a_voter(pid, read, deadline)

    async def _filled(self, t: TableInfo, lease: float, fill: Callable[[TableInfo], Awaitable[None]]) -> None:
        """Run `fill` on the table being restored, renewing its lease while it
        runs, then let the table become ACTIVE; a fill that fails deletes the
        table (the call can be made again), one taken over stops here."""
        deadline = time.monotonic() + RETRY_S
        work: asyncio.Task | None = None
        try:
            if not await self.cluster.wait_for(lambda s: all(p in s.partitions for p in t.partitions), 10.0):
                raise ServiceUnavailable(f"the partitions of {t.name} did not appear")
            work = asyncio.create_task(fill(t))
            while not work.done():
                await asyncio.wait({work}, timeout=LOAD_LEASE_S / 3)
                if not work.done():
                    lease = await self._renew_load(t, lease)
            work.result()
            await self._retrying(lambda: self.cluster.meta("load_done", {"name": t.name, "uuid": t.uuid}),
                                 deadline)
        except LeaseLost:
            log.info("restore of %s was taken over by another router", t.name)
        except Exception as exc:  # noqa: BLE001 (the half-restored table is removed: the restore can be retried)
            log.warning("restore of %s failed, its table is deleted: %s", t.name, exc)
            try:
                await self.cluster.meta("delete_table", {"name": t.name})
            except Exception as again:  # noqa: BLE001
                log.warning("could not delete the failed restore %s: %s", t.name, again)
        finally:
            await cancel([work])
            self._loading.discard(t.uuid)

    async def _renew_load(self, t: TableInfo, lease: float) -> float:
        """A new lease on a table being filled, if it still holds `lease` (else LeaseLost)."""
        new = time.time() + LOAD_LEASE_S
        result = await self._retrying(lambda: self.cluster.meta("load_lease", {
            "name": t.name, "uuid": t.uuid, "lease": new, "expect": lease}), time.monotonic() + LOAD_LEASE_S / 3)
        if not result.get("ok"):
            raise LeaseLost()
        return new

    def start(self) -> None:
        """Every second: take over restores, imports and point-in-time bases
        whose router died midway, and keep point-in-time logs to their window
        (run by router/main.py)."""
        self._spawn(every(LOAD_SWEEP_S, self._tick, "backup upkeep", log))

    def _tick(self) -> None:
        self._take_over_loads()
        self._sweep(kinds=("pitr-base",))
        state, now = self.cluster.state, time.time()
        for t in list(state.tables.values()) if state is not None else []:
            if not hidden(t) and t.uuid not in self._rolling:  # (a table's indexes share its uuid)
                work = self.api.exports.pitr.roll(t, now)
                if work is not None:
                    self._rolling.add(t.uuid)
                    self._spawn(self._rolled(t, work))

    async def _rolled(self, t: TableInfo, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 (the next tick tries again)
            log.info("point-in-time upkeep of %s: %r", t.name, exc)
        finally:
            self._rolling.discard(t.uuid)

    def _take_over_loads(self) -> None:
        """Take over the tables being filled whose filler's lease ran out."""
        state, now = self.cluster.state, time.time()
        for t in list(state.tables.values()) if state is not None else []:
            loading = t.spec.get("Loading")
            if isinstance(loading, dict) and t.status == "CREATING" and loading.get("lease", now) < now \
                    and t.uuid not in self._loading:
                self._loading.add(t.uuid)
                self._spawn(self._take_over_load(t, loading))

    async def _take_over_load(self, t: TableInfo, loading: dict) -> None:
        try:
            lease = time.time() + LOAD_LEASE_S
            result = await self.cluster.meta("load_lease", {"name": t.name, "uuid": t.uuid, "lease": lease,
                                                            "expect": loading["lease"]})
            if result.get("ok"):
                log.info("taking over the %s restore of %s", loading["kind"], t.name)
                await self._filled(t, lease, self._filler(loading, takeover=True))
        except Exception as exc:  # noqa: BLE001 (the next sweep tries again)
            log.warning("could not take over the restore of %s: %s", t.name, exc)
        finally:
            self._loading.discard(t.uuid)

    async def _fill(self, t: TableInfo, b: dict) -> None:
        deadline = time.monotonic() + RETRY_S
        for part in b["parts"]:
            blob = await self._retrying(lambda part=part: self.store.get(part["key"], part["bytes"]), deadline)
            await self.put_items(t, [orjson.loads(line) for line in gzip.decompress(blob).splitlines() if line])

    async def put_items(self, t: TableInfo, items: list[dict]) -> None:
        """Write whole items into a table being restored (no condition: a repeated put is harmless)."""
        api, schema = self.api, self.api.schema(t)
        gate = asyncio.Semaphore(PARALLEL_PUTS)

        async def put(item: dict) -> None:
            key = extract_key(schema, item)
            h, skey = api.locate(t, key)
            fields = api.with_indexes(t, key, {})
            async with gate:
                await self.cluster.send(t.name, h, node_pb2.DataRequest(
                    op=node_pb2.DataRequest.PUT, key=skey, item=orjson.dumps(item), **fields),
                    to_leader=True, idempotent=True)
        await asyncio.gather(*(put(i) for i in items))
