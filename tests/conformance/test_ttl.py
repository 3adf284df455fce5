"""Time to Live against the cluster: UpdateTimeToLive and DescribeTimeToLive
(statuses, echo, every refusal, the cooldown), and expiry: the partition
leaders delete items whose TTL attribute is a Number of epoch seconds in the
past (not more than five years), with their local and global index entries;
everything else stays. The cluster runs with a short cooldown and sweep
interval (conftest.py)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import TTL_COOLDOWN_S, create_table, error_of
from tests.integration.conftest import wait_until

COOLDOWN = ("ValidationException", "Time to live has been modified multiple times within a fixed interval")
EXPIRY_S = 30  # generous: the sweeps run every fraction of a second here


def spec(enabled: bool, name: str = "expires") -> dict:
    return {"Enabled": enabled, "AttributeName": name}


def describe(ddb, table: str) -> dict:
    return ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]


# ---------------------------------------------------------------- settings


def test_a_new_table_has_ttl_disabled(ddb):
    name = create_table(ddb, "ttl_new", ("pk", "S"))
    assert describe(ddb, name) == {"TimeToLiveStatus": "DISABLED"}


def test_enable_refusals_cooldown_and_disable(ddb):
    name = create_table(ddb, "ttl_cycle", ("pk", "S"))
    r = ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec(True))
    assert r["TimeToLiveSpecification"] == spec(True)
    assert describe(ddb, name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    # Content refusals come before the cooldown.
    assert error_of(ddb.update_time_to_live, TableName=name, TimeToLiveSpecification=spec(True)) == (
        "ValidationException", "TimeToLive is already enabled")
    other = ("ValidationException",
             "TimeToLive is active on a different AttributeName: current AttributeName is expires")
    assert error_of(ddb.update_time_to_live, TableName=name, TimeToLiveSpecification=spec(True, "other")) == other
    assert error_of(ddb.update_time_to_live, TableName=name, TimeToLiveSpecification=spec(False, "other")) == other
    assert error_of(ddb.update_time_to_live, TableName=name, TimeToLiveSpecification=spec(False)) == COOLDOWN
    assert describe(ddb, name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}  # unchanged

    def disabled() -> bool:
        try:
            r = ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec(False))
        except ClientError as exc:
            assert exc.response["Error"]["Message"] == COOLDOWN[1]
            return False
        assert r["TimeToLiveSpecification"] == spec(False)
        return True
    started = time.monotonic()
    wait_until(disabled, TTL_COOLDOWN_S + 10, "the cooldown to pass")
    assert time.monotonic() - started >= TTL_COOLDOWN_S * 0.5
    assert describe(ddb, name) == {"TimeToLiveStatus": "DISABLED"}
    assert error_of(ddb.update_time_to_live, TableName=name, TimeToLiveSpecification=spec(False)) == (
        "ValidationException", "TimeToLive is already disabled")
    # The cooldown follows a disable too; afterwards another attribute may be chosen.
    assert error_of(ddb.update_time_to_live, TableName=name, TimeToLiveSpecification=spec(True, "b")) == COOLDOWN
    wait_until(lambda: _enabled(ddb, name, "b"), TTL_COOLDOWN_S + 10, "the cooldown to pass")
    assert describe(ddb, name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "b"}


def _enabled(ddb, name: str, attribute: str) -> bool:
    try:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec(True, attribute))
    except ClientError as exc:
        assert exc.response["Error"]["Message"] == COOLDOWN[1]
        return False
    return True


def test_unknown_tables(ddb):
    missing = ("ResourceNotFoundException", "Requested resource not found: Table: ttl_nowhere not found")
    assert error_of(ddb.describe_time_to_live, TableName="ttl_nowhere") == missing
    assert error_of(ddb.update_time_to_live, TableName="ttl_nowhere", TimeToLiveSpecification=spec(True)) == missing


@pytest.mark.parametrize("body,message", [
    ({"TableName": "ttl_new"},
     "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: "
     "Member must not be null"),
    ({"TableName": "ttl_new", "TimeToLiveSpecification": {"AttributeName": "x"}},
     "1 validation error detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy "
     "constraint: Member must not be null"),
    ({"TableName": "ttl_new", "TimeToLiveSpecification": {"Enabled": True}},
     "1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy "
     "constraint: Member must not be null"),
    ({"TableName": "ttl_new", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ""}},
     "1 validation error detected: Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy "
     "constraint: Member must have length greater than or equal to 1"),
    ({"TableName": "ttl_new", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "a" * 256}},
     f"1 validation error detected: Value '{'a' * 256}' at 'timeToLiveSpecification.attributeName' failed to "
     "satisfy constraint: Member must have length less than or equal to 255"),
    ({"TableName": "t", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "x"}},
     "1 validation error detected: Value 't' at 'tableName' failed to satisfy constraint: Member must have "
     "length greater than or equal to 3"),
])
def test_update_validation(raw_ddb, body, message):
    assert error_of(raw_ddb.update_time_to_live, **body) == ("ValidationException", message)


def test_describe_validation(raw_ddb):
    assert error_of(raw_ddb.describe_time_to_live, TableName="t") == (
        "ValidationException", "1 validation error detected: Value 't' at 'tableName' failed to satisfy "
                               "constraint: Member must have length greater than or equal to 3")


# ---------------------------------------------------------------- expiry


@pytest.fixture(scope="module")
def expiring(ddb) -> str:
    """A table with a local and a global index, TTL on ``expires``."""
    return create_table(
        ddb, "ttl_items", ("pk", "S"), ("sk", "S"), more_definitions={"lsk": "S", "gk": "S"},
        LocalSecondaryIndexes=[{"IndexName": "by_lsk", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "lsk", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "by_gk", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}]}])


def keys_of(ddb, table: str, pk: str, index: str | None = None) -> set[str]:
    kwargs = {"IndexName": index} if index else {}
    if index == "by_gk":
        r = ddb.query(TableName=table, IndexName=index, KeyConditionExpression="gk = :g",
                      ExpressionAttributeValues={":g": {"S": pk}})
    else:
        r = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}},
                      ConsistentRead=True, **kwargs)
    return {i["sk"]["S"] for i in r["Items"]}


def put(ddb, table: str, pk: str, sk: str, expires: dict | None) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "lsk": {"S": "l-" + sk}, "gk": {"S": pk}}
    if expires is not None:
        item["expires"] = expires
    ddb.put_item(TableName=table, Item=item)


def test_expired_items_vanish_with_their_index_entries_and_the_rest_stays(ddb, expiring):
    now = int(time.time())
    past = [f"past{i}" for i in range(6)]
    for sk in past:
        put(ddb, expiring, "a", sk, {"N": str(now - 60)})
    stay = {"future": {"N": str(now + 3600)}, "string": {"S": str(now - 60)}, "set": {"NS": [str(now - 60)]},
            "ancient": {"N": str(now - 6 * 365 * 24 * 3600)}, "millis": {"N": str((now - 60) * 1000)},
            "nested": {"M": {"expires": {"N": str(now - 60)}}}, "none": None}
    for sk, value in stay.items():
        put(ddb, expiring, "a", sk, value)
    # Expired but not deleted yet (TTL is still off): served as any item.
    assert keys_of(ddb, expiring, "a") == set(past) | set(stay)
    ddb.update_time_to_live(TableName=expiring, TimeToLiveSpecification=spec(True))
    wait_until(lambda: keys_of(ddb, expiring, "a") == set(stay), EXPIRY_S, "the expired items to be deleted")
    assert keys_of(ddb, expiring, "a", "by_lsk") == set(stay)
    wait_until(lambda: keys_of(ddb, expiring, "a", "by_gk") == set(stay), EXPIRY_S, "the global index to follow")
    # The sweeps go on: an item expiring later goes too.
    put(ddb, expiring, "b", "soon", {"N": str(int(time.time()) + 2)})
    put(ddb, expiring, "b", "later", {"N": str(int(time.time()) + 3600)})
    assert keys_of(ddb, expiring, "b") == {"soon", "later"}
    wait_until(lambda: keys_of(ddb, expiring, "b") == {"later"}, EXPIRY_S, "the item to expire and go")


def test_a_table_without_ttl_keeps_expired_items(ddb, expiring):
    kept = create_table(ddb, "ttl_off", ("pk", "S"), ("sk", "S"))
    now = int(time.time())
    put(ddb, kept, "c", "old", {"N": str(now - 60)})
    # The table with TTL on is the clock: two of its sweeps later, the other still holds its item.
    for round_ in range(2):
        put(ddb, expiring, "c", f"gone{round_}", {"N": str(now - 60)})
        wait_until(lambda: keys_of(ddb, expiring, "c") == set(), EXPIRY_S, "the TTL table's sweep")
    assert keys_of(ddb, kept, "c") == {"old"}
