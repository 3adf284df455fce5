"""Faults against the local cluster: processes (kill, restart, pause, resume)
and links (cut, isolate an AZ, split in two, latency, loss), each logged with a
timestamp so a history can be read against it, and all healed with one call.

Link faults go through every node's transport fault layer (the admin RPC
``fault``), which drops or delays Raft messages; both ends of a cut link are
told, so a symmetric cut holds whichever side sends. Process faults are
signals to the node's PID (SIGKILL, SIGSTOP, SIGCONT).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.local import LocalCluster, alive
from node.rpc import Channels, call_once


@dataclass
class Event:
    """One fault or heal, as written to the chaos log."""

    at: float  # wall clock, seconds
    action: str
    target: str
    detail: dict[str, Any]

    def line(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.at)) + f".{int(self.at * 1000) % 1000:03d}"
        extra = " ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{stamp}  {self.action:<10} {self.target}  {extra}".rstrip()


class LocalChaos:
    """The nemesis of a local cluster (``trireme up`` or a test's cluster)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.log_path = Path(cluster.data_dir) / "chaos.log"

    @classmethod
    def load(cls, data_dir: Path) -> LocalChaos:
        return cls(LocalCluster.load(data_dir))

    # --- bookkeeping ----------------------------------------------------------

    def _record(self, action: str, target: str, **detail: Any) -> Event:
        event = Event(time.time(), action, target, detail)
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"at": event.at, "action": action, "target": target, "detail": detail}) + "\n")
        return event

    def events(self) -> list[Event]:
        if not self.log_path.exists():
            return []
        out = []
        for raw in self.log_path.read_text().splitlines():
            d = json.loads(raw)
            out.append(Event(d["at"], d["action"], d["target"], d["detail"]))
        return out

    def nodes(self) -> dict[str, tuple[str, str]]:
        """Node id -> (address, AZ)."""
        return {p.name: (p.addr, p.az) for p in self.cluster.procs.values() if p.kind == "node"}

    def _node(self, name: str) -> None:
        if name not in self.nodes():
            raise ValueError(f"no node {name!r}; nodes: {', '.join(sorted(self.nodes()))}")

    async def _admin(self, name: str, op: str, body: Any = None) -> Any:
        ch = Channels()
        try:
            return await call_once(ch, self.nodes()[name][0], "admin", op, body, timeout=3.0)
        finally:
            await ch.close()

    def _faults_of(self, name: str) -> dict:
        return asyncio.run(self._admin(name, "faults"))

    def _set_faults(self, name: str, faults: dict) -> None:
        asyncio.run(self._admin(name, "fault", faults))

    def _change(self, name: str, **changes: Any) -> None:
        faults = self._faults_of(name)
        for key, value in changes.items():
            if key in ("drop_to", "drop_from"):
                faults[key] = sorted(set(faults.get(key, [])) | set(value))
            else:
                faults[key] = value
        self._set_faults(name, faults)

    def _ask_any(self, op: str) -> Any:
        for name in sorted(self.nodes()):
            try:
                return asyncio.run(self._admin(name, op))
            except Exception:  # noqa: BLE001 (down or paused: ask the next)
                continue
        raise RuntimeError("no node answered")

    def partitions(self, table: str) -> list[str]:
        """The partition (Raft group) ids of a table."""
        meta = self._ask_any("meta")
        tid = meta["tables"][table]["id"]
        return sorted(g for g, p in meta["partitions"].items() if p["table_id"] == tid)

    def replica_digests(self, table: str) -> dict[str, dict[str, str]]:
        """For each partition of `table`: node -> digest of its replica's items
        (the key/value pairs in key order), from every node that answers."""
        meta = self._ask_any("meta")
        tid = meta["tables"][table]["id"]
        out: dict[str, dict[str, str]] = {}
        for group, p in meta["partitions"].items():
            if p["table_id"] != tid:
                continue
            out[group] = {}
            for node in p["voters"]:
                try:
                    raw = asyncio.run(self._admin(node, "read_raw", {"group": group}))
                except Exception:  # noqa: BLE001 (down: no digest)
                    continue
                digest = hashlib.sha256(json.dumps(raw["items"]).encode()).hexdigest()[:16]
                out[group][node] = digest
        return out

    def leader_of(self, group: str) -> str | None:
        for name in sorted(self.nodes()):
            try:
                reps = asyncio.run(self._admin(name, "replicas"))["replicas"]
            except Exception:  # noqa: BLE001
                continue
            if any(r["group"] == group and r["role"] == "LEADER" for r in reps):
                return name
        return None

    # --- processes ------------------------------------------------------------

    def kill(self, name: str) -> Event:
        self._node(name)
        self.cluster.kill(name)
        return self._record("kill", name, signal="SIGKILL")

    def restart(self, name: str) -> Event:
        self._node(name)
        p = self.cluster.start_proc(name)
        return self._record("restart", name, pid=p.pid)

    def pause(self, name: str) -> Event:
        self._node(name)
        self.cluster.kill(name, signal.SIGSTOP)
        return self._record("pause", name, signal="SIGSTOP")

    def resume(self, name: str) -> Event:
        self._node(name)
        self.cluster.kill(name, signal.SIGCONT)
        return self._record("resume", name, signal="SIGCONT")

    # --- links ----------------------------------------------------------------

    def cut(self, frm: str, to: str, *, both: bool = False) -> Event:
        """Drop the Raft messages from ``frm`` to ``to`` (and back with ``both``)."""
        self._node(frm)
        self._node(to)
        self._change(frm, drop_to=[to])
        self._change(to, drop_from=[frm])
        if both:
            self._change(to, drop_to=[frm])
            self._change(frm, drop_from=[to])
        return self._record("cut", f"{frm}->{to}" + (" and back" if both else ""))

    def split(self, side_a: list[str], side_b: list[str]) -> Event:
        """Two sides that cannot talk to each other (each side talks within itself)."""
        self._split(side_a, side_b)
        return self._record("split", f"{','.join(side_a)} | {','.join(side_b)}")

    def _split(self, side_a: list[str], side_b: list[str]) -> None:
        for n in side_a + side_b:
            self._node(n)
        for a in side_a:
            self._change(a, drop_to=side_b, drop_from=side_b)
        for b in side_b:
            self._change(b, drop_to=side_a, drop_from=side_a)

    def isolate_az(self, az: str) -> Event:
        inside = [n for n, (_, z) in self.nodes().items() if z == az]
        if not inside:
            azs = sorted({z for _, z in self.nodes().values()})
            raise ValueError(f"no node in AZ {az!r}; AZs: {', '.join(azs)}")
        outside = [n for n in self.nodes() if n not in inside]
        self._split(inside, outside)
        return self._record("isolate", az, nodes=",".join(inside))

    def latency(self, names: list[str], delay_ms: float, jitter_ms: float = 0.0) -> Event:
        for n in names:
            self._node(n)
            self._change(n, delay_ms=delay_ms, jitter_ms=jitter_ms)
        return self._record("latency", ",".join(names), delay_ms=delay_ms, jitter_ms=jitter_ms)

    def loss(self, names: list[str], percent: float) -> Event:
        if not 0 <= percent <= 100:
            raise ValueError("loss is a percentage between 0 and 100")
        for n in names:
            self._node(n)
            self._change(n, loss=percent / 100)
        return self._record("loss", ",".join(names), percent=percent)

    # --- all of it ------------------------------------------------------------

    def heal(self) -> Event:
        """Resume paused nodes and clear every link fault (killed nodes stay down:
        ``restart`` brings them back)."""
        healed = []
        for name, p in ((p.name, p) for p in self.cluster.procs.values() if p.kind == "node"):
            if p.pid and alive(p.pid):
                os.kill(p.pid, signal.SIGCONT)
                try:
                    self._set_faults(name, {"heal": True})
                    healed.append(name)
                except Exception:  # noqa: BLE001 (a node that cannot answer has no faults to clear)
                    pass
        return self._record("heal", "all", nodes=",".join(healed))

    def in_effect(self) -> list[dict]:
        """Per node: process state and the link faults its transport applies."""
        out = []
        for name, (addr, az) in sorted(self.nodes().items()):
            p = self.cluster.procs[name]
            state = "down"
            faults: dict = {}
            if p.pid and alive(p.pid):
                state = "paused" if _stopped(p.pid) else "up"
                if state == "up":
                    try:
                        faults = self._faults_of(name)
                    except Exception:  # noqa: BLE001
                        state = "up (no answer)"
            out.append({"node": name, "az": az, "addr": addr, "state": state, "faults": faults})
        return out


def _stopped(pid: int) -> bool:
    """Whether a process is stopped (SIGSTOP), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False
