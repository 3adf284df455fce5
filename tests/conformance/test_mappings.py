"""Event source mappings (DynamoDB stream -> function) with boto3's ``lambda``
client: Create, Get, List, Update, Delete, their defaults, states and errors."""

from __future__ import annotations

import uuid

import pytest

from tests.conformance.conftest import create_table
from tests.conformance.test_lambda import create, error, fname, lam, raw_lam  # noqa: F401 (fixtures)


def stream_table(ddb) -> str:
    name = f"esm-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name, ("pk", "S"), StreamSpecification={"StreamEnabled": True,
                                                              "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


@pytest.fixture(scope="module")
def source(ddb):
    return stream_table(ddb)


def test_create_get_defaults_and_delete(lam, source):
    fn = fname()
    create(lam, fn)
    out = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=fn, StartingPosition="LATEST")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert out["State"] == "Creating" and len(out["UUID"]) == 36
    assert (out["BatchSize"], out["MaximumBatchingWindowInSeconds"], out["ParallelizationFactor"],
            out["MaximumRetryAttempts"], out["MaximumRecordAgeInSeconds"], out["BisectBatchOnFunctionError"],
            out["StartingPosition"], out["EventSourceArn"]) == (100, 0, 1, -1, -1, False, "LATEST", source)
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn}"
    assert out["EventSourceMappingArn"] == f"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{out['UUID']}"
    got = lam.get_event_source_mapping(UUID=out["UUID"])
    assert got["State"] == "Enabled" and got["UUID"] == out["UUID"]
    assert "LastModified" in got and got["LastProcessingResult"] == "No records processed"
    deleted = lam.delete_event_source_mapping(UUID=out["UUID"])
    assert deleted["State"] == "Deleting"
    assert error(lam.get_event_source_mapping, UUID=out["UUID"])[:2] == (
        "ResourceNotFoundException", "The resource you requested does not exist.")
    assert error(lam.delete_event_source_mapping, UUID=out["UUID"])[0] == "ResourceNotFoundException"


def test_settings_are_kept_and_updated(lam, source):
    fn, other = fname(), fname()
    create(lam, fn)
    create(lam, other)
    pattern = '{"eventName": ["INSERT"]}'
    out = lam.create_event_source_mapping(
        EventSourceArn=source, FunctionName=fn, StartingPosition="TRIM_HORIZON", BatchSize=10_000,
        MaximumBatchingWindowInSeconds=5, MaximumRetryAttempts=2, MaximumRecordAgeInSeconds=3600,
        BisectBatchOnFunctionError=True, ParallelizationFactor=3, FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": pattern}]}, Enabled=False,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:lambda:us-east-1:000000000000:function:{other}"}})
    u = out["UUID"]
    got = lam.get_event_source_mapping(UUID=u)
    assert got["State"] == "Disabled"
    assert (got["BatchSize"], got["MaximumBatchingWindowInSeconds"], got["MaximumRetryAttempts"],
            got["MaximumRecordAgeInSeconds"], got["BisectBatchOnFunctionError"], got["ParallelizationFactor"],
            got["FunctionResponseTypes"], got["FilterCriteria"]) == (
        10_000, 5, 2, 3600, True, 3, ["ReportBatchItemFailures"], {"Filters": [{"Pattern": pattern}]})
    assert got["DestinationConfig"]["OnFailure"]["Destination"].endswith(f":function:{other}")
    up = lam.update_event_source_mapping(UUID=u, Enabled=True, BatchSize=7)
    assert up["State"] == "Enabling" and up["BatchSize"] == 7
    assert lam.get_event_source_mapping(UUID=u)["State"] == "Enabled"
    assert lam.update_event_source_mapping(UUID=u, Enabled=False)["State"] == "Disabling"
    assert lam.get_event_source_mapping(UUID=u)["State"] == "Disabled"
    assert lam.update_event_source_mapping(UUID=u, FunctionName=other)["FunctionArn"].endswith(f":function:{other}")
    lam.delete_event_source_mapping(UUID=u)


