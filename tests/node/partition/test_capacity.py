"""The token buckets and the meter of node/partition/capacity.py."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb.errors import ProvisionedThroughputExceededException, ThrottlingException
from node.partition.capacity import (GSI_THROTTLED, Limits, PartitionCapacity, TokenBucket, raw_read_units,
                                     raw_write_units)

requests = st.lists(st.tuples(st.floats(0, 3), st.integers(1, 20)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.5, 50), burst_s=st.floats(0, 20), gaps=requests)
def test_admitted_over_any_window_never_exceeds_rate_times_window_plus_burst(rate, burst_s, gaps):
    b = TokenBucket(rate, burst_s, 0.0)
    now, admitted = 0.0, []
    for gap, units in gaps:
        now += gap
        if units <= b.capacity and b.take(units, now):
            admitted.append((now, units))
    for i, (t0, _) in enumerate(admitted):
        total = 0
        for t1, units in admitted[i:]:
            total += units
            assert total <= rate * (t1 - t0) + b.capacity + 1e-6


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(0.5, 20), gaps=requests)
def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket_and_leaves_a_debt(rate, gaps):
    b = TokenBucket(rate, 1.0, 0.0)
    now, admitted = 0.0, 0.0
    for gap, units in gaps:
        now += gap
        if b.take(units * b.capacity, now):  # every request is at least the whole bucket
            admitted += units * b.capacity
    max_units = 20 * b.capacity
    assert admitted <= rate * now + b.capacity + max_units + 1e-6


def test_unused_capacity_accrues_up_to_the_burst():
    b = TokenBucket(10, 300, 0.0)
    assert b.tokens == 3000  # a new bucket starts full
    assert b.take(3000, 0.0) and not b.take(1, 0.0)
    assert b.refill(100.0) == 1000 and b.refill(1000.0) == 3000


def test_units_are_priced_as_dynamodb_counts_them():
    assert raw_read_units(0, True) == 1 and raw_read_units(4096, True) == 1 and raw_read_units(4097, True) == 2
    assert raw_read_units(4097, False) == 1
    assert raw_write_units(1) == 1 and raw_write_units(1025) == 2


def test_a_limited_partition_throttles_with_dynamodbs_errors_and_meters_what_it_admits():
    cap = PartitionCapacity()
    cap.read(3, 0.0)
    cap.write(2, 0.0)
    assert not cap.enforced and cap.report() == [3, 2, 0, 0]
    cap.configure(Limits(read=1, write=1, burst_s=1), 0.0)
    cap.write(1, 0.0)  # the bucket starts with its burst (one second here)
    with pytest.raises(ProvisionedThroughputExceededException) as e:
        cap.write(1, 0.0)
    assert e.value.message.startswith("The level of configured provisioned throughput for the table was exceeded")
    cap.write(1, 1.0)
    assert cap.report() == [3, 4, 0, 1]
    cap.configure(Limits(read=1, write=1, on_demand=True, burst_s=1), 0.0)
    cap.read(1, 1.0)
    with pytest.raises(ThrottlingException):
        cap.read(1, 1.0)


def test_a_global_index_without_capacity_throttles_its_base_tables_writes():
    cap = PartitionCapacity()
    cap.configure(Limits(write=100, gsi_write={"byColor": 1}, burst_s=1), 0.0)
    cap.write(1, 0.0, {"byColor": 1})
    with pytest.raises(ProvisionedThroughputExceededException) as e:
        cap.write(1, 0.0, {"byColor": 1})
    assert e.value.message == GSI_THROTTLED
    cap.write(1, 0.0, {"other": 5})  # an index without a limit of its own
    cap.write(1, 0.0)  # a write the index does not see
    assert cap.report()[1] == 3
