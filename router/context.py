"""What the operation modules (`batches`, `reads`, `tags`) need of the API
that dispatches to them: the tables, their schemas and indexes, and the
partition client. `router.api.Api` provides it; naming it here lets those
modules depend on this interface instead of on the module that imports them.
"""

from __future__ import annotations

from typing import Protocol

from cluster.meta import TableInfo
from cluster.partitions import Cluster
from ddb.indexes import Index
from ddb.keys import KeySchema


class Tables(Protocol):
    cluster: Cluster
    region: str

    def table(self, name: str, *, any_status: bool = False) -> TableInfo: ...

    def schema(self, t: TableInfo) -> KeySchema: ...

    def indexes(self, t: TableInfo) -> list[Index]: ...

    def locate(self, t: TableInfo, key: dict) -> tuple[int, bytes]: ...

    def with_indexes(self, t: TableInfo, key: dict, fields: dict) -> dict: ...

    def with_capacity(self, body: dict, fields: dict, t: TableInfo | None = None) -> dict: ...
