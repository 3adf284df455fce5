"""Crash safety: a process killed with SIGKILL mid-write leaves data, stream,
raft log and applied index in agreement, and keeps every synced write."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from node.storage import STREAMS, Storage

# The child applies "raft entries" forever: entry i sets item i % 50 to i, adds
# stream record i, appends log entry i and sets the applied index, in one batch.
# Every 5th batch is synced and acknowledged on stdout.
CHILD = textwrap.dedent(
    """
    import sys
    from cluster import keys
    from node.storage import Storage
    s = Storage.open(sys.argv[1])
    i = s.applied_index("g")
    while True:
        i += 1
        b = s.batch()
        b.put_item(b"item%02d" % (i % 50), b"%d" % i + b"." * 2000)
        b.put_stream_record(keys.u64(i), b"%d" % i)
        s.raft.append_entries(b, "g", [(i, b"%d" % i)])
        b.set_applied_index("g", i)
        synced = i % 5 == 0
        s.write(b, sync=synced)
        if synced:
            sys.stdout.write("%d\\n" % i)
            sys.stdout.flush()
    """
)


def _run_until_killed(path, acks_wanted: int) -> int:
    """Start the child, kill it after ``acks_wanted`` acks; return the last ack."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env)
    last = 0
    deadline = time.monotonic() + 60
    try:
        for _ in range(acks_wanted):
            line = proc.stdout.readline()
            assert line, f"child exited early with {proc.wait()}"
            last = int(line)
            assert time.monotonic() < deadline, "child too slow"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return last


def _check(path) -> int:
    with Storage.open(path) as s:
        applied = s.applied_index("g")
        assert s.raft.last_index("g") == applied
        assert s.raft.entries("g", 1, applied + 1) == [b"%d" % i for i in range(1, applied + 1)]
        streams = [int(v) for _, v in s.iter_range(STREAMS, b"", None)]
        assert streams == list(range(1, applied + 1))
        for slot in range(50):
            value = s.get_item(b"item%02d" % slot)
            expected = max((i for i in range(slot, applied + 1, 50) if i > 0), default=None)
            assert (value is None) == (expected is None)
            if value is not None:
                assert int(value.rstrip(b".")) == expected
        return applied


def test_sigkill_at_random_points(tmp_path):
    rng = random.Random(20261125)
    path = tmp_path / "db"
    for round_ in range(8):
        acked = _run_until_killed(path, rng.randint(1, 200))
        applied = _check(path)
        assert applied >= acked, f"round {round_}: synced write {acked} lost (applied {applied})"
