"""Faults against a cluster: processes (kill, restart, stop, pause, resume),
links (cut, isolate an AZ, split in two, latency, loss) and clocks (a skewed
rate), each logged with a timestamp so a history can be read against it, and
all healed with one call. Between regions (`trireme up --regions`),
`RegionChaos` cuts and slows the cross-region link and kills or starts whole
regions.

Link and clock faults go through every node's fault layer (the admin RPC
``fault``), which drops or delays Raft messages and sets the rate of the
node's Raft clock; both ends of a cut link are told, so a symmetric cut holds
whichever side sends. On the local cluster process faults are signals to the
node's PID (SIGKILL, SIGTERM, SIGSTOP, SIGCONT); `chaos.containers` does the
same to containers, with kernel-level partitions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

from cluster.regions import DEFAULT_REGION
from cluster.rpc import Channels, call_once, meta_call
from deploy import link
from deploy.local import LocalCluster, alive, post
from deploy.regions import MultiRegion
from node.raft.core import Config


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


class EventLog:
    """The chaos log: one JSON line per fault or heal, in `log_path`."""

    log_path: Path

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


class Chaos(EventLog):
    """What every nemesis shares: the fault log, link faults in the nodes'
    transports, clock skew, and questions about the cluster (partitions,
    leaders, replica digests). Subclasses say how processes are killed,
    paused and started (signals or containers) and may cut links lower down
    (iptables), through `_block` and `_unblock_all`."""

    endpoint: str
    cluster_id: str = ""  # stated to the nodes and routers (they refuse other clusters)

    def nodes(self) -> dict[str, tuple[str, str]]:
        """Node id -> (address, AZ)."""
        raise NotImplementedError

    def process_state(self, name: str) -> str:
        """'up', 'paused' or 'down'."""
        raise NotImplementedError

    def routers(self) -> dict[str, str]:
        """Router name -> its endpoint URL."""
        return {}

    def _kill(self, name: str) -> None:
        raise NotImplementedError

    def _start(self, name: str) -> None:
        raise NotImplementedError

    def _stop(self, name: str) -> None:
        raise NotImplementedError

    def _pause(self, name: str) -> None:
        raise NotImplementedError

    def _resume(self, name: str) -> None:
        raise NotImplementedError

    # --- bookkeeping ----------------------------------------------------------

    def _node(self, name: str) -> None:
        if name not in self.nodes():
            raise ValueError(f"no node {name!r}; nodes: {', '.join(sorted(self.nodes()))}")

    async def _admin(self, name: str, op: str, body: Any = None) -> Any:
        ch = Channels(self.cluster_id)
        try:
            return await call_once(ch, self.nodes()[name][0], "admin", op, body, timeout=3.0)
        finally:
            await ch.close()

    region = DEFAULT_REGION  # the routers' (their signatures' scope)

    def credentials(self) -> tuple[str, str] | None:
        """What calls to the routers are signed with (None: the cluster runs in open mode)."""
        return None

    def admin_endpoints(self) -> dict[str, str]:
        """Router name -> its admin endpoint (fault injection), where it differs from its DynamoDB one."""
        return self.routers()

    def _router_call(self, name: str, op: str, body: dict | None = None) -> dict:
        status, answer = post(self.admin_endpoints()[name], op, body or {}, timeout=3, prefix="TriremeAdmin_1",
                              credentials=self.credentials(), region=self.region)
        if status != 200:
            raise RuntimeError(f"{name} answered {op} with {status}: {answer[:200]!r}")
        return json.loads(answer)

    def _faults_of(self, name: str) -> dict:
        if name in self.routers():
            return self._router_call(name, "Faults")
        return asyncio.run(self._admin(name, "faults"))

    def _set_faults(self, name: str, faults: dict) -> None:
        if name in self.routers():
            self._router_call(name, "SetFaults", dict(faults, ClusterId=self.cluster_id))
        else:
            asyncio.run(self._admin(name, "fault", faults))

    def _endpoint(self, name: str) -> None:
        """A node or a router (link faults apply to both)."""
        if name not in self.routers():
            self._node(name)

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
        self._kill(name)
        return self._record("kill", name, signal="SIGKILL")

    def restart(self, name: str) -> Event:
        """Start a killed or stopped node again."""
        self._node(name)
        self._start(name)
        return self._record("restart", name)

    def stop(self, name: str) -> Event:
        """A graceful stop (SIGTERM), as a deploy does."""
        self._node(name)
        self._stop(name)
        return self._record("stop", name, signal="SIGTERM")

    def pause(self, name: str) -> Event:
        self._node(name)
        self._pause(name)
        return self._record("pause", name, signal="SIGSTOP")

    def resume(self, name: str) -> Event:
        self._node(name)
        self._resume(name)
        return self._record("resume", name, signal="SIGCONT")

    def crash_loop(self, name: str, times: int, every: float,
                   report: Callable[[Event], None] = lambda e: None) -> list[Event]:
        """Kill and restart a node `times` times, `every` seconds apart (a
        process that keeps crashing, as under a bad deploy or an OOM loop)."""
        if times < 1 or every <= 0:
            raise ValueError("crashloop needs --times of at least 1 and --every above 0 seconds")
        events = []
        for _ in range(times):
            for action in (self.kill, self.restart):
                events.append(action(name))
                report(events[-1])
                time.sleep(every)  # the fault's own schedule, not a wait for a condition
        return events

    def start_all(self) -> None:
        """Every node running and unpaused (after a run, before the final reads)."""
        for name in self.nodes():
            state = self.process_state(name)
            if state == "paused":
                self._resume(name)
            elif state == "down":
                self._start(name)

    def caught_up(self, name: str) -> bool:
        """Whether a node answers and each of its replicas knows a leader and
        has applied everything it knows to be committed (a rolling restart
        moves on only then)."""
        try:
            reps = asyncio.run(self._admin(name, "replicas"))["replicas"]
        except Exception:  # noqa: BLE001 (still starting)
            return False
        return bool(reps) and all(r["leader"] and r["applied"] >= r["commit"] for r in reps)

    # --- links ----------------------------------------------------------------

    def _block(self, pairs: list[tuple[str, str]]) -> None:
        """Drop everything sent from the first node of each pair to the second.
        Here: in the nodes' transports (both ends told, so the cut holds
        whichever side sends)."""
        drop_to: dict[str, set[str]] = {}
        drop_from: dict[str, set[str]] = {}
        for frm, to in pairs:
            drop_to.setdefault(frm, set()).add(to)
            drop_from.setdefault(to, set()).add(frm)
        for name in sorted(set(drop_to) | set(drop_from)):
            self._change(name, drop_to=drop_to.get(name, set()), drop_from=drop_from.get(name, set()))

    def _unblock_all(self) -> None:
        """Clear what `_block` did beyond the transports (nothing here)."""

    def cut(self, frm: str, to: str, *, both: bool = False) -> Event:
        """Drop the messages from ``frm`` to ``to`` (and back with ``both``).
        ``frm`` may be a router: its requests to node ``to`` then fail as if
        the node were unreachable."""
        self._node(to)
        if frm in self.routers():
            self._change(frm, drop_to=[to])
            return self._record("cut", f"{frm}->{to}")
        self._node(frm)
        self._block([(frm, to), (to, frm)] if both else [(frm, to)])
        return self._record("cut", f"{frm}->{to}" + (" and back" if both else ""))

    def split(self, side_a: list[str], side_b: list[str]) -> Event:
        """Two sides that cannot talk to each other (each side talks within itself)."""
        self._split(side_a, side_b)
        return self._record("split", f"{','.join(side_a)} | {','.join(side_b)}")

    def _split(self, side_a: list[str], side_b: list[str]) -> None:
        for n in side_a + side_b:
            self._node(n)
        self._block([(a, b) for a in side_a for b in side_b] + [(b, a) for a in side_a for b in side_b])

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
            self._endpoint(n)
            self._change(n, delay_ms=delay_ms, jitter_ms=jitter_ms)
        return self._record("latency", ",".join(names), delay_ms=delay_ms, jitter_ms=jitter_ms)

    def loss(self, names: list[str], percent: float) -> Event:
        if not 0 <= percent <= 100:
            raise ValueError("loss is a percentage between 0 and 100")
        for n in names:
            self._endpoint(n)
            self._change(n, loss=percent / 100)
        return self._record("loss", ",".join(names), percent=percent)

    # --- clocks ---------------------------------------------------------------

    def clock(self, names: list[str], rate: float) -> Event:
        """Run the nodes' Raft clocks at `rate` times real time. Leases stay
        safe while rates differ by at most the drift bound (DRIFT_BOUND);
        beyond it a deposed leader may serve stale strongly consistent reads."""
        if not 0 < rate <= 100:
            raise ValueError("clock rate must be in (0, 100]")
        for n in names:
            self._node(n)
            self._change(n, clock_rate=rate)
        return self._record("clock", ",".join(names), rate=rate)

    # --- all of it ------------------------------------------------------------

    def heal(self) -> Event:
        """Resume paused nodes and clear every link and clock fault (killed
        nodes stay down: ``restart`` brings them back)."""
        healed = []
        self._unblock_all()
        for name in sorted(self.nodes()):
            state = self.process_state(name)
            if state == "down":
                continue
            if state == "paused":
                self._resume(name)
            try:
                self._set_faults(name, {"heal": True})
                healed.append(name)
            except Exception:  # noqa: BLE001 (a node that cannot answer has no faults to clear)
                pass
        for name in sorted(self.routers()):
            try:
                self._set_faults(name, {"heal": True})
                healed.append(name)
            except Exception:  # noqa: BLE001 (a router that is down has no faults either)
                pass
        return self._record("heal", "all", nodes=",".join(healed))

    # --- elastic partitions (node/partition/split.py, `trireme node add/remove`) -----

    def _meta(self, op: str, body: dict, deadline_s: float = 15.0) -> Any:
        async def go() -> Any:
            ch = Channels(self.cluster_id)
            try:
                return await meta_call(ch, [a for a, _ in self.nodes().values()], op, body, deadline_s=deadline_s)
            finally:
                await ch.close()
        return asyncio.run(go())

    def split_partition(self, table: str, groups: list[str]) -> Event:
        """Split the first of ``groups`` (partitions of ``table``) that can split now."""
        errors = []
        for group in groups:
            try:
                done = self._meta("split_table", {"name": table, "partition": group})
            except Exception as exc:  # noqa: BLE001 (one partition key, or no leader: the next)
                errors.append(f"{group}: {exc}")
                continue
            return self._record("split", group, child=done["child"])
        raise RuntimeError("no partition could split: " + "; ".join(errors))

    def add_node(self, az: str) -> Event:
        raise ValueError("add-node needs the local cluster (`trireme up`)")

    def drain(self, name: str) -> Event:
        """Start removing a node: the controller moves its replicas away."""
        self._node(name)
        self._meta("drain_node", {"id": name})
        return self._record("drain", name)

    def joined(self, name: str) -> bool:
        return name in self._meta("nodes", {})["nodes"]

    def drained(self, name: str) -> bool:
        state = self._meta("nodes", {})
        return not any(name in p["voters"] + p.get("learners", []) for p in state["partitions"].values())

    def remove(self, name: str) -> Event:
        """Stop a drained node and forget it."""
        raise ValueError("remove-node needs the local cluster (`trireme up`)")

    def in_effect(self) -> list[dict]:
        """Per node: process state and the faults its transport and clock have."""
        out = []
        for name, (addr, az) in sorted(self.nodes().items()):
            state = self.process_state(name)
            faults: dict = {}
            if state == "up":
                try:
                    faults = self._faults_of(name)
                except Exception:  # noqa: BLE001
                    state = "up (no answer)"
            out.append({"node": name, "az": az, "addr": addr, "state": state, "faults": faults})
        for name, url in sorted(self.routers().items()):
            try:
                faults, state = self._faults_of(name), "up"
            except Exception:  # noqa: BLE001
                faults, state = {}, "no answer"
            out.append({"node": name, "az": "-", "addr": url, "state": state, "faults": faults})
        return out


DRIFT_BOUND = Config("bound").max_clock_drift


class LocalChaos(Chaos):
    """The nemesis of a local cluster (``trireme up`` or a test's cluster):
    signals to the node processes, link faults in their transports."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.cluster_id = cluster.cluster_id
        self.log_path = Path(cluster.data_dir) / "chaos.log"
        self.endpoint = cluster.endpoint

    @classmethod
    def load(cls, data_dir: Path) -> LocalChaos:
        return cls(LocalCluster.load(data_dir))

    def credentials(self) -> tuple[str, str] | None:
        return self.cluster.credentials()

    def admin_endpoints(self) -> dict[str, str]:
        return {name: self.cluster.admin_endpoint(name) for name in self.routers()}

    @property
    def region(self) -> str:
        return self.cluster.region

    def nodes(self) -> dict[str, tuple[str, str]]:
        return {p.name: (p.addr, p.az) for p in self.cluster.procs.values() if p.kind == "node"}

    def routers(self) -> dict[str, str]:
        return {p.name: self.cluster.url(p) for p in self.cluster.procs.values()
                if p.kind == "router" and p.pid and alive(p.pid)}

    def process_state(self, name: str) -> str:
        pid = self.cluster.procs[name].pid
        if not pid or not alive(pid):
            return "down"
        return "paused" if _stopped(pid) else "up"

    def _kill(self, name: str) -> None:
        self.cluster.kill(name)

    def _start(self, name: str) -> None:
        self.cluster.start_proc(name)

    def _stop(self, name: str) -> None:
        self.cluster.kill(name, signal.SIGCONT)
        self.cluster.kill(name, signal.SIGTERM)  # waits up to 10 s for the exit
        self.cluster.kill(name)  # SIGKILL if it is still there, as a deploy tool would

    def _pause(self, name: str) -> None:
        self.cluster.kill(name, signal.SIGSTOP)

    def _resume(self, name: str) -> None:
        self.cluster.kill(name, signal.SIGCONT)

    def add_node(self, az: str) -> Event:
        p = self.cluster.add_node(az)
        self.cluster.start_proc(p.name)
        return self._record("add-node", p.name, az=az)

    def remove(self, name: str) -> Event:
        self._stop(name)
        self._meta("forget_node", {"id": name})
        self.cluster.forget(name)
        return self._record("remove-node", name)


def _stopped(pid: int) -> bool:
    """Whether a process is stopped (SIGSTOP), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


class RegionChaos(EventLog):
    """Faults between regions: the cross-region link's pairs cut or slowed
    through its control endpoint (deploy/link.py), and every process of a
    region killed or started. Subclasses say where the link is and how a
    region's processes are killed and started (signals or containers)."""

    control: str  # the link's control endpoint, host:port

    def region_names(self) -> list[str]:
        raise NotImplementedError

    def region_chaos(self) -> dict[str, Chaos]:
        """Each region's own nemesis (its nodes' faults), where there is one."""
        return {}

    def _not_answering(self) -> str:
        """What to check when the link does not answer."""
        raise NotImplementedError

    def _kill_region(self, region: str) -> list[str]:
        raise NotImplementedError

    def _start_region(self, region: str, wait_s: float) -> None:
        raise NotImplementedError

    def _region(self, region: str) -> str:
        if region not in self.region_names():
            raise ValueError(f"no region {region!r}; regions: {', '.join(self.region_names())}")
        return region

    def link_state(self) -> dict:
        try:
            return link.call(self.control)
        except OSError as exc:
            raise RuntimeError(f"the cross-region link does not answer on {self.control} ({exc}); "
                               f"{self._not_answering()}") from None

    def _link(self, command: dict) -> dict:
        try:
            return link.call(self.control, command)
        except OSError:
            return self.link_state()  # raises the explanation

    def isolate_region(self, region: str) -> Event:
        """Cut every pair involving `region`, both ways: it still serves its own clients."""
        self._link({"op": "isolate", "region": self._region(region)})
        return self._record("isolate-region", region)

    def heal_regions(self) -> Event:
        """Every cut pair of the link healed (latencies stay as set)."""
        self._link({"op": "heal"})
        return self._record("heal-regions", "all")

    def region_latency(self, a: str, b: str, ms: float) -> Event:
        """One-way latency between two regions, in both directions."""
        self._link({"op": "latency", "regions": [a, b], "ms": ms})
        return self._record("region-latency", f"{a}<->{b}", ms=ms)

    def kill_region(self, region: str) -> Event:
        """SIGKILL every node and router of the region at once."""
        killed = self._kill_region(self._region(region))
        return self._record("kill-region", region, processes=",".join(killed) or "none running")

    def start_region(self, region: str, wait_s: float = 60.0) -> Event:
        """Start every process of the region again (with its data); returns once it serves."""
        self._start_region(self._region(region), wait_s)
        return self._record("start-region", region)


class LocalRegionChaos(RegionChaos):
    """The regions of `trireme up --regions`: signals to their processes;
    each region's nodes are `LocalChaos(regions.cluster(R))`."""

    def __init__(self, regions: MultiRegion) -> None:
        self.regions = regions
        self.control = regions.control
        self.log_path = Path(regions.data_dir) / "chaos.log"

    @classmethod
    def load(cls, data_dir: Path) -> LocalRegionChaos:
        return cls(MultiRegion.load(data_dir))

    def region_names(self) -> list[str]:
        return list(self.regions.regions)

    def region(self, name: str) -> LocalChaos:
        return LocalChaos(self.regions.cluster(name))

    def region_chaos(self) -> dict[str, Chaos]:
        return {r: self.region(r) for r in self.regions.regions}

    def _not_answering(self) -> str:
        return (f"is `trireme up --data-dir {self.regions.data_dir}` running? "
                f"(link log: {self.regions.link_log})")

    def _kill_region(self, region: str) -> list[str]:
        return self.regions.kill_region(region)

    def _start_region(self, region: str, wait_s: float) -> None:
        if not self.regions.cluster(region).owner_alive():
            raise RuntimeError(f"the regions in {self.regions.data_dir} are not running (their `trireme up` "
                               f"is gone); start them with `trireme up --data-dir {self.regions.data_dir}`")
        self.regions.start_region(region, wait_s)
