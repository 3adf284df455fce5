"""Multi-Region strong consistency (MRSC) for global tables: the rules of
UpdateTable's MultiRegionConsistency STRONG and GlobalTableWitnessUpdates,
the restrictions DynamoDB documents for MRSC tables, and the fields
DescribeTable adds. Pure: router/strong_tables.py runs them.

An MRSC global table spans exactly three Regions: this one and two replicas,
or one replica and a witness (which holds the replicated log and serves no
reads or writes). It is made from an empty table in one UpdateTable call,
and its consistency mode, replicas and witness cannot change afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from ddb.errors import ValidationException

STRONG, EVENTUAL = "STRONG", "EVENTUAL"
INVALID = "One or more parameter values were invalid: "
THREE_REGIONS = (INVALID + "A global table with MultiRegionConsistency STRONG spans exactly three Regions: "
                 "give two replicas in ReplicaUpdates (Create), or one replica and one witness in "
                 "GlobalTableWitnessUpdates (Create)")
# The Region sets an MRSC table's three Regions must all come from (DynamoDB's
# CreateGlobalTableWitnessGroupMemberAction; its replicas follow the same rule).
REGION_SETS = {"US": ("us-east-1", "us-east-2", "us-west-2"),
               "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
               "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3")}
CONFLICT = ("The request was rejected because one or more items in the request are being modified by a request "
            "in another Region.")


@dataclass(frozen=True)
class StrongPlan:
    replicas: list[str]  # the two other Regions, in the order given (a witness is one of them)
    witness: str  # "" when there is none


def region_set(region: str) -> str:
    """The name of the Region set ``region`` belongs to ("" when none)."""
    return next((name for name, members in REGION_SETS.items() if region in members), "")


def check_region_set(own_region: str, regions: list[str]) -> None:
    """An MRSC table's Regions (this one, its replicas and witness) all lie in
    one Region set. DynamoDB documents the rule but not its error's text: this
    one names the sets and the Regions outside."""
    home = region_set(own_region)
    outside = [r for r in regions if not home or region_set(r) != home]
    if home and not outside:
        return
    sets = "; ".join(f"{name}: {', '.join(members)}" for name, members in REGION_SETS.items())
    where = (f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not in the {home} Region set of "
             f"{own_region}" if home else f"{own_region} is in no Region set")
    raise ValidationException(INVALID + "The Regions of a global table with MultiRegionConsistency STRONG must "
                              f"all be in one Region set ({sets}): {where}")


def is_strong_request(body: dict) -> bool:
    return body.get("MultiRegionConsistency") == STRONG or body.get("GlobalTableWitnessUpdates") is not None


def check_consistency_value(body: dict) -> None:
    value = body.get("MultiRegionConsistency")
    if value is not None and value not in (STRONG, EVENTUAL):
        raise ValidationException(f"1 validation error detected: Value '{value}' at 'multiRegionConsistency' "
                                  "failed to satisfy constraint: Member must satisfy enum value set: "
                                  "[EVENTUAL, STRONG]")


def _create_regions(updates: object, what: str, path: str) -> list[str]:
    """The regions of a list of {"Create": {"RegionName"}} actions (nothing else allowed)."""
    if updates is None:
        return []
    if not isinstance(updates, list) or not updates:
        raise ValidationException(f"1 validation error detected: Value '[]' at '{path}' failed to satisfy "
                                  "constraint: Member must have length greater than or equal to 1")
    regions = []
    for update in updates:
        action = update.get("Create") if isinstance(update, dict) else None
        if not isinstance(action, dict) or len(update) != 1:
            raise ValidationException(INVALID + f"Making a global table with MultiRegionConsistency STRONG takes "
                                      f"only Create actions in {what}")
        region = action.get("RegionName")
        if not isinstance(region, str) or not region:
            raise ValidationException(f"1 validation error detected: Value '' at '{path}.1.member.create."
                                      "regionName' failed to satisfy constraint: Member must have length greater "
                                      "than or equal to 1")
        regions.append(region)
    return regions


def parse_strong(body: dict, *, own_region: str, known_regions: list[str], table: str, replicas: list[dict],
                 consistency: str, spec: dict, ttl_enabled: bool) -> StrongPlan:
    """The regions of an UpdateTable that makes ``table`` an MRSC global table,
    checked against what the table is (``replicas``: the other regions it is
    already replicated to; ``consistency``: its mode, "" when regional)."""
    check_consistency_value(body)
    if body.get("GlobalTableWitnessUpdates") is not None and body.get("MultiRegionConsistency") != STRONG \
            and consistency != STRONG:
        raise ValidationException("MultiRegionConsistency must be set as STRONG when GlobalTableWitnessUpdates "
                                  "parameter is present")
    if consistency == STRONG:
        raise ValidationException(INVALID + f"Table {table} is a global table with MultiRegionConsistency STRONG: "
                                  "its replicas and witness cannot be changed")
    if replicas:
        raise ValidationException(INVALID + f"Table {table} is already a global table with MultiRegionConsistency "
                                  "EVENTUAL: the consistency mode of a global table cannot be changed")
    others = [k for k in ("BillingMode", "ProvisionedThroughput", "GlobalSecondaryIndexUpdates",
                          "StreamSpecification", "SSESpecification", "TableClass") if body.get(k) is not None]
    if others:
        raise ValidationException(INVALID + "ReplicaUpdates and GlobalTableWitnessUpdates cannot be combined with "
                                  f"other table changes ({', '.join(others)})")
    new = _create_regions(body.get("ReplicaUpdates"), "ReplicaUpdates", "replicaUpdates")
    witnesses = _create_regions(body.get("GlobalTableWitnessUpdates"), "GlobalTableWitnessUpdates",
                                "globalTableWitnessUpdates")
    if len(witnesses) > 1:
        raise ValidationException(INVALID + "A global table has at most one witness")
    regions = new + witnesses
    if len(regions) != 2 or not new:
        raise ValidationException(THREE_REGIONS)
    check_region_set(own_region, [r for r in regions if r != own_region])
    for region in regions:
        if region == own_region:
            raise ValidationException(INVALID + f"Cannot add a replica or witness in this table's own Region "
                                      f"({own_region})")
        if region not in known_regions:
            raise ValidationException(INVALID + f"Region {region} is not available to this deployment; "
                                      f"regions: {', '.join(sorted(known_regions)) or 'none'}")
    if len(set(regions)) != 2:
        raise ValidationException(INVALID + "A Region can hold only one replica or witness of a global table")
    if spec.get("LocalSecondaryIndexes"):
        raise ValidationException(INVALID + "Local secondary indexes are not supported for global tables with "
                                  "MultiRegionConsistency STRONG")
    if ttl_enabled:
        raise ValidationException(INVALID + "Time to Live is not supported for global tables with "
                                  "MultiRegionConsistency STRONG; disable it first")
    return StrongPlan(new + witnesses, witnesses[0] if witnesses else "")


def not_empty(table: str) -> str:
    return (INVALID + f"Table {table} holds items: a global table with MultiRegionConsistency STRONG is made from "
            "an empty table")


def check_transaction(table: str, consistency: str) -> None:
    """The transaction APIs refuse MRSC tables."""
    if consistency == STRONG:
        raise ValidationException(INVALID + f"Transactions are not supported on global tables with "
                                  f"MultiRegionConsistency STRONG: {table}")


def check_update(body: dict, table: str, consistency: str) -> None:
    """UpdateTable's changes an MRSC table cannot take in one Region alone: its
    global secondary indexes and its stream are made with it (before it is
    made STRONG) and kept by every Region alike, so changing them is refused."""
    if consistency != STRONG:
        return
    if any(isinstance(u, dict) and ("Create" in u or "Delete" in u)
           for u in body.get("GlobalSecondaryIndexUpdates") or []):
        raise ValidationException(INVALID + "Trireme does not yet support adding or deleting global secondary "
                                  f"indexes of a global table with MultiRegionConsistency STRONG: {table}")
    if body.get("StreamSpecification") is not None:
        raise ValidationException(INVALID + "Trireme does not yet support enabling or disabling the stream of a "
                                  f"global table with MultiRegionConsistency STRONG: {table}")


def check_ttl(table: str, consistency: str) -> None:
    if consistency == STRONG:
        raise ValidationException(INVALID + f"Time to Live is not supported on global tables with "
                                  f"MultiRegionConsistency STRONG: {table}")


def table_fields(consistency: str, witness: str) -> dict:
    """What DescribeTable adds for an MRSC table."""
    if consistency != STRONG:
        return {}
    out: dict = {"MultiRegionConsistency": STRONG}
    if witness:
        out["GlobalTableWitnesses"] = [{"RegionName": witness, "WitnessStatus": "ACTIVE"}]
    return out
