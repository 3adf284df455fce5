"""Application Auto Scaling on the router's port, with boto3's own
``application-autoscaling`` client: a target and a target tracking policy
registered, load raises the table's write capacity within a deadline (and
its end lowers it again), the activities are listed, and deregistering
removes target and policy. The nodes scale out after 1 s above the target
and in after 2 s below it (AWS: about 1 and 15 minutes)."""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import discard, make_client, start_cluster, wait_until

pytestmark = pytest.mark.serial  # rates and latencies: make test runs it alone

DIM = "dynamodb:table:WriteCapacityUnits"


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("autoscaling"),
                      extra_env={"TRIREME_BURST_S": "1", "TRIREME_SCALE_OUT_S": "1", "TRIREME_SCALE_IN_S": "2"})
    yield c
    discard(c)


def autoscaling(endpoint: str):
    return boto3.client("application-autoscaling", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def wcu(ddb, name: str) -> int:
    return ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"]


def test_load_raises_the_capacity_and_its_end_lowers_it(scaled):
    ddb = make_client(scaled.endpoint, retries=5)
    aas = autoscaling(scaled.endpoint)
    name = f"t{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    resource = f"table/{name}"
    arn = aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId=resource, ScalableDimension=DIM,
                                       MinCapacity=5, MaxCapacity=200)["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:")
    policy = aas.put_scaling_policy(
        PolicyName="writes", ServiceNamespace="dynamodb", ResourceId=resource, ScalableDimension=DIM,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0, "ScaleOutCooldown": 0, "ScaleInCooldown": 0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}})
    assert len(policy["Alarms"]) == 2
    targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[resource])["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(5, 200)]
    policies = aas.describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=resource)["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["writes"]

    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            try:
                ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i % 500}"}})
            except ClientError:
                pass  # throttled past the retries: the load goes on
            i += 1

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        wait_until(lambda: wcu(ddb, name) > 5, 30, "the write capacity to rise under load")
    finally:
        stop.set()
        for w in workers:
            w.join()
    acts = aas.describe_scaling_activities(ServiceNamespace="dynamodb", ResourceId=resource)["ScalingActivities"]
    assert acts and acts[0]["StatusCode"] == "Successful" and acts[0]["ScalableDimension"] == DIM
    assert "AlarmHigh" in acts[0]["Cause"]
    wait_until(lambda: wcu(ddb, name) == 5, 30, "the write capacity to fall back to the minimum")
    acts = aas.describe_scaling_activities(ServiceNamespace="dynamodb", ResourceId=resource)["ScalingActivities"]
    assert "AlarmLow" in acts[0]["Cause"]

    aas.deregister_scalable_target(ServiceNamespace="dynamodb", ResourceId=resource, ScalableDimension=DIM)
    assert aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[resource])["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=resource)["ScalingPolicies"] == []
    with pytest.raises(ClientError) as e:
        aas.delete_scaling_policy(PolicyName="writes", ServiceNamespace="dynamodb", ResourceId=resource,
                                  ScalableDimension=DIM)
    assert e.value.response["Error"]["Code"] == "ObjectNotFoundException"


def test_a_policy_needs_a_registered_target_and_a_valid_target_value(scaled):
    aas = autoscaling(scaled.endpoint)
    conf = {"TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}}
    with pytest.raises(ClientError) as e:
        aas.put_scaling_policy(PolicyName="p", ServiceNamespace="dynamodb", ResourceId="table/nothing",
                               ScalableDimension=DIM, PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration=conf)
    assert e.value.response["Error"]["Code"] == "ObjectNotFoundException"
    assert "No scalable target registered" in e.value.response["Error"]["Message"]
