"""The typed fields of the DataRequests a router sends (node.proto), from
validated DynamoDB requests.

Expressions travel in their documented encoding, the JSON of the trees
`ddb.expressions` parses; everything else is a protobuf field. Each builder
returns only the fields a request sets, as keyword arguments for one
`DataRequest(...)`: a plain GetItem or PutItem adds nothing to encode.
"""

from __future__ import annotations

from typing import Any

import orjson

from ddb.items import ItemRequest
from ddb.reads import ReadRequest
from trireme_pb import node_pb2

DataRequest = node_pb2.DataRequest
RETURN_VALUES = DataRequest.ReturnValues


def item_fields(req: ItemRequest) -> dict[str, Any]:
    """Condition, update, projection and return values of an item request."""
    out: dict[str, Any] = {}
    if req.condition is not None:
        out["condition"] = orjson.dumps(req.condition)
    if req.update is not None:
        out["update"] = orjson.dumps(req.update)
        out["key_names"] = req.key_names
    if req.projection is not None:
        out["projection"] = orjson.dumps(req.projection)
    if req.return_values != "NONE":
        out["return_values"] = RETURN_VALUES.Value(req.return_values)
    if req.return_on_failure == "ALL_OLD":
        out["return_old_on_condition_failure"] = True
    return out


def read_fields(req: ReadRequest) -> dict[str, Any]:
    """What a partition needs to evaluate a Query or Scan page: filter,
    projection, count only."""
    out: dict[str, Any] = {}
    if req.filter is not None:
        out["filter"] = orjson.dumps(req.filter)
    if req.projection is not None:
        out["projection"] = orjson.dumps(req.projection)
    if req.select == "COUNT":
        out["count_only"] = True
    return out
