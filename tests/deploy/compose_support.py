"""Bringing a compose project up for a test module and down again, shared by
the compose tests. They run in CI (``CI=true``) and wherever
``TRIREME_COMPOSE_TEST=1``: they may install and start a Docker engine (root
on Debian), so elsewhere they skip."""

from __future__ import annotations

import atexit
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from deploy.containers import Compose, ContainerError, Engine, build_image, ensure_engine, ensure_local_base

WANTED = os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("TRIREME_COMPOSE_TEST") == "1"
TAG = "trireme:test"
_BUILT: dict[str, str] = {}  # tag -> id of the image this process built from the tree (once per pytest run)


# The engine this process holds, with the lock file that keeps other processes' compose tests
# waiting, until it exits.
_engine: Engine | None = None
_lock: IO[str] | None = None


def _hold() -> Engine:
    global _engine, _lock
    if _engine is None:
        _lock = open(Path(tempfile.gettempdir()) / "trireme-compose-tests.lock", "w")
        fcntl.flock(_lock, fcntl.LOCK_EX)
        atexit.register(_release)
        _engine = ensure_engine()
    return _engine


def _release() -> None:
    """Stop the engine (if this process started it) and let another process have it."""
    global _engine, _lock
    engine, _engine = _engine, None
    if engine is not None:
        engine.stop()
    if _lock is not None:
        fcntl.flock(_lock, fcntl.LOCK_UN)
        _lock.close()
        _lock = None


def running(project: str, settings: Callable[[], dict[str, str]], file: Path | None = None) -> Iterator[Compose]:
    """A fixture's body: the engine, the test image, the project up (after
    clearing an interrupted run's leftovers); down after (the engine stays up
    for the process's next compose module)."""
    with engine_with_image() as engine:
        c = Compose(engine, project=project, settings={"TRIREME_IMAGE": TAG, **settings()},
                    **({"file": file} if file is not None else {}))
        c("down", "-v", "--remove-orphans", check=False)
        try:
            c("up", "-d")
            yield c
        finally:
            c("down", "-v", "--remove-orphans", timeout=120)


@contextmanager
def engine_with_image() -> Iterator[Engine]:
    """The engine (started here if need be, stopped when this process exits)
    with the test image TAG built, held by one pytest process at a time; skips
    where the container tests are not wanted or no engine can start."""
    if not WANTED:
        pytest.skip("the container tests install and start a Docker engine: they run with CI=true "
                    "or TRIREME_COMPOSE_TEST=1 (root on Debian, or a running engine)")
    # One engine for all of a process's compose modules (make test runs them in its serial phase, one
    # process): starting and stopping dockerd for each took 6 s at load 20.
    try:
        engine = _hold()
    except ContainerError as exc:
        _release()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Docker engine could be started: {exc}")
    # The tree does not change during a run: a later module reuses the image an earlier one
    # built (wheels and build took 95 s at load 20-30), unless the tag now names another image.
    if not _BUILT.get(TAG) or _image_id(engine) != _BUILT[TAG]:
        build_image(engine, TAG, os.environ.get("TRIREME_BASE_IMAGE") or ensure_local_base(engine))
        _BUILT[TAG] = _image_id(engine)
    yield engine


def _image_id(engine: Engine) -> str:
    done = engine.docker("image", "inspect", "-f", "{{.Id}}", TAG, check=False, timeout=30)
    return done.stdout.decode().strip() if done.returncode == 0 else ""
