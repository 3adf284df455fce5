"""The router's own CPU per request, in one process: GetItem, PutItem, UpdateItem and BatchWriteItem.

YCSB's requests, as `bench.http`'s load generator sends them, go through the
router's request handling as `trireme router` assembles it: router/http.py's
connection (parsing, keep-alive, the response), the metrics (its observer), the
Dispatcher (target, content type, JSON, the service model's type checks, open
mode's caller) and the operations of router/api.py (validation, the key's
hash and storage key, the node's DataRequest built, the answer). Only the
cluster below is a stand-in that answers each DataRequest at once (GetItem
with a 1 KB YCSB item; a BatchWriteItem's 25 puts, as `bench.batch_load`
sends them, answered OK part by part): what a node does is measured by `bench.cpu` and
`bench.leader_path`; this is the part a router spends on a request of its
own, which on two cores is the busiest process of a YCSB run.

Under valgrind the difference between two lengths of run is instructions per
request, a count the machine's load hardly moves:

    for N in 2000 6000; do valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python -m bench.router_path --op GetItem --requests $N; done    # (refs(6000) - refs(2000)) / 4000 / 4

(a BatchWriteItem request carries BATCH items: per item, divide by 25 too).

(each run makes one warm-up and `--reps` (3) measured passes). Run it from the
source tree to measure (PYTHONPATH), so two trees compare with the same
requests. Without valgrind it prints the process CPU µs per request, for a
rough look (under `py-spy record --` for a profile).
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

import orjson

from bench import batch_load, ycsb
from bench.auth_path import drive  # the same connection and driving loop, other requests
from cluster.meta import MetaState
from router import http
from router.api import Api
from router.metrics import RequestMetrics
from router.protocol import Dispatcher
from trireme_pb import node_pb2

OPS = ("GetItem", "PutItem", "UpdateItem", "BatchWriteItem")
BATCH = 25  # items per BatchWriteItem, as bench.batch_load sends them
POOL = 500  # distinct requests, cycled
HOST = "127.0.0.1:8000"


def state() -> MetaState:
    """YCSB's table in a one-node metadata state."""
    s = MetaState.bootstrap([{"id": "n1", "addr": "127.0.0.1:1", "az": "z1"}])
    spec = ycsb.table_spec(ycsb.TABLE, False)
    assert s.apply({"op": "create_table", "name": ycsb.TABLE, "uuid": "u", "now": 1.0, "spec": spec,
                    "placements": [["n1"]]})["ok"]
    assert s.apply({"op": "set_table_status", "name": ycsb.TABLE, "status": "ACTIVE"})["ok"]
    return s


class Answering:
    """The cluster below the router, answering every DataRequest at once."""

    read_elsewhere = None
    deadline_s = 8.0

    def __init__(self, meta: MetaState, item: bytes) -> None:
        self.state = meta
        self.item = item

    def group_for(self, table: str, hash64: int) -> str | None:
        return next(iter(self.state.partitions))

    async def send(self, table: str, hash64: int, req: node_pb2.DataRequest, **_: Any) -> node_pb2.DataResponse:
        if req.op == node_pb2.DataRequest.GET:
            return node_pb2.DataResponse(status=node_pb2.OK, item=self.item)
        if req.op == node_pb2.DataRequest.BATCH_WRITE:
            resp = node_pb2.DataResponse(status=node_pb2.OK)
            add = resp.parts.add
            for _ in req.parts:
                add(status=node_pb2.OK, size=1100)
            return resp
        return node_pb2.DataResponse(status=node_pb2.OK)


def requests(op: str, n: int, rng: random.Random) -> list[bytes]:
    """`n` requests of `op` on the wire, as bench.http's Client sends them."""
    keys = [ycsb.key_name(k).encode() for k in range(1000)]
    bodies = ycsb.Bodies(keys, False, rng)
    blob = ycsb.values_blob(rng)
    prefix = (f"POST / HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-amz-json-1.0\r\n"
              f"X-Amz-Target: DynamoDB_20120810.{op}\r\n").encode()
    out = []
    for _ in range(min(n, POOL)):
        k = rng.randrange(len(keys))
        if op == "BatchWriteItem":
            body = (b'{"RequestItems":{"' + ycsb.TABLE.encode() + b'":[' + b",".join(
                batch_load.item_body(n, blob) for n in rng.sample(range(len(keys)), BATCH)) + b"]}}")
        else:
            body = bodies.get(k) if op == "GetItem" else bodies.put(k, blob) if op == "PutItem" else bodies.update(k)
        out.append(prefix + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return [out[i % len(out)] for i in range(n)]


def handler(meta: MetaState) -> http.Handler:
    """The router's handler as router/main.py assembles it, over the answering cluster (its metrics are
    the connection's observer: `drive(..., observe=RequestMetrics().record)`)."""
    item = orjson.dumps({"key": {"S": ycsb.key_name(1)}, **ycsb.fields(random.Random(7))})
    api = Api(Answering(meta, item), region="us-east-1", endpoint=HOST)  # type: ignore[arg-type]
    return Api.with_host(Dispatcher(api.operations()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.router_path", description=__doc__.split("\n\n")[0])
    p.add_argument("--op", choices=OPS, action="append", help="GetItem, PutItem, UpdateItem or BatchWriteItem (default: all)")
    p.add_argument("--requests", type=int, default=4000, help="requests per repetition (default 4000)")
    p.add_argument("--reps", type=int, default=3, help="measured repetitions, after one warm-up (default 3)")
    args = p.parse_args(argv)
    meta = state()
    for op in args.op or OPS:
        reps = asyncio.run(drive(handler(meta), requests(op, args.requests, random.Random(1)), args.reps,
                                 RequestMetrics().record))
        print(f"{op:10}: process CPU us per request: {' '.join(f'{x:.1f}' for x in reps)} (min {min(reps):.1f})",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
