"""The cluster as the console shows it, and what changed between two looks.

Pure: the router's metadata (``MetaState.to_json()``) and what each node's
Admin service answered (``health``, ``replicas``, ``faults``,
``replication``) in, one JSON
snapshot out; `changes` compares two snapshots. The nodes keep no log of
elections or leader changes, so the console's timeline is derived from
successive snapshots: a change that starts and ends between two looks (a
leader elected and deposed within one poll interval) is not seen. Splits and
moves also come from the meta leader's own recent events (its ``events``
call), merged in by `monitor.Monitor`.
"""

from __future__ import annotations

from typing import Any

META_GROUP = "meta"


def snapshot(meta: dict | None, answers: dict[str, dict], region: str, at: float) -> dict[str, Any]:
    """The console's picture of the cluster at ``at``: ``answers`` maps node
    id -> {"health": ..., "replicas": ..., "faults": ...} or {"error": text}."""
    meta = meta or {}
    tables = meta.get("tables", {})
    names = {t["id"]: t["name"] for t in tables.values()}
    nodes = []
    states: dict[str, dict[str, dict]] = {}  # group -> node -> replica status
    for n in sorted(meta.get("nodes", {}).values(), key=lambda n: n["id"]):
        a = answers.get(n["id"]) or {"error": "not asked"}
        reachable = "error" not in a
        if reachable:
            for r in a["replicas"]["replicas"]:
                states.setdefault(r["group"], {})[n["id"]] = r
        faults = a.get("faults") or {}
        nodes.append({"id": n["id"], "az": n["az"], "addr": n["addr"], "region": region, "state": n.get("state", "?"),
                      "reachable": reachable, "error": a.get("error", ""),
                      "uptime_s": (a.get("health") or {}).get("uptime_s"),
                      "replicas": len(a["replicas"]["replicas"]) if reachable else None,
                      "faults": _active(faults)})
    partitions = []
    for p in sorted(meta.get("partitions", {}).values(), key=lambda p: (p.get("table_id", -1), p.get("lo", 0))):
        seen = states.get(p["id"], {})
        leader_id = next((n for n, r in seen.items() if r["role"] == "LEADER"), None)
        leader = seen.get(leader_id) if leader_id else None
        replicas = []
        for node in [*p.get("voters", []), *p.get("learners", [])]:
            r = seen.get(node)
            row = {"node": node, "voter": node in p.get("voters", []), "up": r is not None}
            if r is not None:
                row.update(role=r["role"], term=r["term"], commit=r["commit"], applied=r["applied"],
                           last_index=r["last_index"])
                if leader is not None and node != leader_id:
                    row["lag"] = max(0, leader["last_index"] - leader.get("match", {}).get(node, 0))
                else:
                    row["lag"] = 0 if node == leader_id else None
            replicas.append(row)
        terms = [r["term"] for r in seen.values()]
        partitions.append({
            "id": p["id"], "table": names.get(p.get("table_id"), "(metadata)" if p["id"] == META_GROUP else "?"),
            "lo": f"{p.get('lo', 0):016x}", "hi": f"{p.get('hi', (1 << 64) - 1):016x}", "epoch": p.get("epoch"),
            "parent": p.get("parent"), "voters": sorted(p.get("voters", [])), "learners": sorted(p.get("learners", [])),
            "leader": leader_id, "term": leader["term"] if leader else max(terms, default=None),
            # event source mappings' places in this partition's stream: UUID -> [log index, entries behind]
            "triggers": {m: [at, max(0, leader["applied"] - at)] for m, at in leader.get("checkpoints", {}).items()}
            if leader else {},
            "commit": leader["commit"] if leader else None, "applied": leader["applied"] if leader else None,
            "replicas": replicas})
    return {"at": at, "region": region, "version": meta.get("version", 0), "nodes": nodes,
            "partitions": partitions, "tables": _tables(tables), "replication": _replication(answers.values())}


def _replication(answers) -> list[dict]:
    """Global tables' replication lag from this region, per (table, replica
    region): each node reports the partitions it leads, so a table's lag is
    the largest over them (the age of the oldest change not yet acknowledged there)."""
    lags: dict[tuple[str, str], float] = {}
    for a in answers:
        for row in (a.get("replication") or {}).get("replication", []):
            key = (row["table"], row["region"])
            lags[key] = max(lags.get(key, 0.0), row["lag_ms"])
    return [{"table": t, "region": r, "lag_ms": lag} for (t, r), lag in sorted(lags.items())]


