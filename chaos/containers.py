"""Faults against the compose cluster, with the same commands as the local
one: `docker kill` / `start` / `stop` / `pause` / `unpause` for processes,
and kernel-level partitions (iptables DROP rules between container addresses
in the DOCKER-USER chain, so packets are lost on the wire rather than by the
node's own code). `disconnect` takes a container off the network entirely.
Latency, loss and clock skew go through the nodes' fault layer as on the
local cluster. Every rule carries the comment RULE_TAG so `heal` removes
exactly ours. `ComposeRegionChaos`: the two regions of
deploy/docker-compose.regions.yml, through their link container.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from chaos.faults import Chaos, Event, RegionChaos
from cluster.rpc import Channels, call_once
from deploy.containers import CACHE, COMPOSE_REGIONS, REGIONS_COMPOSE_FILE, Compose, ensure_engine
from deploy.local import post, read_credentials

RULE_TAG = "trireme-chaos"
CHAIN = "DOCKER-USER"


class ComposeChaos(Chaos):
    """The nemesis of a cluster started from deploy/docker-compose.yml."""

    def __init__(self, compose: Compose) -> None:
        self.compose = compose
        self.cluster_id = compose.cluster_id
        net = compose.settings.get("TRIREME_NET", "10.213.7")
        self.seeds = [f"{net}.{i}:7101" for i in (11, 12, 13)]
        self.endpoint = f"http://127.0.0.1:{compose.settings.get('TRIREME_PORT', '8000')}"
        self.log_path = CACHE / f"chaos-{compose.project}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._nodes: dict[str, tuple[str, str]] | None = None

    def nodes(self) -> dict[str, tuple[str, str]]:
        if self._nodes is None:
            meta = asyncio.run(_meta(self.seeds))
            self._nodes = {n: (v["addr"], v["az"]) for n, v in meta["nodes"].items()}
        return self._nodes

    def routers(self) -> dict[str, str]:
        return {"router": self.endpoint} if self.process_state("router") == "up" else {}

    def credentials(self) -> tuple[str, str] | None:
        """The admin user's keys the `admin` service wrote (None with TRIREME_AUTH=off)."""
        if not self.compose.auth:
            return None
        keys = read_credentials(self.compose.credentials_file)
        if keys is None:
            raise RuntimeError(f"no admin keys in {self.compose.credentials_file} yet (the compose cluster enforces "
                               "auth; see `docker compose logs admin`, or set TRIREME_AUTH=off for open mode)")
        return keys

    def admin_endpoints(self) -> dict[str, str]:
        port = self.compose.settings.get("TRIREME_ADMIN_PORT", "8100")
        return {name: f"http://127.0.0.1:{port}" for name in self.routers()}

    def _container(self, name: str) -> str:
        return f"{self.compose.project}-{name}-1"

    def _docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self.compose.engine.docker(*args, timeout=120, check=check)

    def process_state(self, name: str) -> str:
        r = self._docker("inspect", "-f", "{{.State.Status}}", self._container(name), check=False)
        status = r.stdout.decode().strip()
        return {"running": "up", "paused": "paused"}.get(status, "down")

    def _kill(self, name: str) -> None:
        self._docker("kill", self._container(name))

    def _start(self, name: str) -> None:
        if self.process_state(name) == "down":
            self._docker("start", self._container(name))

    def _stop(self, name: str) -> None:
        self._docker("stop", "-t", "10", self._container(name))

    def _pause(self, name: str) -> None:
        self._docker("pause", self._container(name))

    def _resume(self, name: str) -> None:
        self._docker("unpause", self._container(name))

    # --- the network, in the kernel -------------------------------------------

    def _ip(self, name: str) -> str:
        return self.nodes()[name][0].rsplit(":", 1)[0]

    def _block(self, pairs: list[tuple[str, str]]) -> None:
        for frm, to in pairs:
            _iptables("-I", CHAIN, "-s", self._ip(frm), "-d", self._ip(to), "-j", "DROP",
                      "-m", "comment", "--comment", RULE_TAG)

    def _unblock_all(self) -> None:
        rules = _iptables("-S", CHAIN).stdout.decode().splitlines()
        for rule in rules:
            if RULE_TAG in rule and rule.startswith("-A "):
                _iptables("-D", *rule.split()[1:])
        for name in self.nodes():
            if self._network_of(name) is None:
                self._reconnect(name)

    def blocked(self) -> list[str]:
        """Our DROP rules, as 'source -> destination' lines."""
        out = []
        ips = {self._ip(n): n for n in self.nodes()}
        for rule in _iptables("-S", CHAIN).stdout.decode().splitlines():
            if RULE_TAG in rule:
                words = rule.split()
                src, dst = words[words.index("-s") + 1], words[words.index("-d") + 1]
                out.append(f"{ips.get(src.split('/')[0], src)} -> {ips.get(dst.split('/')[0], dst)}")
        return out

    def _network(self) -> str:
        return f"{self.compose.project}_cluster"

    def _network_of(self, name: str) -> str | None:
        r = self._docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                         self._container(name), check=False)
        nets = r.stdout.decode().split()
        return self._network() if self._network() in nets else None

    def disconnect(self, name: str) -> Event:
        """Take the node's container off the cluster network (nothing in, nothing out)."""
        self._node(name)
        self._docker("network", "disconnect", self._network(), self._container(name))
        return self._record("disconnect", name)

    def _reconnect(self, name: str) -> None:
        self._docker("network", "connect", "--ip", self._ip(name), "--alias", name, self._network(),
                     self._container(name))


