"""UpdateTable's throughput rules (ddb/tables.py): decreases per UTC day as
DynamoDB counts them, the table maximum, NumberOfDecreasesToday."""

from __future__ import annotations

import pytest

from ddb.errors import LimitExceededException, ValidationException
from ddb.tables import describe_table, parse_update_table

DAY = 86400 * 20000  # a UTC midnight


def record(rcu: int, updated: dict) -> dict:
    return {"name": "t", "status": "ACTIVE", "created": 0.0, "uuid": "u", "updated": updated,
            "spec": {"BillingMode": "PROVISIONED", "KeySchema": [], "AttributeDefinitions": [],
                     "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": 5}}}


def decrease(rcu: int, updated: dict, now: float) -> dict:
    _, changed = parse_update_table({"ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": 5}},
                                    record(rcu + 1, updated), now=now)
    return {**updated, **changed}


def test_four_decreases_at_any_time_then_one_an_hour_and_a_new_day_starts_again():
    updated: dict = {}
    for i in range(4):
        updated = decrease(100 - i, updated, DAY + 60 + i)
    assert describe_table(record(96, updated), region="r", now=DAY + 100)["ProvisionedThroughput"][
        "NumberOfDecreasesToday"] == 4
    with pytest.raises(LimitExceededException) as e:
        decrease(90, updated, DAY + 120)
    assert e.value.message.startswith("Subscriber limit exceeded: Provisioned throughput decreases are limited "
                                      "within a given UTC day. After the first 4 decreases")
    assert "Number of decreases today: 4." in e.value.message
    updated = decrease(90, updated, DAY + 63 + 3600)  # an hour after the last one
    with pytest.raises(LimitExceededException):
        decrease(80, updated, DAY + 63 + 3600 + 10)
    assert decrease(80, updated, DAY + 86400 + 1)["DecreasesToday"] == 1  # the next UTC day
    assert describe_table(record(90, updated), region="r", now=DAY + 86400 + 1)["ProvisionedThroughput"][
        "NumberOfDecreasesToday"] == 0


def test_increases_are_not_counted_but_the_table_maximum_holds():
    _, changed = parse_update_table({"ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 5}},
                                    record(10, {}), now=DAY)
    assert "DecreasesToday" not in changed and changed["LastIncreaseDateTime"] == DAY
    with pytest.raises(ValidationException, match="exceeds the maximum allowed value of 40000"):
        parse_update_table({"ProvisionedThroughput": {"ReadCapacityUnits": 40001, "WriteCapacityUnits": 5}},
                           record(10, {}), now=DAY)


def test_account_quotas_count_tables_and_the_provisioned_units_of_tables_and_indexes():
    from ddb.tables import check_quotas

    big = {"ProvisionedThroughput": {"ReadCapacityUnits": 30000, "WriteCapacityUnits": 10},
           "GlobalSecondaryIndexes": [{"ProvisionedThroughput": {"ReadCapacityUnits": 10000,
                                                                 "WriteCapacityUnits": 10}}]}
    check_quotas([big], big, creating=True)  # 80,000 read units: at the limit
    with pytest.raises(LimitExceededException, match="AccountMaxReadCapacityUnits"):
        check_quotas([big, {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}], big,
                     creating=True)
    check_quotas([big, {"BillingMode": "PAY_PER_REQUEST"}], big, creating=False)
    with pytest.raises(LimitExceededException, match="There is a limit of 2500 tables per subscriber"):
        check_quotas([{"BillingMode": "PAY_PER_REQUEST"}] * 2500, {"BillingMode": "PAY_PER_REQUEST"},
                     creating=True)
