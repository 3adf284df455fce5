"""The router's CPU per request with its I/O: real sockets on both sides.

`bench.router_path` counts a request's handling with the connection and the
cluster stubbed in-process; what it leaves out is most of a router's CPU in
a YCSB run: the event loop, the client sockets' reads and writes, the
`Data` stream to the node (grpc.aio, `cluster/nodes.py`'s batching) and the
answers fanned back to the waiting requests. Here this process serves the
router's handler (router/http.py with the metrics as its observer, the Dispatcher,
router/api.py, `NodeClient`) on a real port, on the event loop `trireme
router` runs (`router.main.event_loop`); `bench.cpu`'s load generator runs
in a child process (64 keep-alive connections, YCSB's requests), and a
stand-in node in another child answers every `DataRequest` on a real `Data`
stream at once (GetItem with a 1 KB YCSB item). Only the partition routing
(`cluster/partitions.py` `Cluster.send`: leader lookup, retries) is left
out: the request goes straight to the one node's `NodeClient`.

Under valgrind (children not traced) the difference between two lengths of
run is the router's instructions per request, with load hardly moving it:

    for N in 1000 3000; do valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python -m bench.router_loop --workload A --ops $N; done    # (refs(3000) - refs(1000)) / 2000

Under valgrind the router is the slow side, so its Data messages carry more
requests than in a real run (it prints requests per message): compare trees
at the same count. Without valgrind it prints the process CPU us per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from typing import Any

import orjson

from bench import router_path, ycsb
from cluster.nodes import NodeClient
from router import http
from router.api import Api
from router.main import event_loop
from router.metrics import RequestMetrics
from router.protocol import Dispatcher
from trireme_pb import node_pb2

CLUSTER_ID = "bench-router-loop"
_NODE = """
import asyncio, sys
import grpc
from trireme_pb import node_pb2, node_pb2_grpc
GET, OK = node_pb2.DataRequest.GET, node_pb2.OK
item = sys.argv[1].encode()

class Data(node_pb2_grpc.DataServicer):
    async def Stream(self, requests, context):
        await context.send_initial_metadata(())
        async for batch in requests:
            out = node_pb2.DataResponses()
            add = out.responses.add
            for r in batch.requests:
                if r.op == GET:
                    add(id=r.id, status=OK, item=item)
                else:
                    add(id=r.id, status=OK)
            yield out

async def main():
    server = grpc.aio.server()
    node_pb2_grpc.add_DataServicer_to_server(Data(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent is gone
    await server.stop(None)

asyncio.run(main())
"""
_LOAD = """
import asyncio, sys
from bench.cpu import fixed_ops
endpoint, workload, ops, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
asyncio.run(fixed_ops(endpoint, workload, ops, clients, 1000, 1))
"""


class Forwarding(router_path.Answering):
    """The cluster below the router: every request to the one node's `Data` stream."""

    def __init__(self, meta: Any, client: NodeClient) -> None:
        super().__init__(meta, b"")
        self.client = client
        self.group = next(iter(meta.partitions))

    async def send(self, table: str, hash64: int, req: node_pb2.DataRequest, **_: Any) -> node_pb2.DataResponse:
        req.group = self.group
        return await self.client.call(req, timeout=30.0)


async def run(workload: str, ops: int, clients: int) -> tuple[float, NodeClient, RequestMetrics]:
    """Serve `ops` requests of `workload`; the process CPU seconds they took,
    the node client (its messages) and the requests' metrics (their answers)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    item = orjson.dumps({"key": {"S": ycsb.key_name(1)}, **ycsb.fields(random.Random(7))}).decode()
    node = subprocess.Popen([sys.executable, "-c", _NODE, item], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env)
    client = None
    server = None
    try:
        port = int(node.stdout.readline())
        client = NodeClient(f"127.0.0.1:{port}", cluster_id=CLUSTER_ID)
        meta = router_path.state()
        api = Api(Forwarding(meta, client), region="us-east-1", endpoint=router_path.HOST)  # type: ignore[arg-type]
        metrics = RequestMetrics()
        server = await http.serve(Api.with_host(Dispatcher(api.operations())), "127.0.0.1", 0, slow_ms=0,
                                  observe=metrics.record)
        endpoint = "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]
        t0 = time.process_time()
        load = await asyncio.create_subprocess_exec(sys.executable, "-c", _LOAD, endpoint, workload, str(ops),
                                                    str(clients), env=env)
        if await load.wait() != 0:
            raise RuntimeError(f"the load generator failed ({load.returncode})")
        return time.process_time() - t0, client, metrics
    finally:
        if server is not None:
            server.close()
        if client is not None:
            await client.close()
        node.stdin.close()
        node.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.router_loop", description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="A", choices=("A", "B", "W", "C"), help="YCSB workload (default A)")
    p.add_argument("--ops", type=int, default=4000, help="requests (default 4000)")
    p.add_argument("--clients", type=int, default=64, help="connections (default 64)")
    args = p.parse_args(argv)
    with asyncio.Runner(loop_factory=event_loop()) as runner:
        cpu, client, metrics = runner.run(run(args.workload, args.ops, args.clients))
    failed = sum(s.failed.count for s in metrics.series.values())
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
        return 1
    print(f"YCSB-{args.workload}: process CPU us per request {1e6 * cpu / args.ops:.1f}; "
          f"{client.requests / max(1, client.messages):.1f} requests per Data message", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
