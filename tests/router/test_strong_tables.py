"""Forwarding a strongly consistent table's request to its leader's region."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from cluster.meta import MetaState, TableInfo
from cluster.partitions import LeaderElsewhere
from ddb.errors import ServiceUnavailable
from router.strong_tables import FORWARDED, forwarding


class _Cluster:
    """What `forwarding` reads of the router's cluster: an MRSC table in the
    metadata, the deadline, and the leaders it noted."""

    deadline_s = 2.0
    read_elsewhere = None

    def __init__(self) -> None:
        self.state = MetaState(version=1, tables={"t": TableInfo(name="t", id=1, uuid="u", status="ACTIVE", created=0.0, spec={},
                                                                consistency="STRONG")})
        self.leaders = {"t.p0": "ap-southeast-1/n3"}  # noted before the leader moved to this region

    def forget_leader(self, group: str) -> None:
        self.leaders.pop(group, None)


def _op(cluster: _Cluster):
    async def op(body: dict) -> dict:
        lead = cluster.leaders.get("t.p0")
        if lead is not None:
            raise LeaderElsewhere(lead.split("/")[0], "t.p0")
        return {"served": body}
    return op


def test_a_forwarded_request_asks_this_region_again_when_its_noted_leader_is_stale():
    cluster = _Cluster()
    run = forwarding(SimpleNamespace(cluster=cluster), "PutItem", _op(cluster))

    async def forwarded() -> dict:
        FORWARDED.set(True)
        return await run({"k": 1})

    assert asyncio.run(forwarded()) == {"served": {"k": 1}}


def test_a_forwarded_request_whose_leader_is_still_elsewhere_is_not_forwarded_again():
    cluster = _Cluster()

    async def always_elsewhere(body: dict) -> dict:
        raise LeaderElsewhere("ap-southeast-1", "t.p0")
    run = forwarding(SimpleNamespace(cluster=cluster), "PutItem", always_elsewhere)

    async def forwarded() -> dict:
        FORWARDED.set(True)
        return await run({"k": 1})

    with pytest.raises(ServiceUnavailable, match="is in region ap-southeast-1 now"):
        asyncio.run(forwarded())
