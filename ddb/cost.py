"""What a month of DynamoDB costs: a bill, line by line, from what each
table consumed and stores, priced as DynamoDB prices it (`trireme cost` and
the console's Cost view both show it).

Pure: the usage (`Usage`, from the cluster metadata with the meta leader's
counts: `usages`) and the price table (ddb/prices.json or the user's copy)
in, the lines out. Every line keeps its arithmetic (quantity x price / per =
cost) so that the report shows why a bill is what it is: a Scan that reads
10,000 items of 4 KB costs 5,000 read units however few items it returns.

Request-based quantities (request units, stream reads) were observed over a
window (since the table was created) and are projected to a month of
``hours_per_month`` hours at the same rate; capacity and storage are what the
table has now, for a whole month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PRICES = Path(__file__).with_name("prices.json")  # DynamoDB's list price; read by the callers

GB = 1 << 30
UNITS = {  # price-table entry -> the unit a line counts
    "read_request_units": "RRU", "write_request_units": "WRU", "replicated_write_request_units": "rWRU",
    "rcu_hours": "RCU-hours", "wcu_hours": "WCU-hours", "replicated_wcu_hours": "rWCU-hours",
    "storage_gb_months": "GB-months", "stream_read_requests": "stream reads", "backup_gb_months": "GB-months",
}


@dataclass
class Usage:
    """One table (with its indexes) as the cluster reports it."""
    table: str
    billing: str = "PROVISIONED"  # or PAY_PER_REQUEST
    table_class: str = "STANDARD"
    rcu: int = 0  # provisioned, the table's plus its global indexes'
    wcu: int = 0
    global_table: bool = False  # replicas in other regions: writes are replicated writes
    read_units: float = 0.0  # consumed since the table was created (eventually consistent: 0.5 each)
    write_units: float = 0.0
    stream_reads: int = 0  # GetRecords calls
    size_bytes: int = 0  # table and indexes
    backup_bytes: int | None = None  # None: backups are not measured
    window_s: float = 1.0  # how long the usage was observed
    # provisioned capacity-hours over the window (table and indexes); None: the current capacity all along
    rcu_hours: float | None = None
    wcu_hours: float | None = None


@dataclass
class Line:
    table: str
    item: str
    entry: str  # the price table's entry
    observed: float  # over the window (capacity and storage: for the window's length)
    month: float  # projected to a month
    price: float
    per: float
    note: str = ""
    cost: float = field(init=False)

    def __post_init__(self) -> None:
        self.cost = self.month * self.price / self.per

    @property
    def unit(self) -> str:
        return UNITS[self.entry]


def month_s(prices: dict) -> float:
    return float(prices.get("hours_per_month", 730)) * 3600


def table_lines(u: Usage, prices: dict) -> list[Line]:
    """The lines of one table's bill."""
    cls = prices["table_classes"].get(u.table_class) or prices["table_classes"]["STANDARD"]
    month = month_s(prices)
    window = max(u.window_s, 1.0)
    scale = month / window  # observed -> a month at the same rate
    hours = window / 3600

    def line(item: str, entry: str, observed: float, projected: float, table: dict = cls, note: str = "") -> Line:
        p = table[entry]
        return Line(u.table, item, entry, observed, projected, float(p["price"]), float(p.get("per", 1)), note)

    lines = []
    if u.billing == "PAY_PER_REQUEST":
        lines.append(line("on-demand reads", "read_request_units", u.read_units, u.read_units * scale))
        writes = "replicated_write_request_units" if u.global_table else "write_request_units"
        lines.append(line("on-demand writes" + (" (global table)" if u.global_table else ""), writes,
                          u.write_units, u.write_units * scale))
    else:
        rcu_h = u.rcu * hours if u.rcu_hours is None else u.rcu_hours
        wcu_h = u.wcu * hours if u.wcu_hours is None else u.wcu_hours
        lines.append(line(f"provisioned reads ({u.rcu} RCU)", "rcu_hours", rcu_h, u.rcu * month / 3600))
        writes = "replicated_wcu_hours" if u.global_table else "wcu_hours"
        lines.append(line(f"provisioned writes ({u.wcu} WCU)" + (" (global table)" if u.global_table else ""),
                          writes, wcu_h, u.wcu * month / 3600))
    gb = u.size_bytes / GB
    lines.append(line(f"storage ({u.size_bytes:,} bytes with indexes)", "storage_gb_months",
                      gb * window / month, gb))
    if u.stream_reads:
        lines.append(line("stream reads", "stream_read_requests", u.stream_reads, u.stream_reads * scale,
                          table=prices))
    if u.backup_bytes is None:
        lines.append(line("backups", "backup_gb_months", 0, 0, table=prices, note="not measured yet"))
    else:
        bgb = u.backup_bytes / GB
        lines.append(line("backups", "backup_gb_months", bgb * window / month, bgb, table=prices))
    return lines


def capacity_hours(history: list, now: float) -> tuple[float, float]:
    """(RCU-hours, WCU-hours) provisioned from the first entry of ``history``
    (ddb/tables.py ``capacity_history``: [since, billing mode, RCU, WCU]) to
    ``now``; on-demand stretches count none."""
    rcu_h = wcu_h = 0.0
    for (since, billing, rcu, wcu), nxt in zip(history, [*history[1:], [now]]):
        if billing != "PAY_PER_REQUEST":
            hours = max(nxt[0] - since, 0.0) / 3600
            rcu_h += rcu * hours
            wcu_h += wcu * hours
    return rcu_h, wcu_h


