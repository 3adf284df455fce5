"""Event source mappings on the router's Lambda API
(``/2015-03-31/event-source-mappings``): DynamoDB stream -> function triggers.

The rules and the record are `functions/mappings.py`'s; this module checks a
mapping's source (a live stream of a table of this cluster) and function
against the metadata and stores the record through the meta group's log
(``put_mapping``, ``delete_mapping``: ``MetaState.mappings``), where every
node's metadata view sees it: the pollers run at the source partitions'
leaders (`node/feed/triggers/`).
"""

from __future__ import annotations

import time
import uuid as uuids
from typing import Any, Awaitable, Callable

from ddb import streams as ds
from ddb.errors import DynamoDBError
from functions import mappings as fm
from functions import model
from functions.errors import InvalidParameterValueException, ServiceException

PREFIX = b"/2015-03-31/event-source-mappings"
PATH = "/2015-03-31/event-source-mappings"
ACCOUNT = "000000000000"
UPDATE_ATTEMPTS = 5


class MappingsApi:
    """The event source mapping routes of `router.lambda_api.LambdaApi` (``api``:
    its cluster, region, metadata commits and body parsing)."""

    def __init__(self, api: Any, answer: Callable[[int, Any], Any]) -> None:
        self.api = api
        self.answer = answer  # (status, JSON value) -> the API's response

    PATH = PATH

    @property
    def _state(self):
        return self.api.cluster.state

    def route(self, method: str, path: str) -> tuple[Callable[..., Awaitable[Any]], str] | None:
        if not path.startswith(PATH):
            return None
        rest = path[len(PATH):].strip("/")
        if not rest:
            handler = {"POST": self.create, "GET": self.list}.get(method)
            return None if handler is None else (handler, "")
        if "/" in rest:
            return None
        handler = {"GET": self.get, "PUT": self.update, "DELETE": self.delete}.get(method)
        return None if handler is None else (handler, rest)

    # --- lookups --------------------------------------------------------------

    def _function_arn(self, given: Any, *, exists: bool = True) -> str:
        """The ARN a FunctionName names (``exists``: of a function there is)."""
        name = model.latest_only(model.parse_function_name(given, self.api.region), self.api.region)
        if exists and name not in self._state.functions:
            raise model.not_found(name, self.api.region)
        return model.function_arn(name, self.api.region)

    def _check_source(self, arn: Any) -> None:
        """A stream ARN of an enabled stream of a table here (Lambda answers
        InvalidParameterValueException for a source it cannot read)."""
        if not isinstance(arn, str):
            raise InvalidParameterValueException("1 validation error detected: Value null at 'eventSourceArn' "
                                                 "failed to satisfy constraint: Member must not be null")
        try:
            name = ds.parse_stream_arn(arn)
        except DynamoDBError:
            raise InvalidParameterValueException(f"Unsupported event source: {arn}") from None
        t = self._state.tables.get(name.table)
        s = t.stream(name.label) if t is not None and "IndexOf" not in t.spec else None
        if s is None or s["status"] != "ENABLED" or name.region != self.api.region or name.account != ACCOUNT:
            raise InvalidParameterValueException(f"Stream not found: {arn}")

    def _record(self, uuid: str) -> dict:
        record = self._state.mappings.get(uuid)
        if record is None:
            raise fm.mapping_not_found()
        return record

    def _answer(self, status: int, record: dict, state: str | None = None):
        return self.answer(status, fm.configuration(record, state=state,
                                                    status=self._state.mapping_status.get(record["uuid"])))

    # --- operations -----------------------------------------------------------

    async def create(self, _name: str, query: dict, headers: dict, raw: bytes):
        body = self.api._body(raw)
        self._check_source(body.get("EventSourceArn"))
        function_arn = self._function_arn(body.get("FunctionName"))
        record = fm.new_mapping(body, uuid=str(uuids.uuid4()), function_arn=function_arn, now=time.time())
        result = await self.api._commit("put_mapping", {"record": record, "create": True})
        if not result.get("ok"):
            raise fm.duplicate(result.get("existing") or record)
        return self._answer(202, record, "Creating")

    async def get(self, uuid: str, query: dict, headers: dict, raw: bytes):
        return self._answer(200, self._record(uuid))

    async def list(self, _name: str, query: dict, headers: dict, raw: bytes):
        records = list(self._state.mappings.values())
        if query.get("EventSourceArn"):
            records = [r for r in records if r["source"] == query["EventSourceArn"]]
        if query.get("FunctionName"):
            arn = self._function_arn(query["FunctionName"], exists=False)
            records = [r for r in records if r["function_arn"] == arn]
        try:
            max_items = int(query["MaxItems"]) if query.get("MaxItems") is not None else None
        except ValueError:
            raise InvalidParameterValueException(f"Invalid MaxItems: {query['MaxItems']}") from None
        page, marker = fm.list_page(records, marker=query.get("Marker"), max_items=max_items)
        out: dict[str, Any] = {"EventSourceMappings": [
            fm.configuration(r, status=self._state.mapping_status.get(r["uuid"])) for r in page]}
        if marker:
            out["NextMarker"] = marker
        return self.answer(200, out)

    async def update(self, uuid: str, query: dict, headers: dict, raw: bytes):
        body = self.api._body(raw)
        for _ in range(UPDATE_ATTEMPTS):
            record = self._record(uuid)
            function_arn = self._function_arn(body["FunctionName"]) if body.get("FunctionName") else None
            new, answered = fm.update_mapping(record, body, function_arn=function_arn, now=time.time())
            result = await self.api._commit("put_mapping", {"record": new, "expect_modified": record["modified"]})
            if result.get("ok"):
                return self._answer(202, new, answered)
            if result.get("error") == "ResourceNotFoundException":
                raise fm.mapping_not_found()
            await self.api.cluster.wait_for(
                lambda s: s.mappings.get(uuid, {}).get("modified") != record["modified"], 5.0)
        raise ServiceException(f"Event source mapping {uuid} kept changing during the update; retry.")

    async def delete(self, uuid: str, query: dict, headers: dict, raw: bytes):
        self._record(uuid)
        result = await self.api._commit("delete_mapping", {"uuid": uuid})
        if not result.get("ok"):
            raise fm.mapping_not_found()
        return self._answer(202, result["replaced"], "Deleting")
