"""Application Auto Scaling for DynamoDB tables, the pure part: requests
parsed and checked as the service does, the records kept in the metadata
(``MetaState.scaling``), their descriptions, and target tracking's decision.

Target tracking as AWS runs it for DynamoDB: the utilization is the consumed
units per second over the provisioned capacity, in percent. Above the target
for ``out_after_s`` (AWS: its alarm's two one-minute datapoints) the capacity
rises at once to what puts the utilization back at the target; below the
target by 20% for ``in_after_s`` (AWS: fifteen minutes) it falls, never
below the minimum, and each direction waits out its policy's cooldown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ddb.errors import DynamoDBError

NAMESPACE = "dynamodb"
DIMENSIONS = {"dynamodb:table:ReadCapacityUnits": "DynamoDBReadCapacityUtilization",
              "dynamodb:table:WriteCapacityUnits": "DynamoDBWriteCapacityUtilization"}
INDEX_DIMENSIONS = ("dynamodb:index:ReadCapacityUnits", "dynamodb:index:WriteCapacityUnits")
MAX_ACTIVITIES = 50  # per target, newest kept
SCALE_IN_BELOW = 0.8  # of the target value


class ObjectNotFoundException(DynamoDBError):
    code = "ObjectNotFoundException"
    namespace = "com.amazonaws.applicationautoscaling"
    message_key = "Message"


class AutoScalingValidation(DynamoDBError):
    code = "ValidationException"
    namespace = "com.amazonaws.applicationautoscaling"
    message_key = "Message"


def key_of(resource: str, dimension: str) -> str:
    return f"{resource}|{dimension}"


def table_of(resource: str) -> str:
    return resource.split("/", 1)[1]


def target_id(body: dict) -> tuple[str, str]:
    ns = body.get("ServiceNamespace")
    if ns != NAMESPACE:
        raise AutoScalingValidation(f"Unsupported service namespace: {ns}. Trireme serves the dynamodb namespace")
    resource, dimension = body.get("ResourceId"), body.get("ScalableDimension")
    if not isinstance(resource, str) or not resource.startswith("table/") or "/index/" in resource \
            and dimension not in INDEX_DIMENSIONS:
        raise AutoScalingValidation(f"Unsupported resource ID: {resource}")
    if dimension in INDEX_DIMENSIONS:
        raise AutoScalingValidation("Trireme scales tables' capacity only, not global secondary indexes' "
                                    f"(scalable dimension {dimension})")
    if dimension not in DIMENSIONS:
        raise AutoScalingValidation(f"Unsupported scalable dimension: {dimension}")
    return resource, dimension


def not_registered(resource: str, dimension: str) -> ObjectNotFoundException:
    return ObjectNotFoundException(f"No scalable target registered for service namespace: {NAMESPACE}, resource ID: "
                                   f"{resource}, scalable dimension: {dimension}")


def parse_register(body: dict, old: dict | None, now: float, arn_prefix: str, uid: str) -> dict:
    """RegisterScalableTarget: a new target (both capacities required) or an
    update of ``old`` (either)."""
    resource, dimension = target_id(body)
    lo, hi = body.get("MinCapacity", (old or {}).get("MinCapacity")), body.get("MaxCapacity",
                                                                             (old or {}).get("MaxCapacity"))
    if lo is None or hi is None:
        raise AutoScalingValidation("MinCapacity and MaxCapacity are required for registering a scalable target")
    if not isinstance(lo, int) or not isinstance(hi, int) or lo < 1 or hi < 1:
        raise AutoScalingValidation("MinCapacity and MaxCapacity must be integers of at least 1")
    if lo > hi:
        raise AutoScalingValidation("Minimum capacity cannot be greater than maximum capacity")
    rec = dict(old) if old else {"ServiceNamespace": NAMESPACE, "ResourceId": resource,
                                 "ScalableDimension": dimension, "CreationTime": now,
                                 "ScalableTargetARN": f"{arn_prefix}:scalable-target/{uid}",
                                 "RoleARN": body.get("RoleARN") or
                                 "arn:aws:iam::000000000000:role/aws-service-role/dynamodb.application-autoscaling."
                                 "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
                                 "SuspendedState": {"DynamicScalingInSuspended": False,
                                                    "DynamicScalingOutSuspended": False,
                                                    "ScheduledScalingSuspended": False}}
    rec["MinCapacity"], rec["MaxCapacity"] = lo, hi
    if isinstance(body.get("SuspendedState"), dict):
        rec["SuspendedState"] = {**rec["SuspendedState"], **{k: bool(v) for k, v in body["SuspendedState"].items()}}
    return rec


def parse_policy(body: dict, targets: dict, now: float, arn_prefix: str, uid: str) -> dict:
    """PutScalingPolicy: a target tracking policy of a registered target."""
    resource, dimension = target_id(body)
    if key_of(resource, dimension) not in targets:
        raise not_registered(resource, dimension)
    name = body.get("PolicyName")
    if not isinstance(name, str) or not 1 <= len(name) <= 256:
        raise AutoScalingValidation("PolicyName must be 1 to 256 characters")
    kind = body.get("PolicyType", "StepScaling")
    if kind != "TargetTrackingScaling":
        raise AutoScalingValidation(f"Unsupported policy type {kind} for dynamodb: Trireme runs TargetTrackingScaling")
    conf = body.get("TargetTrackingScalingPolicyConfiguration")
    if not isinstance(conf, dict) or not isinstance(conf.get("TargetValue"), (int, float)):
        raise AutoScalingValidation("TargetTrackingScalingPolicyConfiguration with a TargetValue is required")
    value = float(conf["TargetValue"])
    if not 20.0 <= value <= 90.0:  # DynamoDB's range for its utilization metrics
        raise AutoScalingValidation(f"The target value for the metric {DIMENSIONS[dimension]} must be between "
                                    "20.0 and 90.0")
    metric = (conf.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    if metric != DIMENSIONS[dimension]:
        raise AutoScalingValidation(f"Unsupported metric for {dimension}: {metric} (use {DIMENSIONS[dimension]})")
    arn = f"{arn_prefix}:scalingPolicy:{uid}:resource/dynamodb/{resource}:policyName/{name}"
    region = arn_prefix.split(":")[3]
    alarms = [{"AlarmName": f"TargetTracking-{resource}-{side}-{uid}",
               "AlarmARN": f"arn:aws:cloudwatch:{region}:000000000000:alarm:TargetTracking-{resource}-{side}-{uid}"}
              for side in ("AlarmHigh", "AlarmLow")]
    return {"PolicyARN": arn, "PolicyName": name, "ServiceNamespace": NAMESPACE, "ResourceId": resource,
            "ScalableDimension": dimension, "PolicyType": kind, "CreationTime": now, "Alarms": alarms,
            "TargetTrackingScalingPolicyConfiguration": {k: v for k, v in conf.items() if k in (
                "TargetValue", "PredefinedMetricSpecification", "ScaleOutCooldown", "ScaleInCooldown",
                "DisableScaleIn")}}


def policy_key(resource: str, dimension: str, name: str) -> str:
    return f"{resource}|{dimension}|{name}"


def select(records: list[dict], body: dict) -> list[dict]:
    """The records a Describe call's filters keep (ResourceIds / ResourceId, ScalableDimension, PolicyNames)."""
    if body.get("ServiceNamespace") != NAMESPACE:
        raise AutoScalingValidation(f"Unsupported service namespace: {body.get('ServiceNamespace')}")
    ids = body.get("ResourceIds") or ([body["ResourceId"]] if body.get("ResourceId") else None)
    out = []
    for r in records:
        if ids is not None and r["ResourceId"] not in ids:
            continue
        if body.get("ScalableDimension") and r["ScalableDimension"] != body["ScalableDimension"]:
            continue
        if body.get("PolicyNames") and r.get("PolicyName") not in body["PolicyNames"]:
            continue
        out.append(r)
    return out


