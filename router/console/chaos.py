"""The chaos buttons of the console, through what the nodes' Admin service
offers (a router cannot signal a node's process):

- isolate NODE: cut every link between the node and the other nodes, both
  ways, on both ends (as ``trireme chaos split``); a leader there is deposed
  when its lease runs out, and the others elect a new one;
- cut FROM TO (one way), latency, loss and clock rate on chosen nodes;
- step down: transfer a partition's leadership to another voter;
- heal: clear every node's link and clock faults.

What `trireme chaos` does that the page cannot: kill, stop, restart, pause
and resume processes (signals to PIDs or containers), crash loops, kernel
partitions of the compose cluster, and the cross-region link's faults.
Actions are applied to every node the router knows; an unreachable node
is reported, not waited for.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from cluster.partitions import Cluster
from cluster.rpc import call_once
from ddb.errors import ValidationException
from router.console.errors import describe

TIMEOUT_S = 3.0
LOG_TAIL = 64 * 1024  # bytes of a function's log shown per node
LOG_PAGES = 64  # pages read per node at most (a longer log shows its part up to there)


class Chaos:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _addrs(self) -> dict[str, str]:
        state = self.cluster.state
        return {} if state is None else {n.id: n.addr for n in state.nodes.values()}

    def _check(self, names: list[str]) -> list[str]:
        addrs = self._addrs()
        if not isinstance(names, list) or not names:
            raise ValidationException("nodes must be a non-empty list of node ids")
        for n in names:
            if n not in addrs:
                raise ValidationException(f"unknown node {n!r}; nodes: {', '.join(sorted(addrs))}")
        return names

    async def _admin(self, node: str, op: str, body: Any = None) -> Any:
        return await call_once(self.cluster.channels, self._addrs()[node], "admin", op, body, timeout=TIMEOUT_S)

    async def _change(self, node: str, **changes: Any) -> dict:
        """Merge ``changes`` into a node's faults (lists are added to)."""
        faults = await self._admin(node, "faults")
        for k, v in changes.items():
            faults[k] = sorted(set(faults.get(k, [])) | set(v)) if isinstance(v, list) else v
        return await self._admin(node, "fault", faults)

    async def _each(self, calls: dict[str, Any]) -> dict[str, Any]:
        """Run one call per node; each node's answer or its error."""
        results = await asyncio.gather(*calls.values(), return_exceptions=True)
        return {n: {"error": describe(r)} if isinstance(r, BaseException) else r for n, r in zip(calls, results)}

    async def run(self, body: dict) -> dict:
        """One action from the page: ``{"action": ..., ...}``; the nodes' answers."""
        action = body.get("action")
        if action == "isolate":
            node = self._check([body.get("node")])[0]
            others = [n for n in self._addrs() if n != node]
            calls = {node: self._change(node, drop_to=others, drop_from=others)}
            calls.update({o: self._change(o, drop_to=[node], drop_from=[node]) for o in others})
            return {"action": action, "nodes": await self._each(calls)}
        if action == "cut":
            frm, to = self._check([body.get("from"), body.get("to")])
            if frm == to:
                raise ValidationException("a node cannot be cut from itself")
            return {"action": action, "nodes": await self._each(
                {frm: self._change(frm, drop_to=[to]), to: self._change(to, drop_from=[frm])})}
        if action in ("latency", "loss", "clock"):
            nodes = self._check(body.get("nodes") or sorted(self._addrs()))
            value = body.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationException("value must be a number")
            change = {"latency": {"delay_ms": value}, "loss": {"loss": value / 100},
                      "clock": {"clock_rate": value}}[action]
            return {"action": action, "nodes": await self._each({n: self._change(n, **change) for n in nodes})}
        if action == "heal":
            return {"action": action, "nodes": await self._each(
                {n: self._admin(n, "fault", {"heal": True}) for n in sorted(self._addrs())})}
        if action == "step_down":
            return {"action": action, **await self._step_down(str(body.get("partition", "")), body.get("to"))}
        raise ValidationException(f"unknown action {action!r}; actions: isolate, cut, latency, loss, clock, "
                                  "heal, step_down")

    async def function_logs(self, name: str, tail: int = LOG_TAIL) -> dict[str, dict]:
        """Each node's log of function ``name``: its last ``tail`` bytes (whole lines) or the node's error."""
        async def one(node: str) -> dict:
            data, offset = b"", 0
            for _ in range(LOG_PAGES):  # a node answers a page at a time
                page = await self._admin(node, "function_log", {"name": name, "offset": offset})
                chunk = base64.b64decode(page["data"])
                if not chunk:
                    break
                data = (data + chunk)[-tail:]
                offset = page["next"]
            text = data.decode(errors="replace")
            return {"text": text if len(data) < tail else text.partition("\n")[2]}
        return await self._each({n: one(n) for n in sorted(self._addrs())})

    async def _step_down(self, group: str, to: str | None) -> dict:
        """Ask the partition's leader to hand over to ``to`` (default: another voter that answers)."""
        state = self.cluster.state
        p = state.partitions.get(group) if state is not None else None
        if p is None:
            raise ValidationException(f"unknown partition {group!r}")
        answers = await self._each({n: self._admin(n, "replicas") for n in p.voters if n in self._addrs()})
        leader = next((n for n, a in answers.items() if "replicas" in a
                       for r in a["replicas"] if r["group"] == group and r["role"] == "LEADER"), None)
        if leader is None:
            raise ValidationException(f"{group} has no leader now (an election may be under way); try again")
        if to is None:
            to = next((n for n in p.voters if n != leader and "replicas" in answers.get(n, {})), None)
        if to is None or to == leader or to not in p.voters:
            raise ValidationException(f"{group}: no other voter to hand the leadership to")
        await self._admin(leader, "transfer_leader", {"group": group, "to": to})
        return {"partition": group, "from": leader, "to": to}
