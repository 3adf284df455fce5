"""The order make test's parallel phase hands files out in (pytest-xdist
--dist loadfile follows collection order): files that start processes first,
the in-process unit suites last, so the phase ends on short files both
workers share instead of one worker finishing a long file alone."""

from __future__ import annotations

import pytest

LATE = ("tests/ddb/", "tests/router/", "tests/node/", "tests/cluster/", "tests/test_")
# In those directories, but long or starting processes: early with the rest.
EARLY = ("tests/node/raft/test_sim.py", "tests/node/test_cluster.py", "tests/node/storage/test_crash.py",
         "tests/node/partition/test_strong_writes.py", "tests/router/test_workers.py",
         "tests/ddb/test_global_tables.py", "tests/ddb/test_strong_tables.py", "tests/test_imports.py")


def late(nodeid: str) -> bool:
    path = nodeid.partition("::")[0]
    return path.startswith(LATE) and path not in EARLY


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: late(item.nodeid))  # stable: each file's tests keep their order
