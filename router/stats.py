"""ItemCount and TableSizeBytes for DescribeTable: soft state the meta leader
sums from the partition leaders' heartbeats (node/control/stats.py), asked for
when a table is described rather than carried in the metadata log.

DynamoDB refreshes these counts about every six hours; Trireme's are seconds
old. When the meta leader cannot answer in time (an election) or has not
heard from every partition yet (it has just been elected), the counts this
router last saw for the table stand in, else zeros.
"""

from __future__ import annotations

from cluster.meta import TableInfo
from cluster.partitions import Cluster
from cluster.tasks import within
from ddb.errors import DynamoDBError

ASK_S = 2.0


class TableStats:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._last: dict[str, dict] = {}  # table name -> its latest counts, with the table's id

    async def of(self, tables: list[TableInfo]) -> dict[str, dict]:
        """Table name -> {"item_count", "size_bytes", "index_stats"} (the
        ddb/tables.py record fields) of each of ``tables``."""
        try:
            got = (await within(self.cluster.meta("table_stats", {"names": [t.name for t in tables]}),
                                          ASK_S))["tables"]
        except (TimeoutError, DynamoDBError):
            got = {}
        out = {}
        for t in tables:
            counts = got.get(t.name)
            if counts is not None and counts["id"] == t.id and "item_count" in counts:  # else: only units consumed
                self._last[t.name] = counts
            else:
                counts = self._last.get(t.name)
            if counts is not None and counts["id"] == t.id:
                out[t.name] = {k: v for k, v in counts.items() if k != "id"}
        return out
