"""Server-side encryption settings: SSESpecification (CreateTable, UpdateTable,
RestoreTable*'s SSESpecificationOverride) and the SSEDescription DescribeTable
shows.

As in DynamoDB, every table is encrypted; the setting only chooses the key.
``Enabled`` false or absent: the AWS owned key, and DescribeTable shows no
SSEDescription. ``Enabled`` true: a KMS key (``SSEType`` KMS), the account's
``alias/aws/dynamodb`` managed key unless ``KMSMasterKeyId`` names another;
shown as ``SSEDescription`` {Status, SSEType, KMSMasterKeyArn}. Trireme has no
KMS: the key id is kept and shown, and every table's data key is wrapped under
the cluster master key file whichever it names (node/storage/encryption.py);
changing it rotates the table's data key.
"""

from __future__ import annotations

import uuid
from typing import Any

from ddb.errors import ValidationException

ACCOUNT = "000000000000"
SSE_TYPES = ("AES256", "KMS")
MANAGED_ALIAS = "alias/aws/dynamodb"


def parse_sse(sse: Any, field: str = "sSESpecification") -> dict | None:
    """The stored setting: None for the AWS owned key, else ``{"Enabled": True,
    "SSEType": "KMS", "KMSMasterKeyId": id or None}``."""
    if sse is None:
        return None
    sse_type = sse.get("SSEType")
    if sse_type is not None and sse_type not in SSE_TYPES:
        raise ValidationException(f"1 validation error detected: Value '{sse_type}' at '{field}.sSEType' failed "
                                  f"to satisfy constraint: Member must satisfy enum value set: [AES256, KMS]")
    key_id = sse.get("KMSMasterKeyId")
    if key_id is not None and sse_type != "KMS":
        raise ValidationException("SSEType KMS is required if KMSMasterKeyId is specified")
    if not sse.get("Enabled"):
        return None
    if sse_type == "AES256":
        raise ValidationException("The only valid SSEType is KMS")
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_id or None}


def kms_key_arn(key_id: str | None, region: str, account: str = ACCOUNT) -> str:
    """The ARN DescribeTable shows: the key's as given (an ARN), or made from a
    key id or alias; the account's managed DynamoDB key (a stable id per
    account and region) when none was named."""
    if key_id and key_id.startswith("arn:"):
        return key_id
    if key_id and key_id.startswith("alias/") and key_id != MANAGED_ALIAS:
        return f"arn:aws:kms:{region}:{account}:{key_id}"
    if not key_id or key_id == MANAGED_ALIAS:
        key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"trireme:kms:{account}:{region}:{MANAGED_ALIAS}"))
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def sse_description(spec: dict, region: str, account: str = ACCOUNT, *, updating: bool = False) -> dict:
    """``{"SSEDescription": ...}`` for a table with a KMS key, ``{}`` for the owned key."""
    sse = spec.get("SSESpecification")
    if not sse or not sse.get("Enabled"):
        return {}
    return {"SSEDescription": {"Status": "UPDATING" if updating else "ENABLED", "SSEType": "KMS",
                               "KMSMasterKeyArn": kms_key_arn(sse.get("KMSMasterKeyId"), region, account)}}


def key_changes(old: dict | None, new: dict | None) -> bool:
    """Does UpdateTable's SSESpecification move the table to another key (so its data key rotates)?"""
    def key(s: dict | None) -> str | None:
        return None if not s else (s.get("KMSMasterKeyId") or MANAGED_ALIAS)
    return key(old) != key(new)