def test_list_by_function_and_source_paginated(lam, ddb, source):
    fn = fname()
    create(lam, fn)
    other_source = stream_table(ddb)
    first = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=fn, StartingPosition="LATEST")
    second = lam.create_event_source_mapping(EventSourceArn=other_source, FunctionName=fn,
                                             StartingPosition="LATEST")
    by_fn = lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    assert [m["UUID"] for m in by_fn] == [first["UUID"], second["UUID"]]
    by_source = lam.list_event_source_mappings(EventSourceArn=other_source)["EventSourceMappings"]
    assert [m["UUID"] for m in by_source] == [second["UUID"]]
    page = lam.list_event_source_mappings(FunctionName=fn, MaxItems=1)
    assert [m["UUID"] for m in page["EventSourceMappings"]] == [first["UUID"]]
    rest = lam.list_event_source_mappings(FunctionName=fn, MaxItems=1, Marker=page["NextMarker"])
    assert [m["UUID"] for m in rest["EventSourceMappings"]] == [second["UUID"]] and "NextMarker" not in rest
    pages = lam.get_paginator("list_event_source_mappings").paginate(FunctionName=fn, PaginationConfig={"PageSize": 1})
    assert sum(len(p["EventSourceMappings"]) for p in pages) == 2
    for m in (first, second):
        lam.delete_event_source_mapping(UUID=m["UUID"])
    assert lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"] == []


def test_errors(lam, raw_lam, source):
    fn = fname()
    create(lam, fn)
    code, message, status = error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=fn)
    assert (code, status) == ("InvalidParameterValueException", 400) and "startingPosition" in message
    assert error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName="fn-nosuch",
                 StartingPosition="LATEST")[:2] == (
        "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:fn-nosuch")
    missing = source.replace(":table/esm-", ":table/gone-")
    assert error(lam.create_event_source_mapping, EventSourceArn=missing, FunctionName=fn,
                 StartingPosition="LATEST")[:2] == ("InvalidParameterValueException", f"Stream not found: {missing}")
    code, message, _ = error(raw_lam.create_event_source_mapping, EventSourceArn=source, FunctionName=fn,
                             StartingPosition="LATEST", BatchSize=10_001)
    assert code == "ValidationException" and "batchSize" in message and "10000" in message
    assert error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=fn, StartingPosition="LATEST",
                 FilterCriteria={"Filters": [{"Pattern": "not json"}]})[:2] == (
        "InvalidParameterValueException", "Invalid filter pattern definition.")
    made = lam.create_event_source_mapping(EventSourceArn=source, FunctionName=fn, StartingPosition="LATEST")
    code, message, status = error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=fn,
                                  StartingPosition="LATEST")
    assert (code, status) == ("ResourceConflictException", 409) and made["UUID"] in message
    assert error(lam.update_event_source_mapping, UUID=str(uuid.uuid4()), BatchSize=5)[0] == \
        "ResourceNotFoundException"
    # OnFailure: a function or a table of Trireme's; an SQS queue (there is none here) is refused,
    # at Update as at Create, and the mapping keeps its destination.
    queue = {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:failures"}}
    code, message, _ = error(lam.update_event_source_mapping, UUID=made["UUID"], DestinationConfig=queue)
    assert code == "InvalidParameterValueException" and "arn:aws:dynamodb:us-east-1:000000000000:table/" in message
    assert error(lam.create_event_source_mapping, EventSourceArn=source, FunctionName=fn,
                 StartingPosition="LATEST", DestinationConfig=queue)[0] == "InvalidParameterValueException"
    table = "arn:aws:dynamodb:us-east-1:000000000000:table/failures"
    assert lam.update_event_source_mapping(UUID=made["UUID"], DestinationConfig={"OnFailure": {
        "Destination": table}})["DestinationConfig"] == {"OnFailure": {"Destination": table}}
    lam.delete_event_source_mapping(UUID=made["UUID"])
