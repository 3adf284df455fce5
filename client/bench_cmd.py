"""`trireme bench`: YCSB-style workloads against Trireme and its peers."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from bench.main import add_arguments
    p = sub.add_parser("bench", help="benchmark a fresh cluster (YCSB workloads), optionally against dynalite/moto",
                       description="Start a fresh 3-node cluster (and the peers asked for), load YCSB records, "
                                   "run each workload for a fixed time after a warm-up, systems taking turns, "
                                   "and print medians over repetitions with Trireme's ratio to each peer.")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bench.main import run
    return run(args)
