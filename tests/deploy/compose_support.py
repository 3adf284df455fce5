"""Bringing a compose project up for a test module and down again, shared by
the compose tests. They run in CI (``CI=true``) and wherever
``TRIREME_COMPOSE_TEST=1``: they may install and start a Docker engine (root
on Debian), so elsewhere they skip."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.containers import Compose, ContainerError, build_image, ensure_engine, ensure_local_base

WANTED = os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("TRIREME_COMPOSE_TEST") == "1"
TAG = "trireme:test"


def running(project: str, settings: Callable[[], dict[str, str]], file: Path | None = None) -> Iterator[Compose]:
    """A fixture's body: the engine, the test image, the project up (after
    clearing an interrupted run's leftovers); down and the engine stopped after."""
    if not WANTED:
        pytest.skip("the compose test installs and starts a Docker engine: it runs with CI=true "
                    "or TRIREME_COMPOSE_TEST=1 (root on Debian, or a running engine)")
    try:
        engine = ensure_engine()
    except ContainerError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Docker engine could be started: {exc}")
    try:
        build_image(engine, TAG, os.environ.get("TRIREME_BASE_IMAGE") or ensure_local_base(engine))
        c = Compose(engine, project=project, settings={"TRIREME_IMAGE": TAG, **settings()},
                    **({"file": file} if file is not None else {}))
        c("down", "-v", "--remove-orphans", check=False)
        try:
            c("up", "-d")
            yield c
        finally:
            c("down", "-v", "--remove-orphans", timeout=120)
    finally:
        engine.stop()