def free_tier(lines: list[Line], usages: list[Usage], prices: dict) -> list[Line]:
    """The storage free tier (per account: the first GB-months of each class
    that has one), as negative lines."""
    out = []
    for cls_name, cls in prices["table_classes"].items():
        p = cls["storage_gb_months"]
        free = float(p.get("free", 0))
        tables = {u.table for u in usages if u.table_class == cls_name}
        used = sum(x.month for x in lines if x.entry == "storage_gb_months" and x.table in tables)
        if free and used:
            out.append(Line("(account)", f"free tier: first {free:g} GB ({cls_name})", "storage_gb_months",
                            0, -min(free, used), float(p["price"]), float(p.get("per", 1))))
    return out


def estimate(usages: list[Usage], prices: dict) -> dict[str, Any]:
    """The whole bill: every line, the free tier, the month's total."""
    lines = [x for u in usages for x in table_lines(u, prices)]
    lines += free_tier(lines, usages, prices)
    return {"hours_per_month": prices.get("hours_per_month", 730),
            "tables": [asdict(u) for u in usages],
            "lines": [{**asdict(x), "unit": x.unit} for x in lines],
            "monthly_total": sum(x.cost for x in lines)}


def number(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.4g}" if abs(x) >= 0.001 else f"{x:.3g}"


def _per(per: float, unit: str) -> str:
    if per == 1:
        return unit.rstrip("s")
    return f"{per / 1e6:g}M {unit}" if per >= 1e6 else f"{per / 1e3:g}k {unit}"


def arithmetic(x: dict) -> str:
    """`219,000,000 WRU x $0.625 per 1M WRU = $136.8750`."""
    sign = "-" if x["cost"] < 0 else ""
    return (f"{number(x['month'])} {x['unit']} x ${x['price']:g} per {_per(x['per'], x['unit'])} "
            f"= {sign}${abs(x['cost']):,.4f}")


def window_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


OBSERVED = {"read_request_units", "write_request_units", "replicated_write_request_units", "stream_read_requests",
            "rcu_hours", "wcu_hours", "replicated_wcu_hours"}  # lines measured over the window (the rest: now)


def explained(report: dict) -> list[dict]:
    """The report's lines, each with its arithmetic and what was observed, as
    text (the CLI's table and the console show the same words)."""
    windows = {t["table"]: t["window_s"] for t in report["tables"]}
    out = []
    for x in report["lines"]:
        w = windows.get(x["table"])
        measured = x["entry"] in OBSERVED and w is not None
        observed = (f"{number(x['observed'])} {x['unit']} in {window_text(w)}" if measured
                    else "-" if x["table"] == "(account)" or x["note"] else "now")
        out.append({**x, "observed_text": observed,
                    "arithmetic": arithmetic(x) + (f"  ({x['note']})" if x["note"] else "")})
    return out


def usages(meta: dict, stream_reads: dict[str, int], now: float) -> list[Usage]:
    """One Usage per user table from the metadata (with the meta leader's
    counts merged in, as `trireme status` gathers it); a global index's
    units, capacity and bytes are its base table's."""
    tables = meta.get("tables", {})
    backups = _backup_bytes(meta)
    out = []
    for t in sorted(tables.values(), key=lambda t: t["name"]):
        spec = t.get("spec", {})
        if "IndexOf" in spec or "System" in spec:
            continue
        parts = [t] + [x for x in tables.values() if x.get("spec", {}).get("IndexOf") == t["name"]]
        consumed = [x.get("consumed") or {} for x in parts]
        pts = [spec.get("ProvisionedThroughput") or {}] + [
            g.get("ProvisionedThroughput") or {} for g in spec.get("GlobalSecondaryIndexes") or []]
        history = (t.get("updated") or {}).get("CapacityHistory")
        if history:  # the table's own capacity changed: its hours as they were, the indexes' current ones
            index_pts = pts[1:]
            rcu_h, wcu_h = capacity_hours(history, now)
            hours = (now - history[0][0]) / 3600
            rcu_h += sum(p.get("ReadCapacityUnits", 0) for p in index_pts) * hours
            wcu_h += sum(p.get("WriteCapacityUnits", 0) for p in index_pts) * hours
        else:
            rcu_h = wcu_h = None
        out.append(Usage(
            table=t["name"], billing=spec.get("BillingMode", "PROVISIONED"),
            table_class=spec.get("TableClass") or "STANDARD",
            rcu=sum(p.get("ReadCapacityUnits", 0) for p in pts), wcu=sum(p.get("WriteCapacityUnits", 0) for p in pts),
            global_table=bool(t.get("replicas")),
            read_units=sum(c.get("read_units_total", 0.0) for c in consumed),
            write_units=sum(c.get("write_units_total", 0.0) for c in consumed),
            stream_reads=stream_reads.get(t["name"], 0),
            size_bytes=sum(int(x.get("size_bytes", 0)) for x in parts),
            backup_bytes=None if backups is None else backups.get(t["name"], 0),
            window_s=max(now - float(t.get("created", now)), 1.0), rcu_hours=rcu_h, wcu_hours=wcu_h))
    return out


def _backup_bytes(meta: dict) -> dict[str, int] | None:
    """The bytes of each table's on-demand backups (the metadata's backup
    records: ListBackups' BackupSizeBytes); None where the cluster keeps no
    backup records (a version without backups)."""
    if "backups" not in meta:
        return None
    out: dict[str, int] = {}
    for b in meta["backups"].values():
        if b.get("status") == "AVAILABLE":
            name = b["table"]["name"]
            out[name] = out.get(name, 0) + int(b.get("size", 0))
    return out
