"""Operations about the service itself, unknown operations, and the table
lifecycle answers of DeleteTable and CreateTable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conformance.conftest import create_table, error_of


def test_describe_endpoints_answers_this_endpoint(ddb, conformance_cluster):
    host = urlparse(conformance_cluster.endpoint).netloc
    assert ddb.describe_endpoints()["Endpoints"] == [{"Address": host, "CachePeriodInMinutes": 1440}]


def test_describe_limits(ddb):
    r = ddb.describe_limits()
    del r["ResponseMetadata"]
    assert r == {"AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
                 "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000}


def test_unknown_operation_names_itself(ddb):
    ddb.meta.service_model.operation_model("DescribeContributorInsights")  # a real DynamoDB operation Trireme lacks
    code, msg = error_of(ddb.describe_contributor_insights, TableName="t")
    assert code == "UnknownOperationException"
    assert msg == "Unknown operation exception: DynamoDB_20120810.DescribeContributorInsights is not supported"


def test_the_cli_prints_the_reason(conformance_cluster):
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed in this environment")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    run = subprocess.run([str(aws), "dynamodb", "list-contributor-insights", "--endpoint-url",
                          conformance_cluster.endpoint],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode != 0
    assert "(UnknownOperationException)" in run.stderr
    assert "DynamoDB_20120810.ListContributorInsights is not supported" in run.stderr


def test_delete_table_describes_the_deleted_table_with_its_indexes(ddb):
    name = create_table(ddb, "svc_delete", ("pk", "S"), ("sk", "S"), more_definitions={"g": "S", "l": "S"},
                        GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}],
                        LocalSecondaryIndexes=[{"IndexName": "by_l", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                              {"AttributeName": "l", "KeyType": "RANGE"}]}])
    before = ddb.describe_table(TableName=name)["Table"]
    desc = ddb.delete_table(TableName=name)["TableDescription"]
    assert desc["TableStatus"] == "DELETING"
    assert desc["TableArn"] == before["TableArn"] and desc["KeySchema"] == before["KeySchema"]
    assert [(g["IndexName"], g["IndexStatus"], g["KeySchema"]) for g in desc["GlobalSecondaryIndexes"]] == \
        [("by_g", "DELETING", [{"AttributeName": "g", "KeyType": "HASH"}])]
    assert "Backfilling" not in desc["GlobalSecondaryIndexes"][0]
    assert [i["IndexName"] for i in desc["LocalSecondaryIndexes"]] == ["by_l"]


def test_create_table_rejects_an_attribute_defined_twice(raw_ddb):
    code, msg = error_of(raw_ddb.create_table, TableName="svc_twice", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "pk", "AttributeType": "S"}])
    assert (code, msg) == ("ValidationException", "Cannot have two attributes with the same name")
    assert error_of(raw_ddb.describe_table, TableName="svc_twice")[0] == "ResourceNotFoundException"
