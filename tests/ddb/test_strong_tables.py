"""UpdateTable MultiRegionConsistency STRONG's rules and the MRSC restrictions (ddb/strong_tables.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from ddb import strong_tables as st
from ddb.errors import ValidationException

# This table's Region, the two others of its Region set, and one outside it.
OWN, R2, R3, OUT = "us-east-1", "us-east-2", "us-west-2", "eu-west-1"
KNOWN = [R2, R3, OUT, "ap-southeast-1"]


def parse(replicas=None, witnesses=None, *, consistency="", table_replicas=(), spec=None, ttl=False, known=None,
          **body):
    if replicas is not None:
        body["ReplicaUpdates"] = [{"Create": {"RegionName": r}} for r in replicas]
    if witnesses is not None:
        body["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": r}} for r in witnesses]
    body.setdefault("MultiRegionConsistency", "STRONG")
    return st.parse_strong(body, own_region=OWN, known_regions=known or KNOWN, table="t",
                           replicas=list(table_replicas),
                           consistency=consistency, spec=spec or {}, ttl_enabled=ttl)


def message(*args, **kwargs) -> str:
    with pytest.raises(ValidationException) as e:
        parse(*args, **kwargs)
    return e.value.message


def test_three_regions_as_three_replicas_or_two_and_a_witness():
    assert parse([R2, R3]) == st.StrongPlan([R2, R3], "")
    assert parse([R2], [R3]) == st.StrongPlan([R2, R3], R3)


def test_every_other_shape_is_refused_with_its_reason():
    assert message([R2]) == st.THREE_REGIONS
    assert message([R2, R3, OUT]) == st.THREE_REGIONS
    assert message([], [R3]).startswith("1 validation error")
    assert message(None, [R3, R2]) == st.INVALID + "A global table has at most one witness"
    assert "own Region" in message([R2, OWN])
    assert "only one replica or witness" in message([R2], [R2])
    assert "not available" in message([R2, R3], known=[R2])
    assert "enum value set" in message([R2, R3], MultiRegionConsistency="STRONGER")
    assert message([R2], [R3], MultiRegionConsistency="EVENTUAL").startswith("MultiRegionConsistency must be set")
    assert "cannot be combined" in message([R2, R3], BillingMode="PAY_PER_REQUEST")
    assert "Local secondary indexes" in message([R2, R3], spec={"LocalSecondaryIndexes": [{"IndexName": "l"}]})
    assert "Time to Live" in message([R2, R3], ttl=True)
    # A table with global secondary indexes (or a stream) can be made STRONG: they are kept in every Region.
    assert parse([R2, R3], spec={"GlobalSecondaryIndexes": [{"IndexName": "g"}]}).replicas == [R2, R3]
    assert "cannot be changed" in message([R2, R3], table_replicas=[{"region": R2, "status": "ACTIVE"}])
    assert "replicas and witness cannot be changed" in message([R2, R3], consistency="STRONG")
    with pytest.raises(ValidationException, match="only Create actions"):
        st.parse_strong({"MultiRegionConsistency": "STRONG", "ReplicaUpdates": [{"Delete": {"RegionName": R2}}]},
                        own_region=OWN, known_regions=KNOWN, table="t", replicas=[], consistency="", spec={},
                        ttl_enabled=False)


def test_the_three_regions_are_in_one_region_set():
    """DynamoDB's rule: US, EU or AP; a replica or a witness outside the table's set is refused."""
    for replicas, witnesses in (([OUT, R3], None), ([R2], [OUT]), ([OUT], [R3]), (["ap-southeast-1", R2], None)):
        text = message(replicas, witnesses)
        assert text.startswith(st.INVALID + "The Regions of a global table with MultiRegionConsistency STRONG must "
                               "all be in one Region set (US: us-east-1, us-east-2, us-west-2; EU: "), text
        assert text.endswith("is not in the US Region set of us-east-1"), text
    refused = st.parse_strong  # a table in a Region of no set cannot be made STRONG at all
    with pytest.raises(ValidationException, match="sa-east-1 is in no Region set"):
        refused({"MultiRegionConsistency": "STRONG", "ReplicaUpdates": [{"Create": {"RegionName": R2}},
                                                                        {"Create": {"RegionName": R3}}]},
                own_region="sa-east-1", known_regions=KNOWN, table="t", replicas=[], consistency="", spec={},
                ttl_enabled=False)
    eu = ["eu-west-2", "eu-central-1"]
    assert st.parse_strong({"MultiRegionConsistency": "STRONG", "ReplicaUpdates": [{"Create": {"RegionName": eu[0]}}],
                            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": eu[1]}}]},
                           own_region="eu-west-1", known_regions=eu, table="t", replicas=[], consistency="", spec={},
                           ttl_enabled=False) == st.StrongPlan(eu, eu[1])
    assert [st.region_set(r) for r in (OWN, "eu-west-3", "ap-northeast-3", "ap-southeast-1")] == ["US", "EU", "AP", ""]


@given(hs.lists(hs.sampled_from([OWN, R2, R3, OUT, "", "mars-1"]), max_size=4),
       hs.one_of(hs.none(), hs.lists(hs.sampled_from([OWN, R2, R3, "x"]), max_size=2)))
def test_any_request_is_a_plan_of_two_other_known_regions_or_a_validation_error(replicas, witnesses):
    try:
        plan = parse(replicas, witnesses)
    except ValidationException:
        return
    assert len(plan.replicas) == 2 and len(set(plan.replicas)) == 2
    assert set(plan.replicas) <= set(KNOWN) and OWN not in plan.replicas
    assert {st.region_set(r) for r in plan.replicas} == {"US"}
    assert plan.witness in ("", *plan.replicas)


def test_the_restrictions_and_the_described_fields():
    st.check_transaction("t", "")  # (a regional or MREC table)
    with pytest.raises(ValidationException, match="Transactions are not supported"):
        st.check_transaction("t", "STRONG")
    with pytest.raises(ValidationException, match="Time to Live is not supported"):
        st.check_ttl("t", "STRONG")
    assert st.table_fields("", "") == {}
    assert st.table_fields("STRONG", R3) == {"MultiRegionConsistency": "STRONG", "GlobalTableWitnesses": [
        {"RegionName": R3, "WitnessStatus": "ACTIVE"}]}


def test_an_mrsc_table_refuses_index_and_stream_changes_but_not_other_updates():
    create = {"GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "g"}}]}
    for body in (create, {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "g"}}]},
                 {"StreamSpecification": {"StreamEnabled": False}}):
        with pytest.raises(ValidationException, match="MultiRegionConsistency STRONG: t"):
            st.check_update(body, "t", st.STRONG)
        st.check_update(body, "t", "")  # any other table takes them
    st.check_update({"GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "g"}}]}, "t", st.STRONG)
