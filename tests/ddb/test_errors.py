"""The wire form of DynamoDB errors: namespace, name, status, message key."""

from __future__ import annotations

import pytest

from ddb import errors as e


@pytest.mark.parametrize(
    ("cls", "type_name", "status", "retryable"),
    [
        (e.ValidationException, "com.amazon.coral.validate#ValidationException", 400, False),
        (e.SerializationException, "com.amazon.coral.service#SerializationException", 400, False),
        (e.UnknownOperationException, "com.amazon.coral.service#UnknownOperationException", 400, False),
        (e.AccessDeniedException, "com.amazon.coral.service#AccessDeniedException", 400, False),
        (
            e.MissingAuthenticationTokenException,
            "com.amazon.coral.service#MissingAuthenticationTokenException",
            400,
            False,
        ),
        (e.UnrecognizedClientException, "com.amazon.coral.service#UnrecognizedClientException", 400, True),
        (e.ThrottlingException, "com.amazon.coral.availability#ThrottlingException", 400, True),
        (e.ResourceNotFoundException, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", 400, False),
        (e.ResourceInUseException, "com.amazonaws.dynamodb.v20120810#ResourceInUseException", 400, False),
        (
            e.ConditionalCheckFailedException,
            "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            400,
            False,
        ),
        (
            e.ItemCollectionSizeLimitExceededException,
            "com.amazonaws.dynamodb.v20120810#ItemCollectionSizeLimitExceededException",
            400,
            True,
        ),
        (e.LimitExceededException, "com.amazonaws.dynamodb.v20120810#LimitExceededException", 400, True),
        (
            e.ProvisionedThroughputExceededException,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            400,
            True,
        ),
        (e.RequestLimitExceeded, "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded", 400, True),
        (
            e.TransactionConflictException,
            "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
            400,
            True,
        ),
        (
            e.TransactionInProgressException,
            "com.amazonaws.dynamodb.v20120810#TransactionInProgressException",
            400,
            False,
        ),
        (
            e.IdempotentParameterMismatchException,
            "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            400,
            False,
        ),
        (e.InternalServerError, "com.amazonaws.dynamodb.v20120810#InternalServerError", 500, True),
        (e.ServiceUnavailable, "com.amazonaws.dynamodb.v20120810#ServiceUnavailable", 503, True),
    ],
)
def test_identity(cls: type[e.DynamoDBError], type_name: str, status: int, retryable: bool) -> None:
    err = cls("boom")
    assert err.type_name == type_name
    assert err.status == status
    assert err.retryable is retryable
    wire_status, body = err.to_wire()
    assert wire_status == status
    assert body["__type"] == type_name
    assert body[cls.message_key] == "boom"
    assert isinstance(err, e.DynamoDBError) and isinstance(err, Exception)


def test_validation_exception_uses_lowercase_message() -> None:
    assert e.ValidationException("bad").to_wire() == (
        400,
        {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"},
    )


def test_serialization_exception_uses_capital_message() -> None:
    assert e.SerializationException("NUMBER_VALUE cannot be converted to String").to_wire() == (
        400,
        {
            "__type": "com.amazon.coral.service#SerializationException",
            "Message": "NUMBER_VALUE cannot be converted to String",
        },
    )


def test_bare_serialization_and_unknown_operation_have_no_message() -> None:
    assert e.SerializationException().wire_body() == {
        "__type": "com.amazon.coral.service#SerializationException"
    }
    assert e.UnknownOperationException().wire_body() == {
        "__type": "com.amazon.coral.service#UnknownOperationException"
    }


def test_default_messages() -> None:
    assert e.ConditionalCheckFailedException().message == "The conditional request failed"
    assert e.ResourceNotFoundException().message == "Requested resource not found"
    assert e.MissingAuthenticationTokenException().wire_body() == {
        "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    }
    assert e.TransactionConflictException().message == "Transaction is ongoing for the item"
    assert e.InternalServerError().to_wire()[0] == 500
    assert str(e.ResourceNotFoundException("Requested resource not found: Table: t not found")) == (
        "Requested resource not found: Table: t not found"
    )


def test_conditional_check_failed_carries_old_item() -> None:
    item = {"id": {"S": "a"}, "n": {"N": "1"}}
    assert e.ConditionalCheckFailedException(item=item).wire_body() == {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": item,
    }
    assert "Item" not in e.ConditionalCheckFailedException().wire_body()


def test_transaction_canceled_matches_the_captured_body() -> None:
    # The body real DynamoDB sends (PynamoDB PR #1144, aws-sdk-net #1292).
    err = e.TransactionCanceledException(
        [
            e.CancellationReason(),
            e.CancellationReason("ConditionalCheckFailed", "The conditional request failed"),
        ]
    )
    assert err.to_wire() == (
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific "
            "reasons [None, ConditionalCheckFailed]",
            "CancellationReasons": [
                {"Code": "None"},
                {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
            ],
        },
    )


def test_cancellation_reason_with_item() -> None:
    reason = e.CancellationReason("ConditionalCheckFailed", "The conditional request failed", {"a": {"S": "x"}})
    assert reason.to_wire()["Item"] == {"a": {"S": "x"}}


@pytest.mark.parametrize("cls", sorted(set(e.ERRORS_BY_CODE.values()), key=lambda c: c.code))
def test_from_wire_round_trips(cls: type[e.DynamoDBError]) -> None:
    if cls is e.TransactionCanceledException:
        err: e.DynamoDBError = cls([e.CancellationReason("TransactionConflict", "x", {"k": {"S": "v"}})])
    elif cls is e.ConditionalCheckFailedException:
        err = cls(item={"k": {"N": "1"}})
    else:
        err = cls("some message")
    again = e.from_wire(err.wire_body())
    assert type(again) is cls
    assert again.wire_body() == err.wire_body()


def test_from_wire_unknown_type_is_internal_error() -> None:
    err = e.from_wire({"__type": "com.example#Nope", "message": "?"})
    assert type(err) is e.InternalServerError and err.message == "?"


def test_registry_knows_every_requested_name() -> None:
    for name in [
        "ValidationException", "SerializationException", "ResourceNotFoundException",
        "ResourceInUseException", "ConditionalCheckFailedException",
        "ItemCollectionSizeLimitExceededException", "LimitExceededException",
        "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException",
        "TransactionCanceledException", "TransactionConflictException",
        "TransactionInProgressException", "IdempotentParameterMismatchException",
        "InternalServerError", "ServiceUnavailable", "UnknownOperationException",
        "AccessDeniedException", "MissingAuthenticationTokenException",
    ]:
        assert e.ERRORS_BY_CODE[name].code == name


def test_constraint_messages_match_coral() -> None:
    # From dynalite's CreateTable suite, run against DynamoDB.
    err = e.constraint_failure(
        [e.constraint_error("SS", "attributeDefinitions.1.member.attributeType",
                            "Member must satisfy enum value set: [B, N, S]")]
    )
    assert err.message == (
        "1 validation error detected: Value 'SS' at 'attributeDefinitions.1.member.attributeType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
    )
    two = e.constraint_failure(
        [e.constraint_error(None, "tableName", "Member must not be null"),
         e.constraint_error([], "keySchema", "Member must have length greater than or equal to 1")]
    )
    assert two.message == (
        "2 validation errors detected: Value null at 'tableName' failed to satisfy constraint: "
        "Member must not be null; Value '[]' at 'keySchema' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_constraint_failure_caps_at_ten() -> None:
    err = e.constraint_failure([f"e{i}" for i in range(15)])
    assert err.message.startswith("10 validation errors detected: e0; ")
    assert err.message.endswith("; e9")


def test_render_value() -> None:
    assert e.render_value(None) == "null"
    assert e.render_value(True) == "true"
    assert e.render_value(["a", "b"]) == "[a, b]"
    assert e.render_value({"AttributeName": "a", "KeyType": "HASH"}) == "{AttributeName: a,KeyType: HASH}"
    assert e.render_value(5) == "5"


def test_repr() -> None:
    assert repr(e.ValidationException("x")) == "ValidationException('x')"
