"""Benchmark of the register linearizability checker (not a test; run by hand).

    .venv/bin/python -m tests.chaos.bench_linear [OPS] [SEEDS]

Times `check_register` on simulated linearizable histories of one key, and
on the same histories with one late read made stale (the non-linearizable
case, where the search must rule out every order before giving up).  Times
are the worst over the seeds; verdicts: T linearizable, F not, ? unknown
(step budget exhausted).  With repeated values a stale read may still be
explainable, so T is possible there.
"""

from __future__ import annotations

import random
import sys
import time

from chaos.linear import check_register
from chaos.simulate import corrupt_stale_read, register_history

_V = {True: "T", False: "F", None: "?"}


def main(argv: list[str]) -> None:
    ops = int(argv[0]) if argv else 3000
    seeds = int(argv[1]) if len(argv) > 1 else 3
    print(f"{'clients':>7} {'info%':>5} {'read%':>5} {'values':>6} {'ops':>6} | {'valid s':>7} "
          f"{'steps':>8} | {'stale s':>7} {'steps':>9} verdicts")
    for clients in (5, 10, 20):
        for info_rate in (0.0, 0.05, 0.2):
            for read_rate, values in ((0.5, None), (0.1, None), (0.5, 5)):
                tv = tc = 0.0
                sv = sc = 0
                verdicts = ""
                for seed in range(seeds):
                    rng = random.Random(seed)
                    h = register_history(rng, processes=clients, ops=ops, read_rate=read_rate,
                                         info_rate=info_rate, values=values)
                    t = time.perf_counter()
                    r = check_register(h)
                    tv = max(tv, time.perf_counter() - t)
                    assert r.valid is not False, r.explain()
                    sv = max(sv, r.keys["k0"].steps)
                    bad = corrupt_stale_read(rng, h)
                    if bad is None:
                        continue
                    t = time.perf_counter()
                    r = check_register(bad)
                    tc = max(tc, time.perf_counter() - t)
                    if values is None:
                        assert r.valid is not True, r.explain()
                    sc = max(sc, r.keys["k0"].steps)
                    verdicts += _V[r.valid]
                print(f"{clients:>7} {info_rate*100:>5.0f} {read_rate*100:>5.0f} "
                      f"{values or 'unique':>6} {ops:>6} | {tv:>7.3f} {sv:>8} | "
                      f"{tc:>7.3f} {sc:>9} {verdicts}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
