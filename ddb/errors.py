"""DynamoDB's exceptions as Python types, rendered exactly as the service sends them.

Clients parse ``__type`` (the part after ``#`` names the exception) and either
``message`` or ``Message``; retry logic keys on the name and HTTP status. So each
class pins the namespace, name, status and message key that real DynamoDB uses.

Namespaces, from responses captured against the real service (the dynalite test
suite runs against it: architect/dynalite test/helpers.js, index.js, db/index.js):

* ``com.amazon.coral.validate#ValidationException`` with ``message``. DynamoDB's
  request validation lives in the Coral framework, not in the DynamoDB model.
* ``com.amazon.coral.service#SerializationException`` with capital ``Message``
  (no message at all when the body is not JSON).
* ``com.amazon.coral.service#`` for the framework's auth and routing errors:
  UnknownOperationException (``message``: DynamoDB's "Unknown operation
  exception", which Trireme follows with the operation's name),
  MissingAuthenticationTokenException,
  IncompleteSignatureException, InvalidSignatureException,
  UnrecognizedClientException (``message``) and AccessDeniedException
  (``Message``).
* ``com.amazonaws.dynamodb.v20120810#`` for everything DynamoDB itself raises.
  TransactionCanceledException uses ``Message`` plus ``CancellationReasons``.

Guesses (no capture found): ThrottlingException uses the Coral availability
namespace that other Coral services use; ServiceUnavailable's wire name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

DYNAMODB_NS = "com.amazonaws.dynamodb.v20120810"
CORAL_SERVICE_NS = "com.amazon.coral.service"
CORAL_VALIDATE_NS = "com.amazon.coral.validate"
CORAL_AVAILABILITY_NS = "com.amazon.coral.availability"


class DynamoDBError(Exception):
    """Base of all errors the router may send to a DynamoDB client."""

    code: ClassVar[str] = "InternalServerError"
    namespace: ClassVar[str] = DYNAMODB_NS
    status: ClassVar[int] = 400
    retryable: ClassVar[bool] = False
    message_key: ClassVar[str] = "message"
    default_message: ClassVar[str | None] = None

    def __init__(self, message: str | None = None) -> None:
        self.message: str | None = message if message is not None else self.default_message
        super().__init__(self.message)

    @property
    def type_name(self) -> str:
        """The full ``__type`` value, e.g. ``com.amazon.coral.validate#ValidationException``."""
        return f"{self.namespace}#{self.code}"

    def wire_body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        body: dict[str, Any] = {"__type": self.type_name}
        if self.message is not None:
            body[self.message_key] = self.message
        return body

    def to_wire(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body, ready for the router to send."""
        return self.status, self.wire_body()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# ---------------------------------------------------------------- framework (Coral)


class ValidationException(DynamoDBError):
    code = "ValidationException"
    namespace = CORAL_VALIDATE_NS

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        # Where the offending value sits (for callers that wrap the message the
        # way DynamoDB does for some parameters); never sent on the wire.
        self.path = path


class SerializationException(DynamoDBError):
    code = "SerializationException"
    namespace = CORAL_SERVICE_NS
    message_key = "Message"


class UnknownOperationException(DynamoDBError):
    code = "UnknownOperationException"
    namespace = CORAL_SERVICE_NS


class AccessDeniedException(DynamoDBError):
    code = "AccessDeniedException"
    namespace = CORAL_SERVICE_NS
    message_key = "Message"
    default_message = "Access denied."


class MissingAuthenticationTokenException(DynamoDBError):
    code = "MissingAuthenticationTokenException"
    namespace = CORAL_SERVICE_NS
    default_message = "Request is missing Authentication Token"


class IncompleteSignatureException(DynamoDBError):
    code = "IncompleteSignatureException"
    namespace = CORAL_SERVICE_NS
    default_message = "The request signature does not conform to AWS standards."


class InvalidSignatureException(DynamoDBError):
    code = "InvalidSignatureException"
    namespace = CORAL_SERVICE_NS
    default_message = (
        "The request signature we calculated does not match the signature you provided."
    )


class UnrecognizedClientException(DynamoDBError):
    code = "UnrecognizedClientException"
    namespace = CORAL_SERVICE_NS
    retryable = True  # per the developer guide's error table
    default_message = "The security token included in the request is invalid."


class ExpiredTokenException(DynamoDBError):
    """Session (temporary) credentials past their expiry."""

    code = "ExpiredTokenException"
    namespace = CORAL_SERVICE_NS
    default_message = "The security token included in the request is expired"


class ThrottlingException(DynamoDBError):
    code = "ThrottlingException"
    namespace = CORAL_AVAILABILITY_NS
    retryable = True
    default_message = "Rate of requests exceeds the allowed throughput."


# ---------------------------------------------------------------- DynamoDB model


class ResourceNotFoundException(DynamoDBError):
    code = "ResourceNotFoundException"
    default_message = "Requested resource not found"


class ResourceInUseException(DynamoDBError):
    code = "ResourceInUseException"
    default_message = "The resource which you are attempting to change is in use."


class ConditionalCheckFailedException(DynamoDBError):
    """A condition was false; may carry the old item (ReturnValuesOnConditionCheckFailure)."""

    code = "ConditionalCheckFailedException"
    default_message = "The conditional request failed"

    def __init__(self, message: str | None = None, *, item: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.item = item

    def wire_body(self) -> dict[str, Any]:
        body = super().wire_body()
        if self.item is not None:
            body["Item"] = self.item
        return body


class DuplicateItemException(DynamoDBError):
    """A PartiQL INSERT of an item whose key is taken (INSERT never overwrites)."""

    code = "DuplicateItemException"
    default_message = "Duplicate primary key exists in table"


class ItemCollectionSizeLimitExceededException(DynamoDBError):
    code = "ItemCollectionSizeLimitExceededException"
    retryable = True
    default_message = "Collection size exceeded."


class LimitExceededException(DynamoDBError):
    code = "LimitExceededException"
    retryable = True
    default_message = "Too many operations for a given subscriber."


class ProvisionedThroughputExceededException(DynamoDBError):
    code = "ProvisionedThroughputExceededException"
    retryable = True
    default_message = (
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."
    )


class RequestLimitExceeded(DynamoDBError):
    code = "RequestLimitExceeded"
    retryable = True
    default_message = (
        "Throughput exceeds the current throughput limit for your account. "
        "To request a limit increase, contact AWS Support at https://aws.amazon.com/support."
    )


class TransactionConflictException(DynamoDBError):
    code = "TransactionConflictException"
    retryable = True
    default_message = "Transaction is ongoing for the item"


class TransactionInProgressException(DynamoDBError):
    code = "TransactionInProgressException"
    default_message = "The transaction with the given request token is already in progress."


class IdempotentParameterMismatchException(DynamoDBError):
    code = "IdempotentParameterMismatchException"
    default_message = (
        "DynamoDB rejected the request because you retried a request with a different "
        "payload but with an idempotent token that was already used."
    )


class ReplicatedWriteConflictException(DynamoDBError):
    code = "ReplicatedWriteConflictException"
    retryable = True
    default_message = (
        "One or more items in this request are being modified by a request in another Region."
    )


# Global tables (the 2017.11.29 operations; router/global_tables.py).


class GlobalTableAlreadyExistsException(DynamoDBError):
    code = "GlobalTableAlreadyExistsException"
    default_message = "Global table already exists"


class GlobalTableNotFoundException(DynamoDBError):
    code = "GlobalTableNotFoundException"
    default_message = "Global table not found"


class ReplicaAlreadyExistsException(DynamoDBError):
    code = "ReplicaAlreadyExistsException"
    default_message = "Replica already exists"


class ReplicaNotFoundException(DynamoDBError):
    code = "ReplicaNotFoundException"
    default_message = "Replica not found"


class TableNotFoundException(DynamoDBError):
    code = "TableNotFoundException"
    default_message = "Table not found"


class IndexNotFoundException(DynamoDBError):
    code = "IndexNotFoundException"
    default_message = "Index not found"


class BackupNotFoundException(DynamoDBError):
    code = "BackupNotFoundException"
    default_message = "Backup not found"


class BackupInUseException(DynamoDBError):
    code = "BackupInUseException"
    default_message = "Backup is in use"


class TableAlreadyExistsException(DynamoDBError):
    code = "TableAlreadyExistsException"
    default_message = "Table already exists"


class TableInUseException(DynamoDBError):
    code = "TableInUseException"
    default_message = "Table is in use"


class PointInTimeRecoveryUnavailableException(DynamoDBError):
    code = "PointInTimeRecoveryUnavailableException"
    default_message = "Point in time recovery is not enabled for the table"


class InvalidExportTimeException(DynamoDBError):
    code = "InvalidExportTimeException"
    default_message = "The specified ExportTime is outside of the point in time recovery window"


class InvalidRestoreTimeException(DynamoDBError):
    code = "InvalidRestoreTimeException"
    default_message = "The specified restore time is outside of the point in time recovery window"


class ExportNotFoundException(DynamoDBError):
    code = "ExportNotFoundException"
    default_message = "Export not found"


class ImportNotFoundException(DynamoDBError):
    code = "ImportNotFoundException"
    default_message = "Import not found"


@dataclass(frozen=True, slots=True)
class CancellationReason:
    """One entry of TransactionCanceledException.CancellationReasons, in request order."""

    code: str = "None"
    message: str | None = None
    item: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Code": self.code}
        if self.message is not None:
            out["Message"] = self.message
        if self.item is not None:
            out["Item"] = self.item
        return out


class TransactionCanceledException(DynamoDBError):
    """Whole transaction cancelled; the wire form uses ``Message`` and lists every reason."""

    code = "TransactionCanceledException"
    message_key = "Message"

    def __init__(
        self,
        reasons: Iterable[CancellationReason],
        message: str | None = None,
    ) -> None:
        self.reasons: list[CancellationReason] = list(reasons)
        if message is None:
            codes = ", ".join(r.code for r in self.reasons)
            message = (
                "Transaction cancelled, please refer cancellation reasons for specific "
                f"reasons [{codes}]"
            )
        super().__init__(message)

    def wire_body(self) -> dict[str, Any]:
        body = super().wire_body()
        body["CancellationReasons"] = [r.to_wire() for r in self.reasons]
        return body


class InternalServerError(DynamoDBError):
    code = "InternalServerError"
    status = 500
    retryable = True
    default_message = "Internal server error"


class EvaluationFailed(InternalServerError):
    """A node raised while evaluating the request (a bug, or input the router
    missed). Deterministic: the same request fails the same way again, so it
    is answered once and never retried, not even as a batch's unprocessed
    entry. The wire form is DynamoDB's plain InternalServerError."""


class ServiceUnavailable(DynamoDBError):
    code = "ServiceUnavailable"
    status = 503
    retryable = True
    default_message = "DynamoDB is currently unavailable. (This should be a temporary state.)"


class PolicyNotFoundException(DynamoDBError):
    """A resource-based policy that is not there (or not at the ExpectedRevisionId)."""

    code = "PolicyNotFoundException"
    default_message = "Resource-based policy not found"


class ExpiredIteratorException(DynamoDBError):
    code = "ExpiredIteratorException"
    default_message = "Iterator expired"


class TrimmedDataAccessException(DynamoDBError):
    code = "TrimmedDataAccessException"


def _all_error_classes() -> dict[str, type[DynamoDBError]]:
    found: dict[str, type[DynamoDBError]] = {}
    todo: list[type[DynamoDBError]] = list(DynamoDBError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return found


ERRORS_BY_CODE: dict[str, type[DynamoDBError]] = _all_error_classes()


def from_wire(body: dict[str, Any]) -> DynamoDBError:
    """Rebuild an exception from its JSON body (e.g. one relayed from a node)."""
    type_name = str(body.get("__type", ""))
    code = type_name.rpartition("#")[2]
    message = body.get("message", body.get("Message"))
    cls = ERRORS_BY_CODE.get(code, InternalServerError)
    if cls is TransactionCanceledException:
        reasons = [
            CancellationReason(r.get("Code", "None"), r.get("Message"), r.get("Item"))
            for r in body.get("CancellationReasons", ())
        ]
        return TransactionCanceledException(reasons, message)
    if cls is ConditionalCheckFailedException:
        return ConditionalCheckFailedException(message, item=body.get("Item"))
    if cls is ValidationException:
        return ValidationException(message or "")
    return cls(message)


# ---------------------------------------------------------------- constraint messages


def render_value(value: Any) -> str:
    """A value as Coral prints it inside constraint messages (Java ``toString`` style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}: {render_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def constraint_error(value: Any, path: str, constraint: str) -> str:
    """One Coral constraint violation, e.g. ``Value 'x' at 'tableName' failed to ...``."""
    shown = "null" if value is None else f"'{render_value(value)}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def constraint_failure(errors: list[str]) -> ValidationException:
    """Coral's aggregate message: ``N validation error(s) detected: a; b``.

    Coral reports at most ten violations; the rest are dropped.
    """
    errors = errors[:10]
    plural = "s" if len(errors) > 1 else ""
    return ValidationException(
        f"{len(errors)} validation error{plural} detected: " + "; ".join(errors)
    )
