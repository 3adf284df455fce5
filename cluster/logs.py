"""Logging set-up shared by routers and nodes: `--log-format text` (the
default, one readable line per record) or `json` (one JSON object per line,
for log shippers).

A JSON line holds time (UTC, ISO 8601), level, logger, process (`router`
or the node's id), message, and the record's `request_id` and `operation`,
`table`, `status`, `partition`, `latency_ms` and `node` fields when the code
logged them as `key=value` words in the message (the router's access, failure
and slow lines do, and so do the node's lines about a request that failed or
was slow, under the same request id: cluster/nodes.py), so a request id can
be followed from the router's line to the node's.
"""

from __future__ import annotations

import logging
import re
import sys
import time

import orjson

FORMATS = ("text", "json")
# `key=value` words worth a field of their own (values run to the next space).
_FIELDS = re.compile(r"\b(request_id|operation|table|status|partition|latency_ms|node)=(\S+)")


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                       + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "process": self.process, "message": message}
        for key, value in _FIELDS.findall(message):
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def configure(level: str, fmt: str, process: str) -> None:
    """Root logging to stderr at ``level`` in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {process} %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
