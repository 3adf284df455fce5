"""Event source mappings from DynamoDB streams (Lambda's CreateEventSourceMapping,
Get, List, Update, Delete): the rules and the record, pure.

Defaults and ranges: Lambda's services-ddb-params.html (BatchSize 100, at
most 10,000; MaximumBatchingWindowInSeconds 0-300; StartingPosition required,
TRIM_HORIZON or LATEST; MaximumRetryAttempts -1 = infinite, up to 10,000;
MaximumRecordAgeInSeconds -1 = infinite, up to 604,800; ParallelizationFactor
1-10; FunctionResponseTypes only ReportBatchItemFailures; FilterCriteria in
the event-filtering language, `ddb/event_filter.py`; DestinationConfig.OnFailure
a function's or a table's ARN of this region and account). A mapping is stored as
the JSON record `new_mapping` builds (in ``MetaState.mappings``, by UUID);
`configuration` renders it as Lambda's EventSourceMappingConfiguration.
Lambda settles Creating/Updating/Disabling quickly; Trireme applies a change
in the same metadata entry, so the answer of Create shows ``Creating``,
of a disabling Update ``Disabling``, of Delete ``Deleting``, and later reads
show the settled ``Enabled`` or ``Disabled``.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Mapping

from ddb.errors import DynamoDBError
from ddb.event_filter import parse_filter_criteria
from functions.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from functions.model import _Checks, _require_type

BATCH_DEFAULT = 100
BATCH_MAX = 10_000
WINDOW_MAX = 300
RETRY_MAX = 10_000
AGE_MAX = 604_800
PARALLEL_MAX = 10
LIST_DEFAULT = 100
LIST_MAX = 10_000
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
RESPONSE_TYPES = ("ReportBatchItemFailures",)
NOT_FOUND = "The resource you requested does not exist."
# On-failure destinations Trireme has: a function, or a table (no SQS, SNS, S3 or Kafka here).
DESTINATION_RE = re.compile(r"arn:aws[a-zA-Z-]*:(?:lambda:(?P<fregion>[a-z0-9-]+):(?P<faccount>\d{12}):function:"
                            r"[a-zA-Z0-9-_]{1,64}|dynamodb:(?P<tregion>[a-z0-9-]+):(?P<taccount>\d{12}):table/"
                            r"[a-zA-Z0-9_.-]{3,255})")

# (request member, record field, wire name for the errors, low, high)
_NUMBERS = (("BatchSize", "batch_size", "batchSize", 1, BATCH_MAX),
            ("MaximumBatchingWindowInSeconds", "window_s", "maximumBatchingWindowInSeconds", 0, WINDOW_MAX),
            ("MaximumRetryAttempts", "max_retries", "maximumRetryAttempts", -1, RETRY_MAX),
            ("MaximumRecordAgeInSeconds", "max_age_s", "maximumRecordAgeInSeconds", -1, AGE_MAX),
            ("ParallelizationFactor", "parallelization", "parallelizationFactor", 1, PARALLEL_MAX))


def mapping_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException(NOT_FOUND)


def _settings(body: Mapping[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The tunable members of a Create or Update body, checked, over ``record``'s."""
    out = dict(record)
    checks = _Checks()
    for member, key, wire, lo, hi in _NUMBERS:
        value = _require_type(body, member, int)
        if value is not None:
            checks.bounds(value, wire, lo, hi)
            out[key] = value
    checks.raise_any()
    if out["max_age_s"] not in (-1,) and 0 <= out["max_age_s"] < 60:
        raise InvalidParameterValueException("MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.")
    for member, key in (("BisectBatchOnFunctionError", "bisect"), ("Enabled", "enabled")):
        value = _require_type(body, member, bool)
        if value is not None:
            out[key] = value
    types = _require_type(body, "FunctionResponseTypes", list)
    if types is not None:
        if any(t not in RESPONSE_TYPES for t in types) or len(types) > 1:
            raise InvalidParameterValueException(f"Unsupported FunctionResponseTypes: {types}")
        out["response_types"] = list(types)
    criteria = _require_type(body, "FilterCriteria", dict)
    if criteria is not None:
        try:
            parse_filter_criteria(criteria)
        except DynamoDBError as e:
            raise InvalidParameterValueException(e.message) from None
        out["filters"] = [f["Pattern"] for f in criteria.get("Filters") or []]
    destination = _require_type(body, "DestinationConfig", dict)
    if destination is not None:
        on_failure = (destination.get("OnFailure") or {}).get("Destination")
        if on_failure is not None and not isinstance(on_failure, str):
            raise InvalidParameterValueException("Invalid type for parameter DestinationConfig.OnFailure.Destination")
        if on_failure:
            _check_destination(on_failure, out["function_arn"])
        out["on_failure"] = on_failure or None
    if body.get("TumblingWindowInSeconds"):
        raise InvalidParameterValueException("TumblingWindowInSeconds is not supported by Trireme.")
    return out


