"""`trireme logs FUNCTION [--follow]`: a function's log, as CloudWatch Logs shows it.

Each router writes the log of the invocations it ran (the handler's output
and logging, START/END/REPORT lines) under its ``--functions-dir`` and serves
it at ``GET /trireme/functions/NAME/logs?offset=N`` (router/lambda_api.py).
This command reads it from every router of the local cluster (or the
``--endpoint`` URLs given), one router's log after the other, then from each
storage node of the local cluster the log of what its event source mappings
ran there (the node's ``Admin`` call ``function_log``); with
``--follow`` it then polls each from where it stopped and prints new lines as
they come, as ``aws logs tail --follow`` does. Functions are regional, as in
AWS: in a multi-region layout (`trireme up --regions`) it reads ``--region``'s
cluster (default: the first region).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from cluster import tls

POLL_S = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help="show a function's log (its output, START/END/REPORT lines)",
                       description="Print the log of a function's invocations from every router of the "
                                   "cluster; --follow keeps printing new lines.")
    p.add_argument("function", help="the function's name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until interrupted")
    p.add_argument("--data-dir", type=Path, default=Path("data"),
                   help="the local cluster's directory, for its routers' addresses (default ./data)")
    p.add_argument("--region", default=None,
                   help="with `trireme up --regions`: the region whose function it is (default: the first)")
    p.add_argument("--endpoint", action="append", default=[],
                   help="a router's URL (http://HOST:PORT) instead of the local cluster's; may repeat")
    p.set_defaults(func=cmd_logs)


def _sources(args: argparse.Namespace) -> tuple[list[str], list[str], str]:
    """(router URLs, node gRPC addresses, the cluster's id)."""
    if args.endpoint:
        return [e.rstrip("/") for e in args.endpoint], [], ""
    layout = json.loads((_cluster_dir(args.data_dir, args.region) / "cluster.json").read_text())
    procs = layout["procs"].values()
    urls = [f"{'https' if layout.get('tls') else 'http'}://{p['addr']}" for p in procs if p["kind"] == "router"]
    if layout.get("tls"):  # trust the cluster's CA, and dial its nodes with its admin certificate
        tls_dir = _cluster_dir(args.data_dir, args.region) / tls.DIR
        tls.use(tls.Identity.in_dir(tls_dir, "admin"))
        for url in urls:
            tls.trust(url, tls_dir / "ca.pem")
    return (urls,
            [p["addr"] for p in procs if p["kind"] == "node"], layout.get("cluster_id", ""))


def _cluster_dir(data_dir: Path, region: str | None) -> Path:
    """The one cluster's directory, or in a multi-region layout the region's
    (ValueError naming the regions when there is no such region)."""
    from deploy.regions import MultiRegion, is_multi_region

    if not is_multi_region(data_dir):
        if region is not None:
            raise ValueError(f"{data_dir} holds a one-region cluster; leave out --region")
        return data_dir
    m = MultiRegion.load(data_dir)
    return m.cluster(region or m.regions[0]).data_dir


def fetch_node(addr: str, cluster_id: str, name: str, offset: int, timeout: float = 10.0) -> tuple[bytes, int]:
    """New log bytes of ``name`` from one storage node (its triggers' invocations) and the next offset."""
    from cluster.rpc import Channels, call_once

    async def go() -> dict:
        ch = Channels(cluster_id)
        try:
            return await call_once(ch, addr, "admin", "function_log", {"name": name, "offset": offset},
                                   timeout=timeout)
        finally:
            await ch.close()
    answer = asyncio.run(go())
    return base64.b64decode(answer["data"]), answer["next"]


def fetch(endpoint: str, name: str, offset: int, timeout: float = 10.0,
          credentials: tuple[str, str] | None = None, region: str = "us-east-1") -> tuple[bytes, int] | None:
    """New log bytes of ``name`` from one router and the next offset; None if
    it has no such function. Signed (service lambda) when `credentials` are given."""
    target = f"/trireme/functions/{quote(name, safe='')}/logs?offset={offset}"
    headers = {}
    if credentials is not None:
        import time

        from ddb.iam.sigv4 import sign
        headers = {"Host": endpoint.split("//", 1)[-1]}
        headers.update(sign("GET", target, headers, b"", access_key=credentials[0], secret=credentials[1],
                            region=region, service="lambda", now=time.time()))
    try:
        with urllib.request.urlopen(urllib.request.Request(endpoint + target, headers=headers),
                                    timeout=timeout, context=tls.https_context(endpoint)) as resp:
            return resp.read(), int(resp.headers["x-trireme-next-offset"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        routers, nodes, cluster_id = _sources(args)
    except FileNotFoundError:
        print(f"trireme logs: no cluster in {args.data_dir} (give --endpoint or --data-dir)", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"trireme logs: {exc}", file=sys.stderr)
        return 1
    credentials, region = None, "us-east-1"
    if not args.endpoint:  # the local cluster's own: signed when it runs with --auth
        from deploy.local import LocalCluster
        cluster = LocalCluster.load(_cluster_dir(args.data_dir, args.region))
        credentials, region = cluster.credentials(), cluster.region
    offsets = dict.fromkeys([*routers, *nodes], 0)
    unreachable: set[str] = set()
    first = True
    while True:
        found = False
        for endpoint in routers:
            try:
                got = fetch(endpoint, args.function, offsets[endpoint], credentials=credentials, region=region)
            except OSError as exc:
                if endpoint not in unreachable:
                    print(f"trireme logs: {endpoint}: {exc}", file=sys.stderr)
                    unreachable.add(endpoint)
                continue
            unreachable.discard(endpoint)
            if got is None:
                continue
            found = True
            data, offsets[endpoint] = got
            if data:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        for addr in nodes:
            try:
                data, offsets[addr] = fetch_node(addr, cluster_id, args.function, offsets[addr])
            except Exception:  # noqa: BLE001 (a node down: its log is read when it is back)
                continue
            if data:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        if first and not found and not unreachable:
            print(f"trireme logs: function {args.function} not found", file=sys.stderr)
            return 1
        first = False
        if not args.follow:
            return 0
        time.sleep(POLL_S)
