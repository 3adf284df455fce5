"""`trireme cost [TABLE]`: the monthly bill estimated from a running cluster
(`--data-dir`, as `trireme status`), priced by ddb/prices.json or a copy
of it (`--prices FILE`). The arithmetic is ddb/cost.py's, the text client/cost.py's."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from client.cost import render
from client.status import gather_cluster
from ddb.cost import DEFAULT_PRICES, estimate, usages
from deploy.local import LocalCluster, post
from deploy.regions import MultiRegion, is_multi_region


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="the monthly bill estimated from what the cluster consumed and stores",
                       description="Estimates the monthly DynamoDB bill of the running cluster's tables from the "
                                   "request units they consumed, their provisioned capacity, storage, stream reads "
                                   "and backups, with the arithmetic of every line.")
    p.add_argument("table", nargs="?", help="only this table (default: every table)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="the cluster's data directory (./data)")
    p.add_argument("--prices", type=Path, default=DEFAULT_PRICES,
                   help=f"a price table in JSON (default: {DEFAULT_PRICES})")
    p.add_argument("--json", action="store_true", help="the estimate as JSON")
    p.set_defaults(func=cmd_cost)


def stream_reads(cluster: LocalCluster) -> dict[str, int]:
    """GetRecords calls per table, summed over the routers that answer
    (each counts its own since it started)."""
    total: dict[str, int] = {}
    for p in cluster.procs.values():
        if p.kind != "router":
            continue
        try:
            status, body = post(cluster.admin_endpoint(p.name), "Usage", {}, timeout=3, prefix="TriremeAdmin_1",
                                credentials=cluster.credentials(), region=cluster.region)
        except OSError:
            continue
        if status == 200:
            for name, n in json.loads(body).get("StreamReadRequests", {}).items():
                total[name] = total.get(name, 0) + int(n)
    return total


def region_bill(cluster: LocalCluster, table: str | None, prices: dict) -> dict | str:
    """One cluster's (region's) estimate, or why there is none."""
    report = asyncio.run(gather_cluster(cluster))
    if not report.get("meta"):
        return "no node answered with the cluster metadata: is the cluster running? (trireme up)"
    found = usages(report["meta"], stream_reads(cluster), time.time())
    if table is not None:
        found = [u for u in found if u.table == table]
        if not found:
            return f"no table {table}"
    return estimate(found, prices)


def cmd_cost(args: argparse.Namespace) -> int:
    try:
        target = MultiRegion.load(args.data_dir) if is_multi_region(args.data_dir) else LocalCluster.load(args.data_dir)
        prices = json.loads(args.prices.read_text())
    except FileNotFoundError as exc:
        print(f"trireme cost: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"trireme cost: cannot read the prices in {args.prices}: {exc}", file=sys.stderr)
        return 1
    clusters = target.clusters if isinstance(target, MultiRegion) else {"": target}
    bills = {region: region_bill(c, args.table, prices) for region, c in clusters.items()}
    failed = [f"{region or 'the cluster'}: {b}" for region, b in bills.items() if isinstance(b, str)]
    if args.json:
        shown = {r: b if isinstance(b, dict) else {"error": b} for r, b in bills.items()}
        out = {"prices": str(args.prices), **({"regions": shown} if isinstance(target, MultiRegion) else shown[""])}
        print(json.dumps(out, indent=2))
    else:
        for region, bill in bills.items():
            if region:
                print(f"=== region {region}")
            print(bill if isinstance(bill, str) else render(bill, str(args.prices)))
    for why in failed:
        print(f"trireme cost: {why}", file=sys.stderr)
    return 1 if failed else 0
