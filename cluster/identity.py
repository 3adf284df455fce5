"""A cluster's identity: the id it gets when founded, stored in every node's
data directory and stated on every connection between its processes.

Two clusters on one machine (or a stale address in a config) must never mix:
a node refuses Raft, data and metadata connections that state another
cluster's id, and logs who tried. The id is no secret; it guards against
accidents, not attacks.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path

METADATA_KEY = "trireme-cluster-id"  # gRPC metadata on Meta and Admin calls
FILE_NAME = "cluster-id"  # in a node's data directory


class IdentityError(Exception):
    """The cluster id cannot be settled; the message says what to do."""


def new_cluster_id() -> str:
    return secrets.token_hex(8)


def stored(data_dir: Path) -> str:
    try:
        return (data_dir / FILE_NAME).read_text().strip()
    except FileNotFoundError:
        return ""


def store(data_dir: Path, cluster_id: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / (FILE_NAME + ".tmp")
    tmp.write_text(cluster_id + "\n")
    tmp.replace(data_dir / FILE_NAME)


def settle(data_dir: Path, given: str) -> str:
    """The node's cluster id: the stored one, else `given` (then stored).

    "" when neither is known (a joining node learns it from the cluster)."""
    have = stored(data_dir)
    if have and given and have != given:
        raise IdentityError(f"{data_dir} holds data of cluster {have}, but --cluster-id says {given}: "
                            f"start it with --cluster-id {have}, or use another --data-dir")
    if not have and given:
        store(data_dir, given)
    return have or given


def mismatch(own: str, stated: str, who: str, peer: str) -> str:
    """The refusal's text, the same in both sides' logs."""
    return (f"cluster id mismatch: {who} belongs to cluster {own or '(none)'}, "
            f"{peer} states cluster {stated or '(none)'}: refused")


class Throttled:
    """Logs a repeated message at most once per `every_s` seconds (a
    misdirected peer retries several times a second)."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.log = logger
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.every_s) >= self.every_s:
            self._last[key] = now
            self.log.warning("%s", message, stacklevel=2)
