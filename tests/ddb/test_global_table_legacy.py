"""The legacy global tables (2017.11.29), pure: their requests, members, shapes and settings."""

from __future__ import annotations

import pytest

from ddb import global_table_legacy as legacy
from ddb.errors import (GlobalTableAlreadyExistsException, IndexNotFoundException, ReplicaNotFoundException,
                        TableNotFoundException, ValidationException)

OWN, OTHER, THIRD = "us-east-1", "eu-west-1", "ap-south-1"


def test_legacy_requests():
    assert legacy.parse_regions({"ReplicationGroup": [{"RegionName": OWN}, {"RegionName": OTHER}]}) == [OWN, OTHER]
    for bad in ([], [{"RegionName": OWN}, {"RegionName": OWN}], [{}]):
        with pytest.raises(ValidationException):
            legacy.parse_regions({"ReplicationGroup": bad})
    assert legacy.parse_global_updates({"ReplicaUpdates": [{"Create": {"RegionName": OTHER}},
                                                       {"Delete": {"RegionName": THIRD}}]}) == [
        ("Create", OTHER), ("Delete", THIRD)]
    for bad in ([], [{"Create": {"RegionName": OTHER}}, {"Delete": {"RegionName": OTHER}}], [{"Create": {}}]):
        with pytest.raises(ValidationException):
            legacy.parse_global_updates({"ReplicaUpdates": bad})


def _table(**extra) -> dict:
    return {"TableStatus": "ACTIVE", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, **extra}


def test_legacy_members():
    legacy.check_legacy_member("t", OTHER, _table(), reference=_table(), empty=True)
    with pytest.raises(TableNotFoundException):
        legacy.check_legacy_member("t", OTHER, None, reference=None, empty=True)
    with pytest.raises(GlobalTableAlreadyExistsException):
        legacy.check_legacy_member("t", OTHER, _table(GlobalTableVersion="2017.11.29", Replicas=[]), reference=None,
                               empty=True)
    refusals = {"not empty": (_table(), True, False),
                "NEW_AND_OLD_IMAGES": (_table(StreamSpecification={"StreamEnabled": True,
                                                                   "StreamViewType": "KEYS_ONLY"}), True, True),
                "key schema": (_table(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}]),
                               True, True),
                "not ACTIVE": (_table(TableStatus="UPDATING"), True, True)}
    for why, (table, with_reference, empty) in refusals.items():
        with pytest.raises(ValidationException, match=why):
            legacy.check_legacy_member("t", OTHER, table, reference=_table() if with_reference else None, empty=empty)


def test_legacy_shapes():
    assert legacy.global_table_description("t", [OWN, OTHER], created=1.5, status="ACTIVE", account="1") == {
        "ReplicationGroup": [{"RegionName": OTHER}, {"RegionName": OWN}],
        "GlobalTableArn": "arn:aws:dynamodb::1:global-table/t", "CreationDateTime": 1.5,
        "GlobalTableStatus": "ACTIVE", "GlobalTableName": "t"}
    tables = {"b": [OWN], "a": [OWN, OTHER], "c": [OWN]}
    page = legacy.list_global_tables_page(tables, 2, None)
    assert [g["GlobalTableName"] for g in page["GlobalTables"]] == ["a", "b"]
    assert page["LastEvaluatedGlobalTableName"] == "b"
    assert legacy.list_global_tables_page(tables, 2, "b") == {"GlobalTables": [
        {"GlobalTableName": "c", "ReplicationGroup": [{"RegionName": OWN}]}]}
    assert legacy.parse_list_global_tables({}) == (legacy.LIST_LIMIT, None, None)
    assert legacy.parse_list_global_tables({"Limit": 500, "RegionName": OTHER}) == (legacy.LIST_LIMIT, None, OTHER)
    with pytest.raises(ValidationException):
        legacy.parse_list_global_tables({"Limit": 0})


def _provisioned(read=1, write=1, index=None) -> dict:
    table = {"BillingModeSummary": {"BillingMode": "PROVISIONED"},
             "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write}}
    if index:
        table["GlobalSecondaryIndexes"] = [{"IndexName": index, "ProvisionedThroughput": {
            "ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}]
    return table


def test_settings_become_update_table_calls_per_region():
    body = {"GlobalTableProvisionedWriteCapacityUnits": 5,
            "ReplicaSettingsUpdate": [{"RegionName": OTHER, "ReplicaProvisionedReadCapacityUnits": 7,
                                       "ReplicaGlobalSecondaryIndexSettingsUpdate": [
                                           {"IndexName": "g", "ProvisionedReadCapacityUnits": 3}]}]}
    assert legacy.settings_requests("t", body, OWN, _provisioned()) == [
        {"TableName": "t", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 5}}]
    assert legacy.settings_requests("t", body, OTHER, _provisioned(index="g")) == [
        {"TableName": "t", "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 5}},
        {"TableName": "t", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "g", "ProvisionedThroughput": {
            "ReadCapacityUnits": 3, "WriteCapacityUnits": 1}}}]}]
    assert legacy.settings_requests("t", {"GlobalTableProvisionedWriteCapacityUnits": 1}, OWN, _provisioned()) == []
    assert legacy.settings_requests("t", {"GlobalTableBillingMode": "PAY_PER_REQUEST"}, OWN, _provisioned()) == [
        {"TableName": "t", "BillingMode": "PAY_PER_REQUEST"}]
    with pytest.raises(ValidationException, match="PAY_PER_REQUEST"):
        legacy.settings_requests("t", {"GlobalTableBillingMode": "PAY_PER_REQUEST",
                                   "GlobalTableProvisionedWriteCapacityUnits": 2}, OWN, _provisioned())


def test_settings_that_cannot_apply():
    with pytest.raises(ReplicaNotFoundException):
        legacy.check_settings_update({"ReplicaSettingsUpdate": [{"RegionName": THIRD}]}, [OWN, OTHER], [])
    with pytest.raises(IndexNotFoundException):
        legacy.check_settings_update({"GlobalTableGlobalSecondaryIndexSettingsUpdate": [{"IndexName": "x"}]}, [OWN], [])
    with pytest.raises(ValidationException, match="auto scaling"):
        legacy.check_settings_update({"GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate": {
            "MinimumUnits": 1}}, [OWN], [])
    with pytest.raises(ValidationException, match="table class"):
        legacy.check_settings_update({"ReplicaSettingsUpdate": [{"RegionName": OWN, "ReplicaTableClass": "STANDARD"}]},
                                 [OWN], [])


def test_settings_shapes():
    table = {"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
             "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
             "GlobalSecondaryIndexes": [{"IndexName": "g", "IndexStatus": "ACTIVE"}]}
    assert legacy.replica_settings(OTHER, table) == {
        "RegionName": OTHER, "ReplicaStatus": "ACTIVE", "ReplicaBillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ReplicaProvisionedReadCapacityUnits": 0, "ReplicaProvisionedWriteCapacityUnits": 0,
        "ReplicaGlobalSecondaryIndexSettings": [{"IndexName": "g", "IndexStatus": "ACTIVE",
                                                 "ProvisionedReadCapacityUnits": 0,
                                                 "ProvisionedWriteCapacityUnits": 0}]}
