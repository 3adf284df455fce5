"""Bringing a compose project up for a test module and down again, shared by
the compose tests. They run in CI (``CI=true``) and wherever
``TRIREME_COMPOSE_TEST=1``: they may install and start a Docker engine (root
on Debian), so elsewhere they skip."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.containers import Compose, ContainerError, Engine, build_image, ensure_engine, ensure_local_base

WANTED = os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("TRIREME_COMPOSE_TEST") == "1"
TAG = "trireme:test"
_BUILT: dict[str, str] = {}  # tag -> id of the image this process built from the tree (once per pytest run)


@contextmanager
def _one_at_a_time() -> Iterator[None]:
    """The compose tests share one Docker engine, which each starts and stops:
    under pytest-xdist (make test runs two workers) they take turns."""
    with open(Path(tempfile.gettempdir()) / "trireme-compose-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def running(project: str, settings: Callable[[], dict[str, str]], file: Path | None = None) -> Iterator[Compose]:
    """A fixture's body: the engine, the test image, the project up (after
    clearing an interrupted run's leftovers); down and the engine stopped after."""
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
    """The engine (started here if need be, stopped after) with the test
    image TAG built, held by one test module at a time; skips where the
    container tests are not wanted or no engine can start."""
    if not WANTED:
        pytest.skip("the container tests install and start a Docker engine: they run with CI=true "
                    "or TRIREME_COMPOSE_TEST=1 (root on Debian, or a running engine)")
    with _one_at_a_time():
        try:
            engine = ensure_engine()
        except ContainerError as exc:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"no Docker engine could be started: {exc}")
        try:
            # The tree does not change during a run: a later module reuses the image an earlier one
            # built (wheels and build took 95 s at load 20-30), unless the tag now names another image.
            if not _BUILT.get(TAG) or _image_id(engine) != _BUILT[TAG]:
                build_image(engine, TAG, os.environ.get("TRIREME_BASE_IMAGE") or ensure_local_base(engine))
                _BUILT[TAG] = _image_id(engine)
            yield engine
        finally:
            engine.stop()


def _image_id(engine: Engine) -> str:
    done = engine.docker("image", "inspect", "-f", "{{.Id}}", TAG, check=False, timeout=30)
    return done.stdout.decode().strip() if done.returncode == 0 else ""
