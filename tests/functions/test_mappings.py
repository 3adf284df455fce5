"""Event source mapping rules (functions/mappings.py): defaults, checks, the
states an update answers, and list pages."""

from __future__ import annotations

import pytest

from functions import mappings as fm
from functions.errors import InvalidParameterValueException, ValidationException

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"
FN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def new(**body):
    return fm.new_mapping({"EventSourceArn": ARN, "StartingPosition": "LATEST", **body}, uuid="u1",
                          function_arn=FN, now=1.0)


def test_defaults_and_the_configuration():
    out = fm.configuration(new())
    assert (out["BatchSize"], out["MaximumRetryAttempts"], out["MaximumRecordAgeInSeconds"], out["State"],
            out["ParallelizationFactor"], out["FunctionResponseTypes"], "FilterCriteria" in out) == (
        100, -1, -1, "Enabled", 1, [], False)
    assert out["EventSourceMappingArn"] == "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u1"
    assert fm.configuration(new(Enabled=False))["State"] == "Disabled"


@pytest.mark.parametrize("body,error", [
    ({"BatchSize": 0}, ValidationException), ({"BatchSize": 10_001}, ValidationException),
    ({"ParallelizationFactor": 11}, ValidationException), ({"MaximumRetryAttempts": -2}, ValidationException),
    ({"MaximumRecordAgeInSeconds": 59}, InvalidParameterValueException),
    ({"FunctionResponseTypes": ["Other"]}, InvalidParameterValueException),
    ({"StartingPosition": "AT_TIMESTAMP"}, InvalidParameterValueException),
    ({"BatchSize": "5"}, InvalidParameterValueException),
    ({"FilterCriteria": {"Filters": [{"Pattern": "[]"}]}}, InvalidParameterValueException),
])
def test_bad_settings_are_refused(body, error):
    with pytest.raises(error):
        new(**body)


def test_an_update_answers_the_state_it_moves_through():
    record = new()
    disabled, state = fm.update_mapping(record, {"Enabled": False}, function_arn=None, now=2.0)
    assert (state, disabled["state"]) == ("Disabling", "Disabled")
    enabled, state = fm.update_mapping(disabled, {"Enabled": True}, function_arn=None, now=3.0)
    assert (state, enabled["state"]) == ("Enabling", "Enabled")
    assert fm.update_mapping(enabled, {"BatchSize": 5}, function_arn=None, now=4.0)[1] == "Updating"
    assert fm.update_mapping(enabled, {}, function_arn=None, now=4.0)[1] == "Enabled"


def test_list_pages_follow_creation_order():
    records = [{**new(), "uuid": f"u{i}", "created_ms": i} for i in (3, 1, 2)]
    page, marker = fm.list_page(records, marker=None, max_items=2)
    assert [r["uuid"] for r in page] == ["u1", "u2"] and marker
    page, marker = fm.list_page(records, marker=marker, max_items=2)
    assert [r["uuid"] for r in page] == ["u3"] and marker is None


def test_on_failure_is_a_function_or_a_table_of_this_region_and_account():
    for ok in (FN + "2", "arn:aws:dynamodb:us-east-1:000000000000:table/failures"):
        assert fm.configuration(new(DestinationConfig={"OnFailure": {"Destination": ok}}))[
            "DestinationConfig"] == {"OnFailure": {"Destination": ok}}
    assert new(DestinationConfig={"OnFailure": {}})["on_failure"] is None
    for bad in ("arn:aws:sqs:us-east-1:000000000000:queue", "arn:aws:sns:us-east-1:000000000000:topic",
                "arn:aws:dynamodb:eu-west-1:000000000000:table/failures",  # another region
                "arn:aws:lambda:us-east-1:111111111111:function:f",  # another account
                "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000", "failures"):
        with pytest.raises(InvalidParameterValueException, match="a function .* or a table .* no SQS"):
            new(DestinationConfig={"OnFailure": {"Destination": bad}})
    with pytest.raises(InvalidParameterValueException):
        fm.update_mapping(new(), {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:x"}}},
                          function_arn=None, now=2.0)
