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
    """Base of the errors the Lambda API may answer; a subclass's name is its
    error code, its class members what else differs from a 400 ``User`` error."""

    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 400
    message_key: ClassVar[str] = "message"
    kind: ClassVar[str | None] = "User"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__

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
    kind = None


class InvalidParameterValueException(LambdaError):
    pass


class InvalidRequestContentException(LambdaError):
    pass


class ResourceNotFoundException(LambdaError):
    status, message_key = 404, "Message"


class ResourceConflictException(LambdaError):
    status = 409


class RequestTooLargeException(LambdaError):
    """An Invoke payload over its limit."""

    status = 413


class RequestEntityTooLargeException(LambdaError):
    """A CreateFunction or UpdateFunctionCode body over the direct-upload limit."""

    status = 413


class PreconditionFailedException(LambdaError):
    """A RevisionId that is not the function's latest."""

    status = 412


class TooManyRequestsException(LambdaError):
    status = 429


class ServiceException(LambdaError):
    status, message_key, kind = 500, "Message", "Service"
