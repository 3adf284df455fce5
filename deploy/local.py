"""The local cluster: storage nodes and routers as child processes on loopback.

`LocalCluster` is what `trireme up` runs and what the integration tests start.
Its layout is written to `DATA_DIR/cluster.json` so that other commands
(`trireme kill`, `trireme start`, `trireme status`) find the processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

REGION = "us-east-1"
AZS = ("us-east-1a", "us-east-1b", "us-east-1c")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    kind: str  # node | router
    az: str
    addr: str  # host:port it serves
    argv: list[str]
    log: str
    pid: int = 0


@dataclass
class LocalCluster:
    data_dir: Path
    nodes_per_az: int = 1
    router_port: int = 8000
    node_base_port: int = 7101  # 0: pick free ports
    host: str = "127.0.0.1"
    routers: int = 1
    dead_after_s: float = 30.0
    partitions_per_table: int = 2
    router_deadline_s: float = 8.0
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    # --- layout -----------------------------------------------------------

    @property
    def layout_file(self) -> Path:
        return self.data_dir / "cluster.json"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.router_port}"

    def node_ids(self) -> list[str]:
        return [p.name for p in self.procs.values() if p.kind == "node"]

    def plan(self) -> None:
        """Decide names, ports and command lines (reusing a saved layout)."""
        self.data_dir = Path(self.data_dir).resolve()
        if self.layout_file.exists():
            saved = json.loads(self.layout_file.read_text())
            self.procs = {name: Proc(**p) for name, p in saved["procs"].items()}
            routers = [p for p in self.procs.values() if p.kind == "router"]
            if routers:
                self.router_port = int(routers[0].addr.rsplit(":", 1)[1])
            return
        count = 3 * self.nodes_per_az
        nodes = []
        for i in range(1, count + 1):
            port = self.node_base_port + i - 1 if self.node_base_port else free_port(self.host)
            nodes.append((f"n{i}", AZS[(i - 1) % 3], f"{self.host}:{port}"))
        founders = nodes[:3]
        initial = ",".join(f"{n}={addr}@{az}" for n, az, addr in founders)
        seeds = ",".join(addr for _, _, addr in founders)
        py = [sys.executable, "-m", "client.cli"]
        for name, az, addr in nodes:
            argv = py + ["node", "--id", name, "--az", az, "--listen", addr,
                         "--data-dir", str(self.data_dir / name), "--dead-after", str(self.dead_after_s),
                         "--partitions-per-table", str(self.partitions_per_table)]
            argv += ["--initial-cluster", initial] if (name, az, addr) in founders else ["--join", seeds]
            self.procs[name] = Proc(name, "node", az, addr, argv, str(self.data_dir / name / "node.log"))
        for i in range(self.routers):
            port = self.router_port + i if self.router_port else free_port(self.host)
            if i == 0:
                self.router_port = port
            az = AZS[i % 3]
            name = f"router{i + 1}"
            addr = f"{self.host}:{port}"
            argv = py + ["router", "--listen", addr, "--az", az, "--seeds", seeds,
                         "--deadline", str(self.router_deadline_s)]
            self.procs[name] = Proc(name, "router", az, addr, argv, str(self.data_dir / f"{name}.log"))

    def save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.layout_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"region": REGION, "endpoint": self.endpoint,
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
        if not self.procs:
            self.plan()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for name in self.procs:
            self.start_proc(name)
        self.wait_ready(wait_s)

    def start_proc(self, name: str) -> Proc:
        p = self.procs[name]
        if p.pid and alive(p.pid):
            return p
        Path(p.log).parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.extra_env)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        with open(p.log, "ab") as logf:
            proc = subprocess.Popen(p.argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        p.pid = proc.pid
        self.save()
        return p

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[name]
        if p.pid and alive(p.pid):
            os.kill(p.pid, sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                wait_exit(p.pid, 10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM everything, then SIGKILL what is left after `timeout`."""
        if self.layout_file.exists():
            # Another command (`trireme start`, `trireme chaos restart`) may have
            # started a process since: stop the one running now.
            saved = json.loads(self.layout_file.read_text())["procs"]
            for name, p in self.procs.items():
                pid = saved.get(name, {}).get("pid", 0)
                if pid and pid != p.pid and alive(pid):
                    p.pid = pid
        for p in self.procs.values():
            if p.pid and alive(p.pid):
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
                    raise RuntimeError(f"{p.name} exited during start-up; see {p.log}")
            try:
                if self.routers:
                    status, body = post(self.endpoint, "ListTables", {}, timeout=2.0)
                    if status == 200 and self._nodes_joined():
                        return
                    last = body.decode(errors="replace") if status != 200 else "metadata not settled"
                elif self._nodes_joined():
                    return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"cluster not ready after {timeout:.0f}s (last: {last}); logs in {self.data_dir}")


    def _nodes_joined(self) -> bool:
        """Every node is in the metadata and the metadata group has a leader,
        so a table created now is placed on all nodes and answered at once."""
        import asyncio

        from node.rpc import Channels, call_once

        async def ask() -> bool:
            ch = Channels()
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


def post(endpoint: str, op: str, body: dict, timeout: float = 5.0,
         prefix: str = "DynamoDB_20120810") -> tuple[int, bytes]:
    """One raw call, without boto3 (readiness checks; a router's admin ops
    with prefix TriremeAdmin_1)."""
    req = urllib.request.Request(endpoint, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"{prefix}.{op}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


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
