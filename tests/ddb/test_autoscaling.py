"""Target tracking's decision and the records of ddb/autoscaling.py, and the
metadata op that keeps them (cluster/meta.py ``scaling``)."""

from __future__ import annotations

import pytest

from cluster.meta import MetaState
from ddb import autoscaling as aas

DIM = "dynamodb:table:WriteCapacityUnits"
PREFIX = "arn:aws:application-autoscaling:us-east-1:000000000000"


def target(lo: int = 5, hi: int = 100) -> dict:
    return aas.parse_register({"ServiceNamespace": "dynamodb", "ResourceId": "table/t", "ScalableDimension": DIM,
                               "MinCapacity": lo, "MaxCapacity": hi}, None, 0.0, PREFIX, "u1")


def policy(**conf) -> dict:
    body = {"ServiceNamespace": "dynamodb", "ResourceId": "table/t", "ScalableDimension": DIM, "PolicyName": "p",
            "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 50.0, "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}, **conf}}
    return aas.parse_policy(body, {aas.key_of("table/t", DIM): target()}, 0.0, PREFIX, "u2")


def test_scale_out_after_the_alarm_period_to_the_target_utilization_within_the_range():
    mem, t, p = aas.Tracking(), target(hi=30), policy()
    kw = {"out_after_s": 60, "in_after_s": 900}
    assert aas.decide(10, 8.0, t, p, mem, 0.0, **kw) is None  # 80% > 50%: the alarm starts
    assert aas.decide(10, 8.0, t, p, mem, 59.0, **kw) is None
    assert aas.decide(10, 8.0, t, p, mem, 60.0, **kw)[0] == 16  # 8 units at 50%
    assert aas.decide(16, 40.0, t, p, aas.Tracking(), 0.0, out_after_s=0, in_after_s=900)[0] == 30  # the maximum


def test_scale_in_only_well_below_the_target_for_long_and_never_when_disabled():
    t = target()
    kw = {"out_after_s": 60, "in_after_s": 900}
    mem = aas.Tracking()
    assert aas.decide(50, 22.0, t, policy(), mem, 0.0, **kw) is None  # 44%: not 20% below 50%
    assert mem.below_since is None
    assert aas.decide(50, 5.0, t, policy(), mem, 0.0, **kw) is None
    new, cause = aas.decide(50, 5.0, t, policy(), mem, 900.0, **kw)  # 10% for fifteen minutes
    assert new == 10 and "AlarmLow" in cause
    mem = aas.Tracking()
    assert aas.decide(50, 0.0, t, policy(DisableScaleIn=True), mem, 0.0, out_after_s=0, in_after_s=0) is None
    assert aas.decide(50, 0.0, t, policy(), aas.Tracking(), 0.0, out_after_s=0, in_after_s=0)[0] == 5  # the minimum


def test_policies_are_checked_as_the_service_checks_them():
    with pytest.raises(aas.ObjectNotFoundException, match="No scalable target registered"):
        aas.parse_policy({"ServiceNamespace": "dynamodb", "ResourceId": "table/x", "ScalableDimension": DIM,
                          "PolicyName": "p", "PolicyType": "TargetTrackingScaling"}, {}, 0.0, PREFIX, "u")
    with pytest.raises(aas.AutoScalingValidation, match="between 20.0 and 90.0"):
        policy(TargetValue=95.0)
    with pytest.raises(aas.AutoScalingValidation, match="Minimum capacity cannot be greater"):
        target(lo=10, hi=5)


def test_the_metadata_keeps_targets_policies_and_activities_and_a_scale_sets_the_capacity():
    s = MetaState.bootstrap([{"id": "n1", "addr": "a", "az": "z1"}])
    assert s.apply({"op": "create_table", "name": "t", "spec": {"ProvisionedThroughput": {
        "ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}, "uuid": "u", "now": 0.0, "placements": [["n1"]]})["ok"]
    s.tables["t"].status = "ACTIVE"
    key = aas.key_of("table/t", DIM)
    assert not s.apply({"op": "scaling", "action": "put_policy", "key": key + "|p", "record": policy()})["ok"]
    assert s.apply({"op": "scaling", "action": "put_target", "key": key, "record": target()})["ok"]
    assert s.apply({"op": "scaling", "action": "put_policy", "key": key + "|p", "record": policy()})["ok"]
    act = aas.activity(target(), 5, 9, "load", 1.0, "a1")
    spec = {**s.tables["t"].spec, "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 9}}
    assert s.apply({"op": "scaling", "action": "scale", "name": "t", "key": key, "spec": spec, "updated": {},
                    "activity": act})["ok"]
    restored = MetaState.from_json(s.to_json())
    assert restored.tables["t"].spec["ProvisionedThroughput"]["WriteCapacityUnits"] == 9
    assert restored.scaling["activities"][key][0]["Description"] == "Setting write capacity units to 9."
    assert s.apply({"op": "scaling", "action": "delete_target", "key": key})["ok"]
    assert s.scaling["policies"] == {} and s.scaling["targets"] == {}
