"""The console's HTTP side: its page and files under ``/console``, and a
small JSON API under ``/console/api/`` for what DynamoDB's API does not
answer (the cluster's nodes and partitions, the timeline, chaos, capacity
history, the month's cost estimate). The page sends its DynamoDB, Streams and Lambda requests to the
router's ordinary endpoints, as any client would.

`rest_handler` is the router's REST handler (router/http.py): console
paths are answered here, every other REST path goes on to the Lambda API.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import grpc
import orjson

from cluster.partitions import Cluster
from cluster.rpc import CallError
from ddb.cost import DEFAULT_PRICES, estimate, explained, usages
from ddb.errors import DynamoDBError
from router.console.chaos import Chaos
from router.console.errors import describe
from router.console.monitor import CAPACITY_INTERVAL_S, Monitor
from router.lambda_api import RestResponse

PREFIX = b"/console"
STATIC = Path(__file__).with_name("static")
# The files served, listed once: a name outside this set is a 404 (never a path on disk).
FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else {}


@dataclass
class Answer(RestResponse):
    """The Lambda API's answer, or a stream: server-sent events written as they come (router/http.py)."""

    stream: AsyncIterator[bytes] | None = None


def _json(status: int, value: Any) -> Answer:
    return Answer(status, orjson.dumps(value), {"Content-Type": "application/json"})


def _error(status: int, type_name: str, message: str) -> Answer:
    return _json(status, {"__type": type_name, "message": message})


class Console:
    """``(method, url, headers, body) -> Answer`` for ``/console...``."""

    def __init__(self, cluster: Cluster, *, region: str, cluster_id: str) -> None:
        self.cluster = cluster
        self.region = region
        self.cluster_id = cluster_id
        self.monitor = Monitor(cluster, region)
        self.chaos = Chaos(cluster)
        # GetRecords calls per table that this router served (router/main.py sets it to the Streams API's count)
        self.stream_reads: Callable[[], dict[str, int]] = dict

    async def close(self) -> None:
        await self.monitor.close()

    async def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        path, _, query = url.partition("?")
        self.monitor.sample_capacity()  # the capacity history starts when the console is first opened
        if path in ("/console", "/console/"):
            path = "/console/static/index.html"
        if path.startswith("/console/static/") and method == "GET":
            return self._file(path[len("/console/static/"):])
        route = {("GET", "/console/api/state"): self._state, ("GET", "/console/api/events"): self._events,
                 ("GET", "/console/api/capacity"): self._capacity, ("GET", "/console/api/cost"): self._cost,
                 ("GET", "/console/api/function_log"): self._function_log,
                 ("POST", "/console/api/chaos"): self._chaos}.get((method, path))
        if route is None:
            return _error(404, "NotFound", f"No console route for {method} {path}")
        try:
            return await route(body if method == "POST" else {k: v[-1] for k, v in parse_qs(query).items()})
        except DynamoDBError as exc:
            return _error(exc.status, exc.code, exc.message or "")
        except (CallError, grpc.aio.AioRpcError) as exc:  # a node did not answer a chaos call
            return _error(503, "ServiceUnavailable", describe(exc))

    def _file(self, name: str) -> Answer:
        p = FILES.get(name)
        if p is None:
            return _error(404, "NotFound", f"No console file {name!r}")
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return Answer(200, p.read_bytes(), {"Content-Type": ctype, "Cache-Control": "no-cache"})

    async def _function_log(self, query: dict[str, str]) -> Answer:
        """The tail of a function's log on every node (the nodes run event
        source mappings' batches; each keeps its own log)."""
        return _json(200, {"nodes": await self.chaos.function_logs(query.get("name", ""))})

    async def _state(self, query: dict) -> Answer:
        return _json(200, {**self.monitor.page(await self.monitor.fresh()), "cluster_id": self.cluster_id})

    async def _events(self, query: dict) -> Answer:
        return Answer(200, headers={"Content-Type": "text/event-stream"}, stream=self.monitor.listen())

    async def _capacity(self, query: dict) -> Answer:
        return _json(200, {"interval_s": CAPACITY_INTERVAL_S,
                           "tables": {n: list(s) for n, s in self.monitor.capacity.items()}})

    async def _cost(self, query: dict) -> Answer:
        """The month's estimate as `trireme cost` makes it, from the same
        metadata and counts; stream reads are this router's only (the CLI asks
        every router of the cluster), priced by the default list."""
        meta = await self.monitor.metadata()
        if meta is None:
            return _error(503, "ServiceUnavailable", "this router has no cluster metadata yet")
        found = usages(meta, self.stream_reads(), time.time())
        if query.get("table"):
            found = [u for u in found if u.table == query["table"]]
        report = estimate(found, orjson.loads(DEFAULT_PRICES.read_bytes()))
        return _json(200, {**report, "lines": explained(report), "prices": "ddb/prices.json",
                           "stream_reads_from": "this router"})

    async def _chaos(self, body: bytes) -> Answer:
        try:
            request = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return _error(400, "SerializationException", "the body must be a JSON object")
        if not isinstance(request, dict):
            return _error(400, "SerializationException", "the body must be a JSON object")
        return _json(200, await self.chaos.run(request))


def rest_handler(console: Console, other: Callable[[str, str, dict[str, str], bytes], Awaitable[Any]]
                 ) -> Callable[[str, str, dict[str, str], bytes], Awaitable[Any]]:
    """The router's REST handler: console paths here, the others to ``other`` (the Lambda API)."""
    prefix = PREFIX.decode()

    async def handle(method: str, url: str, headers: dict[str, str], body: bytes) -> Any:
        if url.startswith(prefix) and (len(url) == len(prefix) or url[len(prefix)] in "/?"):
            return await console(method, url, headers, body)
        return await other(method, url, headers, body)
    return handle
