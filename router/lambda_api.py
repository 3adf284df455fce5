"""The Lambda API (REST-JSON, ``/2015-03-31/functions...``) on the router's port.

boto3's ``lambda`` client pointed at a router reaches it: `router/http.py`
hands every request whose path starts with one of `PREFIXES` here. The rules
and answers are `functions/model.py`'s; this module keeps the records in the
cluster and runs the code:

- a function's record is in the cluster metadata (``MetaState.functions``,
  written through the meta group's log by the ``put_function`` and
  ``delete_function`` calls), so every router sees it and it survives node
  failures; its zip is in a hidden table of chunks (`cluster/function_code.py`);
- Invoke runs the handler in this router's own `FunctionRuntime` (worker
  processes; ``AWS_ENDPOINT_URL`` is this router), fetching and unpacking the
  code the first time it runs here. ``Event`` invocations run in the
  background and are retried twice on a function error, as Lambda does
  (after `EVENT_RETRY_DELAYS_S`, ``TRIREME_LAMBDA_RETRY_DELAYS`` in tests);
- each router writes the logs of the invocations it ran to its own
  ``--functions-dir``; ``GET /trireme/functions/NAME/logs?offset=N`` serves
  them (``trireme logs`` asks every router of the cluster);
- ``GET /trireme/functions/NAME/code`` serves the zip GetFunction's
  ``Code.Location`` points to.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, quote, unquote

import orjson

from cluster.kms import own_credential
from cluster.partitions import Cluster
from ddb.errors import DynamoDBError
from functions import model
from functions.errors import (InvalidParameterValueException, InvalidRequestContentException, LambdaError,
                              ResourceNotFoundException, ServiceException)
from functions.runtime import FunctionRuntime, read_log
from cluster.function_code import CodeStore
from router import function_urls
from router.mappings_api import PREFIX as MAPPINGS_PREFIX, MappingsApi

log = logging.getLogger(__name__)

PREFIXES = (b"/2015-03-31/functions", b"/trireme/functions/", MAPPINGS_PREFIX, *function_urls.PREFIXES)
API = "/2015-03-31/functions"
EVENT_RETRY_DELAYS_S = (60.0, 120.0)  # Lambda retries a failed asynchronous invocation twice
WAIT_S = 5.0
UPDATE_ATTEMPTS = 5


@dataclass
class RestResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    cors: bool = True  # the router's own CORS headers when the request has an Origin (not on a function URL's)
    lines: list[tuple[str, str]] = field(default_factory=list)  # repeated headers (Set-Cookie)


def _json(status: int, value: Any) -> RestResponse:
    return RestResponse(status, orjson.dumps(value), {"Content-Type": "application/json"})


def _error(exc: LambdaError) -> RestResponse:
    return RestResponse(exc.status, orjson.dumps(exc.wire_body()), exc.headers())


def retry_delays() -> tuple[float, ...]:
    value = os.environ.get("TRIREME_LAMBDA_RETRY_DELAYS")
    return tuple(float(v) for v in value.split(",")) if value else EVENT_RETRY_DELAYS_S


class LambdaApi:
    """``(method, url, headers, body) -> RestResponse``: the router's REST handler."""

    def __init__(self, cluster: Cluster, *, region: str, endpoint: str, functions_dir: str | Path) -> None:
        self.cluster = cluster
        self.region = region
        self.endpoint = endpoint
        self.code = CodeStore(cluster)
        functions_dir = Path(functions_dir)
        key_id, secret = own_credential()  # functions call the cluster as the cluster (see README, Security)
        self.runtime = FunctionRuntime(code_dir=functions_dir / "code", log_dir=functions_dir / "logs",
                                       endpoint_url=f"http://{endpoint}", region=region,
                                       access_key=key_id, secret_key=secret)
        self._background: set[asyncio.Task] = set()
        self.urls = function_urls.FunctionUrls(self)
        self.mappings = MappingsApi(self, _json)

    json = staticmethod(_json)
    rest = RestResponse

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.runtime.close()

    # --- dispatch ---------------------------------------------------------------

    async def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> RestResponse:
        path, _, qs = url.partition("?")
        query = {k: v[-1] for k, v in parse_qs(qs, keep_blank_values=True).items()}
        try:
            if path.startswith(function_urls.SERVE_PREFIX):
                await self._metadata()
                return await self.urls.serve(method, url, headers, body)
            route = self._route(method, path)
            if route is None:
                return RestResponse(404, orjson.dumps({"message": f"No route for {method} {path}"}),
                                    {"Content-Type": "application/json", "x-amzn-ErrorType": "UnknownOperationException"})
            handler, name = route
            await self._metadata()
            try:
                return await handler(name, query, headers, body)
            except ResourceNotFoundException:
                # Another router may have made the function a moment ago: this one's
                # metadata follows the leader's by a watch (as for tables, router/protocol.py).
                if not await self.cluster.catch_up():
                    raise
                return await handler(name, query, headers, body)
        except LambdaError as exc:
            return _error(exc)
        except DynamoDBError as exc:  # the cluster's answer (unavailable, unknown outcome): a service error
            return _error(ServiceException(exc.message or type(exc).__name__))

    async def _metadata(self) -> None:
        if self.cluster.state is None and not await self.cluster.wait_for(lambda s: True, self.cluster.deadline_s):
            raise ServiceException("This router has not received the cluster's metadata yet; retry shortly.")

    def _route(self, method: str, path: str) -> tuple[Callable[..., Awaitable[RestResponse]], str] | None:
        if path.startswith(function_urls.CONFIG_PREFIX):
            return self.urls.route(method, path)
        if path.startswith(self.mappings.PATH):
            return self.mappings.route(method, path)
        if path.startswith("/trireme/functions/"):
            name, _, what = path[len("/trireme/functions/"):].partition("/")
            handler = {("GET", "logs"): self.logs, ("GET", "code"): self.zip_file}.get((method, what))
            return None if handler is None else (handler, unquote(name))
        rest = path[len(API):].strip("/")
        if not rest:
            handler = {"POST": self.create_function, "GET": self.list_functions}.get(method)
            return None if handler is None else (handler, "")
        name, _, what = rest.partition("/")
        handler = {("GET", ""): self.get_function, ("DELETE", ""): self.delete_function,
                   ("GET", "configuration"): self.get_function_configuration,
                   ("PUT", "configuration"): self.update_function_configuration,
                   ("PUT", "code"): self.update_function_code,
                   ("POST", "invocations"): self.invoke}.get((method, what))
        return None if handler is None else (handler, unquote(name))

    # --- records --------------------------------------------------------------

    def _name(self, given: str, query: dict[str, str]) -> str:
        ref = model.parse_function_name(given, self.region)
        if query.get("Qualifier") is not None:
            ref = model.FunctionRef(ref.name, query["Qualifier"], ref.given)
        return model.latest_only(ref, self.region)

    def _entry(self, name: str) -> tuple[model.Function, str]:
        entry = self.cluster.state.functions.get(name)
        if entry is None:
            raise model.not_found(name, self.region)
        return model.Function.from_record(entry["record"]), entry["code"]

    async def _commit(self, op: str, body: dict) -> dict:
        """A metadata change, seen by this router's view once it answers."""
        result = await self.cluster.meta(op, body)
        if result.get("ok"):
            await self.cluster.wait_for(lambda s: s.version >= result.get("version", 0), WAIT_S)
        return result

    def _dropped(self, replaced: dict | None, keep: str | None = None) -> None:
        """Drop the chunks of a replaced record's upload, in the background."""
        if replaced is not None and replaced["code"] != keep:
            self._spawn(self.code.drop(replaced["code"], replaced["record"]["code_size"]))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _body(body: bytes) -> dict:
        if not body.strip():
            return {}
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise InvalidRequestContentException(f"Could not parse request body into json: {e}") from None
        if not isinstance(value, dict):
            raise InvalidRequestContentException("Could not parse request body into json: not an object")
        return value

    @staticmethod
    def _zip(code: dict) -> dict:
        """The blob ZipFile (base64 in the JSON body) as bytes."""
        if isinstance(code.get("ZipFile"), str):
            try:
                code = {**code, "ZipFile": base64.b64decode(code["ZipFile"], validate=True)}
            except (binascii.Error, ValueError):
                raise InvalidParameterValueException("Could not unzip uploaded file. Please check your file, "
                                                     "then try to upload again.") from None
        return code

    async def create_function(self, _name: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        body = self._body(raw)
        if isinstance(body.get("Code"), dict):
            body["Code"] = self._zip(body["Code"])
        fn, zip_bytes = model.create_function(body, now=time.time(), region=self.region)
        if fn.name in self.cluster.state.functions:
            raise model.already_exists(fn.name)
        key = f"{fn.code_sha256}.{uuid.uuid4().hex}"
        await self.code.put(key, zip_bytes)
        result = await self._commit("put_function", {"name": fn.name, "record": fn.to_record(), "code": key,
                                                     "create": True})
        if not result.get("ok"):
            self._spawn(self.code.drop(key, fn.code_size))
            raise model.already_exists(fn.name)
        return _json(201, fn.configuration(self.region))

    async def _update(self, name: str, body: dict, change) -> model.Function:
        """Apply ``change(fn) -> (new fn, new upload key or None)`` until no concurrent update intervenes."""
        for _ in range(UPDATE_ATTEMPTS):
            fn, key = self._entry(name)
            new, new_key = await change(fn, key)
            result = await self._commit("put_function", {"name": name, "record": new.to_record(),
                                                         "code": new_key or key,
                                                         "expect_revision": fn.revision_id})
            if result.get("ok"):
                self._dropped(result.get("replaced"), keep=new_key or key)
                return new
            if new_key:
                self._spawn(self.code.drop(new_key, new.code_size))
            if result.get("error") == "ResourceNotFoundException":
                raise model.not_found(name, self.region)
            await self.cluster.wait_for(lambda s: s.functions.get(name, {}).get("record", {}).get(
                "revision_id") != fn.revision_id, WAIT_S)  # a given RevisionId now fails the next check
        raise ServiceException(f"Function {name} kept changing during the update; retry.")

    async def update_function_code(self, given: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        name = self._name(given, query)
        body = self._zip(self._body(raw))

        async def change(fn: model.Function, key: str):
            new, zip_bytes = model.update_function_code(fn, body, now=time.time())
            new_key = f"{new.code_sha256}.{uuid.uuid4().hex}"
            await self.code.put(new_key, zip_bytes)
            return new, new_key
        if body.get("DryRun"):
            fn, _ = self._entry(name)
            return _json(200, model.update_function_code(fn, body, now=time.time())[0].configuration(self.region))
        return _json(200, (await self._update(name, body, change)).configuration(self.region))

    async def update_function_configuration(self, given: str, query: dict, headers: dict,
                                            raw: bytes) -> RestResponse:
        name = self._name(given, query)
        body = self._body(raw)

        async def change(fn: model.Function, key: str):
            return model.update_function_configuration(fn, body, now=time.time()), None
        return _json(200, (await self._update(name, body, change)).configuration(self.region))

    async def get_function(self, given: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        fn, _ = self._entry(self._name(given, query))
        host = headers.get("host") or self.endpoint
        location = f"http://{host}/trireme/functions/{quote(fn.name)}/code"
        return _json(200, model.get_function(fn, region=self.region, code_location=location))

    async def get_function_configuration(self, given: str, query: dict, headers: dict,
                                         raw: bytes) -> RestResponse:
        fn, _ = self._entry(self._name(given, query))
        return _json(200, fn.configuration(self.region))

    async def list_functions(self, _name: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        max_items = query.get("MaxItems")
        try:
            max_items = int(max_items) if max_items is not None else None
        except ValueError:
            raise InvalidParameterValueException(f"Invalid MaxItems: {max_items}") from None
        functions = [model.Function.from_record(e["record"]) for e in self.cluster.state.functions.values()]
        return _json(200, model.list_functions(functions, region=self.region, marker=query.get("Marker"),
                                               max_items=max_items))

    async def delete_function(self, given: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        name = self._name(given, query)
        self._entry(name)
        result = await self._commit("delete_function", {"name": name})
        if not result.get("ok"):
            raise model.not_found(name, self.region)
        self._dropped(result.get("replaced"))
        await self.runtime.retire(name)
        return RestResponse(204)

    async def zip_file(self, name: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        fn, key = self._entry(name)
        return RestResponse(200, await self.code.get(key, fn.code_size), {"Content-Type": "application/zip"})

    # --- invoke -----------------------------------------------------------------

    async def invoke(self, given: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        fn, key = self._entry(self._name(given, query))
        invocation = model.check_invocation(headers.get("x-amz-invocation-type"), headers.get("x-amz-log-type"), raw)
        request_id = str(uuid.uuid4())
        if invocation.invocation_type == "DryRun":
            return RestResponse(204, request_id=request_id)
        zip_bytes = None if self.runtime.has_code(fn.code_sha256) else await self.code.get(key, fn.code_size)
        if invocation.invocation_type == "Event":
            self._spawn(self._run_event(fn, invocation.payload, zip_bytes, request_id))
            return RestResponse(202, request_id=request_id)
        result = await self.runtime.invoke(fn, invocation.payload, zip_bytes=zip_bytes, request_id=request_id)
        status, out_headers, payload = model.invoke_response(
            invocation, payload=result.payload, function_error=result.function_error, log_tail=result.log_tail)
        return RestResponse(status, payload, out_headers, request_id)

    async def _run_event(self, fn: model.Function, payload: bytes, zip_bytes: bytes | None, request_id: str) -> None:
        """An asynchronous invocation: run, and on a function error run again after each retry delay."""
        for delay in (None, *retry_delays()):
            if delay is not None:
                await asyncio.sleep(delay)
            try:
                result = await self.runtime.invoke(fn, payload, zip_bytes=zip_bytes, request_id=request_id)
            except Exception:  # noqa: BLE001 (the runtime itself failed: logged, retried like an error)
                log.exception("asynchronous invocation of %s failed", fn.name)
                continue
            if result.function_error is None:
                return
        log.warning("asynchronous invocation %s of %s failed after its retries", request_id, fn.name)

    # --- logs -------------------------------------------------------------------

    async def logs(self, name: str, query: dict, headers: dict, raw: bytes) -> RestResponse:
        """This router's log of a function from byte ``offset``: at most `functions.runtime.LOG_PAGE`
        bytes, whole lines, and the offset to ask for next (``x-trireme-next-offset``)."""
        path = self.runtime.log_path(name)
        if name not in self.cluster.state.functions and not path.exists():
            raise model.not_found(name, self.region)
        try:
            offset = max(0, int(query.get("offset") or 0))
        except ValueError:
            raise InvalidParameterValueException(f"Invalid offset: {query.get('offset')}") from None
        data = await asyncio.to_thread(read_log, path, offset)
        return RestResponse(200, data, {"Content-Type": "text/plain; charset=utf-8",
                                        "x-trireme-next-offset": str(offset + len(data))})
