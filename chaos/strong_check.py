"""`trireme check --regions 3 --consistency strong`: the register workload on
a multi-Region strongly consistent (MRSC) global table, with clients in all
three regions, under region faults; the history must be linearizable.

The table is made STRONG from an empty table in the first region
(UpdateTable MultiRegionConsistency STRONG, the two other regions as
replicas). Every region's clients read strongly, write unique values and
compare-and-set on a few keys of it, while `chaos.global_check`'s region
nemesis isolates a region, slows a pair, kills a whole region or a node in
one. One linearizability check (`chaos.linear`) covers every region's
operations together: a strongly consistent read in any region must see the
latest acknowledged write, wherever it was made.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chaos.faults import RegionChaos
from chaos.global_check import GLOBAL_FAULTS, RegionNemesis, wind_down
from chaos.runner import (TABLE, CheckConfig, Recorder, RegisterWorkload, Report, _client, _say, _Stalls, drive,
                          judge)

# A write refused before it was applied: nothing reached the region, or the
# leader turned it away for another region's uncommitted write of the item.
NOT_APPLIED = ("ReplicatedWriteConflictException", "EndpointConnectionError")
IDLE_S = 0.05  # after an answer that came at once (a region down): do not spin


class StrongRegisterWorkload(RegisterWorkload):
    """The register workload; a write known not to have been applied is recorded as failed."""

    not_applied = NOT_APPLIED


def make_strong_table(setup: dict[str, Any], table: str = TABLE) -> None:
    """A fresh table in the first region, made STRONG with the two others as
    replicas, ACTIVE in every region."""
    drop_strong_table(setup, table)
    regions = list(setup)
    first = setup[regions[0]]
    first.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
    first.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    first.update_table(TableName=table, MultiRegionConsistency="STRONG",
                       ReplicaUpdates=[{"Create": {"RegionName": r}} for r in regions[1:]])
    for ddb in setup.values():
        ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def drop_strong_table(setup: dict[str, Any], table: str = TABLE) -> None:
    """The table deleted in every region (an earlier run's, or this one's at the end)."""
    for ddb in setup.values():
        try:
            ddb.delete_table(TableName=table)
        except ClientError:
            pass  # not there
    for ddb in setup.values():
        ddb.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def run_strong_check(chaos: RegionChaos, cfg: CheckConfig) -> Report:
    """Run the register workload from every region for `cfg.duration` seconds
    under the region nemesis, heal, and check linearizability; files and
    progress as `chaos.runner.run_check`'s."""
    for fault in cfg.nemesis:
        if fault not in GLOBAL_FAULTS and fault != "none":
            raise ValueError(f"unknown fault {fault!r} for --consistency strong; faults: {', '.join(GLOBAL_FAULTS)}")
    regions = chaos.region_names()
    if len(regions) != 3:
        raise ValueError("--consistency strong runs across exactly three regions (--regions 3)")
    endpoints = {r: c.endpoint for r, c in chaos.region_chaos().items()}
    setup = {r: _client(endpoints[r], attempts=10, read_timeout=60, region=r) for r in regions}
    rng = random.Random(cfg.seed)
    _say(f"making table {TABLE} strongly consistent across {', '.join(regions)} ...")
    make_strong_table(setup)
    rec = Recorder(Path(cfg.out_dir) / "history.jsonl")
    workload = StrongRegisterWorkload(cfg, rec, itertools.count(1))
    stop = threading.Event()

    def client(process: int, region: str, seed: int) -> None:
        local = random.Random(seed)
        ddb = _client(endpoints[region], region=region)
        while not stop.is_set():
            began = time.monotonic()
            workload.step(ddb, process, local)
            if time.monotonic() - began < 0.002:
                time.sleep(IDLE_S)

    threads = [threading.Thread(target=client, args=(100 * i + p, r, rng.randrange(1 << 30)), daemon=True)
               for i, r in enumerate(regions) for p in range(cfg.clients)]
    nemesis = RegionNemesis(cfg, chaos, rec, random.Random(rng.randrange(1 << 30)))
    try:
        drive(cfg, rec, nemesis, threads, stop, undo_s=120)
        _say("load done; healing every fault and waiting for every region to serve ...")
        nemesis.recover()
    finally:  # also when interrupted or failing: no fault and no client outlives the run
        wind_down(cfg, nemesis, stop, rec, lambda: drop_strong_table(setup))
    _say(f"checking the history ({rec.invoked} operations) ...")
    return judge(cfg, rec.path, nemesis.injected, (True, "one log for every region: nothing to converge"),
                 what="linearizable across regions", stalls=_Stalls(GLOBAL_FAULTS, ("write", "cas")))
