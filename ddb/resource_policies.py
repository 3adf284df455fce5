"""Resource-based policies of tables and streams (PutResourcePolicy,
GetResourcePolicy, DeleteResourcePolicy, CreateTable's ResourcePolicy): the
ARN a call names, the document's checks, and the revision rules the
metadata's state machine applies (cluster/meta.py), so concurrent calls with
an ExpectedRevisionId see each other.

Messages follow DynamoDB's where known ("One or more parameter values were
invalid: Invalid policy document: ..."); PolicyNotFoundException's wording is
modelled on the service's and not captured from it.
"""

from __future__ import annotations

from typing import Any

from ddb.errors import PolicyNotFoundException, ValidationException
from ddb.iam.policy import MalformedPolicyDocument, action_matches, parse_policy
from ddb.keys import table_name_errors
from ddb.tags import dynamodb_arn

MAX_POLICY_BYTES = 20 * 1024  # DynamoDB counts whitespace too
NO_POLICY = "NO_POLICY"  # ExpectedRevisionId: attach only where no policy is
_INVALID = "One or more parameter values were invalid: "
TABLE_ACTIONS = (
    "BatchGetItem", "BatchWriteItem", "ConditionCheckItem", "CreateBackup", "CreateTable", "CreateTableReplica",
    "DeleteItem", "DeleteResourcePolicy", "DeleteTable", "DeleteTableReplica", "DescribeContinuousBackups",
    "DescribeContributorInsights", "DescribeKinesisStreamingDestination", "DescribeTable",
    "DescribeTableReplicaAutoScaling", "DescribeTimeToLive", "DisableKinesisStreamingDestination",
    "EnableKinesisStreamingDestination", "ExportTableToPointInTime", "GetItem", "GetResourcePolicy", "ImportTable",
    "ListTagsOfResource", "PartiQLDelete", "PartiQLInsert", "PartiQLSelect", "PartiQLUpdate", "PutItem",
    "PutResourcePolicy", "Query", "RestoreTableFromBackup", "RestoreTableToPointInTime", "Scan", "TagResource",
    "UntagResource", "UpdateContinuousBackups", "UpdateContributorInsights", "UpdateGlobalTable",
    "UpdateGlobalTableSettings", "UpdateItem", "UpdateKinesisStreamingDestination", "UpdateTable",
    "UpdateTableReplicaAutoScaling", "UpdateTimeToLive")
STREAM_ACTIONS = ("DescribeStream", "GetRecords", "GetShardIterator", "GetResourcePolicy", "PutResourcePolicy",
                  "DeleteResourcePolicy")


def parse_resource_arn(arn: Any, *, region: str, account: str) -> tuple[str, str]:
    """(table, stream label or "") of a table's or a stream's ARN."""
    arn_region, arn_account, resource = dynamodb_arn(arn)
    kind, _, rest = resource.partition("/")
    table, _, sub = rest.partition("/")
    what, _, label = sub.partition("/")
    if kind != "table" or (sub and (what != "stream" or not label or "/" in label)):
        raise ValidationException(f"{_INVALID}Invalid resource arn provided, only table or stream is accepted. "
                                  f"Provided resource arn: {arn}")
    if arn_region != region or arn_account != account or table_name_errors(table):
        raise ValidationException(f"Invalid ResourceArn provided as input {arn}")
    return table, label


def check_policy(text: Any, *, stream: bool) -> None:
    """The document's size, grammar (IAM's) and actions: DynamoDB's only, and
    for a stream only what a stream serves."""
    if not isinstance(text, str) or not text:
        raise ValidationException(f"{_INVALID}Invalid policy document: Policy document must not be empty")
    size = len(text.encode())
    if size > MAX_POLICY_BYTES:
        raise ValidationException(f"{_INVALID}Policy document size {size} exceeds the maximum allowed size of "
                                  f"{MAX_POLICY_BYTES} bytes")
    try:
        policy = parse_policy(text, resource_based=True)
    except MalformedPolicyDocument as exc:
        raise ValidationException(f"{_INVALID}Invalid policy document: {exc.message}") from None
    known = STREAM_ACTIONS if stream else TABLE_ACTIONS
    invalid: list[str] = []
    for st in policy.statements:
        for action in st.actions or st.not_actions or ():
            if action == "*":
                continue
            if not any(action_matches(action, "dynamodb:" + k) for k in known) and action not in invalid:
                invalid.append(action)
    if invalid:
        names = ", ".join(f'"{a}"' for a in invalid)
        raise ValidationException(f"{_INVALID}Invalid policy document: The following action names are invalid: "
                                  f"{names}")


def not_found(arn: str) -> PolicyNotFoundException:
    return PolicyNotFoundException(f"Resource-based policy not found for the provided ResourceArn: {arn}")


def revision_mismatch(arn: str, expected: str, current: str | None) -> PolicyNotFoundException:
    held = f"has revision id {current}" if current is not None else "has no policy"
    return PolicyNotFoundException(f"Resource-based policy not found for the provided ResourceArn: Requested update "
                                   f"for policy revision id {expected}, but the policy associated to target {arn} "
                                   f"{held}")


def change(current: dict | None, policy: str | None, expected: str | None, *, arn: str,
           now_ms: int) -> tuple[dict | None, str | None]:
    """A put (``policy``) or a delete (None) against the ``current`` entry
    ({"policy", "revision"} or None): the new entry and the RevisionId to
    answer; PolicyNotFoundException when ``expected`` does not hold.
    Revisions are milliseconds, always increasing; putting the document the
    resource has already is idempotent (its revision stays)."""
    held = current["revision"] if current else None
    if expected is not None:
        if expected == NO_POLICY and policy is not None:
            if current is not None:
                raise revision_mismatch(arn, expected, held)
        elif expected != held:
            raise revision_mismatch(arn, expected, held)
    if policy is None:
        return None, held  # deleting nothing answers no RevisionId
    if current is not None and current["policy"] == policy:
        return current, held  # idempotent: the same document keeps its revision
    revision = str(max(now_ms, int(held) + 1 if held and held.isdigit() else 0))
    return {"policy": policy, "revision": revision}, revision
