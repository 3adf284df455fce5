"""A paused leader (SIGSTOP) whose clients all wait on it: the router finds
the partition's new leader by itself (cluster/partitions.py `_sentinel_run`),
so the waiting requests are answered before their 3 s call timeout and
writes resume, though no new request ever asks the followers."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.admin import leader_of
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_faults import create, partition_of, put, strong

pytestmark = pytest.mark.slow

CALL_TIMEOUT_S = 3.0  # the router's per-call timeout (cluster/partitions.py send): what a held request used to wait


def test_requests_held_by_a_paused_leader_are_answered_before_their_timeout(own_cluster):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint)
    create(ddb)
    put(ddb, "k", 0)
    part = partition_of(cluster, "k")
    victim = wait_until(lambda: leader_of(cluster, part["id"]), 10, "a leader")
    live = [n for n in cluster.node_ids() if n != victim]

    paused_at = [0.0]
    stop = threading.Event()
    lock = threading.Lock()
    held: list[tuple[str, float, float]] = []  # (outcome, sent, answered) of calls in flight at the pause
    acks: list[float] = []  # writes acknowledged after the pause

    def client(w: int) -> None:
        c = make_client(cluster.endpoint)
        i = 0
        while not stop.is_set():
            i += 1
            sent = time.monotonic()
            try:
                if w % 2:
                    strong(c, "k")
                else:
                    put(c, "k", w * 100000 + i)
                outcome = "ok"
            except ClientError as exc:
                outcome = exc.response["Error"]["Code"]
            answered = time.monotonic()
            with lock:
                if paused_at[0] and sent <= paused_at[0]:
                    held.append((outcome, sent, answered))
                elif paused_at[0] and outcome == "ok" and w % 2 == 0:
                    acks.append(answered)

    # Every client waits on the leader: none is left to ask its followers.
    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)  # (the load under way; nothing waits on it)
        with lock:
            cluster.kill(victim, signal.SIGSTOP)
            paused_at[0] = time.monotonic()
        wait_until(lambda: acks, 10, "a write acknowledged after the pause")
        resumed = acks[0] - paused_at[0]
        wait_until(lambda: len(held) == len(threads), 10, "every call held by the paused leader to be answered")
    finally:
        stop.set()
        cluster.kill(victim, signal.SIGCONT)
        for t in threads:
            t.join(30)
    waits = sorted(answered - paused_at[0] for _, _, answered in held)
    print(f"\npaused leader: held calls answered {', '.join(f'{w:.2f}' for w in waits)} s after the pause "
          f"({', '.join(o for o, _, _ in held)}); first write acknowledged {resumed:.2f} s after it")
    # Answered when the router found the new leader, not at their timeout (the
    # pause came after they were sent, so sent + 3 s is later than pause + 3 s).
    assert all(answered - sent < CALL_TIMEOUT_S for _, sent, answered in held), held
    assert resumed < CALL_TIMEOUT_S, resumed
    new = wait_until(lambda: leader_of(cluster, part["id"], live), 10, "a new leader")
    assert new != victim
    # The old leader, resumed, serves nothing stale: a strong read sees the last ack.
    put(ddb, "k", -1)
    assert strong(ddb, "k") == -1
