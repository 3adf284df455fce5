"""Global tables, pure: ReplicaUpdates validation, the legacy requests, and the shapes answered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb import global_tables as gt
from ddb.errors import ResourceInUseException, ValidationException
from ddb.ttl import TtlState

OWN, OTHER, THIRD = "us-east-1", "eu-west-1", "ap-south-1"


def parse(updates, *, replicas=(), billing="PAY_PER_REQUEST", version=None, **extra) -> gt.ReplicaAction:
    return gt.parse_replica_updates({"TableName": "t", "ReplicaUpdates": updates, **extra}, own_region=OWN,
                                    known_regions=[OTHER, THIRD], table="t", replicas=list(replicas),
                                    billing=billing, global_version=version)


def message(updates, **kwargs) -> str:
    with pytest.raises(ValidationException) as e:
        parse(updates, **kwargs)
    return e.value.message


def test_one_action_of_each_kind():
    assert parse([{"Create": {"RegionName": OTHER}}]) == gt.ReplicaAction("Create", OTHER)
    active = [{"region": OTHER, "status": "ACTIVE"}]
    assert parse([{"Delete": {"RegionName": OTHER}}], replicas=active) == gt.ReplicaAction("Delete", OTHER)
    assert parse([{"Update": {"RegionName": OTHER, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 7}}}],
                 replicas=active, billing="PROVISIONED") == gt.ReplicaAction("Update", OTHER, 7)


def test_a_failed_creation_may_be_retried_but_not_a_live_replica_created_again():
    failed = [{"region": OTHER, "status": "CREATION_FAILED"}]
    assert parse([{"Create": {"RegionName": OTHER}}], replicas=failed).kind == "Create"
    assert message([{"Create": {"RegionName": OTHER}}], replicas=[{"region": OTHER, "status": "ACTIVE"}]) == \
        gt.replica_exists("t")


@pytest.mark.parametrize("kind", ["Create", "Update", "Delete"])
def test_the_own_region_is_refused_with_dynamodbs_message(kind):
    assert message([{kind: {"RegionName": OWN}}]) == gt.LOCAL_REGION


def test_refusals():
    assert "nowhere-1" in message([{"Create": {"RegionName": "nowhere-1"}}])
    assert message([{"Create": {"RegionName": OTHER}}, {"Create": {"RegionName": THIRD}}]) == gt.ONE_ACTION
    assert message([{"Delete": {"RegionName": OTHER}}]) == gt.REPLICA_MISSING
    assert message([{"Update": {"RegionName": THIRD}}]) == gt.REPLICA_MISSING
    assert "exactly one" in message([{"Create": {"RegionName": OTHER}, "Delete": {"RegionName": OTHER}}])
    assert "exactly one" in message([{}])
    assert "multi-account" in message([{"Disassociate": {"RegionName": OTHER}}])
    assert "regionName" in message([{"Create": {"RegionName": ""}}])
    assert message([{"Create": {"RegionName": OTHER}}], BillingMode="PROVISIONED") == gt.ONLY_REPLICAS
    assert "KMS" in message([{"Create": {"RegionName": OTHER, "KMSMasterKeyId": "k"}}])
    assert message([{"Create": {"RegionName": OTHER}}], GlobalTableWitnessUpdates=[{"Create": {
        "RegionName": THIRD}}]).startswith("MultiRegionConsistency must be set as STRONG")
    assert parse([{"Create": {"RegionName": OTHER}}], MultiRegionConsistency="EVENTUAL").kind == "Create"
    assert "UpdateGlobalTable" in message([{"Create": {"RegionName": OTHER}}], version=gt.LEGACY)
    assert "PAY_PER_REQUEST" in message([{"Create": {"RegionName": OTHER, "ProvisionedThroughputOverride": {
        "ReadCapacityUnits": 5}}}])
    assert "at least 1" in message([{"Create": {"RegionName": OTHER, "ProvisionedThroughputOverride": {
        "ReadCapacityUnits": 0}}}], billing="PROVISIONED")


@given(st.lists(st.sampled_from([OWN, OTHER, THIRD, "nowhere-1"]), min_size=1, max_size=3),
       st.sampled_from(["Create", "Update", "Delete"]),
       st.lists(st.sampled_from([OTHER, THIRD]), unique=True))
def test_any_request_is_an_action_or_a_validation_error(regions, kind, present):
    """Never anything else (a traceback): one action, on a region other than this one."""
    replicas = [{"region": r, "status": "ACTIVE"} for r in present]
    try:
        action = parse([{kind: {"RegionName": r}} for r in regions], replicas=replicas)
    except ValidationException:
        return
    assert len(regions) == 1 and action.region == regions[0] != OWN
    assert (action.region in present) == (kind != "Create")


def test_a_replica_action_needs_an_active_table():
    gt.check_changeable("t", "ACTIVE")
    for status, doing in (("CREATING", "created"), ("UPDATING", "updated"), ("DELETING", "deleted")):
        with pytest.raises(ResourceInUseException, match=f"being {doing}: t"):
            gt.check_changeable("t", status)


def test_table_fields_only_for_global_tables():
    assert gt.table_fields("ACTIVE", [], None) == {"TableStatus": "ACTIVE"}
    creating = [{"region": OTHER, "status": "CREATING"}]
    assert gt.table_fields("ACTIVE", creating, gt.CURRENT) == {
        "TableStatus": "UPDATING", "GlobalTableVersion": gt.CURRENT,
        "Replicas": [{"RegionName": OTHER, "ReplicaStatus": "CREATING", "ReplicaStatusPercentProgress": "0"}]}
    failed = [{"region": THIRD, "status": "CREATION_FAILED", "description": "why", "read_override": 3},
              {"region": OTHER, "status": "ACTIVE"}]
    out = gt.table_fields("ACTIVE", failed, gt.CURRENT)
    assert out["TableStatus"] == "ACTIVE"
    assert out["Replicas"] == [{"RegionName": THIRD, "ReplicaStatus": "CREATION_FAILED",  # by region name
                                "ReplicaStatusDescription": "why",
                                "ProvisionedThroughputOverride": {"ReadCapacityUnits": 3}},
                               {"RegionName": OTHER, "ReplicaStatus": "ACTIVE"}]
    assert gt.table_fields("ACTIVE", [], gt.LEGACY)["Replicas"] == []  # a legacy group of one region


def test_each_member_keeps_the_others():
    members = gt.group(OWN, [{"region": OTHER, "status": "CREATING"}])
    assert members == [{"region": OWN, "status": "ACTIVE"}, {"region": OTHER, "status": "CREATING"}]
    assert gt.others(members, OTHER) == [{"region": OWN, "status": "ACTIVE"}]


def test_a_replica_is_created_with_the_tables_keys_and_indexes_but_not_its_tags():
    spec = {"TableName": "t", "KeySchema": [], "Tags": [{"Key": "k", "Value": "v"}],
            "DeletionProtectionEnabled": True, "GlobalSecondaryIndexes": [{"IndexName": "i"}]}
    assert gt.replica_spec(spec) == {"TableName": "t", "KeySchema": [], "DeletionProtectionEnabled": False,
                                     "GlobalSecondaryIndexes": [{"IndexName": "i"}]}
    provisioned = {"ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}}
    assert gt.replica_spec(provisioned, 9)["ProvisionedThroughput"] == {"ReadCapacityUnits": 9,
                                                                        "WriteCapacityUnits": 3}
    assert gt.replica_spec(provisioned)["ProvisionedThroughput"] == provisioned["ProvisionedThroughput"]


def test_auto_scaling_shapes():
    out = gt.auto_scaling_description("t", "ACTIVE", OWN, [{"region": OTHER, "status": "CREATING"}], {"g": "ACTIVE"})
    assert out["TableAutoScalingDescription"]["TableStatus"] == "UPDATING"
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in out["TableAutoScalingDescription"]["Replicas"]] == [
        (OTHER, "CREATING"), (OWN, "ACTIVE")]
    assert gt.auto_scaling_description("t", "ACTIVE", OWN, [], {})["TableAutoScalingDescription"]["Replicas"] == []


def test_synced_settings_are_ttl_billing_throughput_and_indexes_only():
    ttl = {"TableName": "t", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}
    assert gt.synced_request("UpdateTimeToLive", ttl) == {"TimeToLiveSpecification": ttl["TimeToLiveSpecification"]}
    pt = {"TableName": "t", "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 6},
          "DeletionProtectionEnabled": True}
    assert gt.synced_request("UpdateTable", pt) == {"ProvisionedThroughput": pt["ProvisionedThroughput"]}
    assert gt.synced_request("UpdateTable", pt, read_override=9) == {
        "ProvisionedThroughput": {"ReadCapacityUnits": 9, "WriteCapacityUnits": 6}}
    gsi = {"TableName": "t", "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "S"}],
           "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "x"}}]}
    assert gt.synced_request("UpdateTable", gsi) == {k: gsi[k] for k in ("AttributeDefinitions",
                                                                         "GlobalSecondaryIndexUpdates")}
    for per_region in ({"DeletionProtectionEnabled": True}, {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
                       {"StreamSpecification": {"StreamEnabled": False}},
                       {"ReplicaUpdates": [{"Delete": {"RegionName": "eu-west-1"}}]}):
        assert gt.synced_request("UpdateTable", {"TableName": "t", **per_region}) is None
    assert gt.synced_request("TagResource", {}) is None


def test_a_replica_gets_only_what_it_lacks():
    spec = {"BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 2},
            "GlobalSecondaryIndexes": [{"IndexName": "x", "ProvisionedThroughput": {"ReadCapacityUnits": 1}}]}
    pt = {"ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 6}}
    assert gt.pending_settings("UpdateTable", pt, spec, None) == pt
    assert gt.pending_settings("UpdateTable", pt, {**spec, **pt}, None) is None
    assert gt.pending_settings("UpdateTable", {"BillingMode": "PROVISIONED"}, spec, None) is None
    assert gt.pending_settings("UpdateTable", {"BillingMode": "PAY_PER_REQUEST"}, spec, None) == {
        "BillingMode": "PAY_PER_REQUEST"}
    create = {"Create": {"IndexName": "x"}}
    delete = {"Delete": {"IndexName": "y"}}
    assert gt.pending_settings("UpdateTable", {"GlobalSecondaryIndexUpdates": [create, delete]}, spec, None) is None
    assert gt.pending_settings("UpdateTable", {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "x"}}]},
                               spec, None) == {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "x"}}]}
    on = {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}
    assert gt.pending_settings("UpdateTimeToLive", on, spec, TtlState()) == on
    assert gt.pending_settings("UpdateTimeToLive", on, spec, TtlState("exp", True)) is None
    off = {"TimeToLiveSpecification": {"Enabled": False, "AttributeName": "exp"}}
    assert gt.pending_settings("UpdateTimeToLive", off, spec, TtlState("exp", False)) is None
