"""Partition limits from the metadata, the meta leader's consumption sums and
adaptive capacity's allocation (node/control/throughput.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cluster.meta import MetaState
from node.control.throughput import Consumption, allocate, lent_rates, limits_of

GSI = {"IndexName": "byColor", "KeySchema": [{"AttributeName": "c", "KeyType": "HASH"}],
       "Projection": {"ProjectionType": "ALL"}, "ProvisionedThroughput": {"ReadCapacityUnits": 8,
                                                                          "WriteCapacityUnits": 2}}


def state(spec: dict) -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a", "az": "z1"}])
    assert s.apply({"op": "create_table", "name": "t", "spec": spec, "uuid": "u", "now": 0.0,
                    "placements": [["n1"], ["n1"]]})["ok"]
    return s


def test_a_provisioned_tables_throughput_is_split_over_its_partitions():
    s = state({"BillingMode": "PROVISIONED", "GlobalSecondaryIndexes": [GSI],
               "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 4}})
    lim = limits_of(s, s.tables["t"])
    assert (lim.read, lim.write, lim.gsi_write, lim.on_demand) == (5, 2, {"byColor": 1}, False)
    assert limits_of(s, s.tables["t"], [7.5, 0.0]).read == 7.5  # lent by adaptive capacity


def test_an_on_demand_table_gets_the_per_partition_ceilings():
    s = state({"BillingMode": "PAY_PER_REQUEST"})
    lim = limits_of(s, s.tables["t"])
    assert (lim.read, lim.write, lim.on_demand) == (3000, 1000, True)


def test_consumption_adds_each_nodes_increase_and_survives_a_restart():
    s = state({})
    p0, p1 = s.tables["t"].partitions
    c = Consumption()
    c.add("n1", {p0: [10, 4, 0, 0]}, 0.0)
    c.add("n2", {p0: [2, 0, 0, 0], p1: [1, 1, 0, 0]}, 0.0)  # a follower's eventual reads
    c.add("n1", {p0: [30, 4, 0, 0]}, 5.0)
    c.add("n1", {p0: [5, 1, 0, 0]}, 10.0)  # n1 restarted: its counters start again
    got = c.table(s.tables["t"], 10.0)
    assert got["read_units_total"] == 38 and got["write_units_total"] == 6
    assert got["read_units_per_s"] > 0


@given(total=st.floats(1, 1000), demand=st.lists(st.floats(0, 2000), min_size=1, max_size=8))
def test_allocation_keeps_even_shares_and_lends_only_what_is_unused(total, demand):
    got = allocate(total, demand)
    even = total / len(demand)
    assert all(g >= even - 1e-9 for g in got)
    lent = sum(g - even for g in got)
    unused = sum(max(0.0, even - d) for d in demand)
    assert lent <= unused + 1e-6
    assert all(g <= max(even, d) + 1e-6 for g, d in zip(got, demand))


def test_a_hot_partition_borrows_what_the_cold_one_leaves():
    s = state({"ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 10}})
    p0, p1 = s.tables["t"].partitions
    c = Consumption()
    c.add("n1", {p0: [0, 0, 0, 0], p1: [0, 0, 0, 0]}, 0.0)
    c.add("n1", {p0: [0, 25, 0, 25], p1: [0, 5, 0, 0]}, 5.0)  # p0 wants 10/s, p1 uses 1/s
    lent = lent_rates(s, c, {p0: [], p1: []}, 5.0)
    assert p1 not in lent and 5 < lent[p0][1] <= 9.0 + 1e-9 and lent[p0][0] == 0


def test_trireme_system_tables_are_never_limited():
    s = state({"BillingMode": "PAY_PER_REQUEST", "System": "transactions"})
    lim = limits_of(s, s.tables["t"])
    assert (lim.read, lim.write) == (None, None)
