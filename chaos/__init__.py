"""Jepsen-style correctness checking for Trireme, as pure Python.

Concurrent clients record a *history* (`chaos.history`): each operation is an
``invoke`` followed by ``ok`` (it happened), ``fail`` (it definitely did not)
or ``info`` (unknown: it may take effect at any time after its invoke, or
never).  Checkers then judge the history without touching the cluster:

* `chaos.linear` -- linearizability of per-key registers (read/write/cas),
  a WGL search in the style of Porcupine;
* `chaos.checks` -- the ``set`` (no lost or phantom inserts) and ``counter``
  (final value within the bounds the increments allow) checkers;
* `chaos.lww_check` -- global tables (``trireme check --regions``): regions
  identical, no phantom, no write lost under last writer wins, streams complete;
* `chaos.simulate` -- seeded generators of valid histories, for tests, demos
  and benchmarks.

Everything here is free of I/O, clocks and threads so that it is
deterministic and testable on hand-made histories; the ``trireme check``
driver supplies timestamps and writes files.
"""
