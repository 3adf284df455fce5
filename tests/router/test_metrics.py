"""The router's request metrics without a cluster: what a handler answered is
counted per operation and table, errors by exception name (throttles and
5xx also under CloudWatch's names), the table label's cardinality is
bounded, and the exposition parses with prometheus_client's parser."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from router import metrics as m
from router.http import serve

PREFIX = "DynamoDB_20120810."


def run(requests: m.RequestMetrics, status: int, answer: bytes, op: str, table: str) -> None:
    requests.record(PREFIX + op, orjson.dumps({"TableName": table}), status, answer, 0.002)


def scrape(requests: m.RequestMetrics, capacity: dict | None = None) -> dict:
    collector = m.RouterCollector(requests)
    collector.capacity = capacity or {}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def error(name: str) -> bytes:
    return orjson.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{name}", "message": "x"})


def test_successes_and_errors_per_operation_and_table():
    r = m.RequestMetrics()
    run(r, 200, b"{}", "PutItem", "t1")
    run(r, 200, b"{}", "PutItem", "t1")
    run(r, 400, error("ConditionalCheckFailedException"), "PutItem", "t1")
    run(r, 500, error("InternalServerError"), "GetItem", "t2")
    got = scrape(r)
    put = (("operation", "PutItem"), ("table", "t1"))
    assert got[("trireme_router_requests_total", put)] == 3
    assert got[("trireme_router_request_duration_seconds_count", put)] == 3
    assert got[("dynamodb_SuccessfulRequestLatency_seconds_count",
                (("Operation", "PutItem"), ("TableName", "t1")))] == 2
    assert got[("trireme_router_errors_total", (("error", "ConditionalCheckFailedException"), *put))] == 1
    assert got[("dynamodb_UserErrors_total", ())] == 1
    assert got[("dynamodb_SystemErrors_total", (("Operation", "GetItem"), ("TableName", "t2")))] == 1
    assert ("dynamodb_SystemErrors_total", (("Operation", "PutItem"), ("TableName", "t1"))) not in got


@pytest.mark.parametrize("op,event", [("PutItem", "WriteThrottleEvents"), ("Query", "ReadThrottleEvents")])
def test_throttles_count_under_their_names(op, event):
    r = m.RequestMetrics()
    run(r, 400, error("ProvisionedThroughputExceededException"), op, "t")
    run(r, 400, error("ThrottlingException"), op, "t")
    got = scrape(r)
    assert got[("trireme_router_throttled_requests_total", (("operation", op), ("table", "t")))] == 2
    assert got[("dynamodb_ThrottledRequests_total", (("Operation", op), ("TableName", "t")))] == 2
    assert got[(f"dynamodb_{event}_total", (("TableName", "t"),))] == 2


def test_a_failing_handler_counts_as_a_system_error():
    """Through a real connection: router/http.py answers a handler's bug 500 and tells the metrics."""
    r = m.RequestMetrics()

    async def broken(target, body, headers):
        raise RuntimeError("bug")

    async def main():
        server = await serve(broken, "127.0.0.1", 0, observe=r.record)
        try:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
            body = b'{"TableName":"t"}'
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %s\r\nContent-Length: %d\r\n\r\n%s"
                         % (PREFIX.encode() + b"Scan", len(body), body))
            assert (await reader.readline()).startswith(b"HTTP/1.1 500")
            writer.close()
        finally:
            server.close()
    asyncio.run(main())
    got = scrape(r)
    assert got[("trireme_router_errors_total", (("error", "InternalServerError"), ("operation", "Scan"),
                                                ("table", "t")))] == 1


def test_a_failing_observer_does_not_hold_the_answer_back():
    async def ok(target, body, headers):
        return 200, b"{}"

    def broken(*_):
        raise RuntimeError("bug")

    async def main():
        server = await serve(ok, "127.0.0.1", 0, observe=broken)
        try:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
            for _ in range(2):  # and the connection serves on
                writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
                assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n{}"), 10)
            writer.close()
        finally:
            server.close()
    asyncio.run(main())


def test_table_labels_are_bounded(monkeypatch):
    monkeypatch.setattr(m, "MAX_SERIES", 3)
    r = m.RequestMetrics()
    for i in range(10):
        run(r, 400, error("ResourceNotFoundException"), "GetItem", f"missing{i}")
    got = scrape(r)
    tables = {dict(ls)["table"] for (name, ls), _ in got.items() if name == "trireme_router_requests_total"}
    assert tables == {"missing0", "missing1", "missing2", m.OTHER}
    assert got[("trireme_router_requests_total", (("operation", "GetItem"), ("table", m.OTHER)))] == 7


def test_consumed_capacity_under_both_names():
    got = scrape(m.RequestMetrics(), {"t": {"read_units_total": 2.5, "write_units_total": 4.0,
                                            "throttled_read_units_total": 0.0, "throttled_write_units_total": 1.0}})
    assert got[("dynamodb_ConsumedReadCapacityUnits_total", (("TableName", "t"),))] == 2.5
    assert got[("dynamodb_ConsumedWriteCapacityUnits_total", (("TableName", "t"),))] == 4.0
    assert got[("trireme_table_consumed_write_units_total", (("table", "t"),))] == 4.0
    assert got[("trireme_table_throttled_write_units_total", (("table", "t"),))] == 1.0


def test_the_table_of_a_request():
    assert m.table_of(b'{"TableName": "t.1-x_Y", "Key": {}}') == "t.1-x_Y"
    assert m.table_of(b'{"Key":{"TableName":1},"TableName":"t2"}') == "t2"
    assert m.table_of(b'{"RequestItems": {"a": [], "b": []}}') == "a,b"
    assert m.table_of(b'{"TableName": "we\\"ird"}') == 'we\\"ird'  # (invalid: the access log's pattern)
    assert m.table_of(b"{}") == "-"
