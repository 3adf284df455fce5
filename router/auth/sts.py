"""STS GetSessionToken on the router, in STS's query protocol: `POST /` with
a form body (`Action=GetSessionToken&Version=2011-06-15[&DurationSeconds=N]`),
signed for service `sts`, answered in XML. boto3's
`sts.get_session_token()` pointed at the router works.

The temporary credentials belong to the calling user (same policies); the
metadata keeps them with their expiry (node/control/users.py makes them).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from ddb.errors import DynamoDBError
from router.auth.authenticate import STS, Authenticator
from router.auth.users import INTERNAL_USER

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
MetaCall = Callable[[str, dict], Awaitable[dict]]


def iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def error(status: int, code: str, message: str, request_id: str = "") -> tuple[int, bytes]:
    """STS's error document (botocore's query parser reads Code and Message)."""
    kind = "Sender" if status < 500 else "Receiver"
    return status, (f'<ErrorResponse xmlns="{NS}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
                    f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
                    "</ErrorResponse>").encode()


class Sts:
    """`(headers, form body) -> (status, XML)`: the Dispatcher's `sts` hook."""

    def __init__(self, meta: MetaCall, authenticate: Authenticator) -> None:
        self.meta = meta
        self.authenticate = authenticate

    async def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        try:
            caller = self.authenticate(headers, body, STS)
        except DynamoDBError as exc:
            return error(exc.status, exc.code, exc.message or "")
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        action = form.get("Action")
        if action != "GetSessionToken":
            return error(400, "InvalidAction", f"Could not find operation {action} for version "
                                               f"{form.get('Version', 'NO_VERSION_SPECIFIED')}")
        if not caller.enforced:
            return error(400, "InvalidClientTokenId", "Session tokens need a cluster started with --auth "
                                                      "(in open mode any credentials pass already).")
        if caller.session or caller.name == INTERNAL_USER:
            return error(403, "AccessDenied", "Cannot call GetSessionToken with session credentials")
        duration = form.get("DurationSeconds")
        if duration is not None and not duration.lstrip("-").isdigit():
            return error(400, "ValidationError", f"Value '{duration}' at 'durationSeconds' failed to satisfy "
                                                 "constraint: Member must be a number")
        try:
            result = await self.meta("create_session", {"name": caller.name, "duration":
                                                        None if duration is None else int(duration)})
        except DynamoDBError as exc:
            return error(500, "ServiceFailure", exc.message or type(exc).__name__)
        if not result.get("ok"):
            code = result.get("error") or "ServiceFailure"
            return error(400 if code == "ValidationError" else 403 if code == "NoSuchEntity" else 500, code,
                         result.get("message", ""))
        key = result["key"]
        return 200, (f'<GetSessionTokenResponse xmlns="{NS}"><GetSessionTokenResult><Credentials>'
                     f"<SessionToken>{escape(key['SessionToken'])}</SessionToken>"
                     f"<SecretAccessKey>{escape(key['SecretAccessKey'])}</SecretAccessKey>"
                     f"<Expiration>{iso8601(key['Expiration'])}</Expiration>"
                     f"<AccessKeyId>{key['AccessKeyId']}</AccessKeyId></Credentials></GetSessionTokenResult>"
                     "<ResponseMetadata><RequestId>trireme</RequestId></ResponseMetadata>"
                     "</GetSessionTokenResponse>").encode()
