"""The in-memory tail of a Raft log (node/groups/disk_log.py `trim`)."""

from __future__ import annotations

from node.groups.disk_log import MEMORY_MIN, trim
from node.raft.messages import Entry


class _Log:
    """The part of the core's log `trim` uses: everything durable and applied."""

    def __init__(self, sizes: list[int]) -> None:
        self.entries = [Entry(1, i + 1, b"x" * s) for i, s in enumerate(sizes)]
        self.base = 0

    def last_index(self) -> int:
        return self.base + len(self.entries)

    def evict(self, index: int) -> int:
        n = index - self.base
        del self.entries[:n]
        self.base = index
        return n


def test_small_entries_are_bounded_by_count():
    log = _Log([100] * 1025)
    assert trim(log, keep=512, budget=8 << 20) == 513 and len(log.entries) == 512
    assert trim(log, keep=512, budget=8 << 20) == 0


def test_large_entries_are_bounded_by_bytes():
    log = _Log([64 << 10] * 300)  # 300 merged batches of 64 KB: 19 MB
    assert trim(log, keep=512, budget=4 << 20) > 0
    assert len(log.entries) == (4 << 20) // (64 << 10)  # 64 entries, 4 MB
    huge = _Log([8 << 20] * 40)
    trim(huge, keep=512, budget=4 << 20)
    assert len(huge.entries) == MEMORY_MIN  # a floor however large they are


def test_a_small_keep_holds_below_the_floor():
    log = _Log([10] * 9)
    assert trim(log, keep=4) == 5 and len(log.entries) == 4


def test_encoded_entries_count_their_encoding_too():
    """An entry the leader encoded once for its log and its followers holds
    those bytes beside its data: the budget counts both."""
    from node.net.raft_codec import encode_entry
    log = _Log([64 << 10] * 300)
    for e in log.entries:
        encode_entry(e)
    trim(log, keep=512, budget=4 << 20)
    assert len(log.entries) == (4 << 20) // (2 * (64 << 10) + 10)  # 31 entries of ~128 KB in memory


def test_a_small_newest_entry_does_not_hide_large_ones():
    # Merged BatchWriteItem entries range from one batch to a dozen: the
    # newest being small must not let the large ones before it stay.
    log = _Log([256 << 10] * 300 + [16 << 10])
    assert trim(log, keep=512, budget=4 << 20) > 0
    assert sum(len(e.data) for e in log.entries) <= 2 * (4 << 20)
