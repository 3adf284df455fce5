"""A router's Prometheus metrics, served at `GET /metrics` on its DynamoDB port.

Per request the router does only what it must: the operation from the
target, the table by a find and an anchored match, a bisect into a
latency histogram (cluster/histogram.py) and, for errors only, the
exception's name from the answer. Everything else is read at scrape time:
consumed and throttled capacity per table from the meta leader's sums (the
`table_stats` DescribeTable uses, node/control/throughput.py), and the
process's CPU, memory and open files from prometheus_client's process
collector.

Names follow Prometheus' conventions (`trireme_router_requests_total`,
`_seconds` histograms); DynamoDB's CloudWatch metrics appear under their own
names too, prefixed `dynamodb_` and labelled with CloudWatch's dimensions
(`TableName`, `Operation`): counters get Prometheus' `_total` suffix and
latencies are histograms in seconds (`dynamodb_SuccessfulRequestLatency_seconds`)
where CloudWatch reports milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import orjson
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from cluster.histogram import Buckets
from cluster.partitions import Cluster
from cluster.tasks import within
from ddb.errors import DynamoDBError
from router.http import _operation, _tables
from router.lambda_api import RestResponse

PATH = "/metrics"
MAX_SERIES = 2000  # (operation, table) pairs kept apart; beyond, requests count under table "_other"
OTHER = "_other"
ASK_S = 2.0  # the meta leader's consumed capacity, at most this long per scrape
# What CloudWatch counts as ReadThrottleEvents / WriteThrottleEvents.
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
THROTTLES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
_CAPACITY = (("read_units_total", "ConsumedReadCapacityUnits", "consumed_read_units"),
             ("write_units_total", "ConsumedWriteCapacityUnits", "consumed_write_units"),
             ("throttled_read_units_total", None, "throttled_read_units"),
             ("throttled_write_units_total", None, "throttled_write_units"))


@dataclass(slots=True)
class _Series:
    ok: Buckets = field(default_factory=Buckets)  # successful requests' latencies
    failed: Buckets = field(default_factory=Buckets)


class RequestMetrics:
    """Counts per (operation, table), kept by the router's one event loop."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], _Series] = {}
        # (operation, table, exception name, a 5xx?) -> count
        self.errors: dict[tuple[str, str, str, bool], int] = {}

    def record(self, target: str | None, body: bytes, status: int, answer: bytes, seconds: float) -> None:
        """Count a DynamoDB request answered: router/http.py's observer (`serve(observe=...)`),
        called with the time its handler took."""
        key = (_operation(target), table_of(body))
        s = self.series.get(key)
        if s is None:
            if len(self.series) >= MAX_SERIES:
                key = (key[0], OTHER)
            s = self.series.setdefault(key, _Series())
        if status < 400:
            s.ok.observe(seconds)
            return
        s.failed.observe(seconds)
        ekey = (*key, _error_name(answer) if answer else "InternalServerError", status >= 500)
        self.errors[ekey] = self.errors.get(ekey, 0) + 1


# A table name as DynamoDB allows it, after the "TableName" key (JSON with or without spaces).
_NAME = re.compile(rb'\s*:\s*"([A-Za-z0-9_.\-]{1,255})"')


def table_of(body: bytes) -> str:
    """The table a request names: a find and an anchored match (cheaper than
    the access log's pattern); batches and odd names go the access log's way."""
    i = body.find(b'"TableName"')
    if i >= 0:
        m = _NAME.match(body, i + 11)
        if m is not None:
            return m.group(1).decode()
    return _tables(body)


def _error_name(answer: bytes) -> str:
    """The exception a DynamoDB error answer names (`__type`, after its '#')."""
    try:
        return str(orjson.loads(answer).get("__type", "")).rpartition("#")[2] or "Unknown"
    except (orjson.JSONDecodeError, AttributeError):
        return "Unknown"


