"""Tagging's pure rules: the resource ARN, each tag, the 50-tag limit, pages."""

from __future__ import annotations

import pytest

from ddb.errors import AccessDeniedException, DynamoDBError, ValidationException
from ddb.tables import parse_create_table
from ddb.tags import merged, parse_tag_keys, parse_tags, table_of_arn, tag_request, tags_page, untag_request

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"


def error(fn, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises(DynamoDBError) as exc:
        fn(*args, **kwargs)
    return type(exc.value), exc.value.message


def arn_of(arn):
    return table_of_arn(arn, region="us-east-1", account="000000000000", operation="TagResource")


def test_table_arn_names_the_table():
    assert arn_of(ARN + "orders.v2") == "orders.v2"


@pytest.mark.parametrize("arn,kind,msg", [
    (None, ValidationException, "Invalid TableArn"),
    ("abcd", ValidationException, "One or more parameter values were invalid: ARNs must start with 'arn:': abcd"),
    ("arn:aws:s3:::bucket", ValidationException,
     "One or more parameter values were invalid: Provided Arn is not a DynamoDB resource arn: arn:aws:s3:::bucket"),
    (ARN + "t1/index/g1", ValidationException, "One or more parameter values were invalid: Invalid resource arn "
     f"provided, only table or stream is accepted. Provided resource arn: {ARN}t1/index/g1"),
    ("arn:aws:dynamodb:eu-west-1:000000000000:table/t1", ValidationException,
     "Invalid TableArn: Invalid ResourceArn provided as input arn:aws:dynamodb:eu-west-1:000000000000:table/t1"),
    (ARN + "ab", ValidationException, f"Invalid TableArn: Invalid ResourceArn provided as input {ARN}ab"),
    ("arn:aws:dynamodb:us-east-1:000000000000:backup/x", ValidationException,
     "Invalid TableArn: Invalid ResourceArn provided as input arn:aws:dynamodb:us-east-1:000000000000:backup/x"),
    ("arn:aws:dynamodb:us-east-1:123456789012:table/t1", AccessDeniedException,
     "User: arn:aws:iam::000000000000:root is not authorized to perform: dynamodb:TagResource on resource: "
     "arn:aws:dynamodb:us-east-1:123456789012:table/t1 because no resource-based policy allows the "
     "dynamodb:TagResource action"),
])
def test_bad_arns(arn, kind, msg):
    assert error(arn_of, arn) == (kind, msg)


def test_tags_are_checked_as_dynamodb_checks_them():
    assert parse_tags([{"Key": "k" * 128, "Value": "v" * 256}, {"Key": "ключ café 表", "Value": ""},
                       {"Key": "a+b-c=d.e_f:g/h@i", "Value": "x y"}], required=True)[1] == \
        {"Key": "ключ café 表", "Value": ""}
    invalid_key = "The Tag Key provided is invalid, Key: "
    invalid_value = "The Tag Value provided is invalid, Value: "
    for tags, msg in [
        ([], "Atleast one Tag needs to be provided as Input."),
        ([{"Key": "k" * 129, "Value": "v"}], invalid_key + "k" * 129),
        ([{"Key": "", "Value": "v"}], invalid_key),
        ([{"Value": "v"}], invalid_key + "null"),
        ([{"Key": "k"}], invalid_value + "null"),
        ([{"Key": "k", "Value": "v" * 257}], invalid_value + "v" * 257),
        ([{"Key": "100%", "Value": "v"}], invalid_key + "100%"),
        ([{"Key": "k", "Value": "a,b"}], invalid_value + "a,b"),
        ([{"Key": "k", "Value": "🔑"}], invalid_value + "🔑"),
        ([{"Key": "ok", "Value": "v"}, {"Key": "AWS:cost", "Value": "v"}],
         "Tag Key cannot be prefixed with aws:, Key: AWS:cost"),
        ([{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
         "Duplicate Tag Keys provided as input: Duplicate Tag Key found dup"),
        ([{"Key": f"k{i}", "Value": "v"} for i in range(51)],
         "Number of Tags exceed the current limit for the provided ResourceArn"),
    ]:
        assert error(parse_tags, tags, required=True) == (ValidationException, msg), tags
    assert error(parse_tags, None, required=True)[1] == \
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
    assert parse_tags(None, required=False) == [] and parse_tags([], required=False) == []


def test_create_table_checks_tags_the_same_way():
    body = {"TableName": "tagged", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    assert parse_create_table({**body, "Tags": [{"Key": "team", "Value": "db"}]})["Tags"] == \
        [{"Key": "team", "Value": "db"}]
    assert error(parse_create_table, {**body, "Tags": [{"Key": "aws:x", "Value": "1"}]})[1] == \
        "Tag Key cannot be prefixed with aws:, Key: aws:x"


def test_tag_keys():
    assert parse_tag_keys(["a", "b"]) == ["a", "b"]
    assert error(parse_tag_keys, [])[1] == "Atleast one Tag Key needs to be provided as Input."
    assert error(parse_tag_keys, ["k" * 129])[1] == "The Tag Key provided is invalid, Key: " + "k" * 129
    assert error(parse_tag_keys, [f"k{i}" for i in range(51)])[1] == \
        "Number of Tags exceed the current limit for the provided ResourceArn"


def test_merge_overwrites_appends_removes_and_caps_at_50():
    current = [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert merged(current, [{"Key": "b", "Value": "3"}, {"Key": "c", "Value": "4"}], []) == \
        [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "3"}, {"Key": "c", "Value": "4"}]
    assert merged(current, [], ["a", "never"]) == [{"Key": "b", "Value": "2"}]
    full = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert merged(full, [{"Key": "k0", "Value": "new"}], [])[0] == {"Key": "k0", "Value": "new"}
    assert error(merged, full, [{"Key": "one-more", "Value": "v"}], [])[1] == \
        "Number of Tags exceed the current limit for the provided ResourceArn"


def test_pages():
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert tags_page(tags, None) == {"Tags": tags}
    assert tags_page(tags, "50") == {"Tags": []}
    assert error(tags_page, tags, "garbage")[1] == "Invalid NextToken provided: garbage"


def test_requests_check_in_dynamodb_s_order():
    where = {"region": "us-east-1", "account": "000000000000"}
    assert error(tag_request, {}, **where)[1] == "Invalid TableArn"
    assert error(tag_request, {"ResourceArn": "a:b:c:d:e:f/g"}, **where)[1] == \
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
    assert error(tag_request, {"ResourceArn": ARN + "ab", "Tags": []}, **where)[1] == \
        f"Invalid TableArn: Invalid ResourceArn provided as input {ARN}ab"
    assert error(tag_request, {"ResourceArn": ARN + "abc", "Tags": []}, **where)[1] == \
        "Atleast one Tag needs to be provided as Input."
    assert tag_request({"ResourceArn": ARN + "abc", "Tags": [{"Key": "k", "Value": ""}]}, **where) == \
        ("abc", [{"Key": "k", "Value": ""}])
    assert error(untag_request, {"ResourceArn": "a:b:c:d:e:f/g"}, **where)[1] == \
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
    assert untag_request({"ResourceArn": ARN + "abc", "TagKeys": ["k"]}, **where) == ("abc", ["k"])
