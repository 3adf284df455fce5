"""UpdateTimeToLive and DescribeTimeToLive.

The setting lives in the table's metadata record (``TableInfo.ttl``); the meta
state machine checks each change against the current setting and its cooldown
(ddb/ttl.py), so two routers never both enable. The partition leaders' sweepers
(node/feed/ttl_sweeper.py) read it from their metadata view.
"""

from __future__ import annotations

import time

from cluster.meta import TableInfo
from ddb import tables as ddb_tables
from ddb import ttl as ddb_ttl
from ddb.errors import ResourceNotFoundException
from router.context import Tables

WAIT_S = 5.0


def _table(api: Tables, name: str) -> TableInfo:
    t = api.table(name, any_status=True)
    if "IndexOf" in t.spec:  # a global index's hidden table is no table of the user's
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return t


async def update_time_to_live(api: Tables, body: dict) -> dict:
    """Answers the specification as asked, once this router's metadata has it
    (a DescribeTimeToLive through the same router sees the change)."""
    name, enabled, attribute = ddb_ttl.parse_update_ttl(body)
    _table(api, name)
    result = await api.cluster.meta("update_ttl", {"name": name, "enabled": enabled, "attribute": attribute})
    version = result.get("version", 0)
    await api.cluster.wait_for(lambda s: s.version >= version, WAIT_S)
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}


async def describe_time_to_live(api: Tables, body: dict) -> dict:
    t = _table(api, ddb_tables.parse_table_name(body))
    ddb_ttl.check_describable(t.status)
    return {"TimeToLiveDescription": t.ttl_state().describe(int(time.time() * 1000))}