class RouterCollector:
    """Turns the counts into metric families when Prometheus scrapes."""

    def __init__(self, requests: RequestMetrics) -> None:
        self.requests = requests
        self.capacity: dict[str, dict] = {}  # table -> the meta leader's `consumed` (set before each scrape)
        self.stream_ages: dict[str, int] = {}  # table -> ms (router/streams.py's iterator_age_ms)

    def collect(self) -> Iterator[Metric]:
        yield from self._requests()
        yield from self._errors()
        yield from self._capacity()
        age = GaugeMetricFamily("trireme_router_stream_iterator_age_seconds",
                                "Age of the oldest record of the latest GetRecords page of a table's stream "
                                "(0: the reader is caught up)", labels=["table"])
        for table, ms in sorted(self.stream_ages.items()):
            age.add_metric([table], ms / 1000)
        yield age

    def _requests(self) -> Iterator[Metric]:
        labels = ["operation", "table"]
        requests = CounterMetricFamily("trireme_router_requests", "DynamoDB requests answered", labels=labels)
        latency = HistogramMetricFamily("trireme_router_request_duration_seconds",
                                        "Time from a request's body read to its answer", labels=labels)
        cw_latency = HistogramMetricFamily("dynamodb_SuccessfulRequestLatency_seconds",
                                           "CloudWatch SuccessfulRequestLatency: successful requests' latency",
                                           labels=["Operation", "TableName"])
        for (op, table), s in sorted(self.requests.series.items()):
            both = Buckets()
            both.add(s.ok)
            both.add(s.failed)
            requests.add_metric([op, table], both.count)
            latency.add_metric([op, table], both.cumulative(), both.sum)
            if s.ok.count:
                cw_latency.add_metric([op, table], s.ok.cumulative(), s.ok.sum)
        yield from (requests, latency, cw_latency)

    def _errors(self) -> Iterator[Metric]:
        errors = CounterMetricFamily("trireme_router_errors", "DynamoDB requests answered with an error",
                                     labels=["operation", "table", "error"])
        throttles = CounterMetricFamily("trireme_router_throttled_requests",
                                        "Requests refused for throughput (ProvisionedThroughputExceeded, "
                                        "Throttling, RequestLimitExceeded)", labels=["operation", "table"])
        cw = {name: CounterMetricFamily(f"dynamodb_{name}", f"CloudWatch {name}", labels=labels)
              for name, labels in (("ThrottledRequests", ["Operation", "TableName"]),
                                   ("ReadThrottleEvents", ["TableName"]), ("WriteThrottleEvents", ["TableName"]),
                                   ("UserErrors", []), ("SystemErrors", ["Operation", "TableName"]))}
        sums: dict[tuple[str, tuple[str, ...]], int] = {}
        by_name: dict[tuple[str, str, str], int] = {}
        for (op, table, error, system), n in sorted(self.requests.errors.items()):
            by_name[(op, table, error)] = by_name.get((op, table, error), 0) + n
            if error in THROTTLES:
                for name, labels in (("throttles", (op, table)), ("ThrottledRequests", (op, table)),
                                     ("ReadThrottleEvents" if op in READS else
                                      "WriteThrottleEvents" if op in WRITES else "", (table,))):
                    if name:
                        sums[(name, labels)] = sums.get((name, labels), 0) + n
            name, labels = ("SystemErrors", (op, table)) if system else ("UserErrors", ())
            sums[(name, labels)] = sums.get((name, labels), 0) + n
        for labels3, n in by_name.items():
            errors.add_metric(list(labels3), n)
        for (name, labels), n in sums.items():
            (throttles if name == "throttles" else cw[name]).add_metric(list(labels), n)
        yield errors
        yield throttles
        yield from cw.values()

    def _capacity(self) -> Iterator[Metric]:
        for key, cw_name, name in _CAPACITY:
            ours = CounterMetricFamily(f"trireme_table_{name}", f"Capacity units {name.replace('_', ' ')} "
                                       "(cluster-wide, as the meta leader sums them)", labels=["table"])
            cw = CounterMetricFamily(f"dynamodb_{cw_name}", f"CloudWatch {cw_name}",
                                     labels=["TableName"]) if cw_name else None
            for table, consumed in sorted(self.capacity.items()):
                ours.add_metric([table], consumed.get(key, 0.0))
                if cw is not None:
                    cw.add_metric([table], consumed.get(key, 0.0))
            yield ours
            if cw is not None:
                yield cw


class Metrics:
    """The router's registry and its `/metrics` answer."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.requests = RequestMetrics()
        self.collector = RouterCollector(self.requests)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)

    async def answer(self) -> RestResponse:
        self.collector.capacity = await self._capacity()
        return RestResponse(200, generate_latest(self.registry), {"Content-Type": CONTENT_TYPE_LATEST})

    async def _capacity(self) -> dict[str, dict]:
        """Table -> consumed and throttled units so far; {} when the meta leader does not answer in time."""
        try:
            got = (await within(self.cluster.meta("table_stats", {}), ASK_S))["tables"]
        except (TimeoutError, DynamoDBError):
            return {}
        return {name: t["consumed"] for name, t in got.items() if "consumed" in t}


def rest_handler(metrics: Metrics, other: Callable[[str, str, dict[str, str], bytes], Awaitable[object]]
                 ) -> Callable[[str, str, dict[str, str], bytes], Awaitable[object]]:
    """The router's REST handler: `GET /metrics` here, other paths to ``other``."""
    async def handle(method: str, url: str, headers: dict[str, str], body: bytes) -> object:
        if url.partition("?")[0] == PATH:
            if method != "GET":
                return RestResponse(405, b"Method Not Allowed\n", {"Content-Type": "text/plain", "Allow": "GET"})
            return await metrics.answer()
        return await other(method, url, headers, body)
    return handle
