"""`trireme sim`: run the Raft simulator over many seeds and explain what it found."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from node.raft.sim import INVARIANTS, TRACE_LEGEND, SimOptions, SimResult, run_seed


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim", help="run the deterministic Raft simulator and check its invariants",
        description="Run seeded simulations of Raft clusters over a faulty network (drops, delays, "
                    "duplicates, reordering, partitions, crashes, clock drift, membership changes) "
                    "and check Raft's safety and liveness properties after every step. A failing "
                    "seed replays exactly: rerun it with --seed S --trace.")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds to run (default 100)")
    p.add_argument("--seed", type=int, default=None,
                   help="first seed; alone, runs just this seed (default 0)")
    p.add_argument("--replicas", type=int, choices=(3, 4, 5), default=None,
                   help="cluster size (default: each seed picks 3 to 5)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--trace", action="store_true", help="print the full event trace of each seed")
    p.add_argument("--trace-lines", type=int, default=120,
                   help="trace lines to show for a violation (default 120; 0 = all)")
    p.add_argument("--chaos-ticks", type=int, default=SimOptions.chaos_ticks,
                   help="ticks of faults before the network heals")
    p.add_argument("--drift", type=float, default=None,
                   help="clock-rate spread between replicas, e.g. 0.3 for ±30%% (default: within the "
                        "5%% bound leases are configured for; beyond it stale reads become possible)")
    p.add_argument("--election-tick", type=int, default=SimOptions.election_tick,
                   help="election timeout in ticks (randomised up to twice that)")
    p.add_argument("--promise-tick", type=int, default=SimOptions.promise_tick,
                   help="ticks a follower owes its leader's lease (0: the election timeout)")
    p.add_argument("--campaign-tick", type=int, default=SimOptions.campaign_tick,
                   help="ticks without a leader before a follower campaigns, randomised up to twice that "
                        "(0: the election timeout)")
    p.add_argument("--heartbeat-tick", type=int, default=SimOptions.heartbeat_tick, help="heartbeat period in ticks")
    p.add_argument("--node-timing", action="store_true",
                   help="the storage node's timing (node/groups/engine.py): overrides the four above")
    p.add_argument("--no-lease", action="store_true", help="serve every read through ReadIndex")
    p.add_argument("--no-membership", action="store_true", help="no membership changes")
    p.add_argument("--no-snapshots", action="store_true", help="never compact logs")
    p.set_defaults(func=run)


def _run_one(args: tuple[int, SimOptions]) -> SimResult:
    seed, opts = args
    r = run_seed(seed, opts)
    r.trace = []  # traces are rebuilt on demand: keep worker replies small
    return r


def run(args: argparse.Namespace) -> int:
    timing = (args.election_tick, args.promise_tick, args.heartbeat_tick, args.campaign_tick)
    if args.node_timing:
        from node.groups.engine import CAMPAIGN_TICKS, ELECTION_TICKS, HEARTBEAT_TICKS, PROMISE_TICKS
        timing = (ELECTION_TICKS, PROMISE_TICKS, HEARTBEAT_TICKS, CAMPAIGN_TICKS)
    opts = SimOptions(replicas=args.replicas, chaos_ticks=args.chaos_ticks, drift=args.drift,
                      lease_reads=not args.no_lease, membership=not args.no_membership,
                      snapshots=not args.no_snapshots, election_tick=timing[0], promise_tick=timing[1],
                      heartbeat_tick=timing[2], campaign_tick=timing[3])
    first = args.seed if args.seed is not None else 0
    count = args.seeds if args.seeds is not None else (1 if args.seed is not None else 100)
    seeds = range(first, first + count)
    out = sys.stdout
    drift = opts.drift if opts.drift is not None else opts.max_clock_drift * 0.9
    print(f"Raft simulation: seeds {first}..{first + count - 1}, "
          f"replicas {args.replicas or '3-5 (per seed)'}, clock drift ±{drift:.1%} "
          f"(leases assume ≤ {opts.max_clock_drift:.0%}), {opts.chaos_ticks} ticks of faults, "
          f"then heal", file=out)
    print("invariants checked after every step:", file=out)
    for inv in INVARIANTS:
        print(f"  - {inv}", file=out)

    if args.trace:
        return _run_traced(seeds, opts, args, out)

    started = time.monotonic()
    totals: Counter[str] = Counter()
    steps = 0
    failures: list[SimResult] = []
    done = 0
    last_report = started
    jobs = max(1, min(args.jobs, count))
    work = [(s, opts) for s in seeds]
    if jobs == 1:
        results = map(_run_one, work)
    else:
        pool = ProcessPoolExecutor(jobs)
        results = pool.map(_run_one, work, chunksize=max(1, min(50, count // (jobs * 8) or 1)))
    try:
        for r in results:
            done += 1
            steps += r.steps
            totals.update(r.stats)
            if not r.ok:
                failures.append(r)
            now = time.monotonic()
            if now - last_report >= 2 and done < count:
                last_report = now
                print(f"  ... {done}/{count} seeds, {len(failures)} violations, "
                      f"{done / (now - started):.1f} seeds/s", file=sys.stderr, flush=True)
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)
    elapsed = time.monotonic() - started
    print(f"\n{count} seeds, {steps:,} steps in {elapsed:.1f} s: "
          f"{count / elapsed:.1f} seeds/s, {steps / elapsed:,.0f} steps/s ({jobs} processes)", file=out)
    print("exercised: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in totals.items()), file=out)
    if not failures:
        print(f"no violations in {count} seeds", file=out)
        return 0
    print(f"\n{len(failures)} seed(s) violated an invariant:", file=out)
    for r in failures[:10]:
        print(f"  seed {r.seed}: {r.violation}", file=out)
    worst = failures[0]
    traced = run_seed(worst.seed, replace(opts, trace=True))
    lines = traced.trace if args.trace_lines == 0 else traced.trace[-args.trace_lines:]
    print(f"\ntrace of seed {worst.seed} ({traced.replicas} replicas; last {len(lines)} of "
          f"{len(traced.trace)} lines):", file=out)
    print(f"  ({TRACE_LEGEND})", file=out)
    for line in lines:
        print("  " + line, file=out)
    print(f"\nreproduce: trireme sim --seed {worst.seed} --trace"
          + (f" --drift {args.drift}" if args.drift is not None else "")
          + (f" --replicas {args.replicas}" if args.replicas else "")
          + (" --node-timing" if args.node_timing else
             "".join(f" --{k}-tick {v}" for k, v in zip(("election", "promise", "heartbeat", "campaign"), timing)
                     if v != getattr(SimOptions, f"{k}_tick"))), file=out)
    return 1


def _run_traced(seeds: range, opts: SimOptions, args: argparse.Namespace, out) -> int:
    bad = 0
    for seed in seeds:
        r = run_seed(seed, replace(opts, trace=True))
        print(f"\n=== seed {seed}: {r.replicas} replicas, {r.steps} steps ===", file=out)
        print(f"({TRACE_LEGEND})", file=out)
        for line in r.trace:
            print(line, file=out)
        print(f"=== seed {seed}: {'ok' if r.ok else 'VIOLATION: ' + str(r.violation)} ===", file=out)
        bad += not r.ok
    return 1 if bad else 0
