"""What `trireme status` shows: nodes, tables and every partition's replicas,
gathered from the nodes' admin services and printed as readable tables, and
each replica table (global tables) with its replication lag per destination
region; with regions (`trireme up --regions`), that for every region, then
the cross-region link's pairs and every replica table of every region."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cluster.rpc import Channels, call_once, meta_call
from deploy.link import call as link_call
from deploy.local import LocalCluster
from deploy.regions import MultiRegion


async def gather(addrs: list[str], procs: dict[str, Any] | None = None, timeout: float = 2.0,
                 cluster_id: str = "") -> dict:
    """Metadata from the first node that answers; replica states from all
    (a node of another cluster on one of `addrs` refuses: shown as an error)."""
    channels = Channels(cluster_id)
    try:
        async def ask(addr: str, op: str) -> Any:
            try:
                return await call_once(channels, addr, "admin", op, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 (a down node is a status, not an error)
                return {"error": str(exc).splitlines()[0][:120]}

        replicas = await asyncio.gather(*(ask(a, "replicas") for a in addrs))
        senders = await asyncio.gather(*(ask(a, "replication") for a in addrs))
        meta, events = None, []
        for addr in addrs:
            m = await ask(addr, "meta")
            if m and "error" not in m and (meta is None or m.get("version", 0) > meta.get("version", 0)):
                meta = m
        if meta:
            try:  # the tables' counts: soft state of the meta leader (node/control/stats.py)
                counts = (await meta_call(channels, addrs, "table_stats", {}, deadline_s=timeout))["tables"]
            except Exception:  # noqa: BLE001 (no meta leader: the counts are left out)
                counts = {}
            for name, c in counts.items():
                if name in meta.get("tables", {}):
                    meta["tables"][name].update({k: c[k] for k in ("item_count", "size_bytes", "consumed") if k in c})
            try:  # recent splits and moves: soft state of the meta leader too (node/control/controller.py)
                events = (await meta_call(channels, addrs, "events", {}, deadline_s=timeout))["events"]
            except Exception:  # noqa: BLE001 (no meta leader: none shown)
                pass
        by_node = {}
        for addr, r in zip(addrs, replicas):
            if r and "replicas" in r:
                by_node[r["node"]] = {"addr": addr, "replicas": r["replicas"]}
            else:
                by_node[addr] = {"addr": addr, "error": (r or {}).get("error", "no answer")}
        report = {"cluster_id": cluster_id, "meta": meta, "nodes": by_node, "events": events,
                  "replication_lag": replication_lag([r for r in senders if r and "replication" in r])}
        region = next((r["region"] for r in senders if r and r.get("region")), None)
        if region is not None:
            report["region"] = region
        report["replication"] = replication({region or "": report})
        report["metrics"] = metrics_urls(procs or {})
        return report
    finally:
        await channels.close()


def metrics_urls(procs: dict[str, Any]) -> dict[str, str]:
    """Process name -> its Prometheus endpoint: a router's DynamoDB port (a router worker's admin
    endpoint: the shared port answers from any worker), a node's --metrics-listen."""
    out = {}
    for name, p in procs.items():
        addr = (p.admin_addr if getattr(p, "shared", False) else p.addr) if p.kind == "router" else \
            getattr(p, "metrics_addr", "")
        if addr:
            out[name] = f"http://{addr}/metrics"
    return out


async def gather_cluster(cluster: LocalCluster) -> dict:
    return await gather([p.addr for p in cluster.procs.values() if p.kind == "node"],
                        {p.name: p for p in cluster.procs.values()}, cluster_id=cluster.cluster_id)


def gather_regions(m: MultiRegion) -> dict:
    """Every region's report (as `gather`), the link's pairs, and the replica tables."""
    async def all_regions() -> list[dict]:
        return await asyncio.gather(*(gather_cluster(c) for c in m.clusters.values()))

    reports = dict(zip(m.clusters, asyncio.run(all_regions())))
    for region, c in m.clusters.items():
        reports[region]["endpoint"] = c.endpoint
    try:
        link = link_call(m.control)
    except (OSError, ValueError) as exc:
        link = {"error": f"the link does not answer on {m.control} ({exc}); see {m.link_log}"}
    return {"regions": reports, "link": link, "replication": replication(reports)}


