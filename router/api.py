"""The DynamoDB operations the router serves, on top of the cluster.

Validation and evaluation rules live in `ddb` (pure, shared with the nodes);
this module resolves tables from the metadata, turns a key into its storage
key and partition, and relays to the partition's replicas. Items travel as
DynamoDB JSON bytes end to end: a GetItem answer is spliced into the
response without being parsed.
"""

from __future__ import annotations

import contextvars
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson

from ddb import global_tables as ddb_global_tables
from ddb import items as ddb_items
from ddb import tables as ddb_tables
from ddb.encoding import encode_key_value, encode_partition_key, hash64
from ddb.indexes import (Index, check_index_keys, indexes_of, parse_index_updates, with_index_throughput,
                         without_index)
from cluster.index_defs import secondary_index
from cluster.keys import item_key
from cluster.meta import MetaState, TableInfo, hidden
from cluster.partitions import Cluster
from ddb.errors import ResourceInUseException, ResourceNotFoundException, ServiceUnavailable, ValidationException
from ddb.sse import key_changes, parse_sse, sse_description
from ddb.keys import KeySchema
from ddb.streams import StreamSpec, parse_update_stream
from router import (backups, batches, capacity, exports, global_settings, global_table_legacy, global_tables,
                    reads, resource_policies, strong_tables, tags, ttl)
from router.node_requests import item_fields
from router.partiql import operations as partiql_operations
from router.stats import TableStats
from router.transactions import Transactions
from router.streams import table_stream_fields
from trireme_pb import node_pb2

Op = Callable[[dict], Awaitable[Any]]
GET, PUT, DELETE, UPDATE = (node_pb2.DataRequest.GET, node_pb2.DataRequest.PUT, node_pb2.DataRequest.DELETE,
                            node_pb2.DataRequest.UPDATE)

CREATE_WAIT_S = 5.0
# UpdateTable members besides SSESpecification that change something else in the same call.
_OTHER_UPDATES = ("BillingMode", "ProvisionedThroughput", "DeletionProtectionEnabled", "WarmThroughput", "TableClass",
                  "GlobalSecondaryIndexUpdates", "StreamSpecification")