@dataclass
class Tracking:
    """What target tracking remembers between ticks for one target (soft state)."""

    above_since: float | None = None
    below_since: float | None = None
    last_out: float = -math.inf
    last_in: float = -math.inf


def decide(capacity: int, consumed_per_s: float, target: dict, policy: dict, memory: Tracking, now: float, *,
           out_after_s: float, in_after_s: float) -> tuple[int, str] | None:
    """The new capacity and the cause (for the activity), or None: keep it."""
    conf = policy["TargetTrackingScalingPolicyConfiguration"]
    value = float(conf["TargetValue"])
    lo, hi = target["MinCapacity"], target["MaxCapacity"]
    utilization = 100.0 * consumed_per_s / max(capacity, 1)
    wanted = max(lo, min(hi, math.ceil(consumed_per_s * 100.0 / value)))
    suspended = target.get("SuspendedState") or {}
    if capacity < lo or capacity > hi:  # the range changed: move into it at once
        return max(lo, min(hi, capacity)), f"the capacity {capacity} is outside [{lo}, {hi}]"
    if utilization > value:
        memory.below_since = None
        memory.above_since = memory.above_since if memory.above_since is not None else now
        if (now - memory.above_since >= out_after_s and wanted > capacity and not suspended.get(
                "DynamicScalingOutSuspended") and now - memory.last_out >= float(conf.get("ScaleOutCooldown", 0))):
            memory.last_out, memory.above_since = now, None
            return wanted, (f"monitor alarm TargetTracking-{target['ResourceId']}-AlarmHigh in state ALARM "
                            f"triggered policy {policy['PolicyName']}: utilization {utilization:.1f}% > "
                            f"{value:.1f}%")
        return None
    memory.above_since = None
    if utilization < value * SCALE_IN_BELOW and wanted < capacity:
        memory.below_since = memory.below_since if memory.below_since is not None else now
        if (now - memory.below_since >= in_after_s and not conf.get("DisableScaleIn") and not suspended.get(
                "DynamicScalingInSuspended") and now - memory.last_in >= float(conf.get("ScaleInCooldown", 0))):
            memory.last_in, memory.below_since = now, None
            return wanted, (f"monitor alarm TargetTracking-{target['ResourceId']}-AlarmLow in state ALARM "
                            f"triggered policy {policy['PolicyName']}: utilization {utilization:.1f}% < "
                            f"{value * SCALE_IN_BELOW:.1f}%")
    else:
        memory.below_since = None
    return None


def activity(target: dict, old: int, new: int, cause: str, now: float, activity_id: str,
             status: str = "Successful", message: str | None = None) -> dict[str, Any]:
    what = "Read" if target["ScalableDimension"].endswith("ReadCapacityUnits") else "Write"
    out = {"ActivityId": activity_id, "ServiceNamespace": NAMESPACE, "ResourceId": target["ResourceId"],
           "ScalableDimension": target["ScalableDimension"],
           "Description": f"Setting {what.lower()} capacity units to {new}.", "Cause": cause,
           "StartTime": now, "EndTime": now, "StatusCode": status,
           "Details": f"{what}CapacityUnits: {old} -> {new}"}
    if message:
        out["StatusMessage"] = message
    return out