def _iptables(*args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["iptables", "-w", "5", *args], check=True, capture_output=True, timeout=30)
    except FileNotFoundError as exc:
        raise RuntimeError("kernel-level partitions need iptables (apt-get install iptables) and root") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"iptables {' '.join(args)}: {exc.stderr.decode().strip()}") from exc


async def _meta(seeds: list[str]) -> dict:
    ch = Channels()
    try:
        for addr in seeds:
            try:
                meta = await call_once(ch, addr, "admin", "meta", timeout=3.0)
            except Exception:  # noqa: BLE001 (down, paused or cut off: ask the next)
                continue
            if meta:
                return meta
        raise RuntimeError(f"no node of the compose cluster answered ({', '.join(seeds)}): is it up?")
    finally:
        await ch.close()


def reach_compose(prog: str) -> ComposeChaos | None:
    """The running compose cluster, or None after telling the user what to do."""
    try:
        chaos = load_compose()
        chaos.nodes()
        return chaos
    except Exception as exc:  # noqa: BLE001 (no engine, no cluster)
        print(f"{prog}: cannot reach the compose cluster ({exc}); start it with `make compose-up`", file=sys.stderr)
        return None


def load_compose(project: str = "trireme", settings: dict[str, str] | None = None) -> ComposeChaos:
    """The compose cluster `make compose-up` started (settings from TRIREME_* in the environment)."""
    engine = ensure_engine(install=False)
    env = {k: v for k, v in os.environ.items() if k.startswith("TRIREME_")}
    return ComposeChaos(Compose(engine, project=project, settings={**env, **(settings or {})}))



class ComposeRegionChaos(RegionChaos):
    """The regions of deploy/docker-compose.regions.yml: the link container's
    control endpoint (published on the host) and `docker compose kill` /
    `start` of every container of a region."""

    def __init__(self, compose: Compose) -> None:
        self.compose = compose
        self.control = f"127.0.0.1:{compose.settings.get('TRIREME_LINK_PORT', '8099')}"
        self.log_path = CACHE / f"chaos-{compose.project}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def region_names(self) -> list[str]:
        return list(COMPOSE_REGIONS)

    def _not_answering(self) -> str:
        return "start the regions with `python -m deploy.containers compose --regions up -d`"

    def _services(self, region: str) -> list[str]:
        prefix = COMPOSE_REGIONS[region][0]
        return [f"{prefix}-n1", f"{prefix}-n2", f"{prefix}-n3", f"{prefix}-router"]

    def _kill_region(self, region: str) -> list[str]:
        self.compose("kill", *self._services(region))
        return self._services(region)

    def _start_region(self, region: str, wait_s: float) -> None:
        self.compose("start", *self._services(region))
        _, setting, default = COMPOSE_REGIONS[region]
        endpoint = f"http://127.0.0.1:{self.compose.settings.get(setting, default)}"
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if post(endpoint, "ListTables", {}, timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{region} did not serve on {endpoint} within {wait_s:.0f}s after its start")
            time.sleep(0.5)


def reach_compose_regions(prog: str) -> ComposeRegionChaos | None:
    """The running regions compose deployment (settings from TRIREME_* in the
    environment), or None after telling the user what to do."""
    try:
        env = {k: v for k, v in os.environ.items() if k.startswith("TRIREME_")}
        chaos = ComposeRegionChaos(Compose(ensure_engine(install=False), project="trireme-regions",
                                           file=REGIONS_COMPOSE_FILE, settings=env))
        chaos.link_state()
        return chaos
    except Exception as exc:  # noqa: BLE001 (no engine, no regions)
        print(f"{prog}: cannot reach the compose regions ({exc})", file=sys.stderr)
        return None
