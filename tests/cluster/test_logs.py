"""JSON log lines: one object per record with time, level, logger, process
and message, and the `key=value` words the router and nodes log (request
id, operation, table, ...) as fields of their own."""

from __future__ import annotations

import logging
import sys

import orjson

from cluster.logs import JsonFormatter


def record(message: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("router.access", logging.INFO, __file__, 1, message, args, exc_info)


def test_fields_and_key_value_words():
    line = JsonFormatter("router").format(record("operation=%s table=%s status=%d latency_ms=1.5 request_id=%s",
                                                 "PutItem", "t1", 200, "ABC123"))
    assert "\n" not in line
    got = orjson.loads(line)
    assert got["level"] == "INFO" and got["logger"] == "router.access" and got["process"] == "router"
    assert got["message"].startswith("operation=PutItem")
    assert (got["operation"], got["table"], got["status"], got["request_id"]) == ("PutItem", "t1", "200", "ABC123")
    assert got["time"].endswith("Z") and "T" in got["time"]


def test_a_slow_line_names_its_node():
    got = orjson.loads(JsonFormatter("router").format(record(
        "slow request_id=R1 operation=PutItem table=t1 status=200 latency_ms=1200.5 node=n2")))
    assert (got["request_id"], got["latency_ms"], got["node"]) == ("R1", "1200.5", "n2")


def test_an_exception_stays_on_its_line():
    try:
        raise ValueError("boom")
    except ValueError:
        info = sys.exc_info()
    line = JsonFormatter("n1").format(record("failed", exc_info=info))
    assert "\n" not in line
    got = orjson.loads(line)
    assert got["process"] == "n1" and "ValueError: boom" in got["exception"] and "request_id" not in got