def _check_destination(arn: str, function_arn: str) -> None:
    """An OnFailure destination Trireme can deliver to: a function's ARN or
    a table's, in the mapping's region and account."""
    m = DESTINATION_RE.fullmatch(arn)
    here = function_arn.split(":")[3:5]
    if m is None or [m["fregion"] or m["tregion"], m["faccount"] or m["taccount"]] != here:
        raise InvalidParameterValueException(
            f"The provided destination config DestinationConfig(onFailure=OnFailure(destination={arn})) is "
            f"invalid: Trireme delivers failed batches to a function (arn:aws:lambda:{here[0]}:{here[1]}:"
            f"function:NAME) or a table (arn:aws:dynamodb:{here[0]}:{here[1]}:table/NAME) of this region and "
            "account; it has no SQS, SNS, S3 or Kafka destinations.")


def new_mapping(body: Mapping[str, Any], *, uuid: str, function_arn: str, now: float) -> dict[str, Any]:
    """The record of a CreateEventSourceMapping for a stream (the source and
    function already resolved by the caller)."""
    position = body.get("StartingPosition")
    if position is None:
        raise InvalidParameterValueException("1 validation error detected: Value null at 'startingPosition' "
                                             "failed to satisfy constraint: Member must not be null")
    if position not in STARTING_POSITIONS:
        raise InvalidParameterValueException(f"Unsupported starting position for DynamoDB streams: {position}")
    record = {"uuid": uuid, "source": body["EventSourceArn"], "function_arn": function_arn,
              "starting_position": position, "batch_size": BATCH_DEFAULT, "window_s": 0, "max_retries": -1,
              "max_age_s": -1, "parallelization": 1, "bisect": False, "enabled": True, "response_types": [],
              "filters": [], "on_failure": None, "modified": now, "state": "Creating",
              "reason": "USER_INITIATED", "created_ms": int(now * 1000)}
    record = _settings(body, record)
    record["state"] = "Enabled" if record["enabled"] else "Disabled"
    return record


def update_mapping(record: dict[str, Any], body: Mapping[str, Any], *, function_arn: str | None,
                   now: float) -> tuple[dict[str, Any], str]:
    """The record after an UpdateEventSourceMapping, and the State to answer."""
    new = _settings(body, record)
    if function_arn is not None:
        new["function_arn"] = function_arn
    new["modified"] = now
    new["state"] = "Enabled" if new["enabled"] else "Disabled"
    answered = new["state"]
    if record["enabled"] and not new["enabled"]:
        answered = "Disabling"
    elif not record["enabled"] and new["enabled"]:
        answered = "Enabling"
    elif new != {**record, "modified": now}:
        answered = "Updating"
    return new, answered


def duplicate(record: dict[str, Any]) -> ResourceConflictException:
    return ResourceConflictException(
        f"An event source mapping with DynamoDB stream arn (\" {record['source']} \") and function "
        f"(\" {record['function_arn'].rsplit(':', 1)[-1]} \") already exists. Please update or delete the "
        f"existing mapping with UUID {record['uuid']}")


def configuration(record: dict[str, Any], *, state: str | None = None,
                  status: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """EventSourceMappingConfiguration of a stored record (``state`` overrides its State)."""
    out: dict[str, Any] = {
        "UUID": record["uuid"], "StartingPosition": record["starting_position"],
        "BatchSize": record["batch_size"], "MaximumBatchingWindowInSeconds": record["window_s"],
        "ParallelizationFactor": record["parallelization"], "EventSourceArn": record["source"],
        "FunctionArn": record["function_arn"], "LastModified": record["modified"],
        "LastProcessingResult": (status or {}).get("last_result", "No records processed"),
        # Trireme's own: records given up on (retries exhausted or too old), counted by the pollers.
        "TriremeDiscardedRecords": (status or {}).get("discarded", 0),
        "State": state or record["state"], "StateTransitionReason": "User action",
        "DestinationConfig": {"OnFailure": {"Destination": record["on_failure"]} if record["on_failure"] else {}},
        "MaximumRecordAgeInSeconds": record["max_age_s"], "BisectBatchOnFunctionError": record["bisect"],
        "MaximumRetryAttempts": record["max_retries"], "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": list(record["response_types"]),
        "EventSourceMappingArn": record["function_arn"].split(":function:")[0]
                                 + f":event-source-mapping:{record['uuid']}",
    }
    if record["filters"]:
        out["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in record["filters"]]}
    return out


def list_page(records: list[dict[str, Any]], *, marker: str | None, max_items: int | None) -> tuple[list, str | None]:
    """One page of ListEventSourceMappings in creation order; the marker is the last UUID shown."""
    if max_items is None:
        max_items = LIST_DEFAULT
    checks = _Checks()
    checks.bounds(max_items, "maxItems", 1, LIST_MAX)
    checks.raise_any()
    ordered = sorted(records, key=lambda r: (r["created_ms"], r["uuid"]))
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise InvalidParameterValueException("Invalid marker: " + marker) from None
        keys = [r["uuid"] for r in ordered]
        ordered = ordered[keys.index(after) + 1:] if after in keys else []
    page = ordered[:max_items]
    more = base64.urlsafe_b64encode(page[-1]["uuid"].encode()).decode() if len(ordered) > max_items else None
    return page, more

