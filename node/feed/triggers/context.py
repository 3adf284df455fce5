"""What a node's shard pollers share (`TriggerContext`): the metadata view,
the partitions led here, the function runtimes, and the DynamoDB client that
writes failure records into destination tables through the router."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any


from cluster.function_code import CodeStore
from cluster.kms import own_credential
from cluster.meta import MetaState
from cluster.partitions import Cluster
from ddb import streams as ds
from ddb.errors import DynamoDBError
from functions.mappings import PARALLEL_MAX
from functions.model import Function
from functions.runtime import FunctionRuntime, InvokeResult
from node.partition.replica import PartitionReplica

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)


class TriggerContext:
    """The node's side of every poller: which mappings it delivers, and the means to."""

    def __init__(self, engine: Engine, view: Callable[[], MetaState | None], cluster: Callable[[], Cluster],
                 report: Callable[[str, dict], Awaitable[Any]], *, functions_dir: str | Path,
                 endpoint_url: str) -> None:
        self.engine = engine
        self.view = view
        self.cluster = cluster
        self.report = report  # a metadata call (the mapping's LastProcessingResult and discarded records)
        self.functions_dir = Path(functions_dir)
        self.endpoint_url = endpoint_url
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._tables: dict[str, Any] = {}  # region -> boto3 DynamoDB client of the router
        # (mapping uuid, group) -> ms between the oldest record of the latest batch
        # handed to the function and that moment (Lambda's IteratorAge), for /metrics.
        self.iterator_age_ms: dict[tuple[str, str], float] = {}

    async def close(self) -> None:
        for rt in self._runtimes.values():
            await rt.close()

    # --- which mappings ---------------------------------------------------------

    def live(self, uuid_: str, group: str) -> tuple[dict, PartitionReplica] | None:
        """The mapping and the replica while this node leads the partition and the mapping is enabled."""
        state = self.view()
        replica = self.engine.replicas.get(group)
        if state is None or not isinstance(replica, PartitionReplica) or not replica.is_leader:
            return None
        mapping = state.mappings.get(uuid_)
        if mapping is None or mapping not in mappings_of(state, replica):
            return None
        return mapping, replica

    # --- functions --------------------------------------------------------------

    def runtime(self, region: str) -> FunctionRuntime:
        rt = self._runtimes.get(region)
        if rt is None:  # up to ParallelizationFactor lanes of one shard run one function at once
            rt = self._runtimes[region] = FunctionRuntime(
                code_dir=self.functions_dir / "code", log_dir=self.functions_dir / "logs",
                endpoint_url=self.endpoint_url, region=region, max_concurrency=PARALLEL_MAX,
                access_key=own_credential()[0], secret_key=own_credential()[1])
        return rt

    def function(self, arn: str) -> tuple[Function | None, str | None]:
        """The function an ARN names and the key of its code (None, None: there is none)."""
        state = self.view()
        entry = state.functions.get(arn.rsplit(":", 1)[-1]) if state is not None else None
        if entry is None:
            return None, None
        return Function.from_record(entry["record"]), entry["code"]

    async def invoke(self, region: str, fn: Function, code: str, payload: bytes) -> InvokeResult | None:
        """Run ``fn`` on ``payload`` (None: the code could not be fetched or the runtime failed)."""
        rt = self.runtime(region)
        try:
            zip_bytes = None if rt.has_code(fn.code_sha256) else await CodeStore(self.cluster()).get(
                code, fn.code_size)
            return await rt.invoke(fn, payload, zip_bytes=zip_bytes, request_id=str(uuid.uuid4()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (retried by the caller)
            log.warning("invoking %s failed: %r", fn.name, exc)
            return None

    # --- tables -----------------------------------------------------------------

    def table_keys(self, name: str) -> tuple[list[dict], dict[str, str]] | None:
        """A user table's KeySchema and attribute types (None: no such table)."""
        state = self.view()
        t = state.tables.get(name) if state is not None else None
        if t is None or "IndexOf" in t.spec or t.status == "DELETING":
            return None
        return t.spec["KeySchema"], {d["AttributeName"]: d["AttributeType"] for d in t.spec["AttributeDefinitions"]}

    async def put_item(self, region: str, table: str, item: dict[str, Any]) -> None:
        """A PutItem through the router, as a client's: the table's indexes and
        stream follow as for any write (botocore retries what is retryable)."""
        client = self._tables.get(region)
        if client is None:
            import boto3  # here, not at import: a fifth of a node's start-up, for on-failure destinations only
            from botocore.config import Config

            client = self._tables[region] = boto3.client(
                "dynamodb", endpoint_url=self.endpoint_url, region_name=region,
                aws_access_key_id=own_credential()[0], aws_secret_access_key=own_credential()[1],
                config=Config(retries={"total_max_attempts": 5, "mode": "standard"}, connect_timeout=3,
                              read_timeout=15))
        await asyncio.to_thread(client.put_item, TableName=table, Item=item)


def mappings_of(state: MetaState, replica: PartitionReplica) -> list[dict]:
    """The enabled mappings whose source is a stream of the replica's table."""
    t = state.table_by_id(replica.config["table_id"])
    if t is None or t.status == "DELETING":
        return []
    out = []
    for m in state.mappings.values():
        if not m["enabled"]:
            continue
        try:
            name = ds.parse_stream_arn(m["source"])
        except DynamoDBError:
            continue
        if name.table == t.name and t.stream(name.label) is not None:
            out.append(m)
    return out
