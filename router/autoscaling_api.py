"""The Application Auto Scaling API for DynamoDB tables, on the router's port
(X-Amz-Target ``AnyScaleFrontendService.<Operation>``, JSON 1.1), so boto3's
``application-autoscaling`` client and ``aws application-autoscaling`` work
with ``--endpoint-url`` unchanged. Targets and policies are metadata
(``MetaState.scaling``, written through the meta leader); the meta leader's
controller applies them (node/control/autoscaler.py) and records the
activities listed here.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from cluster.partitions import Cluster
from ddb import autoscaling as aas
from router.context import Tables

PREFIX = "AnyScaleFrontendService."
WAIT_S = 5.0


class AutoScalingApi:
    def __init__(self, api: Tables, cluster: Cluster, region: str) -> None:
        self.api = api
        self.cluster = cluster
        self.arn_prefix = f"arn:aws:application-autoscaling:{region}:000000000000"

    def operations(self) -> dict[str, Any]:
        return {"RegisterScalableTarget": self.register, "DeregisterScalableTarget": self.deregister,
                "DescribeScalableTargets": self.describe_targets, "PutScalingPolicy": self.put_policy,
                "DeleteScalingPolicy": self.delete_policy, "DescribeScalingPolicies": self.describe_policies,
                "DescribeScalingActivities": self.describe_activities}

    def _scaling(self) -> dict:
        state = self.cluster.state
        return state.scaling if state is not None else {"targets": {}, "policies": {}, "activities": {}}

    async def _commit(self, body: dict) -> dict:
        result = await self.cluster.meta("scaling", body)
        if result.get("ok"):
            await self.cluster.wait_for(lambda s: s.version >= result.get("version", 0), WAIT_S)
        return result

    async def register(self, body: dict) -> dict:
        resource, dimension = aas.target_id(body)
        self.api.table(aas.table_of(resource))  # ResourceNotFound-like: the table must exist
        key = aas.key_of(resource, dimension)
        rec = aas.parse_register(body, self._scaling()["targets"].get(key), time.time(), self.arn_prefix,
                                 uuid.uuid4().hex)
        await self._commit({"action": "put_target", "key": key, "record": rec})
        return {"ScalableTargetARN": rec["ScalableTargetARN"]}

    async def deregister(self, body: dict) -> dict:
        resource, dimension = aas.target_id(body)
        result = await self._commit({"action": "delete_target", "key": aas.key_of(resource, dimension)})
        if not result.get("ok"):
            raise aas.not_registered(resource, dimension)
        return {}

    async def put_policy(self, body: dict) -> dict:
        sc = self._scaling()
        rec = aas.parse_policy(body, sc["targets"], time.time(), self.arn_prefix, uuid.uuid4().hex[:8])
        key = aas.policy_key(rec["ResourceId"], rec["ScalableDimension"], rec["PolicyName"])
        old = sc["policies"].get(key)
        if old is not None:  # a replaced policy keeps its ARN and alarms
            rec = {**rec, "PolicyARN": old["PolicyARN"], "Alarms": old["Alarms"], "CreationTime": old["CreationTime"]}
        result = await self._commit({"action": "put_policy", "key": key, "record": rec})
        if not result.get("ok"):
            raise aas.not_registered(rec["ResourceId"], rec["ScalableDimension"])
        return {"PolicyARN": rec["PolicyARN"], "Alarms": rec["Alarms"]}

    async def delete_policy(self, body: dict) -> dict:
        resource, dimension = aas.target_id(body)
        name = body.get("PolicyName")
        result = await self._commit({"action": "delete_policy", "key": aas.policy_key(resource, dimension, name)})
        if not result.get("ok"):
            raise aas.ObjectNotFoundException(
                f"No scaling policy found for service namespace: dynamodb, resource ID: {resource}, scalable "
                f"dimension: {dimension}, policy name: {name}")
        return {}

    async def describe_targets(self, body: dict) -> dict:
        return {"ScalableTargets": aas.select(list(self._scaling()["targets"].values()), body)}

    async def describe_policies(self, body: dict) -> dict:
        return {"ScalingPolicies": aas.select(list(self._scaling()["policies"].values()), body)}

    async def describe_activities(self, body: dict) -> dict:
        acts = [a for lst in self._scaling()["activities"].values() for a in lst]
        acts.sort(key=lambda a: a["StartTime"], reverse=True)
        return {"ScalingActivities": aas.select(acts, body)}
