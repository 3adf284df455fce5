"""Time to Live, the pure part: UpdateTimeToLive and DescribeTimeToLive rules,
the setting's state machine, and which items are expired. No I/O; the
partition leaders' sweeper decides when to look, this module what it finds.

Sources:

* botocore's ``dynamodb`` model: TimeToLiveSpecification requires Enabled and
  AttributeName (1-255 characters); statuses ENABLING, DISABLING, ENABLED,
  DISABLED; UpdateTimeToLive's doc: a change "can take up to one hour", and
  another call in that time is a ValidationException.
* Observed against AWS on 2026-10-09 (ack-api-quirks DynamoDB catalogue,
  DDB-TABLE-143, -147, -442): the messages below; the content checks come
  before the cooldown; the cooldown follows every successful change (also a
  disable) and ran about 31 minutes (last refusal at 1,811 s, first success
  at 1,872 s), failed calls do not extend it, DescribeTimeToLive does not show
  it, and ENABLING was never seen at one-second polling.
* Which items expire, developer guide time-to-live-ttl-before-you-start.html:
  the attribute must be present, a top-level Number, epoch seconds, and "no
  more than five years in the past"; anything else is ignored. howitworks-ttl:
  expired items still show in reads until deleted, and may be updated.
* The delete's stream identity is ``ddb.streams.TTL_IDENTITY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ddb.errors import ValidationException, constraint_error, constraint_failure
from ddb.keys import table_name_errors

STATUSES = ("ENABLING", "DISABLING", "ENABLED", "DISABLED")
COOLDOWN_MS = 31 * 60 * 1000  # observed (DDB-TABLE-143); the docs say "up to one hour"
FIVE_YEARS_S = 5 * 365 * 24 * 3600  # "no more than five years in the past" (days of 24 h, no leap days)

ALREADY_ENABLED = "TimeToLive is already enabled"
ALREADY_DISABLED = "TimeToLive is already disabled"
COOLDOWN = "Time to live has been modified multiple times within a fixed interval"


def other_attribute(current: str) -> str:
    return f"TimeToLive is active on a different AttributeName: current AttributeName is {current}"


def not_describable(table_status: str) -> str:
    return (f"Cannot describe time to live while table is in {table_status} state: "
            f"Current table state is {table_status}")


@dataclass(frozen=True, slots=True)
class TtlState:
    """A table's TTL setting: the attribute (kept while DISABLING), whether
    it is on, and when it last changed (epoch ms; None: never)."""

    attribute: str | None = None
    enabled: bool = False
    changed_ms: int | None = None

    def status(self, now_ms: int, settle_ms: int = 0) -> str:
        """ENABLING/DISABLING for ``settle_ms`` after a change, then
        ENABLED/DISABLED. AWS showed ENABLED within a second (settle 0)."""
        settling = self.changed_ms is not None and now_ms - self.changed_ms < settle_ms
        if self.enabled:
            return "ENABLING" if settling else "ENABLED"
        return "DISABLING" if settling and self.attribute is not None else "DISABLED"

    def describe(self, now_ms: int, settle_ms: int = 0) -> dict[str, Any]:
        """DescribeTimeToLive's TimeToLiveDescription (no AttributeName once DISABLED)."""
        status = self.status(now_ms, settle_ms)
        out: dict[str, Any] = {"TimeToLiveStatus": status}
        if status != "DISABLED":
            out["AttributeName"] = self.attribute
        return out


def parse_update_ttl(body: dict) -> tuple[str, bool, str]:
    """UpdateTimeToLive's request: (table name, enabled, attribute name)."""
    errors = table_name_errors(body.get("TableName"))
    spec = body.get("TimeToLiveSpecification")
    if spec is None:
        errors.append(constraint_error(None, "timeToLiveSpecification", "Member must not be null"))
        raise constraint_failure(errors)
    enabled, name = spec.get("Enabled"), spec.get("AttributeName")
    if enabled is None:
        errors.append(constraint_error(None, "timeToLiveSpecification.enabled", "Member must not be null"))
    if name is None:
        errors.append(constraint_error(None, "timeToLiveSpecification.attributeName", "Member must not be null"))
    elif len(name) < 1:
        errors.append(constraint_error(name, "timeToLiveSpecification.attributeName",
                                       "Member must have length greater than or equal to 1"))
    elif len(name) > 255:
        errors.append(constraint_error(name, "timeToLiveSpecification.attributeName",
                                       "Member must have length less than or equal to 255"))
    if errors:
        raise constraint_failure(errors)
    return body["TableName"], bool(enabled), name


def update_ttl(state: TtlState, enabled: bool, attribute: str, *, now_ms: int,
               cooldown_ms: int = COOLDOWN_MS) -> TtlState:
    """The setting after an accepted UpdateTimeToLive, or its ValidationException.
    The answer echoes the request: ``{"TimeToLiveSpecification": spec}``."""
    if enabled:
        if state.enabled and state.attribute != attribute:
            raise ValidationException(other_attribute(state.attribute or ""))
        if state.enabled:
            raise ValidationException(ALREADY_ENABLED)
    else:
        if not state.enabled:
            raise ValidationException(ALREADY_DISABLED)
        if state.attribute != attribute:
            raise ValidationException(other_attribute(state.attribute or ""))
    if state.changed_ms is not None and now_ms - state.changed_ms < cooldown_ms:
        raise ValidationException(COOLDOWN)
    return TtlState(attribute, enabled, now_ms)


def check_describable(table_status: str) -> None:
    """DescribeTimeToLive refuses a table being created or deleted (DDB-TABLE-442)."""
    if table_status in ("CREATING", "DELETING"):
        raise ValidationException(not_describable(table_status))


def expiry_of(item: dict[str, Any], attribute: str) -> Decimal | None:
    """The item's expiry in epoch seconds, or None when TTL ignores the item:
    attribute absent or not a top-level Number (strings, sets, maps never)."""
    value = item.get(attribute)
    if not isinstance(value, dict) or set(value) != {"N"}:
        return None
    try:
        return Decimal(value["N"])
    except (InvalidOperation, TypeError):
        return None


def is_expired(item: dict[str, Any], attribute: str, now_s: float) -> bool:
    """Whether TTL deletes ``item`` at ``now_s``: its expiry is before now and
    no more than five years before it."""
    at = expiry_of(item, attribute)
    if at is None:
        return False
    now = Decimal(str(now_s))
    return now - FIVE_YEARS_S <= at < now


def expiry_condition(attribute: str, now_s: int) -> dict[str, Any]:
    """A ConditionExpression for the TTL delete: the item is still expired
    when the delete applies (a write in between may have moved or removed
    the expiry, and DynamoDB honours such updates). ``<`` and ``>=`` are
    false for a non-number, so the type rule holds too."""
    return {"ConditionExpression": "#ttl < :now AND #ttl >= :floor",
            "ExpressionAttributeNames": {"#ttl": attribute},
            "ExpressionAttributeValues": {":now": {"N": str(now_s)}, ":floor": {"N": str(now_s - FIVE_YEARS_S)}}}
