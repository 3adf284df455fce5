"""The `trireme` command line."""

from __future__ import annotations

import argparse
import os
import sys

# Before gRPC is loaded (it reads this once): no trireme process uses gRPC in
# a forked child, and the router's event loop (uvloop, router/main.py) starts
# children with fork(), where gRPC's fork handlers, with its threads busy,
# left some children (functions' workers) dead before their exec.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from . import (bench_cmd, chaos_cmd, check_cmd, cluster_cmd, cost_cmd, elastic_cmd, keys_cmd, logs_cmd,
               probe_cmd, sim_cmd, users_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trireme",
        description="Trireme: a DynamoDB-compatible database that runs as a real distributed cluster.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from node import main as node_main
    from router import main as router_main
    cluster_cmd.add_parsers(sub)
    node_main.add_parser(sub)
    router_main.add_parser(sub)
    sim_cmd.add_parser(sub)
    chaos_cmd.add_parser(sub)
    check_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    logs_cmd.add_parser(sub)
    elastic_cmd.add_parser(sub)
    cost_cmd.add_parser(sub)
    keys_cmd.add_parser(sub)
    probe_cmd.add_parser(sub)
    users_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["node"] and args_in[1:2] in (["add"], ["remove"]):  # not `trireme node --id ...`
        return elastic_cmd.node_main(args_in[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # `trireme chaos latency --ms 50 n1 n2`: node names after an option
        if getattr(args, "command", None) != "chaos" or any(x.startswith("-") for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.args += extra
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `trireme sim --trace | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
