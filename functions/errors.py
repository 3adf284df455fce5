"""The Lambda API's errors, rendered as its REST-JSON protocol sends them.

Lambda answers an error with an HTTP status, the exception's name in the
``x-amzn-ErrorType`` header and a JSON body ``{"Type": "User", "message": ...}``;
botocore reads the name from the header and the text from ``message`` or
``Message`` (each exception's model names its own key: ResourceNotFoundException
and ServiceException use ``Message``, the rest ``message``; botocore's
``lambda/2015-03-31/service-2.json``). ValidationException comes from the
request-validation framework in front of Lambda and carries no ``Type``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LambdaError(Exception):
    """Base of the errors the Lambda API may answer."""

    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 400
    message_key: ClassVar[str] = "message"
    kind: ClassVar[str | None] = "User"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def wire_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {} if self.kind is None else {"Type": self.kind}
        body[self.message_key] = self.message
        return body

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code, "Content-Type": "application/json"}


class ValidationException(LambdaError):
    code = "ValidationException"
    kind = None


class InvalidParameterValueException(LambdaError):
    code = "InvalidParameterValueException"


class InvalidRequestContentException(LambdaError):
    code = "InvalidRequestContentException"


class ResourceNotFoundException(LambdaError):
    code = "ResourceNotFoundException"
    status = 404
    message_key = "Message"


class ResourceConflictException(LambdaError):
    code = "ResourceConflictException"
    status = 409


class RequestTooLargeException(LambdaError):
    """An Invoke payload over its limit."""

    code = "RequestTooLargeException"
    status = 413


class RequestEntityTooLargeException(LambdaError):
    """A CreateFunction or UpdateFunctionCode body over the direct-upload limit."""

    code = "RequestEntityTooLargeException"
    status = 413


class PreconditionFailedException(LambdaError):
    """A RevisionId that is not the function's latest."""

    code = "PreconditionFailedException"
    status = 412


class TooManyRequestsException(LambdaError):
    code = "TooManyRequestsException"
    status = 429


class ServiceException(LambdaError):
    code = "ServiceException"
    status = 500
    message_key = "Message"
    kind = "Service"
