"""TagResource, UntagResource and ListTagsOfResource against the cluster:
tags given at CreateTable are served, calls merge, empty success bodies,
DynamoDB's limits and errors."""

from __future__ import annotations

import threading

import pytest

from tests.conformance.conftest import create_table, error_of


@pytest.fixture(scope="module")
def tagged(ddb):
    name = create_table(ddb, "tags_t", ("pk", "S"), Tags=[{"Key": "team", "Value": "db"}])
    return ddb.describe_table(TableName=name)["Table"]["TableArn"]


def tags_of(ddb, arn) -> dict:
    return {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def test_create_table_tags_are_served(ddb, tagged):
    assert ddb.list_tags_of_resource(ResourceArn=tagged)["Tags"] == [{"Key": "team", "Value": "db"}]


def test_tag_and_untag(ddb, tagged):
    r = ddb.tag_resource(ResourceArn=tagged, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "x"}])
    assert set(r) == {"ResponseMetadata"}  # an empty body
    assert tags_of(ddb, tagged) == {"team": "x", "env": "prod"}
    r = ddb.untag_resource(ResourceArn=tagged, TagKeys=["env", "never-there"])
    assert set(r) == {"ResponseMetadata"}
    assert tags_of(ddb, tagged) == {"team": "x"}


def test_concurrent_tag_calls_keep_each_other(ddb, tagged):
    def tag(key):
        ddb.tag_resource(ResourceArn=tagged, Tags=[{"Key": key, "Value": "1"}])
    threads = [threading.Thread(target=tag, args=(f"c{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {f"c{i}" for i in range(6)} <= set(tags_of(ddb, tagged))
    ddb.untag_resource(ResourceArn=tagged, TagKeys=[f"c{i}" for i in range(6)])


def test_fifty_tags_at_most_and_all_or_nothing(ddb, raw_ddb):
    name = create_table(ddb, "tags_limit", ("pk", "S"))
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert error_of(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "k0", "Value": "new"},
                                                             {"Key": "one-more", "Value": "v"}]) == \
        ("ValidationException", "Number of Tags exceed the current limit for the provided ResourceArn")
    assert len(tags_of(ddb, arn)) == 50 and tags_of(ddb, arn)["k0"] == "v"
    assert error_of(raw_ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "fine", "Value": "v"},
                                                                 {"Key": "aws:x", "Value": "v"}]) == \
        ("ValidationException", "Tag Key cannot be prefixed with aws:, Key: aws:x")
    assert "fine" not in tags_of(ddb, arn)


@pytest.mark.parametrize("kwargs,expected", [
    ({"Tags": [{"Key": "k" * 129, "Value": "v"}]},
     ("ValidationException", "The Tag Key provided is invalid, Key: " + "k" * 129)),
    ({"Tags": [{"Key": "k", "Value": "a,b"}]},
     ("ValidationException", "The Tag Value provided is invalid, Value: a,b")),
    ({"Tags": []}, ("ValidationException", "Atleast one Tag needs to be provided as Input.")),
])
def test_bad_tags(raw_ddb, tagged, kwargs, expected):
    assert error_of(raw_ddb.tag_resource, ResourceArn=tagged, **kwargs) == expected


def test_resource_arns(ddb, raw_ddb, tagged):
    missing = tagged.replace("tags_t", "tags_absent")
    assert error_of(ddb.list_tags_of_resource, ResourceArn=missing) == \
        ("ResourceNotFoundException", f"Requested resource not found: ResourcArn: {missing} not found")
    assert error_of(ddb.tag_resource, ResourceArn=missing, Tags=[{"Key": "a", "Value": "b"}])[0] == \
        "ResourceNotFoundException"
    assert error_of(raw_ddb.untag_resource, ResourceArn=missing, TagKeys=["a"]) == \
        ("ResourceNotFoundException", "Requested resource not found")
    other_region = tagged.replace("us-east-1", "eu-west-1")
    assert error_of(ddb.list_tags_of_resource, ResourceArn=other_region) == \
        ("ValidationException", f"Invalid TableArn: Invalid ResourceArn provided as input {other_region}")
    assert error_of(ddb.list_tags_of_resource, ResourceArn="tags_t")[0] == "ValidationException"
    assert error_of(raw_ddb.untag_resource, ResourceArn=tagged)[1] == \
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
