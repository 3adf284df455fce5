"""Target tracking on the meta leader: each tick, every auto scaling policy
(``MetaState.scaling``, registered through router/autoscaling_api.py) is
weighed against its table's metered consumption (node/control/throughput.py)
by ``ddb.autoscaling.decide``; a change sets the table's provisioned
capacity and records the activity in one metadata entry.

Demand is the consumed units per second plus those refused (a throttled
table's consumption is capped at its capacity, which would hide how much
more it needs). Scale out after TRIREME_SCALE_OUT_S above the target (60 s:
AWS's two one-minute datapoints), in after TRIREME_SCALE_IN_S 20% below it
(900 s: fifteen); a decrease DynamoDB would refuse (ddb/tables.py
`check_decrease`) waits.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import TYPE_CHECKING

from ddb import autoscaling as aas
from ddb.errors import LimitExceededException
from ddb.tables import capacity_history, check_decrease

if TYPE_CHECKING:
    from node.control.metareplica import MetaReplica
    from node.control.throughput import Consumption

log = logging.getLogger(__name__)

OUT_AFTER_S = float(os.environ.get("TRIREME_SCALE_OUT_S", "60"))
IN_AFTER_S = float(os.environ.get("TRIREME_SCALE_IN_S", "900"))
UNITS = {"dynamodb:table:ReadCapacityUnits": ("ReadCapacityUnits", "read"),
         "dynamodb:table:WriteCapacityUnits": ("WriteCapacityUnits", "write")}


async def autoscale(mr: MetaReplica, consumption: Consumption, tracking: dict[str, aas.Tracking],
                    now: float) -> None:
    state = mr.state
    sc = state.scaling
    for pkey, policy in list(sc["policies"].items()):
        key = aas.key_of(policy["ResourceId"], policy["ScalableDimension"])
        target = sc["targets"].get(key)
        t = state.tables.get(aas.table_of(policy["ResourceId"]))
        if target is None or t is None or t.status != "ACTIVE" or t.spec.get("BillingMode") == "PAY_PER_REQUEST":
            continue
        field, side = UNITS[policy["ScalableDimension"]]
        pt = dict(t.spec.get("ProvisionedThroughput") or {})
        capacity = int(pt.get(field, 0))
        consumed = consumption.table(t, now)
        demand = consumed[f"{side}_units_per_s"] + consumed[f"throttled_{side}_units_per_s"]
        memory = tracking.setdefault(pkey, aas.Tracking())
        decision = aas.decide(capacity, demand, target, policy, memory, now,
                              out_after_s=OUT_AFTER_S, in_after_s=IN_AFTER_S)
        if decision is None:
            continue
        new, cause = decision
        wall = time.time()
        updated: dict = {}
        if new < capacity:
            try:
                updated["DecreasesToday"] = check_decrease(t.updated, wall)
            except LimitExceededException:
                continue  # DynamoDB would refuse it: wait for the next allowed decrease
            updated["LastDecreaseDateTime"] = wall
        else:
            updated["LastIncreaseDateTime"] = wall
        pt[field] = new
        spec = {**t.spec, "ProvisionedThroughput": pt}
        updated.update(capacity_history({"created": t.created, "spec": t.spec, "updated": t.updated}, spec, wall))
        act = aas.activity(target, capacity, new, cause, wall, str(uuid.uuid4()))
        result = await mr.run({"op": "scaling", "action": "scale", "name": t.name, "key": key, "spec": spec,
                               "updated": updated, "activity": act, "keep": aas.MAX_ACTIVITIES})
        if result.get("ok"):
            log.info("auto scaling %s %s: %d -> %d (%s)", t.name, field, capacity, new, cause)