# The Host header of the request being served: DescribeEndpoints answers the
# address the client reached this router by.
HOST: contextvars.ContextVar[str | None] = contextvars.ContextVar("host", default=None)
Handler = Callable[[str | None, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]


def _not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")


def _no_metadata() -> ServiceUnavailable:
    return ServiceUnavailable("This router has not received the cluster's metadata yet (it has just started "
                              "or cannot reach the metadata nodes); retry shortly.")


class Api:
    def __init__(self, cluster: Cluster, region: str, endpoint: str = "localhost:8000",
                 remote_regions: dict[str, str] | None = None, exports_dir: Path = Path("exports")) -> None:
        self.cluster = cluster
        self.region = region
        self.remote_regions = remote_regions or {}  # other regions' router URLs, through the link
        self.endpoint = endpoint  # the listen address, for a request without a Host header
        self.stats = TableStats(cluster)  # ItemCount and sizes, asked of the meta leader (router/stats.py)
        self._schemas: dict[tuple[str, int], KeySchema] = {}
        # table name -> (its spec, its indexes, their messages for the node: the local ones, all)
        self._indexes: dict[str, tuple[dict, list[Index], list[node_pb2.SecondaryIndex],
                                       list[node_pb2.SecondaryIndex]]] = {}
        self.transactions = Transactions(self)  # TransactWriteItems, TransactGetItems (router/transactions.py)
        self.backups = backups.Backups(self)  # on-demand backups and restores (router/backups.py)
        self.exports = exports.Exports(self, exports_dir)  # PITR settings, exports, imports (router/exports.py)

    def operations(self) -> dict[str, Op]:
        data: dict[str, Op] = {
            "PutItem": self.put_item,
            "GetItem": self.get_item,
            "DeleteItem": self.delete_item,
            "UpdateItem": self.update_item,
            "Query": lambda body: reads.query(self, body),
            "Scan": lambda body: reads.scan(self, body),
            "BatchGetItem": lambda body: batches.batch_get_item(self, body),
            "BatchWriteItem": lambda body: batches.batch_write_item(self, body),
            **partiql_operations(self),
        }
        ops = {
            "CreateTable": self.create_table,
            "DescribeTable": self.describe_table,
            "ListTables": self.list_tables,
            "UpdateTable": lambda body: global_settings.synced(self, "UpdateTable", body, self.update_table),
            "DeleteTable": self.delete_table,
            "DescribeEndpoints": self.describe_endpoints,
            "DescribeLimits": self.describe_limits,
            "TagResource": lambda body: tags.tag_resource(self, body),
            "UntagResource": lambda body: tags.untag_resource(self, body),
            "ListTagsOfResource": lambda body: tags.list_tags_of_resource(self, body),
            "UpdateTimeToLive": lambda body: global_settings.synced(
                self, "UpdateTimeToLive", body, lambda b: ttl.update_time_to_live(self, strong_tables.no_ttl(self, b))),
            "DescribeTimeToLive": lambda body: ttl.describe_time_to_live(self, body),
            **global_tables.operations(self),
            **resource_policies.operations(self),
            **self.backups.operations(),
            **self.exports.operations(),
            **global_table_legacy.operations(self),
            **{name: _capacity_checked(strong_tables.forwarding(self, name, op)) for name, op in data.items()},
            # Their ReturnConsumedCapacity is one of their members' constraints, reported with the others.
            **self.transactions.operations(),
        }
        return {name: self.with_metadata(op) for name, op in ops.items()}

    def with_metadata(self, op: Op) -> Op:
        """Hold a request that arrives before the first metadata (just after a
        start) until the metadata is in, within the request's deadline: until
        then the router cannot tell whether a table exists, and must not claim
        it does not (an application would create it again)."""
        cluster = self.cluster

        async def held(body: dict) -> Any:
            if not await cluster.wait_for(lambda s: True, cluster.deadline_s):
                raise _no_metadata()
            return await op(body)

        def run(body: dict) -> Awaitable[Any]:
            return op(body) if cluster.state is not None else held(body)
        return run

    @staticmethod
    def with_host(handler: Handler) -> Handler:
        """The HTTP handler, noting each request's Host header for DescribeEndpoints
        (each request runs in a task of its own, so the note is the request's).
        Not a coroutine itself: it runs inside the request's task and hands
        back the handler's, one frame less per request."""
        def handle(target: str | None, body: bytes, headers: dict[str, str]) -> Awaitable[tuple[int, bytes]]:
            HOST.set(headers.get("host"))
            return handler(target, body, headers)
        return handle  # type: ignore[return-value]

    # --- the service ----------------------------------------------------------

    async def describe_endpoints(self, body: dict) -> dict:
        """This router's own address as the client reached it, never AWS's: SDKs
        that discover endpoints keep talking to it."""
        return {"Endpoints": [{"Address": HOST.get() or self.endpoint,
                               "CachePeriodInMinutes": ddb_tables.ENDPOINT_CACHE_MINUTES}]}

    async def describe_limits(self, body: dict) -> dict:
        return dict(ddb_tables.LIMITS)

    # --- tables ---------------------------------------------------------------

    def table(self, name: str, *, any_status: bool = False) -> TableInfo:
        state = self.cluster.state
        if state is None:
            raise _no_metadata()
        t = state.tables.get(name)
        if t is None or (not any_status and t.status in ("CREATING", "DELETING")):
            raise _not_found(name)
        return t

    async def describe(self, t: TableInfo, *, creating: str | None = None) -> dict:
        """The table's TableDescription (with its counts, stream and global table
        fields); ``creating``: a global index shown CREATING whatever its state."""
        record = await self._counted(t)
        if creating is not None and creating in record.get("indexes", {}):
            record["indexes"][creating] = {**record["indexes"][creating], "status": "CREATING"}
        return {**ddb_tables.describe_table(record, region=self.region, now=time.time()),
                **table_stream_fields(self.region, t),
                **ddb_global_tables.table_fields(t.status, t.replicas, t.global_version),
                **strong_tables.describe_fields(t),
                **sse_description(t.spec, self.region)}

    def _record(self, t: TableInfo, stats: dict[str, dict] | None = None) -> dict:
        """What DescribeTable needs: the table, the state of its global
        indexes, and their counts when given (``stats``, by table name)."""
        stats = stats or {}
        record = {**_record(t), **stats.get(t.name, {})}
        state = self.cluster.state
        if state is not None:
            record["indexes"] = {ix.spec["IndexName"]: {"status": ix.status, "spec": ix.spec,
                                                        **stats.get(ix.name, {})}
                                 for ix in state.index_tables(t.name)}
        return record

    async def _counted(self, t: TableInfo) -> dict:
        """The record with the table's and its indexes' current counts."""
        state = self.cluster.state
        return self._record(t, await self.stats.of([t, *(state.index_tables(t.name) if state else [])]))

    async def create_table(self, body: dict) -> dict:
        spec = ddb_tables.parse_create_table(body)
        spec["SSESpecification"] = parse_sse(body.get("SSESpecification"))
        name = spec["TableName"]
        ddb_tables.check_quotas(self._user_specs(name), spec, creating=name not in self._names())
        result = await self.cluster.meta("create_table", {"name": name, "spec": spec})
        # DynamoDB answers CREATING; waiting here until the partitions have
        # leaders lets clients that write right away (as they do against
        # emulators) and waiters that poll every 20 s both work.
        await self.cluster.wait_for(lambda s: name in s.tables and s.tables[name].status == "ACTIVE",
                                    CREATE_WAIT_S)
        t = self.cluster.state.tables.get(name) if self.cluster.state is not None else None
        if t is None or t.id != result["table"]["id"]:
            t = TableInfo(**result["table"])
        return {"TableDescription": {**ddb_tables.describe_table(self._record(t), region=self.region),
                                     **table_stream_fields(self.region, t), **sse_description(spec, self.region)}}

    def _names(self) -> set[str]:
        state = self.cluster.state
        return set(state.tables) if state is not None else set()

    def _user_specs(self, besides: str) -> list[dict]:
        """Every user table's spec but ``besides``'s, for the account quotas."""
        state = self.cluster.state
        return [t.spec for n, t in (state.tables.items() if state is not None else ()) if n != besides
                and not hidden(t)]

    async def describe_table(self, body: dict) -> dict:
        name = ddb_tables.parse_table_name(body)
        return {"Table": await self.describe(self.table(name, any_status=True))}

    async def list_tables(self, body: dict) -> dict:
        limit, start = ddb_tables.parse_list_tables(body)
        state = self.cluster.state
        if state is None:
            raise _no_metadata()
        names = sorted(n for n, t in state.tables.items() if not hidden(t))
        return ddb_tables.list_tables_page(names, limit, start)

    async def update_table(self, body: dict) -> dict:
        name = ddb_tables.parse_table_name(body)
        t = self.table(name, any_status=True)
        if strong_tables.applies(body, t):
            return await strong_tables.make_strong(self, body, t)
        strong_tables.check_update(body, t)
        if body.get("ReplicaUpdates") is not None:
            return await global_tables.update_replicas(self, body, t)
        if body.get("SSESpecification") is not None:
            t = await self._update_sse(body, t)
            if not any(k in body for k in _OTHER_UPDATES):
                return {"TableDescription": {**await self.describe(t),
                                             **sse_description(t.spec, self.region, updating=True)}}
        if body.get("StreamSpecification") is not None:
            return await self._update_stream(body, t)
        spec = dict(t.spec)
        change = parse_index_updates(body, spec)
        if change is None or change[0] == "update":
            spec, updated = ddb_tables.parse_update_table(body, {**self._record(t), "spec": spec}, now=time.time(),
                                                          index_update=change is not None)
            if change is not None:
                spec = with_index_throughput(spec, change[1])
            ddb_tables.check_quotas(self._user_specs(name), spec, creating=False)
            result = await self.cluster.meta("update_table", {"name": name, "spec": spec, "updated": updated})
            # A DescribeTable right after, here or through another region's settings call, shows the change.
            await self.cluster.wait_for(lambda s: name in s.tables and s.tables[name].spec == result["table"]["spec"],
                                        CREATE_WAIT_S)
            return {"TableDescription": await self.describe(TableInfo(**result["table"]))}
        if any(k in body for k in ("BillingMode", "ProvisionedThroughput")):
            raise ValidationException("One or more parameter values were invalid: Only one of table throughput, "
                                      "billing mode, stream settings or one global secondary index can be changed "
                                      "by one UpdateTable call")
        action, index = change
        if action == "create":
            spec["GlobalSecondaryIndexes"] = [*(spec.get("GlobalSecondaryIndexes") or []), index]
            result = await self.cluster.meta("create_index", {"name": name, "spec": spec, "index": index})
        else:
            spec = without_index(spec, index["IndexName"])
            await self.cluster.meta("delete_index", {"name": name, "spec": spec, "index": index["IndexName"]})
        await self.cluster.wait_for(lambda s: name in s.tables and s.tables[name].spec == spec, CREATE_WAIT_S)
        if action == "create":
            # As the request left it (the table UPDATING, the index CREATING), as DynamoDB
            # answers: a small table's backfill may be done, the index ACTIVE, by now.
            return {"TableDescription": await self.describe(TableInfo(**result["table"]),
                                                            creating=index["IndexName"])}
        return {"TableDescription": await self.describe(self.table(name, any_status=True))}

    async def _update_sse(self, body: dict, t: TableInfo) -> TableInfo:
        """UpdateTable's SSESpecification: keep the new setting; a new KMS key
        rotates the table's data keys (its indexes' too): new writes are
        sealed under the new version, older values still open."""
        sse = parse_sse(body["SSESpecification"])
        if t.status != "ACTIVE":
            raise ResourceInUseException(f"Attempt to change a resource which is still in use: Table is being "
                                         f"updated: {t.name}")
        spec = {**t.spec, "SSESpecification": sse}
        if key_changes(t.spec.get("SSESpecification"), sse):
            await self.cluster.meta("rotate_key", {"name": t.name})
        result = await self.cluster.meta("update_table", {"name": t.name, "spec": spec, "updated": {}})
        await self.cluster.wait_for(lambda s: t.name in s.tables and s.tables[t.name].spec == result["table"]["spec"],
                                    CREATE_WAIT_S)
        return TableInfo(**result["table"])

    async def _update_stream(self, body: dict, t: TableInfo) -> dict:
        """UpdateTable with a StreamSpecification: enable a new stream or
        disable the current one (with BillingMode or DeletionProtectionEnabled
        changed first when they are asked for too)."""
        current = t.enabled_stream()
        spec = parse_update_stream(body, t.name, None if current is None else StreamSpec(True, current["view"]))
        if any(k in body for k in ("BillingMode", "DeletionProtectionEnabled")):
            new_spec, updated = ddb_tables.parse_update_table(body, self._record(t), now=time.time())
            await self.cluster.meta("update_table", {"name": t.name, "spec": new_spec, "updated": updated})
        result = await self.cluster.meta("update_stream", {"name": t.name, "enabled": spec is not None,
                                                           "view": spec.view_type if spec else None})
        # Read your writes: what this router answers next shows the change.
        await self.cluster.wait_for(lambda st: _newest_stream(st, t.name) == _newest_stream(result), CREATE_WAIT_S)
        return {"TableDescription": await self.describe(TableInfo(**result["table"]))}

    async def delete_table(self, body: dict) -> dict:
        """The deleted table's description as DynamoDB gives it: DELETING, with
        its indexes (each DELETING too)."""
        name = ddb_tables.parse_table_name(body)
        t = self.table(name, any_status=True)
        ddb_tables.check_deletable(t.spec)  # before a replica leaves its group
        record = await self._counted(t)
        if t.replicas and t.status != "DELETING":  # a replica: only this region's goes
            await global_tables.leave(self, t)
        result = await self.cluster.meta("delete_table", {"name": name, "unless_protected": True})
        await self.cluster.wait_for(lambda s: name not in s.tables, CREATE_WAIT_S)
        return {"TableDescription": ddb_tables.describe_table(ddb_tables.deleting(record, result["table"]),
                                                              region=self.region)}

    # --- items ----------------------------------------------------------------

    def schema(self, t: TableInfo) -> KeySchema:
        key = (t.name, t.id)
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = KeySchema.from_wire(t.spec["KeySchema"], t.spec["AttributeDefinitions"],
                                                              has_indexes=True)
        return schema

    def _cached_indexes(self, t: TableInfo) -> tuple:
        """The table's indexes, recomputed whenever its spec changes (UpdateTable)."""
        cached = self._indexes.get(t.name)
        if cached is None or cached[0] is not t.spec:
            indexes = indexes_of(t.spec)
            schema = self.schema(t)
            wire = [secondary_index(i, schema) for i in indexes]
            cached = self._indexes[t.name] = (t.spec, indexes, [w for w in wire if w.local], wire)
        return cached

    def indexes(self, t: TableInfo) -> list[Index]:
        return self._cached_indexes(t)[1]

    def with_indexes(self, t: TableInfo, key: dict, fields: dict) -> dict:
        """Writes to a table with local indexes carry their definitions (the
        leader maintains the entries in the same log entry)."""
        local = self._cached_indexes(t)[2]
        if local:
            fields["partition_key_length"] = len(encode_key_value(key[self.schema(t).hash_key]))
            fields["local_indexes"] = local
        return fields

    def with_capacity(self, body: dict, fields: dict, t: TableInfo | None = None) -> dict:
        """Ask the node for the item sizes ConsumedCapacity is computed from (and,
        for a write to a table with indexes, for the index writes it causes)."""
        if capacity.wanted(body):
            fields["measure_capacity"] = True
            if t is not None:
                every = self._cached_indexes(t)[3]
                if every:
                    fields["capacity_indexes"] = every
        return fields

    def _written(self, body: dict, t: TableInfo, key: dict, resp: node_pb2.DataResponse) -> bytes:
        out = _write_response(body, self.schema(t), key, resp)
        if not capacity.wanted(body):
            return out
        return capacity.add(out, body, capacity.written(t.name, resp, capacity.mode(body)))

    def locate(self, t: TableInfo, key: dict) -> tuple[int, bytes]:
        schema = self.schema(t)
        pk = encode_partition_key(schema, key)  # the storage key starts with it: encoded once
        h = hash64(pk)
        if schema.range_key is None:
            return h, item_key(t.id, h, pk)
        return h, item_key(t.id, h, pk, encode_key_value(key[schema.range_key]))

    async def put_item(self, body: dict) -> Any:
        req = ddb_items.parse_put_item(body)
        t = self.table(req.table_name)
        key = req.bind(self.schema(t))
        indexes = self.indexes(t)
        if indexes:
            check_index_keys(indexes, req.item)
        h, skey = self.locate(t, key)
        fields = self.with_capacity(body, self.with_indexes(t, key, item_fields(req)), t)
        resp = await self.cluster.send(t.name, h, node_pb2.DataRequest(
            op=PUT, key=skey, item=orjson.dumps(req.item), **fields), to_leader=True, idempotent=False)
        return self._written(body, t, key, resp)

    async def get_item(self, body: dict) -> Any:
        req = ddb_items.parse_get_item(body)
        t = self.table(req.table_name)
        key = req.bind(self.schema(t))
        h, skey = self.locate(t, key)
        fields = self.with_capacity(body, item_fields(req))
        consistent = bool(req.consistent_read)
        resp = await self.cluster.send(t.name, h, node_pb2.DataRequest(
            op=GET, key=skey, consistent=consistent, **fields), to_leader=consistent)
        out = b'{"Item":' + resp.item + b"}" if resp.item else b"{}"
        if not capacity.wanted(body):
            return out
        return capacity.add(out, body, capacity.entry(
            t.name, capacity.read_units(resp.size, consistent), capacity.mode(body)))

    async def delete_item(self, body: dict) -> Any:
        req = ddb_items.parse_delete_item(body)
        t = self.table(req.table_name)
        key = req.bind(self.schema(t))
        h, skey = self.locate(t, key)
        fields = self.with_capacity(body, self.with_indexes(t, key, item_fields(req)), t)
        resp = await self.cluster.send(t.name, h, node_pb2.DataRequest(op=DELETE, key=skey, **fields), to_leader=True,
                                       idempotent=False)
        return self._written(body, t, key, resp)

    async def update_item(self, body: dict) -> Any:
        req = ddb_items.parse_update_item(body)
        t = self.table(req.table_name)
        key = req.bind(self.schema(t))
        h, skey = self.locate(t, key)
        fields = self.with_capacity(body, self.with_indexes(t, key, item_fields(req)), t)
        resp = await self.cluster.send(t.name, h, node_pb2.DataRequest(
            op=UPDATE, key=skey, item=orjson.dumps(key), **fields), to_leader=True, idempotent=False)
        return self._written(body, t, key, resp)


def _newest_stream(state: MetaState | dict, name: str = "") -> tuple | None:
    """(label, status) of a table's newest stream, in a metadata state or in
    a metadata call's answer (its "table")."""
    if isinstance(state, dict):
        streams = state["table"]["streams"]
    else:
        t = state.tables.get(name)
        streams = t.streams if t is not None else []
    return (streams[-1]["label"], streams[-1]["status"]) if streams else None


def _capacity_checked(op: Op) -> Op:
    """Reject a bad ReturnConsumedCapacity before the operation does anything."""
    def run(body: dict) -> Awaitable[Any]:
        capacity.mode(body)
        return op(body)  # the coroutine itself: one frame less per request
    return run


def _write_response(body: dict, schema: KeySchema, key: dict, resp: node_pb2.DataResponse) -> bytes:
    """Attributes (ReturnValues) and, when asked for on a table with local
    indexes, ItemCollectionMetrics."""
    out = _attributes(resp.item)
    if body.get("ReturnItemCollectionMetrics") != "SIZE":
        return out
    if not resp.HasField("item_collection_size"):
        return out
    gb = resp.item_collection_size / (1 << 30)
    metrics = orjson.dumps({"ItemCollectionKey": {schema.hash_key: key[schema.hash_key]},
                            "SizeEstimateRangeGB": [float(int(gb)), float(int(gb) + 1)]})
    return (out[:-1] + b"," if out != b"{}" else b"{") + b'"ItemCollectionMetrics":' + metrics + b"}"


def _attributes(item: bytes) -> bytes:
    return b'{"Attributes":' + item + b"}" if item else b"{}"


def _record(t: TableInfo) -> dict:
    return {"name": t.name, "id": t.id, "uuid": t.uuid, "status": t.status, "created": t.created,
            "spec": t.spec, "throughput_changed": t.updated}


__all__ = ["Api", "ValidationException"]
