"""The plaintext of recently read items (the ``data`` family), kept current by their writes.

A leader reads the item an UpdateItem (or a conditional write) changes, and
every replica reads the items GetItem asks for: with encryption at rest each
such read opened the value again (AES-GCM; about a tenth of a leader's CPU
under YCSB-A) and went through RocksDB, though the hot keys were written or
read a moment before. This keeps what ``Storage`` last read of a key, and
what was written to it since, within a byte budget, oldest out first.

It can never answer a stale value: every batch that writes the ``data``
family changes it at the one place all writes pass (``Storage.write``),
each key written is dropped before the RocksDB write and set after it, a
range delete (a snapshot installed, a replica removed) empties it, and a
read fills it only if no write began meanwhile (a generation count, under a
lock, so a read on another thread cannot put back a value a write replaced).
"""

from __future__ import annotations

import threading

MISSING = object()  # not cached (None is cached: the item is absent)
_ENTRY_OVERHEAD = 100  # bytes a cached key costs beyond its key and value (the dict slot, the objects)


class ItemCache:
    __slots__ = ("budget", "size", "_items", "_gen", "_lock")

    def __init__(self, budget: int) -> None:
        """``budget``: the bytes of keys and values held at most (0: nothing is kept)."""
        self.budget = budget
        self.size = 0
        self._items: dict[bytes, bytes | None] = {}
        self._gen = 0
        self._lock = threading.Lock()

    def get(self, key: bytes) -> object:
        """The item's plaintext, None (absent) or MISSING (not known here)."""
        return self._items.get(key, MISSING)

    def generation(self) -> int:
        """Taken before a read of the database, handed to `fill` after it."""
        return self._gen

    def fill(self, gen: int, key: bytes, value: bytes | None) -> None:
        """Keep what a read found, unless a write began since `generation` gave ``gen``."""
        with self._lock:
            if gen == self._gen and key not in self._items:
                self._put(key, value)

    def begin_write(self, keys: list[bytes] | None) -> tuple[int, set[bytes]]:
        """Before a batch writes the database: forget the keys it writes (None:
        it deletes a range, forget everything). Answers a token for `end_write`:
        the generation and the keys that were held."""
        items = self._items
        held: set[bytes] = set()
        with self._lock:
            self._gen += 1
            if keys is None:
                items.clear()
                self.size = 0
            else:
                for k in keys:
                    v = items.pop(k, MISSING)
                    if v is not MISSING:
                        self.size -= _cost(k, v)  # type: ignore[arg-type]
                        held.add(k)
            return self._gen, held

    def end_write(self, token: tuple[int, set[bytes]], writes: list[tuple[bytes, bytes | None]]) -> None:
        """After the write: the keys that were held take its values (the newest
        of each), unless another write began meanwhile (then they stay
        forgotten). Keys not held are not added: a read adds them, so a bulk
        load does not push out what is read."""
        gen, held = token
        with self._lock:
            same = gen == self._gen
            self._gen += 1  # a read that began before this point may hold the old value
            if not held:
                return
            items = self._items
            for k, v in writes:
                if k in held:
                    old = items.pop(k, MISSING)
                    if old is not MISSING:  # (an earlier value of this batch's, or another write's)
                        self.size -= _cost(k, old)  # type: ignore[arg-type]
                    if same:
                        self._put(k, v)

    def clear(self) -> None:
        with self._lock:
            self._gen += 1
            self._items.clear()
            self.size = 0

    def _put(self, key: bytes, value: bytes | None) -> None:
        cost = _cost(key, value)
        if cost > self.budget:
            return
        items = self._items
        items[key] = value
        self.size += cost
        while self.size > self.budget:  # the oldest out (insertion order: a write moves a key to the end)
            k = next(iter(items))
            self.size -= _cost(k, items.pop(k))


def _cost(key: bytes, value: bytes | None) -> int:
    return len(key) + (len(value) if value is not None else 0) + _ENTRY_OVERHEAD
