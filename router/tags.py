"""TagResource, UntagResource and ListTagsOfResource.

Tags live in the cluster metadata (``TableInfo.tags``); the meta state
machine merges each call into the current set, so concurrent calls keep each
other's tags. A call returns once this router's copy of the metadata has the
change: a ListTagsOfResource through the same router sees it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ddb import tags as ddb_tags
from ddb.errors import ResourceNotFoundException

if TYPE_CHECKING:
    from router.api import Api

ACCOUNT = "000000000000"
WAIT_S = 5.0
NOT_FOUND = "Requested resource not found: ResourcArn: {arn} not found"  # sic: DynamoDB's spelling


def _table(api: Api, body: dict, operation: str, *, missing: str) -> tuple[str, str]:
    arn = body.get("ResourceArn")
    name = ddb_tags.table_of_arn(arn, region=api.region, account=ACCOUNT, operation=operation)
    return name, missing.format(arn=arn)


def _exists(api: Api, name: str, missing: str) -> None:
    state = api.cluster.state
    t = state.tables.get(name) if state is not None else None
    if t is None or "IndexOf" in t.spec:
        raise ResourceNotFoundException(missing)


async def _change(api: Api, name: str, missing: str, **change: list) -> bytes:
    result = await api.cluster.meta("tag_table", {"name": name, "missing": missing, **change})
    version = result.get("version", 0)
    await api.cluster.wait_for(lambda s: s.version >= version, WAIT_S)
    return b"{}"


async def tag_resource(api: Api, body: dict) -> bytes:
    if body.get("ResourceArn") is None:
        ddb_tags.table_of_arn(None, region=api.region, account=ACCOUNT, operation="TagResource")
    if body.get("Tags") is None:
        ddb_tags.parse_tags(None, required=True)
    name, missing = _table(api, body, "TagResource", missing=NOT_FOUND)
    add = ddb_tags.parse_tags(body["Tags"], required=True)
    _exists(api, name, missing)
    return await _change(api, name, missing, add=add)


async def untag_resource(api: Api, body: dict) -> bytes:
    if body.get("ResourceArn") is None:
        ddb_tags.table_of_arn(None, region=api.region, account=ACCOUNT, operation="UntagResource")
    if body.get("TagKeys") is None:
        ddb_tags.parse_tag_keys(None)
    name, missing = _table(api, body, "UntagResource", missing="Requested resource not found")
    remove = ddb_tags.parse_tag_keys(body["TagKeys"])
    _exists(api, name, missing)
    return await _change(api, name, missing, remove=remove)


async def list_tags_of_resource(api: Api, body: dict) -> dict:
    name, missing = _table(api, body, "ListTagsOfResource", missing=NOT_FOUND)
    _exists(api, name, missing)
    return ddb_tags.tags_page(api.cluster.state.tables[name].tags, body.get("NextToken"))
