"""TTL's pure rules: UpdateTimeToLive/DescribeTimeToLive, the cooldown, and
which items are expired (sources in ddb/ttl.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.errors import DynamoDBError, ValidationException
from ddb.expression_eval import evaluate
from ddb.expressions import parse_condition, request_context
from ddb.ttl import (COOLDOWN_MS, FIVE_YEARS_S, TtlState, check_describable, expiry_condition, is_expired,
                     parse_update_ttl, update_ttl)

NOW_MS = 1_796_535_752_000
ON = TtlState("expires", True, NOW_MS - COOLDOWN_MS)
OFF = TtlState()


def error(fn, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises(DynamoDBError) as exc:
        fn(*args, **kwargs)
    return type(exc.value), exc.value.message


# ---------------------------------------------------------------- requests


def test_update_requests():
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert parse_update_ttl({"TableName": "orders", "TimeToLiveSpecification": spec}) == ("orders", True, "expires")


@pytest.mark.parametrize("body,msg", [
    ({"TableName": "orders"},
     "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: "
     "Member must not be null"),
    ({"TableName": "orders", "TimeToLiveSpecification": {}},
     "2 validation errors detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: "
     "Member must not be null; Value null at 'timeToLiveSpecification.attributeName' failed to satisfy "
     "constraint: Member must not be null"),
    ({"TableName": "orders", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ""}},
     "1 validation error detected: Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy "
     "constraint: Member must have length greater than or equal to 1"),
    ({"TableName": "orders", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "a" * 256}},
     f"1 validation error detected: Value '{'a' * 256}' at 'timeToLiveSpecification.attributeName' failed to "
     "satisfy constraint: Member must have length less than or equal to 255"),
    ({"TimeToLiveSpecification": {"Enabled": False, "AttributeName": "a"}},
     "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"),
])
def test_update_request_errors(body, msg):
    assert error(parse_update_ttl, body) == (ValidationException, msg)


# ---------------------------------------------------------------- the state machine


def test_enable_then_disable_after_the_cooldown():
    on = update_ttl(OFF, True, "expires", now_ms=NOW_MS)
    assert on == TtlState("expires", True, NOW_MS)
    assert on.describe(NOW_MS) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    off = update_ttl(on, False, "expires", now_ms=NOW_MS + COOLDOWN_MS)
    assert off.describe(NOW_MS + COOLDOWN_MS) == {"TimeToLiveStatus": "DISABLED"}
    assert OFF.describe(0) == {"TimeToLiveStatus": "DISABLED"}


def test_transitional_statuses_while_settling():
    on = TtlState("expires", True, NOW_MS)
    assert on.status(NOW_MS + 999, settle_ms=1000) == "ENABLING"
    assert on.status(NOW_MS + 1000, settle_ms=1000) == "ENABLED"
    off = TtlState("expires", False, NOW_MS)
    assert off.describe(NOW_MS + 5, settle_ms=1000) == {"TimeToLiveStatus": "DISABLING", "AttributeName": "expires"}
    assert off.describe(NOW_MS + 1000, settle_ms=1000) == {"TimeToLiveStatus": "DISABLED"}


@pytest.mark.parametrize("state,enabled,attr,msg", [
    (ON, True, "expires", "TimeToLive is already enabled"),
    (ON, True, "other", "TimeToLive is active on a different AttributeName: current AttributeName is expires"),
    (ON, False, "other", "TimeToLive is active on a different AttributeName: current AttributeName is expires"),
    (OFF, False, "expires", "TimeToLive is already disabled"),
    (TtlState("expires", False, NOW_MS - COOLDOWN_MS), False, "expires", "TimeToLive is already disabled"),
])
def test_update_refusals(state, enabled, attr, msg):
    assert error(update_ttl, state, enabled, attr, now_ms=NOW_MS) == (ValidationException, msg)


def test_the_cooldown_follows_every_change_and_content_errors_come_first():
    on = update_ttl(OFF, True, "expires", now_ms=NOW_MS)
    cooldown = (ValidationException, "Time to live has been modified multiple times within a fixed interval")
    assert error(update_ttl, on, False, "expires", now_ms=NOW_MS + COOLDOWN_MS - 1) == cooldown
    assert error(update_ttl, on, True, "expires", now_ms=NOW_MS + 1)[1] == "TimeToLive is already enabled"
    off = update_ttl(on, False, "expires", now_ms=NOW_MS + COOLDOWN_MS)
    assert error(update_ttl, off, True, "expires", now_ms=NOW_MS + COOLDOWN_MS + 1) == cooldown
    assert update_ttl(off, True, "renamed", now_ms=NOW_MS + 2 * COOLDOWN_MS).attribute == "renamed"
    assert update_ttl(OFF, True, "x", now_ms=0, cooldown_ms=0).enabled  # tests may shorten it


def test_the_cooldown_is_between_the_observed_refusal_and_success():
    assert 1_811_600 < COOLDOWN_MS <= 1_871_700


@pytest.mark.parametrize("status", ["CREATING", "DELETING"])
def test_describe_refuses_tables_in_transition(status):
    assert error(check_describable, status) == (
        ValidationException,
        f"Cannot describe time to live while table is in {status} state: Current table state is {status}")


@pytest.mark.parametrize("status", ["ACTIVE", "UPDATING"])
def test_describe_accepts_settled_tables(status):
    check_describable(status)


# ---------------------------------------------------------------- expiry

NOW = 1_796_535_752


@pytest.mark.parametrize("value,expired", [
    ({"N": str(NOW - 1)}, True),
    ({"N": "1796535751.999"}, True),
    ({"N": str(NOW)}, False),
    ({"N": str(NOW + 60)}, False),
    ({"N": str(NOW - FIVE_YEARS_S)}, True),
    ({"N": str(NOW - FIVE_YEARS_S - 1)}, False),  # more than five years ago: ignored
    ({"N": "1171734022"}, False),  # the docs' 2007 example
    ({"N": str((NOW - 10) * 1000)}, False),  # milliseconds read as far future
    ({"S": str(NOW - 1)}, False),
    ({"NS": [str(NOW - 1)]}, False),
    ({"L": [{"N": str(NOW - 1)}]}, False),
    ({"M": {"t": {"N": str(NOW - 1)}}}, False),
    ({"NULL": True}, False),
])
def test_which_items_are_expired(value, expired):
    assert is_expired({"id": {"S": "a"}, "expires": value}, "expires", NOW) is expired


def test_items_without_the_attribute_never_expire():
    assert not is_expired({"id": {"S": "a"}}, "expires", NOW)
    assert not is_expired({"other": {"N": "1"}}, "expires", NOW)


def condition_holds(item, now):
    spec = expiry_condition("expires", now)
    ctx = request_context(spec, True)
    return evaluate(parse_condition(spec["ConditionExpression"], ctx), item)


values = st.one_of(
    st.integers(NOW - 2 * FIVE_YEARS_S, NOW + 10**6).map(lambda n: {"N": str(n)}),
    st.integers(NOW - 10**4, NOW + 10**4).map(lambda n: {"S": str(n)}),
    st.just({"NS": [str(NOW - 1)]}), st.just({"BOOL": True}), st.none())


@given(values)
def test_the_delete_condition_agrees_with_the_predicate(value):
    item = {"id": {"S": "a"}} if value is None else {"id": {"S": "a"}, "expires": value}
    assert condition_holds(item, NOW) is is_expired(item, "expires", NOW)
    assert condition_holds(None, NOW) is False  # deleted meanwhile: nothing to delete
