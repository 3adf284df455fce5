"""Meta and admin call bodies: JSON objects (low-rate calls; new operations
need no new messages)."""

from __future__ import annotations

import orjson

from ddb.errors import ValidationException


def json_body(raw: bytes) -> dict:
    """A meta or admin call's JSON object; anything else is the caller's error."""
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise ValidationException(f"the body is not JSON: {exc}") from None
    if type(body) is not dict:
        raise ValidationException("the body must be a JSON object")
    return body
