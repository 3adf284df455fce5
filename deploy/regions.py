"""Several regions on one machine: `trireme up --regions us-east-1,eu-west-1`.

Each region is a whole `LocalCluster` in DATA_DIR/REGION/ (its three AZs,
metadata, cluster id, routers and nodes); the regions reach each other only
through the link process (deploy/link.py), which `MultiRegion` starts first:
region R's routers and nodes get `--remote-regions` naming, for every other
region O, the link's port for the pair (R, O). The layout (regions in order,
link ports, the link's pid) is in DATA_DIR/regions.json; the link's own
config and log are in DATA_DIR/link/.

Fixed ports (the defaults; `--port P` and `--node-base-port B` move them),
for region number i in the order given (0, 1, 2 ...):
  router           P + i                 8000, 8001, 8002
  nodes            B + 10*i, +1, +2 ...  7101-7103, 7111-7113, 7121-7123
  nodes' peers     the node's port + 100 7201-7203, 7211-7213, ...
  link pair i->j   P + 100 + 10*i + j    8101 (0->1), 8110 (1->0), ...
  its Raft peers   P + 300 + 10*i + j    8301 (0->1), 8310 (1->0), ... (to j's nodes' peer ports)
  link control     P + 99                8099
Port 0 for both (tests) picks free ports for everything.

With TLS (`cluster_args={"tls": True}`, `trireme up --regions ... --tls`) one
CA in DATA_DIR/tls signs every region's certificates (each region's in
DATA_DIR/REGION/tls, naming its own cluster); the link relays the TLS
streams as bytes, routers call each other over HTTPS and nodes admit the
other regions' nodes' certificates on their peer ports (`--peer-clusters`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.link import DEFAULT_LATENCY_MS, Pair, call, read_config, write_config
from cluster.identity import new_cluster_id
from deploy.local import LayoutConflict, LocalCluster, alive, free_port, wait_exit

LAYOUT = "regions.json"
MAX_REGIONS = 10
NODE_PORT_STEP = 10  # region i's nodes start 10*i above the base: up to 3 nodes per AZ
LINK_PORT_OFFSET = 100
PEER_LINK_PORT_OFFSET = 300
CONTROL_PORT_OFFSET = 99
REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def parse_regions(text: str) -> list[str]:
    """``us-east-1,eu-west-1`` -> the regions in order, checked."""
    regions = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in regions if not REGION_NAME.match(r)]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))} is not a region name (like us-east-1 or eu-west-1)")
    if len(set(regions)) != len(regions):
        raise ValueError("--regions names a region twice")
    if not 2 <= len(regions) <= MAX_REGIONS:
        raise ValueError(f"--regions takes 2 to {MAX_REGIONS} regions (for one region, leave --regions out)")
    return regions


def is_multi_region(data_dir: Path) -> bool:
    return (Path(data_dir) / LAYOUT).exists()


@dataclass
class MultiRegion:
    data_dir: Path
    regions: list[str] = field(default_factory=list)
    router_port: int = 8000  # region i's router: router_port + i (0: free ports for everything)
    node_base_port: int = 7101  # region i's nodes: node_base_port + 10*i ...
    nodes_per_az: int = 1
    latency_ms: float = DEFAULT_LATENCY_MS
    cluster_args: dict[str, Any] = field(default_factory=dict)  # more LocalCluster settings (tests)
    clusters: dict[str, LocalCluster] = field(default_factory=dict)
    control: str = ""  # the link's control endpoint, host:port
    link_pid: int = 0

    @property
    def layout_file(self) -> Path:
        return self.data_dir / LAYOUT

    @property
    def link_config(self) -> Path:
        return self.data_dir / "link" / "link.json"

    @property
    def link_log(self) -> Path:
        return self.data_dir / "link" / "link.log"

    def endpoints(self) -> dict[str, str]:
        return {r: c.endpoint for r, c in self.clusters.items()}

    # --- layout -------------------------------------------------------------

    def plan(self) -> None:
        """Ports and command lines of every region and the link (a saved layout is reused)."""
        self.data_dir = Path(self.data_dir).resolve()
        if self.layout_file.exists():
            saved = json.loads(self.layout_file.read_text())
            if self.regions and self.regions != saved["regions"]:
                raise LayoutConflict(
                    f"--regions {','.join(self.regions)} conflicts with the regions saved in {self.layout_file} "
                    f"({','.join(saved['regions'])}). Leave out --regions to start them as saved, or give a "
                    f"new --data-dir")
            self.regions, self.control, self.link_pid = saved["regions"], saved["control"], saved["link_pid"]
            self.clusters = {r: LocalCluster.load(self.data_dir / r) for r in self.regions}
            return
        if self.nodes_per_az * 3 > NODE_PORT_STEP and self.node_base_port:
            raise LayoutConflict(f"with --regions and fixed node ports a region has at most "
                                 f"{NODE_PORT_STEP // 3} nodes per AZ (or use --node-base-port 0 for free ports)")
        for _ in range(50):  # free ports are picked one by one: until no two processes got the same
            ports = self._plan_new()
            used = [int(a.rpartition(":")[2]) for c in self.clusters.values() for p in c.procs.values()
                    for a in (p.addr, p.peer_addr) if a] + [n for pp in ports.values() for n in pp] + [
                int(self.control.split(":")[1])]
            if len(set(used)) == len(used):
                break
        pairs = []
        for (i, j), (port, peer_port) in ports.items():
            dst = self.regions[j]
            pairs.append(Pair(self.regions[i], dst, port, self._target(dst), self.latency_ms,
                              peer_port=peer_port, peers=self._peers(dst)))
        write_config(self.link_config, self.control, pairs)

    def _plan_new(self) -> dict[tuple[int, int], tuple[int, int]]:
        """Every region's cluster planned; the link's ports (routers, Raft peers) for each pair (i, j)."""
        free = not self.router_port
        n = len(self.regions)
        ports = {(i, j): (free_port(), free_port()) if free else
                 tuple(self.router_port + offset + 10 * i + j for offset in (LINK_PORT_OFFSET, PEER_LINK_PORT_OFFSET))
                 for i in range(n) for j in range(n) if i != j}
        self.control = f"127.0.0.1:{free_port() if free else self.router_port + CONTROL_PORT_OFFSET}"
        self.clusters = {}
        ids = [new_cluster_id() for _ in self.regions]  # each region admits the others' nodes on its peer port
        scheme = "https" if self.cluster_args.get("tls") else "http"
        extra = {"ca_dir": self.data_dir / "tls"} if self.cluster_args.get("tls") else {}
        for i, region in enumerate(self.regions):
            remote = {o: f"{scheme}://127.0.0.1:{ports[i, j][0]}" for j, o in enumerate(self.regions) if j != i}
            remote_peers = {o: f"127.0.0.1:{ports[i, j][1]}" for j, o in enumerate(self.regions) if j != i}
            c = LocalCluster(self.data_dir / region, nodes_per_az=self.nodes_per_az,
                             router_port=self.router_port + i if self.router_port else 0,
                             node_base_port=self.node_base_port + NODE_PORT_STEP * i if self.node_base_port else 0,
                             region=region, remote_regions=remote, cluster_id=ids[i], remote_peers=remote_peers,
                             peer_clusters=[c for c in ids if c != ids[i]], **self.cluster_args, **extra)
            c.plan()
            self.clusters[region] = c
        return ports

    def _target(self, region: str) -> str:
        """Where the link forwards to: the region's (first) router."""
        return self.clusters[region].endpoint.split("://", 1)[1]

    def _peers(self, region: str) -> dict[str, str]:
        """Where the link forwards Raft connections for the region's nodes: their peer ports."""
        return {p.name: p.peer_addr for p in self.clusters[region].procs.values() if p.kind == "node"}

    def apply(self, router_port: int | None = None, node_base_port: int | None = None,
              latency_ms: float | None = None, **changes: Any) -> None:
        """`trireme up` flags on a saved layout (see LocalCluster.apply): a new
        router port moves the link's targets with it, a latency is set on
        every pair."""
        for i, c in enumerate(self.clusters.values()):
            c.apply(router_port=None if router_port is None else router_port + i,
                    node_base_port=None if node_base_port is None else node_base_port + NODE_PORT_STEP * i,
                    **changes)
        control, pairs = read_config(self.link_config)
        for p in pairs:
            p.target, p.peers = self._target(p.dst), self._peers(p.dst) if p.peer_port else p.peers
            p.latency_ms = p.latency_ms if latency_ms is None else latency_ms
        write_config(self.link_config, control, pairs)

    def save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.layout_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"regions": self.regions, "control": self.control, "link_pid": self.link_pid,
                                   "endpoints": self.endpoints()}, indent=2))
        tmp.replace(self.layout_file)

    @classmethod
    def load(cls, data_dir: Path) -> MultiRegion:
        m = cls(Path(data_dir))
        if not m.layout_file.exists():
            raise FileNotFoundError(f"no regions in {data_dir} (start them with `trireme up --regions ...`)")
        m.plan()
        return m

    def cluster(self, region: str) -> LocalCluster:
        if region not in self.clusters:
            raise ValueError(f"no region {region!r} in {self.data_dir}; regions: {', '.join(self.regions)}")
        return self.clusters[region]

    def link_pairs(self) -> list[Pair]:
        return read_config(self.link_config)[1]

    # --- processes ----------------------------------------------------------

    def start(self, wait_s: float = 90.0) -> None:
        """The link, then every region's processes, owned by this process;
        returns once every region serves."""
        if not self.clusters:
            self.plan()
        self.start_link()
        for c in self.clusters.values():
            c.launch()
        deadline = time.monotonic() + wait_s
        for c in self.clusters.values():
            c.wait_ready(max(1.0, deadline - time.monotonic()))
        for c in self.clusters.values():
            if c.auth:  # each region its admin user and DATA_DIR/REGION/credentials
                c.ensure_admin()

    def link_running(self) -> bool:
        if not self.link_pid or not alive(self.link_pid):
            return False
        try:
            with open(f"/proc/{self.link_pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            return False
        return "link" in args and str(self.link_config) in args

    def start_link(self, wait_s: float = 15.0) -> None:
        if self.link_running():
            return
        self.link_log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        level = next(iter(self.clusters.values())).log_level if self.clusters else "INFO"
        argv = [sys.executable, "-m", "client.cli", "link", "--config", str(self.link_config),
                "--parent-pid", str(os.getpid()), "--log-level", level]
        with open(self.link_log, "ab") as logf:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.link_pid = proc.pid
        self.save()
        deadline = time.monotonic() + wait_s
        while True:
            if not alive(proc.pid):
                raise RuntimeError(f"the cross-region link exited during start-up; see {self.link_log}")
            try:
                call(self.control, timeout=1.0)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the cross-region link did not answer on {self.control} "
                                       f"within {wait_s:.0f}s; see {self.link_log}") from None
                time.sleep(0.05)

    def owner_alive(self) -> bool:
        return any(c.owner_alive() for c in self.clusters.values())

    @property
    def owner_pid(self) -> int:
        return next(iter(self.clusters.values())).owner_pid

    def running(self) -> list[str]:
        """REGION/PROCESS of every process running now (and `link`)."""
        out = [f"{r}/{p.name}" for r, c in self.clusters.items() for p in c.procs.values() if c.running(p)]
        return out + (["link"] if self.link_running() else [])

    def kill_region(self, region: str) -> list[str]:
        """SIGKILL every process of a region, as a region-wide outage would; the names killed."""
        c = self.cluster(region)
        killed = [p.name for p in c.procs.values() if c.running(p)]
        for name in killed:
            c.kill(name)
        return killed

    def start_region(self, region: str, wait_s: float = 60.0) -> None:
        """Start every stopped process of a region again; returns once it serves."""
        c = self.cluster(region)
        for name in c.procs:
            c.start_proc(name)
        c.wait_ready(wait_s)

    def stop(self, timeout: float = 10.0) -> None:
        """Every region (see LocalCluster.stop), then the link."""
        for c in self.clusters.values():
            c.stop(timeout)
        if self.link_running():
            os.kill(self.link_pid, signal.SIGTERM)
            if not wait_exit(self.link_pid, timeout):
                os.kill(self.link_pid, signal.SIGKILL)
                wait_exit(self.link_pid, 5.0)
        self.link_pid = 0
        if self.data_dir.exists():
            self.save()