def replication_lag(answers: list[dict]) -> dict[str, dict[str, float]]:
    """{table: {destination region: seconds}} from the nodes' Admin
    ``replication`` answers: each node reports the partitions it leads, so a
    replica's lag is the largest over them (the age of the oldest change not
    yet acknowledged there; 0 when every change is)."""
    out: dict[str, dict[str, float]] = {}
    for answer in answers:
        for row in answer["replication"]:
            lags = out.setdefault(row["table"], {})
            lags[row["region"]] = max(lags.get(row["region"], 0.0), row["lag_ms"] / 1000)
    return out


def replication(reports: dict[str, dict]) -> list[dict]:
    """One row per replica table and (region, replica region): the replica's
    status in that region's metadata, and the replication lag from the region
    to its replica. The lag is reported by global-table replication in each
    region's report under "replication_lag" ({table: {replica region:
    seconds}}); None (shown as "not measured") until it is."""
    rows = []
    for region, report in sorted(reports.items()):
        lag = report.get("replication_lag", {})
        for t in sorted(((report.get("meta") or {}).get("tables") or {}).values(), key=lambda t: t["name"]):
            for r in t.get("replicas", []):
                rows.append({"table": t["name"], "region": region, "replica": r["region"], "status": r["status"],
                             "lag_s": lag.get(t["name"], {}).get(r["region"]),
                             **({"strong": True} if t.get("consistency") == "STRONG" else {})})
    return rows


def render_regions(report: dict) -> str:
    parts = []
    for region, r in report["regions"].items():
        parts += [f"=== region {region}: {r.get('endpoint', '?')}", render(r, with_replication=False), ""]
    link = report["link"]
    parts += ["=== cross-region link", link["error"] if "error" in link else render_link(link)]
    parts += ["", "=== replica tables and replication lag", render_replication(report["replication"])]
    return "\n".join(parts)


def render_replication(rows: list[dict]) -> str:
    """Each replica table and (region, replica region) with its status and replication lag."""
    if not rows:
        return "no replica tables (global tables)"
    return table(["TABLE", "REGION", "REPLICA", "REPLICA STATUS", "REPLICATION LAG"], [
        [x["table"], x["region"] or "-", x["replica"], x["status"],
         "none: strong (one log)" if x.get("strong") else "not measured" if x["lag_s"] is None
         else f"{x['lag_s'] * 1000:.0f} ms"] for x in rows])


def render_link(state: dict) -> str:
    """The link's pairs: ports, latency, cut or open."""
    return table(["LINK FROM", "TO", "PORT", "FORWARDS TO", "LATENCY (one way)", "STATE"], [
        [p["src"], p["dst"], p["port"], p["target"], f"{p['latency_ms']:g} ms", "CUT" if p["cut"] else "open"]
        for p in state["pairs"]])


def render_capacity(meta: dict) -> str:
    """Each user table's capacity: mode, provisioned units, units consumed per
    second (metered, seconds old) and refused, and its auto scaling range."""
    scaling = (meta.get("scaling") or {}).get("targets", {})
    rows = []
    for t in sorted(meta.get("tables", {}).values(), key=lambda t: t["name"]):
        spec = t.get("spec", {})
        if "IndexOf" in spec or "System" in spec:
            continue
        pt = spec.get("ProvisionedThroughput") or {}
        on_demand = spec.get("BillingMode") == "PAY_PER_REQUEST"
        c = t.get("consumed") or {}
        auto = [f"{dim.rsplit(':', 1)[1].removesuffix('CapacityUnits').lower()} {x['MinCapacity']}-{x['MaxCapacity']}"
                for key, x in sorted(scaling.items()) if key.split("|")[0] == f"table/{t['name']}"
                for dim in [x["ScalableDimension"]]]
        rows.append([t["name"], "on-demand" if on_demand else "provisioned",
                     "-" if on_demand else f"{pt.get('ReadCapacityUnits', 0)}/{pt.get('WriteCapacityUnits', 0)}",
                     f"{c.get('read_units_per_s', 0):.1f}/{c.get('write_units_per_s', 0):.1f}",
                     f"{c.get('throttled_read_units_total', 0):g}/{c.get('throttled_write_units_total', 0):g}",
                     ", ".join(auto) or "-"])
    return table(["TABLE", "CAPACITY MODE", "RCU/WCU", "CONSUMED R/W PER S", "THROTTLED R/W UNITS",
                  "AUTO SCALING"], rows)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(out)


