"""`trireme logs FUNCTION [--follow]`: a function's log, as CloudWatch Logs shows it.

Each router writes the log of the invocations it ran (the handler's output
and logging, START/END/REPORT lines) under its ``--functions-dir`` and serves
it at ``GET /trireme/functions/NAME/logs?offset=N`` (router/lambda_api.py).
This command reads it from every router of the local cluster (or the
``--endpoint`` URLs given), one router's log after the other; with
``--follow`` it then polls each from where it stopped and prints new lines as
they come, as ``aws logs tail --follow`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

POLL_S = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help="show a function's log (its output, START/END/REPORT lines)",
                       description="Print the log of a function's invocations from every router of the "
                                   "cluster; --follow keeps printing new lines.")
    p.add_argument("function", help="the function's name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until interrupted")
    p.add_argument("--data-dir", type=Path, default=Path("data"),
                   help="the local cluster's directory, for its routers' addresses (default ./data)")
    p.add_argument("--endpoint", action="append", default=[],
                   help="a router's URL (http://HOST:PORT) instead of the local cluster's; may repeat")
    p.set_defaults(func=cmd_logs)


def _routers(args: argparse.Namespace) -> list[str]:
    if args.endpoint:
        return [e.rstrip("/") for e in args.endpoint]
    layout = json.loads((args.data_dir / "cluster.json").read_text())
    return [f"http://{p['addr']}" for p in layout["procs"].values() if p["kind"] == "router"]


def fetch(endpoint: str, name: str, offset: int, timeout: float = 10.0) -> tuple[bytes, int] | None:
    """New log bytes of ``name`` from one router and the next offset; None if it has no such function."""
    url = f"{endpoint}/trireme/functions/{quote(name, safe='')}/logs?offset={offset}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read(), int(resp.headers["x-trireme-next-offset"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        routers = _routers(args)
    except FileNotFoundError:
        print(f"trireme logs: no cluster in {args.data_dir} (give --endpoint or --data-dir)", file=sys.stderr)
        return 1
    offsets = dict.fromkeys(routers, 0)
    unreachable: set[str] = set()
    first = True
    while True:
        found = False
        for endpoint in routers:
            try:
                got = fetch(endpoint, args.function, offsets[endpoint])
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
        if first and not found and not unreachable:
            print(f"trireme logs: function {args.function} not found", file=sys.stderr)
            return 1
        first = False
        if not args.follow:
            return 0
        time.sleep(POLL_S)
