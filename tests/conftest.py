"""What every run of the suites shares: hypothesis without per-example
deadlines, the order make test's parallel phase hands files out in, the
check that its serial phase's file list misses no serial test, and each
parallel worker's own port range."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import settings

# No per-example deadline (hypothesis's default is 200 ms): the suites run beside clusters on two cores,
# where an example's time says how busy the machine is; a deadline there fails a run as Flaky (one did
# at load 23) without saying anything of the code. The suite's own settings already said deadline=None.
settings.register_profile("trireme", deadline=None)
settings.load_profile("trireme")

# The parallel phase (pytest-xdist --dist loadfile follows collection order): files that start
# processes first, the in-process unit suites last, so the phase ends on short files both workers
# share instead of one worker finishing a long file alone.
LATE = ("tests/ddb/", "tests/router/", "tests/node/", "tests/cluster/", "tests/test_")
# In those directories, but long or starting processes: early with the rest.
EARLY = ("tests/node/raft/test_sim.py", "tests/node/test_cluster.py", "tests/node/storage/test_crash.py",
         "tests/node/partition/test_strong_writes.py", "tests/router/test_workers.py",
         "tests/ddb/test_global_tables.py", "tests/ddb/test_strong_tables.py", "tests/test_imports.py")


def late(nodeid: str) -> bool:
    path = nodeid.partition("::")[0]
    return path.startswith(LATE) and path not in EARLY


SERIAL_MARK = re.compile(r"pytest\.mark\.serial")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: late(item.nodeid))  # stable: each file's tests keep their order
    # make test's serial phase collects only the files a grep finds the mark in (Makefile SERIAL_FILES).
    unseen = sorted({str(item.path) for item in items
                     if item.get_closest_marker("serial") and not SERIAL_MARK.search(item.path.read_text())})
    if unseen:
        raise pytest.UsageError(f"tests marked serial without `pytest.mark.serial` in their file "
                                f"(make test's serial phase would not collect them): {unseen}")


def pytest_configure(config: pytest.Config) -> None:
    """Each parallel worker picks its clusters' ports from a range of its own
    (deploy.local.free_port): the workers' plans could otherwise pick the same
    free port before either bound it (a full run met it once: a node that
    could not listen, and another worker's region link refused)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and count > 1 and "TRIREME_PORT_RANGE" not in os.environ:
        from deploy.local import default_port_range
        lo, hi = default_port_range()
        width = (hi - lo) // count
        start = lo + int(worker[2:]) * width
        os.environ["TRIREME_PORT_RANGE"] = f"{start}-{start + width}"
