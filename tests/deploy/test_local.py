"""deploy/local.py's port choice: a plan asks for many ports before any
process binds one, so none may be handed out twice."""

from __future__ import annotations

import random

from deploy import local


def test_trireme_port_range_narrows_free_port(monkeypatch):
    monkeypatch.setenv("TRIREME_PORT_RANGE", "20000-20040")
    monkeypatch.setattr(local, "_handed_out", set())
    ports = [local.free_port() for _ in range(20)]
    assert len(set(ports)) == 20 and all(20_000 <= p < 20_040 for p in ports)


def test_free_port_never_hands_out_a_port_twice(monkeypatch):
    rng = random.Random(7)
    # A narrow range makes a repeat certain without the guard (50 draws from 60 ports).
    monkeypatch.setattr(local, "_ephemeral_range", lambda: (10_060, 60_999))
    monkeypatch.delenv("TRIREME_PORT_RANGE", raising=False)  # make test's workers each have one
    monkeypatch.setattr(local.random, "randrange", lambda lo, hi: rng.randrange(lo, hi))
    monkeypatch.setattr(local, "_handed_out", set())
    ports = [local.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(10_000 <= p < 10_060 for p in ports)
