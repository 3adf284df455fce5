"""Deletion protection, tags and table classes through boto3 against a real cluster."""

import pytest
from botocore.exceptions import ClientError

KEY = {"KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
       "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


def test_a_protected_table_is_not_deleted_until_protection_is_off(ddb):
    ddb.create_table(TableName="protected", DeletionProtectionEnabled=True, **KEY)
    ddb.put_item(TableName="protected", Item={"k": {"S": "a"}})
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName="protected")
    assert e.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Resource cannot be deleted as it is currently protected against deletion. "
                   "Disable deletion protection first."}
    assert ddb.get_item(TableName="protected", Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}
    ddb.update_table(TableName="protected", DeletionProtectionEnabled=False)
    assert ddb.delete_table(TableName="protected")["TableDescription"]["TableStatus"] == "DELETING"


def test_tags_are_served(ddb):
    arn = ddb.create_table(TableName="tagged", Tags=[{"Key": "team", "Value": "a"}],
                           **KEY)["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "cost-center", "Value": "42"}])
    ddb.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "cost-center", "Value": "42"}]


def test_table_class_is_accepted_shown_and_changed(ddb):
    created = ddb.create_table(TableName="cold", TableClass="STANDARD_INFREQUENT_ACCESS", **KEY)
    assert created["TableDescription"]["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
    ddb.update_table(TableName="cold", TableClass="STANDARD")
    summary = ddb.describe_table(TableName="cold")["Table"]["TableClassSummary"]
    assert summary["TableClass"] == "STANDARD" and "LastUpdateDateTime" in summary
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName="bad-class", TableClass="ARCHIVE", **KEY)
    assert e.value.response["Error"]["Code"] == "ValidationException"