def _hash(x: int) -> str:
    return f"{x:016x}"


def render(report: dict, with_replication: bool = True) -> str:
    meta = report.get("meta")
    if not meta:
        return "no node answered with the cluster metadata: is the cluster running? (trireme up)"
    live = {n: v for n, v in report["nodes"].items() if "replicas" in v}
    parts = [f"cluster {report.get('cluster_id') or '?'}, metadata version {meta.get('version')}", ""]
    nodes = meta.get("nodes", {})
    metrics = report.get("metrics", {})
    parts.append(table(["NODE", "AZ", "ADDRESS", "STATE", "REPLICAS", "METRICS"], [
        [n["id"], n["az"], n["addr"], n.get("state", "?") + ("" if n["id"] in live else " (no answer)"),
         len(live[n["id"]]["replicas"]) if n["id"] in live else "-", metrics.get(n["id"], "-")]
        for n in sorted(nodes.values(), key=lambda n: n["id"])]))
    routers = sorted((name, url) for name, url in metrics.items() if name not in nodes)
    if routers:
        parts.append("router metrics: " + ", ".join(f"{name} {url}" for name, url in routers))
    tables = meta.get("tables", {})
    parts.append("")
    if tables:
        parts.append(table(["TABLE", "ID", "STATUS", "PARTITIONS", "ITEMS", "BYTES"], [
            [t["name"] + (" (global index)" if "IndexOf" in t.get("spec", {}) else
                          " (system)" if "System" in t.get("spec", {}) else ""), t["id"], t["status"],
             len(t.get("partitions", [])), t.get("item_count", 0), t.get("size_bytes", 0)]
            for t in sorted(tables.values(), key=lambda t: t["name"])]))
    else:
        parts.append("no tables")
    states: dict[str, dict[str, dict]] = {}
    for node_id, v in live.items():
        for r in v["replicas"]:
            states.setdefault(r["group"], {})[node_id] = r
    rows = []
    names = {t["id"]: t["name"] for t in tables.values()}
    for p in sorted(meta.get("partitions", {}).values(), key=lambda p: (p.get("table_id", -1), p.get("lo", 0))):
        seen = states.get(p["id"], {})
        leader = next((n for n, r in seen.items() if r["role"] == "LEADER"), "-")
        reps = []
        for n in list(p["voters"]) + [f"{x}" for x in p.get("learners", [])]:
            r = seen.get(n)
            tag = "" if n in p["voters"] else "(learner)"
            reps.append(f"{n}{tag}:{r['applied'] if r else 'down'}")
        table_name = names.get(p.get("table_id"), "(meta)" if p["id"] == "meta" else "?")
        if p.get("parent"):
            table_name += f" (split from {p['parent']})"
        rows.append([p["id"], table_name, f"{_hash(p.get('lo', 0))}-{_hash(p.get('hi', (1 << 64) - 1))}",
                     p.get("epoch", "-"), leader, " ".join(reps)])
    parts.append("")
    parts.append(table(["PARTITION", "TABLE", "HASH RANGE", "EPOCH", "LEADER", "REPLICAS (node:applied index)"],
                       rows))
    if report.get("events"):
        parts += ["", table(["TIME", "RECENT SPLITS AND MOVES"], [
            [time.strftime("%H:%M:%S", time.localtime(at)), text] for at, text in report["events"]])]
    if tables:
        parts += ["", render_capacity(meta)]
    if with_replication and report.get("replication"):
        parts += ["", render_replication(report["replication"])]
    return "\n".join(parts)
