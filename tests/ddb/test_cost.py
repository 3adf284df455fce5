"""The bill's arithmetic (ddb/cost.py), against the default price table
(today's list: on-demand halved on 1 Nov 2024)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.cost import GB, Usage, arithmetic, capacity_hours, estimate, table_lines
from ddb.cost import DEFAULT_PRICES, usages

PRICES = json.loads(DEFAULT_PRICES.read_text())
MONTH_S = 730 * 3600


def _line(lines, entry):
    return next(x for x in lines if x.entry == entry)


def test_on_demand_units_are_projected_from_the_observed_window():
    u = Usage("orders", billing="PAY_PER_REQUEST", read_units=500.0, write_units=1000.0, window_s=3600)
    lines = table_lines(u, PRICES)
    writes = _line(lines, "write_request_units")
    assert writes.observed == 1000 and writes.month == 730_000
    assert writes.cost == pytest.approx(730_000 * 0.625 / 1e6)
    assert _line(lines, "read_request_units").cost == pytest.approx(365_000 * 0.125 / 1e6)
    assert arithmetic({**vars(writes), "unit": writes.unit}) == "730,000 WRU x $0.625 per 1M WRU = $0.4562"


def test_a_provisioned_table_pays_for_its_capacity_whatever_it_consumed():
    u = Usage("t", rcu=10, wcu=5, read_units=1e9, write_units=1e9, window_s=60)
    lines = table_lines(u, PRICES)
    assert _line(lines, "rcu_hours").cost == pytest.approx(10 * 730 * 0.00013)
    assert _line(lines, "wcu_hours").cost == pytest.approx(5 * 730 * 0.00065)
    assert not any(x.entry.endswith("request_units") for x in lines)


def test_the_infrequent_access_class_stores_for_less_and_serves_for_more():
    std = Usage("a", billing="PAY_PER_REQUEST", write_units=100, size_bytes=100 * GB, window_s=60)
    ia = Usage("b", billing="PAY_PER_REQUEST", write_units=100, size_bytes=100 * GB, window_s=60,
               table_class="STANDARD_INFREQUENT_ACCESS")
    s, i = table_lines(std, PRICES), table_lines(ia, PRICES)
    assert _line(i, "storage_gb_months").cost == pytest.approx(100 * 0.10)
    assert _line(s, "storage_gb_months").cost == pytest.approx(100 * 0.25)
    assert _line(i, "write_request_units").cost > _line(s, "write_request_units").cost


def test_storage_free_tier_and_global_tables_replicated_writes():
    bill = estimate([Usage("g", billing="PAY_PER_REQUEST", global_table=True, write_units=10, size_bytes=10 * GB,
                           window_s=MONTH_S)], PRICES)
    entries = {x["entry"]: x for x in bill["lines"]}
    assert entries["replicated_write_request_units"]["cost"] == pytest.approx(10 * 0.625 / 1e6)
    free = [x for x in bill["lines"] if x["item"].startswith("free tier")]
    assert len(free) == 1 and free[0]["month"] == -10  # 10 GB stored, all of it within the free 25 GB
    assert bill["monthly_total"] == pytest.approx(10 * 0.625 / 1e6)


def test_stream_reads_and_backups_not_yet_measured():
    lines = table_lines(Usage("s", billing="PAY_PER_REQUEST", stream_reads=100, window_s=MONTH_S), PRICES)
    assert _line(lines, "stream_read_requests").cost == pytest.approx(100 * 0.02 / 100_000)
    backups = _line(lines, "backup_gb_months")
    assert backups.cost == 0 and backups.note == "not measured yet"


@given(st.floats(0, 1e9), st.floats(0, 1e9), st.integers(0, 1 << 50), st.floats(1, 1e8),
       st.sampled_from(["STANDARD", "STANDARD_INFREQUENT_ACCESS"]))
def test_the_total_is_the_sum_of_the_lines_and_grows_with_use(reads, writes, size, window, cls):
    u = Usage("t", billing="PAY_PER_REQUEST", read_units=reads, write_units=writes, size_bytes=size,
              window_s=window, table_class=cls)
    bill = estimate([u], PRICES)
    assert bill["monthly_total"] == pytest.approx(sum(x["cost"] for x in bill["lines"]))
    assert bill["monthly_total"] >= 0
    more = estimate([Usage(**{**vars(u), "write_units": writes + 1000})], PRICES)
    assert more["monthly_total"] > bill["monthly_total"]


def test_usages_fold_a_global_index_into_its_table_and_skip_system_tables():
    meta = {"tables": {
        "t": {"name": "t", "created": 100.0, "size_bytes": 1000, "replicas": [{"region": "eu-west-1"}],
              "consumed": {"read_units_total": 4.0, "write_units_total": 2.0},
              "spec": {"BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": 5,
                                                                              "WriteCapacityUnits": 5},
                       "GlobalSecondaryIndexes": [{"ProvisionedThroughput": {"ReadCapacityUnits": 1,
                                                                              "WriteCapacityUnits": 2}}]}},
        "t#i": {"name": "t#i", "created": 100.0, "size_bytes": 500, "spec": {"IndexOf": "t"},
                "consumed": {"read_units_total": 1.0, "write_units_total": 2.0}},
        "sys": {"name": "sys", "created": 1.0, "spec": {"System": True}}}}
    [u] = usages(meta, {"t": 7}, now=160.0)
    assert (u.table, u.rcu, u.wcu, u.read_units, u.write_units, u.size_bytes, u.stream_reads, u.window_s,
            u.global_table) == ("t", 6, 7, 5.0, 4.0, 1500, 7, 60.0, True)


def test_backups_are_billed_by_their_size_once_the_cluster_keeps_them():
    table = {"name": "t", "created": 0.0, "spec": {"BillingMode": "PAY_PER_REQUEST"}}
    [before] = usages({"tables": {"t": table}}, {}, now=10.0)
    assert before.backup_bytes is None  # a cluster without backup records: "not measured yet"
    backups = {"a": {"status": "AVAILABLE", "size": 2 * GB, "table": {"name": "t"}},
               "b": {"status": "AVAILABLE", "size": GB, "table": {"name": "t"}},
               "c": {"status": "CREATING", "size": 5 * GB, "table": {"name": "t"}}}
    [u] = usages({"tables": {"t": table}, "backups": backups}, {}, now=10.0)
    assert u.backup_bytes == 3 * GB
    assert _line(table_lines(u, PRICES), "backup_gb_months").cost == pytest.approx(3 * 0.10)


def test_capacity_hours_follow_the_capacity_history():
    from ddb.tables import capacity_history, parse_update_table
    created = {"name": "tbl", "created": 0.0, "updated": {},
               "spec": {"BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": 10,
                                                                                "WriteCapacityUnits": 5}}}
    spec, updated = parse_update_table({"ProvisionedThroughput": {"ReadCapacityUnits": 20, "WriteCapacityUnits": 5}},
                                       created, now=3600.0)
    assert updated["CapacityHistory"] == [[0.0, "PROVISIONED", 10, 5], [3600.0, "PROVISIONED", 20, 5]]
    later = {**created, "spec": spec, "updated": updated}
    spec2, updated2 = parse_update_table({"BillingMode": "PAY_PER_REQUEST"}, later, now=7200.0)
    history = updated2["CapacityHistory"]
    assert history[-1] == [7200.0, "PAY_PER_REQUEST", 0, 0]
    # 1 h at 10 RCU, 1 h at 20, then on demand: 30 RCU-hours; 5 + 5 WCU-hours
    assert capacity_hours(history, now=10_800.0) == pytest.approx((30.0, 10.0))
    assert capacity_history({**later, "spec": spec2, "updated": updated2}, spec2, 9000.0) == {}  # no change


@given(st.lists(st.tuples(st.floats(0, 1e5), st.integers(1, 1000), st.integers(1, 1000)), min_size=1, max_size=10))
def test_capacity_hours_lie_between_the_smallest_and_largest_capacity(steps):
    history, t = [], 0.0
    for gap, rcu, wcu in steps:
        history.append([t, "PROVISIONED", rcu, wcu])
        t += gap
    rcu_h, _ = capacity_hours(history, now=t)
    hours = t / 3600
    lo, hi = min(s[1] for s in steps), max(s[1] for s in steps)
    assert lo * hours - 1e-6 <= rcu_h <= hi * hours + 1e-6
