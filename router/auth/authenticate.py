"""Who sent a request: SigV4 (ddb/iam/sigv4.py) against the cluster's users
(router/auth/users.py), or nobody in particular in open mode.

`router/http.py` puts what the signature covers beyond the headers into the
headers dict under pseudo-header names no client can send (a header name
cannot contain ':'): `:method` and `:path` (when not `POST /`), `:peer` (the
client's address) and `:secure` (came over TLS).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Container

from ddb.errors import ExpiredTokenException, ServiceUnavailable, UnrecognizedClientException
from ddb.iam import sigv4
from router.auth.caller import ANONYMOUS, Caller
from router.auth.users import Users

log = logging.getLogger(__name__)

# The caller of the request running in this task (the Lambda REST API reads it).
CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller", default=ANONYMOUS)

DYNAMODB = frozenset({"dynamodb"})  # DynamoDB Streams signs as dynamodb too (botocore's signingName)
SCALING = frozenset({"application-autoscaling"})
LAMBDA = frozenset({"lambda"})
STS = frozenset({"sts"})


def peer_ip(headers: dict[str, str]) -> str:
    return headers.get(":peer", "").rpartition(":")[0]


class Authenticator:
    """`(headers, body, services) -> Caller`, raising the DynamoDB-style error.
    `users` None: open mode (any credentials or none pass)."""

    def __init__(self, users: Users | None, region: str, clock: Callable[[], float] = time.time) -> None:
        self.users = users
        self.region = region
        self.clock = clock

    @property
    def enforced(self) -> bool:
        return self.users is not None

    def __call__(self, headers: dict[str, str], body: bytes, services: Container[str] = DYNAMODB) -> Caller:
        users = self.users
        if users is None:
            return ANONYMOUS
        signed = sigv4.parse(headers.get(":method", "POST"), headers.get(":path", "/"), headers, body,
                             secure=":secure" in headers, body_sha256=headers.get(":body-sha256"))
        sigv4.check_scope(signed, self.region, services)
        now = self.clock()
        sigv4.check_time(signed, now)
        entry = users.lookup(signed.access_key)
        if entry is None:
            if not users.ready:
                raise ServiceUnavailable("The router has not loaded the cluster's users yet; retry shortly.")
            raise UnrecognizedClientException()
        if not entry.active or not entry.token_ok(signed.token):
            raise UnrecognizedClientException()
        if entry.expires is not None and entry.expires <= now:
            raise ExpiredTokenException()
        sigv4.verify(signed, users.keys.get(signed, lambda: users.secret(entry)))
        return entry.at(peer_ip(headers), ":secure" in headers)
