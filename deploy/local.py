"""The local cluster: storage nodes and routers as child processes on loopback.

`LocalCluster` is what `trireme up` runs and what the integration tests start.
Its layout is written to `DATA_DIR/cluster.json` so that other commands
(`trireme kill`, `trireme start`, `trireme status`, `trireme stop`) find the
processes. It also holds the cluster's id (stated on every connection, see
cluster/identity.py) and the pid of the owner (`trireme up`, or a test): every
node and router watches it and stops when it is gone (cluster/lifetime.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cluster import tls
from cluster.identity import new_cluster_id
from cluster.kms import MasterKeys
from cluster.lifetime import start_time
from cluster.regions import DEFAULT_REGION, azs_of, format_remote_peers, format_remote_regions
from router.workers import listen_socket

PROFILE = "trireme"  # the credentials file's profile (AWS_PROFILE=trireme)
ADMIN_USER = "admin"
PEER_PORT_OFFSET = 100  # a node's peer (Raft) port is its gRPC port + this, with a fixed --node-base-port
METRICS_PORT_OFFSET = 2000  # and its Prometheus port (--metrics-listen) its gRPC port + this (9101-)
SUPERVISE_S = 0.2  # how often `trireme up` looks for a router worker that died
RESTART_DELAY_S = (0.2, 5.0)  # and starts it again after this, doubling while it keeps dying at once


_handed_out: set[int] = set()  # the ports free_port gave this process


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, below the kernel's ephemeral range: the ports of
    outgoing connections and of the nodes' own frame listeners come from
    that range and could take it before the process that is told to use it
    binds it (then it fails to start: no listener shares a port). Never the
    same port twice in one process: a plan asks for dozens before any of its
    processes binds one, and a repeat would collide with itself.
    TRIREME_PORT_RANGE=LO-HI narrows the choice (make test gives each of its
    parallel workers a range of its own: two workers' plans could pick the
    same free port before either bound it)."""
    lo, hi = _port_range()
    for _ in range(100):
        port = random.randrange(lo, hi)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def default_port_range() -> tuple[int, int]:
    """Where free_port picks without TRIREME_PORT_RANGE: 10000 up to the ephemeral range."""
    return 10_000, max(_ephemeral_range()[0], 10_001)


def _port_range() -> tuple[int, int]:
    """Where free_port picks: TRIREME_PORT_RANGE, else `default_port_range`."""
    spec = os.environ.get("TRIREME_PORT_RANGE", "")
    if spec:
        a, _, b = spec.partition("-")
        return int(a), int(b)
    return default_port_range()


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


class LayoutConflict(ValueError):
    """A flag of `trireme up` contradicts the saved cluster; the message says what to do."""


@dataclass
class Proc:
    name: str
    kind: str  # node | router
    az: str
    addr: str  # host:port it serves (gRPC for a node, HTTP for a router)
    argv: list[str]
    log: str
    pid: int = 0
    peer_addr: str = ""  # a node's Raft port (--peer-listen)
    metrics_addr: str = ""  # a node's Prometheus port (--metrics-listen); a router's is its addr
    admin_addr: str = ""  # a router's admin endpoint (--admin-listen: TriremeAdmin_1, fault injection, GET /metrics)
    shared: bool = False  # a router worker: accepts on the DynamoDB port's socket, which its `trireme up` holds


