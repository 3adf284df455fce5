"""SSESpecification rules and the SSEDescription DescribeTable shows."""

from __future__ import annotations

import pytest

from ddb.errors import ValidationException
from ddb.sse import key_changes, kms_key_arn, parse_sse, sse_description


def test_the_owned_key_is_the_default_and_shows_no_description():
    for sse in (None, {}, {"Enabled": False}, {"Enabled": False, "SSEType": "KMS", "KMSMasterKeyId": "k"}):
        assert parse_sse(sse) is None
    assert sse_description({"SSESpecification": None}, "us-east-1") == {}
    assert sse_description({}, "us-east-1") == {}


def test_enabled_means_kms_with_the_managed_key_unless_one_is_named():
    managed = parse_sse({"Enabled": True})
    assert managed == {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": None}
    d = sse_description({"SSESpecification": managed}, "eu-west-1")["SSEDescription"]
    assert d["Status"] == "ENABLED" and d["SSEType"] == "KMS"
    assert d["KMSMasterKeyArn"].startswith("arn:aws:kms:eu-west-1:000000000000:key/")
    assert d["KMSMasterKeyArn"] == kms_key_arn("alias/aws/dynamodb", "eu-west-1")  # stable per region
    named = parse_sse({"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "1234abcd"})
    assert sse_description({"SSESpecification": named}, "us-east-1", updating=True)["SSEDescription"] == {
        "Status": "UPDATING", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:000000000000:key/1234abcd"}
    assert kms_key_arn("arn:aws:kms:us-east-1:111122223333:key/x", "us-east-1") == \
        "arn:aws:kms:us-east-1:111122223333:key/x"
    assert kms_key_arn("alias/mine", "us-east-1") == "arn:aws:kms:us-east-1:000000000000:alias/mine"


@pytest.mark.parametrize("sse, message", [
    ({"Enabled": True, "SSEType": "AES256"}, "The only valid SSEType is KMS"),
    ({"Enabled": True, "KMSMasterKeyId": "k"}, "SSEType KMS is required if KMSMasterKeyId is specified"),
    ({"Enabled": True, "SSEType": "DES"}, "Value 'DES' at 'sSESpecification.sSEType' failed to satisfy constraint"),
])
def test_bad_specifications_are_refused(sse, message):
    with pytest.raises(ValidationException, match=message):
        parse_sse(sse)


def test_which_updates_change_the_key():
    managed = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": None}
    named = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "k1"}
    assert key_changes(None, managed) and key_changes(managed, named) and key_changes(named, None)
    assert not key_changes(named, dict(named)) and not key_changes(None, None)
    assert not key_changes(managed, {**managed, "KMSMasterKeyId": "alias/aws/dynamodb"})
