"""Functions' zips, kept in the cluster: a hidden, replicated table of chunks.

Each upload (a CreateFunction or an UpdateFunctionCode) gets a key of its own,
``CodeSha256.uploadid``, and its zip is cut into chunks of `CHUNK` bytes, one
item each (``{"k": "KEY/N", "b": <bytes>}``, well under the 400 KB item
limit), written through the partitions' Raft groups like any item. The
function's record in the cluster metadata names the key; a reader fetches the
chunks by it (the router that invokes, which then keeps the code unpacked by
CodeSha256). Since no two records ever share an upload, the router whose
metadata change replaced or deleted a record drops that upload's chunks
without racing anyone; an upload whose record never committed is dropped by
its own writer.

The table (`cluster.meta.FUNCTION_CODE_TABLE`) is created by the first
CreateFunction; '#' in its name keeps it out of every user call, and its
``System`` mark keeps it out of ListTables.
"""

from __future__ import annotations

import asyncio
import base64
import logging

import orjson

from cluster.keys import item_key
from cluster.meta import FUNCTION_CODE_TABLE, TableInfo
from cluster.partitions import Cluster
from ddb import tables as ddb_tables
from ddb.encoding import encode_key, encode_partition_key, hash64
from ddb.errors import ResourceInUseException, ServiceUnavailable
from ddb.keys import KeySchema
from trireme_pb import node_pb2

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
PARALLEL = 8  # chunks in flight per upload or download
WAIT_S = 10.0


def _spec(table: str, system: str) -> dict:
    spec = ddb_tables.parse_create_table({
        "TableName": system, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}]})
    return {**spec, "TableName": table, "System": system}


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


class CodeStore:
    """Blobs in chunks in a hidden table: functions' zips (the default), or
    another system's (`table`, `system`: e.g. backups, router/backups.py)."""

    def __init__(self, cluster: Cluster, table: str = FUNCTION_CODE_TABLE, system: str = "function-code") -> None:
        self.cluster = cluster
        self.table, self.system = table, system
        self._schema: tuple[int, KeySchema] | None = None

    async def _table(self) -> TableInfo:
        """The chunk table, created on first use (by whichever router gets there first)."""
        def active(state) -> bool:
            t = state.tables.get(self.table)
            return t is not None and t.status == "ACTIVE"
        state = self.cluster.state
        if state is None or not active(state):
            if state is None or self.table not in state.tables:
                try:
                    await self.cluster.meta("create_table", {"name": self.table,
                                                             "spec": _spec(self.table, self.system)})
                except ResourceInUseException:
                    pass  # another router created it
            if not await self.cluster.wait_for(active, WAIT_S):
                raise ServiceUnavailable(f"The {self.system} table is not available yet; retry shortly.")
        return self.cluster.state.tables[self.table]

    def _locate(self, t: TableInfo, name: str) -> tuple[int, bytes]:
        if self._schema is None or self._schema[0] != t.id:
            self._schema = (t.id, KeySchema.from_wire(t.spec["KeySchema"], t.spec["AttributeDefinitions"]))
        schema = self._schema[1]
        key = {"k": {"S": name}}
        h = hash64(encode_partition_key(schema, key))
        return h, item_key(t.id, h, encode_key(schema, key))

    async def _each(self, calls) -> list:
        gate = asyncio.Semaphore(PARALLEL)

        async def one(call):
            async with gate:
                return await call()
        return await asyncio.gather(*(one(c) for c in calls))

    async def put(self, key: str, zip_bytes: bytes) -> None:
        """Write an upload's chunks (a re-sent chunk writes the same bytes again: harmless)."""
        t = await self._table()

        async def write(i: int) -> None:
            h, skey = self._locate(t, f"{key}/{i}")
            data = base64.b64encode(zip_bytes[i * CHUNK:(i + 1) * CHUNK]).decode()
            item = orjson.dumps({"k": {"S": f"{key}/{i}"}, "b": {"B": data}})
            await self.cluster.send(t.name, h, node_pb2.DataRequest(op=node_pb2.DataRequest.PUT, key=skey,
                                                                    item=item), to_leader=True, idempotent=True)
        await self._each([lambda i=i: write(i) for i in range(chunk_count(len(zip_bytes)))])

    async def get(self, key: str, size: int) -> bytes:
        """An upload's zip, read from the partitions' leaders (a just-written upload is seen)."""
        t = await self._table()

        async def read(i: int) -> bytes:
            h, skey = self._locate(t, f"{key}/{i}")
            resp = await self.cluster.send(t.name, h, node_pb2.DataRequest(
                op=node_pb2.DataRequest.GET, key=skey, consistent=True), to_leader=True)
            if not resp.item:
                raise ServiceUnavailable(f"Chunk {i} of {self.system} {key} is missing.")
            return base64.b64decode(orjson.loads(resp.item)["b"]["B"])
        data = b"".join(await self._each([lambda i=i: read(i) for i in range(chunk_count(size))]))
        if len(data) != size:
            raise ServiceUnavailable(f"{self.system} blob {key} has {len(data)} bytes, not {size}.")
        return data

    async def drop(self, key: str, size: int) -> None:
        """Delete an upload's chunks; a failure leaves them behind (logged), never fails the caller."""
        try:
            t = await self._table()

            async def delete(i: int) -> None:
                h, skey = self._locate(t, f"{key}/{i}")
                await self.cluster.send(t.name, h, node_pb2.DataRequest(op=node_pb2.DataRequest.DELETE, key=skey),
                                        to_leader=True, idempotent=True)
            await self._each([lambda i=i: delete(i) for i in range(chunk_count(size))])
        except Exception as exc:  # noqa: BLE001 (garbage left behind is logged, not an error of the request)
            log.warning("could not drop function code %s: %s", key, exc)
