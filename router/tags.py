"""TagResource, UntagResource and ListTagsOfResource.

Tags live in the cluster metadata (``TableInfo.tags``); the meta state
machine merges each call into the current set, so concurrent calls keep each
other's tags. A call returns once this router's copy of the metadata has the
change: a ListTagsOfResource through the same router sees it at once.
"""

from __future__ import annotations

from ddb import tags as ddb_tags
from ddb.errors import ResourceNotFoundException
from router.context import Tables

ACCOUNT = "000000000000"
WAIT_S = 5.0
NOT_FOUND = "Requested resource not found: ResourcArn: {arn} not found"  # sic: DynamoDB's spelling


def _exists(api: Tables, name: str, missing: str) -> None:
    state = api.cluster.state
    t = state.tables.get(name) if state is not None else None
    if t is None or "IndexOf" in t.spec:
        raise ResourceNotFoundException(missing)


async def _change(api: Tables, name: str, missing: str, **change: list) -> bytes:
    _exists(api, name, missing)
    result = await api.cluster.meta("tag_table", {"name": name, "missing": missing, **change})
    version = result.get("version", 0)
    await api.cluster.wait_for(lambda s: s.version >= version, WAIT_S)
    return b"{}"  # DynamoDB answers both with an empty body


async def tag_resource(api: Tables, body: dict) -> bytes:
    name, add = ddb_tags.tag_request(body, region=api.region, account=ACCOUNT)
    return await _change(api, name, NOT_FOUND.format(arn=body["ResourceArn"]), add=add)


async def untag_resource(api: Tables, body: dict) -> bytes:
    name, remove = ddb_tags.untag_request(body, region=api.region, account=ACCOUNT)
    return await _change(api, name, "Requested resource not found", remove=remove)


async def list_tags_of_resource(api: Tables, body: dict) -> dict:
    arn = body.get("ResourceArn")
    name = ddb_tags.table_of_arn(arn, region=api.region, account=ACCOUNT, operation="ListTagsOfResource")
    _exists(api, name, NOT_FOUND.format(arn=arn))
    return ddb_tags.tags_page(api.cluster.state.tables[name].tags, body.get("NextToken"))