@dataclass
class LocalCluster:
    data_dir: Path
    nodes_per_az: int = 1
    router_port: int = 8000
    node_base_port: int = 7101  # 0: pick free ports
    host: str = "127.0.0.1"
    routers: int = 1  # each on its own port, from router_port
    router_workers: int = 1  # more than 1: that many routers share router_port's socket (router/workers.py)
    dead_after_s: float = 30.0
    partitions_per_table: int = 1  # (node/config.py says why)
    router_deadline_s: float = 8.0
    log_level: str = "INFO"
    access_log: bool = False  # routers log one line per request
    log_format: str = "text"  # or "json": one JSON object per line (cluster/logs.py)
    extra_env: dict[str, str] = field(default_factory=dict)
    region: str = DEFAULT_REGION
    remote_regions: dict[str, str] = field(default_factory=dict)  # other regions' routers, via the link
    remote_peers: dict[str, str] = field(default_factory=dict)  # the link's peer port per other region (nodes)
    peer_clusters: list[str] = field(default_factory=list)  # other regions' cluster ids, admitted by the nodes
    procs: dict[str, Proc] = field(default_factory=dict)
    key_file: str = ""  # the master key file (cluster/kms.py); "": DATA_DIR/kms/master.key, made at launch
    cluster_id: str = ""  # made by plan() when the cluster is founded
    owner_pid: int = 0  # the process its nodes and routers live no longer than
    owner_started: int = 0  # and its start time (a pid may be reused)
    tls: bool = False  # HTTPS routers, mutual TLS between nodes and routers (cluster/tls.py)
    ca_dir: Path | None = None  # where the CA is (made if missing): default DATA_DIR/tls
    auth: bool = False  # routers enforce signatures and users (`trireme up --auth`); else open mode
    # The router workers' shared socket and their supervision (in the owner only: `start`).
    _listener: socket.socket | None = field(default=None, init=False, repr=False, compare=False)
    _halt: threading.Event = field(default_factory=threading.Event, init=False, repr=False, compare=False)
    _supervisor: threading.Thread | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)

    # --- layout -----------------------------------------------------------

    @property
    def layout_file(self) -> Path:
        return self.data_dir / "cluster.json"

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.router_port}"

    @property
    def tls_dir(self) -> Path:
        """The cluster's certificates: ca.pem, NAME.pem and NAME.key per process, admin.pem for tools."""
        return self.data_dir / tls.DIR

    @property
    def ca_file(self) -> Path | None:
        """The CA to trust the routers' HTTPS with (AWS_CA_BUNDLE, boto3's verify=); None without TLS."""
        return self.tls_dir / "ca.pem" if self.tls else None

    def url(self, p: Proc) -> str:
        """A router's URL (https with TLS)."""
        return f"{'https' if self.tls else 'http'}://{p.addr}"

    def _issue(self, name: str, role: str) -> None:
        """`name`'s certificate, valid for the cluster's host and the name
        (the compose deployment's host names: n1, n2, ..., router)."""
        ca = tls.Authority.ensure(Path(self.ca_dir) if self.ca_dir else self.tls_dir)
        hosts = [self.host, name] + (["router"] if role == "router" else [])
        ca.issue_files(self.tls_dir, tls.Member(self.cluster_id, role, name), hosts)

    def _trust(self) -> None:
        """Let this process reach the cluster: its admin certificate for the
        nodes, its CA for the routers (cluster/tls.py)."""
        if self.tls:
            tls.use(tls.Identity.in_dir(self.tls_dir, "admin"))
            for p in self.procs.values():
                if p.kind == "router":
                    tls.trust(self.url(p), self.tls_dir / "ca.pem")
                    if p.admin_addr:
                        tls.trust(self.admin_endpoint(p.name), self.tls_dir / "ca.pem")

    def admin_endpoint(self, router: str = "router1") -> str:
        """A router's admin endpoint (TriremeAdmin_1: fault injection, usage)."""
        return f"{'https' if self.tls else 'http'}://{self.procs[router].admin_addr}"

    @property
    def master_key_file(self) -> Path:
        return Path(self.key_file) if self.key_file else Path(self.data_dir) / "kms" / "master.key"

    @property
    def credentials_file(self) -> Path:
        """The admin user's keys as an AWS shared credentials file (profile `trireme`), with --auth."""
        return Path(self.data_dir) / "credentials"

    def credentials(self) -> tuple[str, str] | None:
        """What the `trireme` CLI signs its calls to routers with: None in open
        mode; else the admin's keys (the credentials file), or before they
        exist the cluster's internal credential (derived from the master key)."""
        if not self.auth:
            return None
        return read_credentials(self.credentials_file) or MasterKeys.load(self.master_key_file).internal_credential()

    def node_ids(self) -> list[str]:
        return [p.name for p in self.procs.values() if p.kind == "node"]

    def plan(self) -> None:
        """Decide names, ports and command lines (reusing a saved layout)."""
        self.data_dir = Path(self.data_dir).resolve()
        if self.layout_file.exists():
            saved = json.loads(self.layout_file.read_text())
            self.procs = {name: Proc(**p) for name, p in saved["procs"].items()}
            self.owner_pid = saved.get("owner_pid", 0)
            self.owner_started = saved.get("owner_started", 0)
            self.log_level = saved.get("log_level", self.log_level)
            self.access_log = saved.get("access_log", self.access_log)
            self.log_format = saved.get("log_format", self.log_format)
            self.cluster_id = saved.get("cluster_id", "")
            self.region = saved.get("region", self.region)
            self.remote_regions = saved.get("remote_regions", self.remote_regions)
            self.tls = saved.get("tls", False)
            self.auth = saved.get("auth", self.auth)
            self.key_file = saved.get("key_file", self.key_file)
            if not self.cluster_id:  # saved before clusters had ids: the nodes adopt this one
                self.cluster_id = new_cluster_id()
                for p in self.procs.values():
                    p.argv += ["--cluster-id", self.cluster_id]
            routers = [p for p in self.procs.values() if p.kind == "router"]
            if routers:
                self.router_port = int(routers[0].addr.rsplit(":", 1)[1])
            shared = sum(p.shared for p in routers)
            self.router_workers, self.routers = (shared, 1) if shared else (1, len(routers))
            self.nodes_per_az = len(self.node_ids()) // 3
            self.node_base_port = int(self.procs["n1"].addr.rsplit(":", 1)[1]) if "n1" in self.procs else 0
            for p in self.procs.values():
                if p.kind == "router" and not p.admin_addr:  # saved before routers had admin endpoints
                    p.admin_addr = f"{self.host}:{free_port(self.host)}"
                if p.kind == "node" and "--peer-listen" not in p.argv:  # saved before nodes had peer ports
                    host, _, port = p.addr.rpartition(":")
                    p.peer_addr = f"{host}:{int(port) + PEER_PORT_OFFSET}"
                    p.argv += ["--peer-listen", p.peer_addr]
            self._trust()
            return
        self.cluster_id = self.cluster_id or new_cluster_id()
        count = 3 * self.nodes_per_az
        azs = azs_of(self.region)
        regional = ["--region", self.region] + (
            ["--remote-regions", format_remote_regions(self.remote_regions)] if self.remote_regions else [])
        nodes = []
        for i in range(1, count + 1):
            port = self.node_base_port + i - 1 if self.node_base_port else free_port(self.host)
            nodes.append((f"n{i}", azs[(i - 1) % 3], f"{self.host}:{port}"))
        taken = {int(addr.rpartition(":")[2]) for _, _, addr in nodes}

        def ports_at(offset: int) -> dict[str, str]:
            """Each node's address at its gRPC port + ``offset`` (free ports with no base port)."""
            out = {}
            for name, _, addr in nodes:
                port = int(addr.rpartition(":")[2]) + offset if self.node_base_port else 0
                while not port or port in taken:
                    port = free_port(self.host)
                taken.add(port)
                out[name] = f"{self.host}:{port}"
            return out
        peers, metrics = ports_at(PEER_PORT_OFFSET), ports_at(METRICS_PORT_OFFSET)
        founders = nodes[:3]
        initial = ",".join(f"{n}={addr}@{az}" for n, az, addr in founders)
        seeds = ",".join(addr for _, _, addr in founders)
        py = [sys.executable, "-m", "client.cli"]
        for name, az, addr in nodes:
            peer_addr = peers[name]
            argv = py + ["node", "--id", name, "--az", az, "--listen", addr, "--peer-listen", peer_addr,
                         "--metrics-listen", metrics[name], "--cluster-id", self.cluster_id,
                         "--data-dir", str(self.data_dir / name), "--dead-after", str(self.dead_after_s),
                         "--partitions-per-table", str(self.partitions_per_table)] + regional
            if self.remote_peers:
                argv += ["--remote-peers", format_remote_peers(self.remote_peers),
                         "--peer-clusters", ",".join(self.peer_clusters)]
            argv += ["--initial-cluster", initial] if (name, az, addr) in founders else ["--join", seeds]
            if self.tls:
                self._issue(name, "node")
                argv += ["--tls-dir", str(self.tls_dir)]
            self.procs[name] = Proc(name, "node", az, addr, argv, str(self.data_dir / name / "node.log"),
                                    peer_addr=peer_addr, metrics_addr=metrics[name])
        self._plan_routers(py + ["router", "--seeds", seeds, "--cluster-id", self.cluster_id,
                                 "--deadline", str(self.router_deadline_s)] + regional)
        if self.tls:
            self._issue("admin", "admin")
            self._trust()

    def _plan_routers(self, base: list[str]) -> None:
        """Routers router1, router2, ... from `base` (their command line but
        --listen, --az and TLS files): `routers` of them on ports from
        router_port, or `router_workers` on router_port, sharing its socket."""
        workers = self.router_workers > 1
        if workers and self.routers > 1:
            raise ValueError(f"router workers share one port: {self.router_workers} workers go with one router "
                             f"port, not {self.routers}")
        azs = azs_of(self.region)
        for i in range(self.router_workers if workers else self.routers):
            port = (self.router_port + (0 if workers else i)) if self.router_port else free_port(self.host)
            if i == 0:
                self.router_port = port
            az, name, addr = azs[i % 3], f"router{i + 1}", f"{self.host}:{port}"
            argv = base + ["--listen", addr, "--az", az]
            if self.tls:
                self._issue(name, "router")
                mine = tls.Identity.in_dir(self.tls_dir, name)
                argv += ["--tls-cert", str(mine.cert_file), "--tls-key", str(mine.key_file),
                         "--tls-ca", str(mine.ca_file)]
            self.procs[name] = Proc(name, "router", az, addr, argv, str(self.data_dir / f"{name}.log"),
                                    admin_addr=f"{self.host}:{free_port(self.host)}", shared=workers)

    def add_node(self, az: str) -> Proc:
        """Plan one more storage node in ``az`` (`trireme node add`): the next
        name, free ports, the founders' command line with ``--join`` instead of
        ``--initial-cluster``; saved, not started."""
        if az not in azs_of(self.region):
            raise ValueError(f"no AZ {az!r} in region {self.region}: one of {', '.join(azs_of(self.region))}")
        nodes = [p for p in self.procs.values() if p.kind == "node"]
        name = f"n{1 + max(int(p.name[1:]) for p in nodes)}"
        taken = {int(a.rpartition(":")[2]) for p in nodes for a in (p.addr, p.peer_addr, p.metrics_addr) if a}
        ports = []
        while len(ports) < 3:
            port = free_port(self.host)
            if port not in taken:
                taken.add(port)
                ports.append(port)
        addr, peer_addr, metrics_addr = (f"{self.host}:{p}" for p in ports)
        argv = list(self.procs["n1"].argv)
        for flag, value in (("--id", name), ("--az", az), ("--listen", addr), ("--peer-listen", peer_addr),
                            ("--metrics-listen", metrics_addr), ("--data-dir", str(self.data_dir / name))):
            if flag in argv:  # (a layout saved before nodes had metrics ports has none)
                argv[argv.index(flag) + 1] = value
        if "--metrics-listen" not in argv:
            metrics_addr = ""
        if "--initial-cluster" in argv:
            at = argv.index("--initial-cluster")
            seeds = ",".join(p.addr for p in nodes[:3])
            argv[at:at + 2] = ["--join", seeds]
        if self.tls:
            self._issue(name, "node")
        self.procs[name] = Proc(name, "node", az, addr, argv, str(self.data_dir / name / "node.log"),
                                peer_addr=peer_addr, metrics_addr=metrics_addr)
        self.save()
        return self.procs[name]

    def forget(self, name: str) -> None:
        """Drop a stopped process from the layout (`trireme node remove`)."""
        del self.procs[name]
        self.save()

    def apply(self, router_port: int | None = None, node_base_port: int | None = None,
              nodes_per_az: int | None = None, dead_after_s: float | None = None,
              router_workers: int | None = None) -> None:
        """Flags given to `trireme up` on a saved layout: the router port,
        --router-workers and --dead-after are applied (routers keep no
        state); node ports and counts are part of the cluster's metadata, so
        a change is refused (LayoutConflict)."""
        where = self.layout_file
        if node_base_port is not None and node_base_port != self.node_base_port:
            raise LayoutConflict(
                f"--node-base-port {node_base_port} conflicts with the cluster saved in {where} (its nodes "
                f"listen from port {self.node_base_port}; node addresses are part of the cluster's metadata). "
                f"Leave out --node-base-port to start it as saved, or give a new --data-dir for a new cluster")
        if nodes_per_az is not None and nodes_per_az != self.nodes_per_az:
            raise LayoutConflict(
                f"--nodes-per-az {nodes_per_az} conflicts with the cluster saved in {where} (it has "
                f"{self.nodes_per_az} node(s) per AZ). Leave out --nodes-per-az to start it as saved, "
                f"or give a new --data-dir for a new cluster")
        for p in self.procs.values():
            if router_port is not None and p.kind == "router":
                offset = 0 if p.shared else int(p.name.removeprefix('router')) - 1  # workers share one port
                addr = f"{self.host}:{router_port + offset}"
                p.argv[p.argv.index(p.addr)] = p.addr = addr
            if dead_after_s is not None and p.kind == "node":
                p.argv[p.argv.index("--dead-after") + 1] = str(dead_after_s)
        if router_port is not None:
            self.router_port = router_port
        if dead_after_s is not None:
            self.dead_after_s = dead_after_s
        if router_workers is not None and router_workers != self.router_workers:
            routers = [p for p in self.procs.values() if p.kind == "router"]
            if not routers:
                return
            base, skip = [], 0
            for i, arg in enumerate(routers[0].argv):  # router1's command line but what is each router's own
                if skip:
                    skip -= 1
                elif arg in ("--listen", "--az", "--tls-cert", "--tls-key", "--tls-ca"):
                    skip = 1
                else:
                    base.append(arg)
            for p in routers:
                del self.procs[p.name]
            self.router_workers, self.routers = router_workers, 1
            self._plan_routers(base)
            self._trust()

    def save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.layout_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"region": self.region, "remote_regions": self.remote_regions,
                                   "endpoint": self.endpoint, "cluster_id": self.cluster_id,
                                   "owner_pid": self.owner_pid, "owner_started": self.owner_started,
                                   "log_level": self.log_level, "access_log": self.access_log, "tls": self.tls,
                                   "log_format": self.log_format, "auth": self.auth, "key_file": self.key_file,
                                   "procs": {n: asdict(p) for n, p in self.procs.items()}}, indent=2))
        tmp.replace(self.layout_file)

    @classmethod
    def load(cls, data_dir: Path) -> LocalCluster:
        c = cls(Path(data_dir))
        if not c.layout_file.exists():
            raise FileNotFoundError(f"no cluster in {data_dir} (start one with `trireme up`)")
        c.plan()
        return c

    # --- processes ------------------------------------------------------------

    def start(self, wait_s: float = 60.0) -> None:
        """Start every process, owned by this one (they stop when it ends);
        with --auth, make sure the admin user and its credentials file exist."""
        self.launch()
        self.wait_ready(wait_s)
        if self.auth:
            self.ensure_admin()
        if self._listener is not None:
            self._supervisor = threading.Thread(target=self._supervise, name="router-workers", daemon=True)
            self._supervisor.start()

    def _supervise(self) -> None:
        """Start again a router worker that exited (only this process holds
        their socket): at once, then after a pause doubling up to 5 s while
        it keeps exiting within a few seconds. The port serves meanwhile:
        the other workers accept on it."""
        delay: dict[str, float] = {}
        due: dict[str, float] = {}
        started: dict[str, float] = {}
        while not self._halt.wait(SUPERVISE_S):
            with self._lock:
                for p in [p for p in self.procs.values() if p.shared]:
                    if self._halt.is_set():
                        return
                    if self.running(p):
                        continue
                    now = time.monotonic()
                    if p.name not in due:
                        quick = now - started.get(p.name, -1e9) < 10.0
                        delay[p.name] = min(max(delay.get(p.name, 0.0), RESTART_DELAY_S[0] / 2) * 2,
                                            RESTART_DELAY_S[1]) if quick else 0.0
                        due[p.name] = now + delay[p.name]
                        _note(p.log, f"trireme up: {p.name} (pid {p.pid}) exited; starting it again"
                                     f"{f' in {delay[p.name]:.1f} s' if delay[p.name] else ''}")
                    if now >= due[p.name]:
                        del due[p.name]
                        started[p.name] = now
                        try:
                            self.start_proc(p.name)
                        except OSError as exc:
                            _note(p.log, f"trireme up: cannot start {p.name}: {exc}")

    def halt_supervision(self) -> None:
        """No more restarts of router workers (the cluster is stopping)."""
        self._halt.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(10.0)

    def ensure_admin(self) -> None:
        """The admin user (`admin`, every permission) and its keys in
        DATA_DIR/credentials (mode 0600), made once per cluster."""
        if self.credentials_file.exists():
            return
        import asyncio
        made = asyncio.run(admin_key([p.addr for p in self.procs.values() if p.kind == "node"], self.cluster_id))
        if not made.get("ok"):
            raise RuntimeError(f"cannot create the admin user's keys: {made.get('message')}")
        key = (made["key"]["AccessKeyId"], made["key"]["SecretAccessKey"])
        self._wait_known(key)
        write_credentials(self.credentials_file, *key, self.region)

    def _wait_known(self, key: tuple[str, str], timeout: float = 30.0) -> None:
        """Until every router accepts `key`: a router learns of users from the
        metadata it watches, a moment after the meta leader made them (IAM's
        keys likewise take a moment to work everywhere); the credentials file
        appears only once they do."""
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            if p.kind != "router":
                continue
            status, body = 0, b""
            while time.monotonic() < deadline:
                try:
                    status, body = self._probe(p, key)
                except OSError as exc:
                    body = str(exc).encode()
                if status == 200:
                    break
                time.sleep(0.1)
            else:
                raise TimeoutError(f"{p.name} did not accept the admin user's key within {timeout:.0f}s "
                                   f"(last: {body.decode(errors='replace')}); see {p.log}")

    def launch(self) -> None:
        """Start every process without waiting for them (`deploy.regions`
        launches every region's, then waits)."""
        if not self.procs:
            self.plan()
        self.owner_pid, self.owner_started = os.getpid(), start_time(os.getpid()) or 0
        self.data_dir.mkdir(parents=True, exist_ok=True)
        MasterKeys.create(self.master_key_file)  # outside every node's data directory
        if any(p.shared for p in self.procs.values()) and self._listener is None:
            try:
                self._listener = listen_socket(self.host, self.router_port)
            except OSError as exc:
                raise RuntimeError(f"cannot listen on {self.host}:{self.router_port}: {exc.strerror or exc}; "
                                   "choose another port with --port") from None
        for name in self.procs:
            self.start_proc(name)

    def start_proc(self, name: str) -> Proc:
        p = self.procs[name]
        if self.running(p):
            return p
        shared: tuple[int, ...] = ()
        if p.shared:  # a router worker: accepts on the socket this process holds
            if self._listener is None:  # held by `trireme up` only, which starts the worker again itself
                return self._restarted(p)
            shared = (self._listener.fileno(),)
        Path(p.log).parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.extra_env)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        if self.tls:  # the handlers of functions and event source mappings call the HTTPS endpoint
            env["AWS_CA_BUNDLE"] = str(self.ca_file)
        argv = p.argv + ["--log-level", self.log_level, "--log-format", self.log_format] + (
            ["--parent-pid", str(self.owner_pid)] if self.owner_pid else []) + (
            ["--access-log"] if self.access_log and p.kind == "router" else []) + (
            ["--functions-dir", str(self.data_dir / p.name / "functions"),
             "--exports-dir", str(self.data_dir / "exports"), "--admin-listen", p.admin_addr] if p.kind == "router" else
            ["--router-endpoint", self.endpoint]) + (  # event source mappings' handlers reach the cluster there
            ["--key-file", str(self.master_key_file)]) + (["--auth"] if self.auth and p.kind == "router" else []) + (
            ["--listen-fd", str(shared[0])] if shared else [])
        with open(p.log, "ab") as logf:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True, pass_fds=shared)
        p.pid = proc.pid
        self.save()
        return p

    def _restarted(self, p: Proc, timeout: float = 15.0) -> Proc:
        """A router worker, once its `trireme up` started it again (`trireme
        start`, chaos restart: only `up` holds the DynamoDB port's socket)."""
        deadline = time.monotonic() + timeout
        while not self.running(p):
            if time.monotonic() >= deadline or not self.owner_alive():
                raise RuntimeError(f"{p.name} is a router worker, which its `trireme up` (pid {self.owner_pid}) "
                                   f"starts again by itself, but it has not within {timeout:.0f} s; see {p.log}")
            time.sleep(0.1)
            try:
                p.pid = json.loads(self.layout_file.read_text())["procs"][p.name]["pid"]
            except (OSError, ValueError, KeyError):
                pass
        return p

    def owner_alive(self) -> bool:
        """Whether the process that started the cluster (`trireme up`) still runs."""
        return bool(self.owner_pid) and start_time(self.owner_pid) == self.owner_started

    def running(self, p: Proc) -> bool:
        """Whether `p.pid` is alive and still this process (not a reused pid)."""
        return bool(p.pid) and alive(p.pid) and ours(p.pid, p.addr, self.cluster_id)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[name]
        if self.running(p):
            os.kill(p.pid, sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                wait_exit(p.pid, 10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM everything, then SIGKILL what is left after `timeout`."""
        self.halt_supervision()
        with self._lock:
            self._stop(timeout)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _stop(self, timeout: float) -> None:
        if self.layout_file.exists():
            # Another command (`trireme start`, `trireme chaos restart`) may have
            # started a process since: stop the one running now.
            saved = json.loads(self.layout_file.read_text())["procs"]
            for name, raw in saved.items():
                if name not in self.procs:  # added since (`trireme node add`): it is the cluster's too
                    self.procs[name] = Proc(**raw)
            for name, p in self.procs.items():
                pid = saved.get(name, {}).get("pid", 0)
                if pid and pid != p.pid and alive(pid) and ours(pid, p.addr, self.cluster_id):
                    p.pid = pid
        for p in self.procs.values():
            if not self.running(p):
                p.pid = 0
                continue
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            if p.pid and not wait_exit(p.pid, max(0.0, deadline - time.monotonic())):
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_exit(p.pid, 5.0)
            p.pid = 0
        if self.layout_file.parent.exists():
            self.save()

    def wait_ready(self, timeout: float) -> None:
        """Until every node is in the metadata, the metadata has a leader, and
        the router answers ListTables (it watches the metadata)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for p in self.procs.values():
                if p.pid and not alive(p.pid):
                    cause = exit_cause(p.log)
                    raise RuntimeError(f"{p.name} exited during start-up" + (f": {cause}" if cause else "")
                                       + f"; see {p.log}")
            try:
                if self.routers:
                    status, body = post(self.endpoint, "ListTables", {}, timeout=2.0, credentials=self._internal(),
                                        region=self.region)
                    if status == 200 and self._routers_serve() and self._nodes_joined():
                        return
                    last = body.decode(errors="replace") if status != 200 else "metadata not settled"
                elif self._nodes_joined():
                    return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"cluster not ready after {timeout:.0f}s (last: {last}); logs in {self.data_dir}")


    def _routers_serve(self) -> bool:
        """Every router (every worker) answers on its admin endpoint, which it
        opens once it listens on the DynamoDB port (router/main.py). The port
        alone proves nothing: another cluster's router may hold it while ours
        fails to bind it."""
        for p in self.procs.values():
            if p.kind == "router":
                try:
                    status, _ = self._probe(p, self._internal())
                except OSError:
                    return False
                if status != 200:
                    return False
        return True

    def _probe(self, p: Proc, credentials: tuple[str, str] | None) -> tuple[int, bytes]:
        """One call that router `p` itself answers: through its own admin
        endpoint (the DynamoDB port may answer from another worker, or from
        another cluster's router that holds it); ListTables on its port for a
        router saved without one."""
        if p.admin_addr:
            return post(self.admin_endpoint(p.name), "Faults", {}, timeout=2.0, prefix="TriremeAdmin_1",
                        credentials=credentials, region=self.region)
        return post(self.url(p), "ListTables", {}, timeout=2.0, credentials=credentials, region=self.region)

    def _internal(self) -> tuple[str, str] | None:
        """The internal credential with --auth (readiness checks come before the admin user)."""
        if not self.auth:
            return None
        return MasterKeys.load(self.master_key_file).internal_credential()

    def _nodes_joined(self) -> bool:
        """Every node is in the metadata and the metadata group has a leader,
        so a table created now is placed on all nodes and answered at once."""
        import asyncio

        from cluster.rpc import Channels, call_once

        async def ask() -> bool:
            ch = Channels(self.cluster_id)
            try:
                addrs = [p.addr for p in self.procs.values() if p.kind == "node"]
                m = await call_once(ch, addrs[0], "admin", "meta", timeout=1.0)
                if not m or not set(m["nodes"]) >= set(self.node_ids()):
                    return False
                for addr in addrs:
                    r = await call_once(ch, addr, "admin", "replicas", timeout=1.0)
                    if any(x["group"] == "meta" and x["role"] == "LEADER" for x in r["replicas"]):
                        return True
                return False
            except Exception:  # noqa: BLE001 (not up yet)
                return False
            finally:
                await ch.close()
        return asyncio.run(ask())


def post(endpoint: str, op: str, body: dict, timeout: float = 5.0, prefix: str = "DynamoDB_20120810",
         credentials: tuple[str, str] | None = None, region: str = DEFAULT_REGION) -> tuple[int, bytes]:
    """One raw call, without boto3 (readiness checks; a router's admin ops
    with prefix TriremeAdmin_1), signed when `credentials` are given.
    An https endpoint of a cluster this process opened is verified with its CA (cluster/tls.py)."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"{prefix}.{op}"}
    if credentials is not None:
        from ddb.iam.sigv4 import sign
        headers["Host"] = endpoint.split("//", 1)[-1].split("/", 1)[0]
        headers.update(sign("POST", "/", headers, data, access_key=credentials[0], secret=credentials[1],
                            region=region, service="dynamodb", now=time.time()))
    req = urllib.request.Request(endpoint, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls.https_context(endpoint)) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def admin_key(addrs: list[str], cluster_id: str, deadline_s: float = 20.0) -> dict:
    """Make the admin user (every permission) with a key, through the meta
    leader among `addrs`; if it exists (its credentials file was lost), a new
    key. The metadata's answer: {"ok", "key": {"AccessKeyId", "SecretAccessKey"}} or the error."""
    from cluster.rpc import Channels, meta_call
    ch = Channels(cluster_id)
    try:
        made = await meta_call(ch, addrs, "create_user", {"name": ADMIN_USER, "admin": True, "with_key": True},
                               deadline_s=deadline_s)
        if made.get("error") == "EntityAlreadyExists":
            made = await meta_call(ch, addrs, "create_access_key", {"name": ADMIN_USER}, deadline_s=deadline_s)
        return made
    finally:
        await ch.close()


def write_credentials(path: Path, key_id: str, secret: str, region: str) -> None:
    """An AWS shared credentials file (mode 0600) with profile `trireme`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[{PROFILE}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
                f"region = {region}\n")


def read_credentials(path: Path) -> tuple[str, str] | None:
    """The keys of profile `trireme` in a credentials file, or None if there are none."""
    from configparser import ConfigParser
    parser = ConfigParser()
    parser.read(path)
    if not parser.has_section(PROFILE):
        return None
    return parser[PROFILE]["aws_access_key_id"], parser[PROFILE]["aws_secret_access_key"]


def ours(pid: int, addr: str, cluster_id: str) -> bool:
    """Whether process `pid` is a node or router of cluster `cluster_id`
    serving `addr` (checked before signalling a pid read from cluster.json:
    the process may be gone and its pid reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
    except OSError:
        return False
    return "client.cli" in args and addr in args and cluster_id in args


def _note(log: str, line: str) -> None:
    """A line of `trireme up`'s own in a process's log."""
    try:
        with open(log, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def exit_cause(log: str) -> str:
    """The one-line error a node or router printed before exiting at start-up."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((ln.split(": ", 1)[1] for ln in reversed(lines)
                 if ln.startswith(("trireme node: ", "trireme router: "))), "")


def alive(pid: int) -> bool:
    try:
        pid_, status = os.waitpid(pid, os.WNOHANG)
        if pid_ == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of someone else's still answers kill(0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
