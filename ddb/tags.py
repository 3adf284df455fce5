"""TagResource, UntagResource and ListTagsOfResource: the resource ARN, the
tags and their limits, checked as DynamoDB checks them.

Messages and their order are DynamoDB's as recorded against the service
(dynalite's tagResource/untagResource/listTagsOfResource tests, Alternator's
test_tag.py, and a 2026 catalogue of live DynamoDB answers): a request's
tags are all applied or none is; keys are 1-128 characters, values 0-256, of
letters, numbers, white space and ``+ - = . _ : / @``; ``aws:`` is reserved;
a table holds at most 50 tags.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from ddb.errors import AccessDeniedException, ValidationException, constraint_failure
from ddb.keys import table_name_errors

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
PAGE = MAX_TAGS  # every tag of a table fits one ListTagsOfResource page
_INVALID = "One or more parameter values were invalid: "
_PUNCTUATION = set("+-=._:/@")


def _allowed(text: str) -> bool:
    """AWS's tag pattern ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``: letters and numbers
    of any script, white space, and a few punctuation marks."""
    return all(c in _PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def dynamodb_arn(arn: Any) -> tuple[str, str, str]:
    """(region, account, resource) of a DynamoDB ARN, or DynamoDB's error."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ValidationException(f"{_INVALID}ARNs must start with 'arn:': {arn}")
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[2] != "dynamodb":
        raise ValidationException(f"{_INVALID}Provided Arn is not a DynamoDB resource arn: {arn}")
    return parts[3], parts[4], parts[5]


def table_of_arn(arn: Any, *, region: str, account: str, operation: str) -> str:
    """The table name a tagging call's ResourceArn names, or DynamoDB's error."""
    if arn is None:
        raise ValidationException("Invalid TableArn")
    arn_region, arn_account, resource = dynamodb_arn(arn)
    kind, _, rest = resource.partition("/")
    if kind == "table" and "/index/" in rest:
        raise ValidationException(f"{_INVALID}Invalid resource arn provided, only table or stream is accepted. "
                                  f"Provided resource arn: {arn}")
    if arn_account != account:
        raise AccessDeniedException(f"User: arn:aws:iam::{account}:root is not authorized to perform: "
                                    f"dynamodb:{operation} on resource: {arn} because no resource-based policy "
                                    f"allows the dynamodb:{operation} action")
    if arn_region != region or kind != "table" or "/" in rest or table_name_errors(rest):
        raise ValidationException(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    return rest


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY or not _allowed(key):
        raise ValidationException(f"The Tag Key provided is invalid, Key: {_show(key)}")
    return key


def parse_tags(tags: Any, *, required: bool) -> list[dict]:
    """The Tags of TagResource (``required``: at least one) or CreateTable."""
    if tags is None:
        if required:
            raise constraint_failure(["Value null at 'tags' failed to satisfy constraint: Member must not be null"])
        return []
    if not isinstance(tags, list):
        raise ValidationException(f"{_INVALID}Tags must be a list")
    if not tags and required:
        raise ValidationException("Atleast one Tag needs to be provided as Input.")
    seen: set[str] = set()
    out = []
    for tag in tags:
        tag = tag if isinstance(tag, dict) else {}
        key, value = _check_key(tag.get("Key")), tag.get("Value")
        if not isinstance(value, str) or len(value) > MAX_VALUE or not _allowed(value):
            raise ValidationException(f"The Tag Value provided is invalid, Value: {_show(value)}")
        if key.lower().startswith("aws:"):
            raise ValidationException(f"Tag Key cannot be prefixed with aws:, Key: {key}")
        if key in seen:
            raise ValidationException(f"Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}")
        seen.add(key)
        out.append({"Key": key, "Value": value})
    if len(out) > MAX_TAGS:
        raise ValidationException("Number of Tags exceed the current limit for the provided ResourceArn")
    return out


def parse_tag_keys(keys: Any) -> list[str]:
    """UntagResource's TagKeys."""
    if keys is None:
        raise constraint_failure(["Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"])
    if not isinstance(keys, list):
        raise ValidationException(f"{_INVALID}TagKeys must be a list")
    if not keys:
        raise ValidationException("Atleast one Tag Key needs to be provided as Input.")
    out = [_check_key(k) for k in keys]
    if len(out) > MAX_TAGS:
        raise ValidationException("Number of Tags exceed the current limit for the provided ResourceArn")
    return out


def tag_request(body: dict, *, region: str, account: str) -> tuple[str, list[dict]]:
    """TagResource's table and tags, checked in DynamoDB's order: a missing
    ARN, missing Tags, the ARN, then each tag."""
    arn = body.get("ResourceArn")
    if arn is None:
        raise ValidationException("Invalid TableArn")
    if body.get("Tags") is None:
        parse_tags(None, required=True)
    return (table_of_arn(arn, region=region, account=account, operation="TagResource"),
            parse_tags(body["Tags"], required=True))


def untag_request(body: dict, *, region: str, account: str) -> tuple[str, list[str]]:
    """UntagResource's table and tag keys, in the same order."""
    arn = body.get("ResourceArn")
    if arn is None:
        raise ValidationException("Invalid TableArn")
    if body.get("TagKeys") is None:
        parse_tag_keys(None)
    return (table_of_arn(arn, region=region, account=account, operation="UntagResource"),
            parse_tag_keys(body["TagKeys"]))


def merged(current: list[dict], add: list[dict], remove: list[str]) -> list[dict]:
    """A table's tags after a TagResource (``add``: new keys appended, existing
    ones take the new value) or an UntagResource (``remove``; unknown keys are
    ignored). Raises when the result holds more than 50 tags."""
    values = {t["Key"]: t["Value"] for t in current}
    for t in add:
        values[t["Key"]] = t["Value"]
    for k in remove:
        values.pop(k, None)
    if len(values) > MAX_TAGS:
        raise ValidationException("Number of Tags exceed the current limit for the provided ResourceArn")
    return [{"Key": k, "Value": v} for k, v in values.items()]


def tags_page(tags: list[dict], token: Any) -> dict:
    """One ListTagsOfResource page: ``NextToken`` is the offset of the next tag."""
    start = 0
    if token is not None:
        if not isinstance(token, str) or not token.isdigit() or int(token) > len(tags):
            raise ValidationException(f"Invalid NextToken provided: {token}")
        start = int(token)
    out: dict[str, Any] = {"Tags": tags[start:start + PAGE]}
    if start + PAGE < len(tags):
        out["NextToken"] = str(start + PAGE)
    return out