def _active(faults: dict) -> dict:
    """Only the faults in effect (the defaults left out)."""
    defaults = {"drop_to": [], "drop_from": [], "loss": 0.0, "delay_ms": 0.0, "jitter_ms": 0.0, "clock_rate": 1.0,
                "txn_crash_at": ""}
    return {k: v for k, v in faults.items() if k in defaults and v != defaults[k]}


def _tables(tables: dict) -> list[dict]:
    out = []
    for t in sorted(tables.values(), key=lambda t: t["name"]):
        spec = t.get("spec", {})
        if "System" in spec:
            continue
        out.append({"name": t["name"], "id": t["id"], "status": t.get("status"), "index_of": spec.get("IndexOf"),
                    "partitions": len(t.get("partitions", [])), "item_count": t.get("item_count"),
                    "size_bytes": t.get("size_bytes"), "consumed": t.get("consumed") or {},
                    "billing": spec.get("BillingMode", "PROVISIONED"),
                    "provisioned": spec.get("ProvisionedThroughput") or {}})
    return out


def changes(before: dict | None, after: dict) -> list[dict]:
    """Timeline entries for what differs from ``before`` to ``after``:
    elections (a term moved on), leader changes, a partition without a
    leader, membership changes, partitions new (splits) or gone, nodes that
    stopped or started answering, and faults set or healed."""
    if before is None:
        return []
    at = after["at"]
    out = []

    def add(kind: str, subject: str, text: str) -> None:
        out.append({"at": at, "kind": kind, "subject": subject, "text": text})

    old_nodes = {n["id"]: n for n in before["nodes"]}
    for n in after["nodes"]:
        o = old_nodes.get(n["id"])
        if o is None:
            add("membership", n["id"], f"node {n['id']} joined ({n['az']})")
        elif o["reachable"] != n["reachable"]:
            add("node", n["id"], f"node {n['id']} " + ("answers again" if n["reachable"] else
                                                       f"stopped answering: {n['error']}"))
        elif o["state"] != n["state"]:
            add("membership", n["id"], f"node {n['id']} is {n['state']} (was {o['state']})")
        if o is not None and n["reachable"] and o["reachable"] and o["faults"] != n["faults"]:
            add("fault", n["id"], f"node {n['id']} " + (_faults(n["faults"]) if n["faults"] else "healed"))
    for gone in set(old_nodes) - {n["id"] for n in after["nodes"]}:
        add("membership", gone, f"node {gone} removed")
    old = {p["id"]: p for p in before["partitions"]}
    for p in after["partitions"]:
        o = old.get(p["id"])
        if o is None:
            origin = f" (split from {p['parent']})" if p.get("parent") else ""
            add("split" if p.get("parent") else "partition", p["id"],
                f"partition {p['id']} of {p['table']} created{origin} on {', '.join(p['voters'])}")
            continue
        if (o["voters"], o["learners"]) != (p["voters"], p["learners"]):
            add("membership", p["id"], f"{p['id']} members {_members(o)} -> {_members(p)}")
        if p["leader"] != o["leader"]:
            if p["leader"] is None:
                add("election", p["id"], f"{p['id']}: no leader (was {o['leader']}); election under way")
            else:
                add("leader", p["id"], f"{p['id']}: {p['leader']} leads at term {p['term']}"
                                       + (f" (was {o['leader']})" if o["leader"] else ""))
        elif p["leader"] is not None and (p["term"] or 0) > (o["term"] or 0):
            add("election", p["id"], f"{p['id']}: {p['leader']} re-elected at term {p['term']}")
    for gone in set(old) - {p["id"] for p in after["partitions"]}:
        add("partition", gone, f"partition {gone} retired")
    return out


def _faults(faults: dict) -> str:
    return ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}" for k, v in sorted(faults.items()))


def _members(p: dict) -> str:
    return ",".join(p["voters"]) + (f" + learners {','.join(p['learners'])}" if p["learners"] else "")
