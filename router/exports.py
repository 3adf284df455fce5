"""Continuous backups settings, RestoreTableToPointInTime (at the latest
restorable time), ExportTableToPointInTime and ImportTable.

An S3 bucket is a directory under this router's exports directory
(``--exports-dir``; `trireme up` gives ``DATA_DIR/exports``): an export to
bucket ``b`` with prefix ``p`` writes ``EXPORTS/b/p/AWSDynamoDB/ID/...`` as
DynamoDB writes it to S3, and an import reads every ``*.json.gz`` (GZIP) or
``*.json`` (NONE) file under ``EXPORTS/b/PREFIX``, so `aws s3 sync` moves
exports and imports between Trireme and AWS. The files are on the disk of
the router that served the call.

Exports and restores to a point in time read the table like a backup does
(router/backups.py: every partition from one consistent view at its leader)
when no time is given, and otherwise rebuild it at that time from the
point-in-time base and log (router/pitr.py). The records of exports and
imports are cluster metadata, next to the backups' (``kind`` "export",
"import"); DescribeExport and DescribeImport show their progress (ItemCount,
ProcessedItemCount) while they run.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson

from cluster.meta import TableInfo, hidden
from ddb import backups as backup_model
from ddb import exports as model
from ddb.keys import validate_table_name
from router.pitr import Pitr, window
from ddb.errors import (ExportNotFoundException, ImportNotFoundException, InvalidExportTimeException,
                        InvalidRestoreTimeException, PointInTimeRecoveryUnavailableException,
                        ResourceInUseException, TableAlreadyExistsException, TableNotFoundException,
                        ValidationException)

log = logging.getLogger(__name__)


class Exports:
    def __init__(self, api: Any, exports_dir: Path) -> None:
        self.api = api
        self.cluster = api.cluster
        self.backups = api.backups
        self.pitr = Pitr(api.backups)
        self.dir = exports_dir

    def operations(self) -> dict:
        return {"UpdateContinuousBackups": self.update_continuous_backups,
                "DescribeContinuousBackups": self.describe_continuous_backups,
                "RestoreTableToPointInTime": self.restore_table_to_point_in_time,
                "ExportTableToPointInTime": self.export_table_to_point_in_time,
                "DescribeExport": self.describe_export, "ListExports": self.list_exports,
                "ImportTable": self.import_table, "DescribeImport": self.describe_import,
                "ListImports": self.list_imports}

    def _table(self, name: str) -> TableInfo:
        state = self.cluster.state
        t = state.tables.get(name) if state is not None else None
        if t is None or hidden(t) or t.status == "DELETING":
            raise TableNotFoundException(f"Table not found: {name}")
        return t

    def _records(self, kind: str) -> list[dict]:
        state = self.cluster.state
        return [r for r in (state.backups.values() if state is not None else ()) if r.get("kind") == kind]

    async def _put(self, rec: dict, create: bool = False) -> None:
        await self.cluster.meta("put_backup", {"record": rec, "create": create})

    # --- continuous backups -------------------------------------------------------------

    async def update_continuous_backups(self, body: dict) -> dict:
        name, enabled, days = model.parse_update_continuous_backups(body)
        t = self._table(name)
        old = t.spec.get("PointInTimeRecovery")
        pitr = ({"enabled_at": old["enabled_at"] if old else time.time(), "days": days} if enabled else None)
        spec = {k: v for k, v in t.spec.items() if k != "PointInTimeRecovery"}
        if pitr:
            spec["PointInTimeRecovery"] = pitr
        if pitr and pitr != old:  # an MRSC table's other regions keep the shared log for this one first
            await self.pitr.tell_peers(t, days)
        if pitr != old:
            await self.cluster.meta("update_table", {"name": name, "spec": spec, "updated": {}})
        if old and not pitr:
            await self.pitr.tell_peers(t, None)
        if pitr and not old:
            await self.pitr.enabled(t)
        elif old and not pitr:
            await self.pitr.disabled(t)
        return self._describe(name)

    def _describe(self, name: str) -> dict:
        t = self._table(name)
        return model.continuous_description(t.spec.get("PointInTimeRecovery"),
                                            window(self.cluster.state, t, time.time()))

    async def describe_continuous_backups(self, body: dict) -> dict:
        return self._describe(validate_table_name(body.get("TableName")))

    def _check_time(self, t: TableInfo, at: Any, now: float, error: type) -> float | None:
        """The moment a point-in-time call reads (None: now, the latest
        restorable time), which must be inside the table's recovery window."""
        if not t.spec.get("PointInTimeRecovery"):
            raise PointInTimeRecoveryUnavailableException(
                f"Point in time recovery is not enabled for table '{t.name}'")
        if at is None:
            return None
        at = float(at)
        span = window(self.cluster.state, t, now)
        if span is None or at < span[0] or at > now:
            shown = f"[{span[0]}, {span[1]}]" if span else "(not open yet: its base snapshot is being taken)"
            raise error(f"The specified time {at} is outside of the point in time recovery window {shown}")
        return at

    async def _items(self, t: TableInfo, at: float | None, deadline: float) -> list[list[bytes]]:
        """The table's items now (`at` None) or at a past moment, one list per partition."""
        if at is not None:
            return [[orjson.dumps(i) for i in await self.pitr.items_at(t, at)]]
        return [(await self.backups._read_partition(pid, deadline))[1] for pid in t.partitions]

    # --- restore to a point in time -----------------------------------------------------

    async def restore_table_to_point_in_time(self, body: dict) -> dict:
        source = body.get("SourceTableName")
        if source is None and body.get("SourceTableArn") is not None:
            source = model.table_of_arn(body["SourceTableArn"], "sourceTableArn")
        source = validate_table_name(source, "sourceTableName")
        t = self._table(source)
        spec = backup_model.restore_spec(body, t.spec)
        now = time.time()
        if body.get("UseLatestRestorableTime") and body.get("RestoreDateTime") is not None:
            raise ValidationException("Only one of RestoreDateTime or UseLatestRestorableTime can be specified")
        at = self._check_time(t, body.get("RestoreDateTime"), now, InvalidRestoreTimeException)
        spec["RestoreSummary"] = backup_model.restore_summary(backup_model.table_arn(self.api.region, source),
                                                              now if at is None else at)
        target = await self.backups.create_filled(spec, {"kind": "pitr", "source": t.name, "uuid": t.uuid,
                                                         "at": now if at is None else at, "latest": at is None})
        return {"TableDescription": await self.api.describe(target)}

    def filler(self, how: dict, takeover: bool) -> Callable[[TableInfo], Awaitable[None]]:
        """The fill of a table restored to a point in time or imported
        (router/backups.py `create_filled`). A restore to the latest time reads
        the source now; taken over by another router, it rebuilds the source
        at the moment the call was made instead (the same state, not a later one)."""
        async def restore(target: TableInfo) -> None:
            t = self._table(how["source"])
            if t.uuid != how["uuid"]:
                raise TableNotFoundException(f"Table not found: {how['source']}")
            at = None if how["latest"] and not takeover else how["at"]
            for items in await self._items(t, at, time.monotonic() + 120.0):
                await self.backups.put_items(target, [orjson.loads(i) for i in items])

        async def load(target: TableInfo) -> None:
            if not await self.cluster.wait_for(lambda s: how["arn"] in s.backups, 30.0):
                raise ImportNotFoundException(f"Import not found: {how['arn']}")
            files = await asyncio.to_thread(_input_files, self.dir / how["bucket"], how["prefix"],
                                            how["compression"])
            await self._import(self.cluster.state.backups[how["arn"]], target, files)
        return restore if how["kind"] == "pitr" else load

    # --- exports ------------------------------------------------------------------------

    async def export_table_to_point_in_time(self, body: dict) -> dict:
        req = model.parse_export(body)
        t = self._table(req["table"])
        now = time.time()
        at = self._check_time(t, req["time"], now, InvalidExportTimeException)
        if req["token"]:
            same = next((r for r in self._records("export") if r.get("token") == req["token"]), None)
            if same is not None:
                return {"ExportDescription": model.export_description(same)}
        table_arn = backup_model.table_arn(self.api.region, t.name)
        rec = {"kind": "export", "arn": f"{table_arn}/export/{model.new_id(now)}", "status": "IN_PROGRESS",
               "start": now, "time": now if at is None else at, "table_arn": table_arn, "table_id": t.uuid,
               "bucket": req["bucket"], "prefix": req["prefix"], "token": req["token"], "items": 0, "size": 0}
        await self._put(rec, create=True)
        self.backups._spawn(self._export(rec, t, at))
        return {"ExportDescription": model.export_description(rec)}

    async def _export(self, rec: dict, t: TableInfo, at: float | None) -> None:
        root = model.export_root(rec)
        base = self.dir / rec["bucket"]
        deadline = time.monotonic() + 120.0
        try:
            files, items_total, size = [], 0, 0
            for n, items in enumerate(await self._items(t, at, deadline)):
                data = gzip.compress(model.data_lines(items), mtime=0)
                key = f"{root}/data/{model.md5(rec['arn'].encode())[:26]}{n:04d}.json.gz"
                await asyncio.to_thread(_write, base / key, data)
                files.append({"itemCount": len(items), "md5Checksum": model.md5(data), "etag": model.md5(data),
                              "dataFileS3Key": key})
                items_total += len(items)
                size += sum(len(i) for i in items)
                rec = {**rec, "items": items_total, "size": size}
                await self._put(rec)  # progress: DescribeExport's ItemCount grows
            manifest_files = b"".join(orjson.dumps(f) + b"\n" for f in files)
            files_key = f"{root}/manifest-files.json"
            rec = {**rec, "status": "COMPLETED", "end": time.time(), "manifest": f"{root}/manifest-summary.json"}
            summary = orjson.dumps(model.manifest_summary(rec, files_key))
            for key, data in ((files_key, manifest_files), (f"{root}/manifest-files.md5", model.md5(
                    manifest_files).encode()), (f"{root}/manifest-summary.json", summary),
                    (f"{root}/manifest-summary.md5", model.md5(summary).encode())):
                await asyncio.to_thread(_write, base / key, data)
            await self._put(rec)
        except Exception as exc:  # noqa: BLE001 (the export fails visibly: FAILED with the reason)
            log.warning("export %s failed: %s", rec["arn"], exc)
            try:
                await self._put({**rec, "status": "FAILED", "end": time.time(), "failure": str(exc)})
            except Exception as again:  # noqa: BLE001
                log.warning("could not record the failure of export %s: %s", rec["arn"], again)

    async def describe_export(self, body: dict) -> dict:
        arn = body.get("ExportArn")
        rec = next((r for r in self._records("export") if r["arn"] == arn), None)
        if rec is None:
            raise ExportNotFoundException(f"Export not found: {arn}")
        return {"ExportDescription": model.export_description(rec)}

    async def list_exports(self, body: dict) -> dict:
        records = self._records("export")
        if body.get("TableArn") is not None:
            records = [r for r in records if r["table_arn"] == body["TableArn"]]
        chosen, more = model.page(records, body.get("NextToken"), _limit(body, "MaxResults", 25), "NextToken")
        return {"ExportSummaries": [model.export_summary(r) for r in chosen], **more}

    # --- imports ------------------------------------------------------------------------

    async def import_table(self, body: dict) -> dict:
        req = model.parse_import(body)
        if req["token"]:
            same = next((r for r in self._records("import") if r.get("token") == req["token"]), None)
            if same is not None:
                return {"ImportTableDescription": model.import_description(same)}
        # Refused now when there is nothing to import (the fill lists the files again).
        await asyncio.to_thread(_input_files, self.dir / req["bucket"], req["prefix"], req["compression"])
        now = time.time()
        name = req["spec"]["TableName"]
        table_arn = backup_model.table_arn(self.api.region, name)
        rec = {"kind": "import", "arn": f"{table_arn}/import/{model.new_id(now)}", "status": "IN_PROGRESS",
               "start": now, "table_arn": table_arn, "table_id": "", "source": req["source"],
               "compression": req["compression"], "params": req["params"], "token": req["token"]}
        try:  # (the fill waits for the import's record, written next: its progress goes there)
            t = await self.backups.create_filled(req["spec"], {
                "kind": "import", "arn": rec["arn"], **{k: req[k] for k in ("bucket", "prefix", "compression")}})
        except TableAlreadyExistsException:  # ImportTable's own word for it
            raise ResourceInUseException(f"Table already exists: {name}") from None
        rec["table_id"] = t.uuid
        await self._put(rec, create=True)
        return {"ImportTableDescription": model.import_description(rec)}

    async def _import(self, rec: dict, target: TableInfo, files: list[Path]) -> None:
        try:
            processed = imported = errors = size = 0
            for path in files:
                raw = await asyncio.to_thread(path.read_bytes)
                data = gzip.decompress(raw) if rec["compression"] == "GZIP" else raw
                items = []
                for line in data.splitlines():
                    if not line.strip():
                        continue
                    processed += 1
                    item = model.parse_item_line(line)
                    if item is None:
                        errors += 1
                    else:
                        items.append(item)
                size += len(raw)
                await self.backups.put_items(target, items)
                imported += len(items)
                rec = {**rec, "processed": processed, "items": imported, "errors": errors, "size": size}
                await self._put(rec)
            await self._put({**rec, "status": "COMPLETED", "end": time.time()})
        except Exception as exc:
            await self._put({**rec, "status": "FAILED", "end": time.time(), "failure": str(exc)})
            raise

    async def describe_import(self, body: dict) -> dict:
        arn = body.get("ImportArn")
        rec = next((r for r in self._records("import") if r["arn"] == arn), None)
        if rec is None:
            raise ImportNotFoundException(f"Import not found: {arn}")
        return {"ImportTableDescription": model.import_description(rec)}

    async def list_imports(self, body: dict) -> dict:
        records = self._records("import")
        if body.get("TableArn") is not None:
            records = [r for r in records if r["table_arn"] == body["TableArn"]]
        chosen, more = model.page(records, body.get("NextToken"), _limit(body, "PageSize", 25), "NextToken")
        return {"ImportSummaryList": [model.import_summary(r) for r in chosen], **more}


def _limit(body: dict, member: str, most: int) -> int:
    value = body.get(member, most)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise ValidationException(f"1 validation error detected: Value '{value}' at "
                                  f"'{member[0].lower() + member[1:]}' failed to satisfy constraint: Member must "
                                  f"have value between 1 and {most}")
    return value


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _input_files(bucket: Path, prefix: str, compression: str) -> list[Path]:
    """The data files of an import: under the bucket's prefix, by name (an
    export's data directory, or any files of DynamoDB JSON lines)."""
    if not bucket.is_dir():
        raise ValidationException(f"S3 bucket {bucket.name} does not exist (no directory {bucket})")
    suffix = ".json.gz" if compression == "GZIP" else ".json"
    root = bucket / prefix if prefix else bucket
    base = root if root.is_dir() else root.parent
    files = sorted(p for p in base.rglob(f"*{suffix}") if str(p.relative_to(bucket)).startswith(prefix)
                   and not p.name.startswith("manifest-"))
    if not files:
        raise ValidationException(f"No {suffix} files under s3://{bucket.name}/{prefix}")
    return files
