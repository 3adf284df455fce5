"""UpdateTable MultiRegionConsistency STRONG's rules and the MRSC restrictions (ddb/strong_tables.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from ddb import strong_tables as st
from ddb.errors import ValidationException

OWN, EU, AP, FAR = "us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"
KNOWN = [EU, AP, FAR]


def parse(replicas=None, witnesses=None, *, consistency="", table_replicas=(), spec=None, ttl=False, **body):
    if replicas is not None:
        body["ReplicaUpdates"] = [{"Create": {"RegionName": r}} for r in replicas]
    if witnesses is not None:
        body["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": r}} for r in witnesses]
    body.setdefault("MultiRegionConsistency", "STRONG")
    return st.parse_strong(body, own_region=OWN, known_regions=KNOWN, table="t", replicas=list(table_replicas),
                           consistency=consistency, spec=spec or {}, ttl_enabled=ttl)


def message(*args, **kwargs) -> str:
    with pytest.raises(ValidationException) as e:
        parse(*args, **kwargs)
    return e.value.message


def test_three_regions_as_three_replicas_or_two_and_a_witness():
    assert parse([EU, AP]) == st.StrongPlan([EU, AP], "")
    assert parse([EU], [AP]) == st.StrongPlan([EU, AP], AP)


def test_every_other_shape_is_refused_with_its_reason():
    assert message([EU]) == st.THREE_REGIONS
    assert message([EU, AP, FAR]) == st.THREE_REGIONS
    assert message([], [AP]).startswith("1 validation error")
    assert message(None, [AP, EU]) == st.INVALID + "A global table has at most one witness"
    assert "own Region" in message([EU, OWN])
    assert "only one replica or witness" in message([EU], [EU])
    assert "not available" in message([EU, "mars-1"])
    assert "enum value set" in message([EU, AP], MultiRegionConsistency="STRONGER")
    assert message([EU], [AP], MultiRegionConsistency="EVENTUAL").startswith("MultiRegionConsistency must be set")
    assert "cannot be combined" in message([EU, AP], BillingMode="PAY_PER_REQUEST")
    assert "Local secondary indexes" in message([EU, AP], spec={"LocalSecondaryIndexes": [{"IndexName": "l"}]})
    assert "Time to Live" in message([EU, AP], ttl=True)
    # A table with global secondary indexes (or a stream) can be made STRONG: they are kept in every Region.
    assert parse([EU, AP], spec={"GlobalSecondaryIndexes": [{"IndexName": "g"}]}).replicas == [EU, AP]
    assert "cannot be changed" in message([EU, AP], table_replicas=[{"region": EU, "status": "ACTIVE"}])
    assert "replicas and witness cannot be changed" in message([EU, AP], consistency="STRONG")
    with pytest.raises(ValidationException, match="only Create actions"):
        st.parse_strong({"MultiRegionConsistency": "STRONG", "ReplicaUpdates": [{"Delete": {"RegionName": EU}}]},
                        own_region=OWN, known_regions=KNOWN, table="t", replicas=[], consistency="", spec={},
                        ttl_enabled=False)


@given(hs.lists(hs.sampled_from([OWN, EU, AP, FAR, "", "mars-1"]), max_size=4),
       hs.one_of(hs.none(), hs.lists(hs.sampled_from([OWN, EU, AP, "x"]), max_size=2)))
def test_any_request_is_a_plan_of_two_other_known_regions_or_a_validation_error(replicas, witnesses):
    try:
        plan = parse(replicas, witnesses)
    except ValidationException:
        return
    assert len(plan.replicas) == 2 and len(set(plan.replicas)) == 2
    assert set(plan.replicas) <= set(KNOWN) and OWN not in plan.replicas
    assert plan.witness in ("", *plan.replicas)


def test_the_restrictions_and_the_described_fields():
    st.check_transaction("t", "")
    with pytest.raises(ValidationException, match="Transactions are not supported"):
        st.check_transaction("t", "STRONG")
    with pytest.raises(ValidationException, match="Time to Live is not supported"):
        st.check_ttl("t", "STRONG")
    assert st.table_fields("", "") == {}
    assert st.table_fields("STRONG", AP) == {"MultiRegionConsistency": "STRONG", "GlobalTableWitnesses": [
        {"RegionName": AP, "WitnessStatus": "ACTIVE"}]}


def test_an_mrsc_table_refuses_index_and_stream_changes_but_not_other_updates():
    create = {"GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "g"}}]}
    for body in (create, {"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "g"}}]},
                 {"StreamSpecification": {"StreamEnabled": False}}):
        with pytest.raises(ValidationException, match="MultiRegionConsistency STRONG: t"):
            st.check_update(body, "t", st.STRONG)
        st.check_update(body, "t", "")  # any other table takes them
    st.check_update({"GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "g"}}]}, "t", st.STRONG)
