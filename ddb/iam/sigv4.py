"""AWS Signature Version 4, the verifying side: rebuild the canonical request
exactly as botocore's `SigV4Auth`/`SigV4QueryAuth` build it, and check the
signature, the scope and the date window.

Pure: the caller passes the request as received (method, raw URL, lower-cased
headers, body), the time and the secret; nothing here reads a clock or a key
store. Two forms: the `Authorization` header, and the presigned query string
(`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-SignedHeaders`,
`X-Amz-Signature`, `X-Amz-Expires`, `X-Amz-Security-Token`).

Messages follow AWS's (the Coral framework's) wording.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from datetime import datetime, timezone
from collections.abc import Callable, Container, Mapping
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, unquote

from ddb.errors import IncompleteSignatureException, InvalidSignatureException, MissingAuthenticationTokenException

ALGORITHM = "AWS4-HMAC-SHA256"
WINDOW_S = 15 * 60  # a signature's date may be this far from the server's clock, either way
MAX_EXPIRES_S = 7 * 24 * 3600  # a presigned request's longest X-Amz-Expires
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_QUERY_SAFE = "-_.~"


class Signed(NamedTuple):
    """What a signed request claims, and the string its signature must sign
    (a tuple: one per request, built in a fraction of a frozen dataclass's time)."""

    access_key: str
    timestamp: str  # YYYYMMDDTHHMMSSZ
    date: str  # the scope's YYYYMMDD
    region: str
    service: str
    signature: str
    token: str | None  # X-Amz-Security-Token: session credentials
    expires: int | None  # presigned: X-Amz-Expires seconds
    string_to_sign: str


def parse(method: str, url: str, headers: Mapping[str, str], body: bytes, *, secure: bool = False,
          body_sha256: str | None = None) -> Signed:
    """The request's signature claims. `headers` lower-cased; `url` the raw
    request target (path and query as sent); `body_sha256` the hash of the
    body as sent when `body` is already decoded (Content-Encoding). Raises
    MissingAuthenticationTokenException (no signature at all) or
    IncompleteSignatureException (a malformed one)."""
    path, _, query = url.partition("?")
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    params = {unquote(k): unquote(v) for k, _, v in pairs} if pairs else {}
    auth = headers.get("authorization")
    if auth is not None:
        fields = _auth_fields(auth)
        credential, signed_headers, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        timestamp = _header_timestamp(headers, auth)
        token, expires = headers.get("x-amz-security-token"), None
    elif "X-Amz-Signature" in params or "X-Amz-Credential" in params:
        missing = [name for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Date",
                                     "X-Amz-Signature") if name not in params]
        if missing:
            raise IncompleteSignatureException(" ".join(f"AWS query-string parameters must include '{name}'."
                                                        for name in missing) + f" Re-examine the query-string "
                                               "parameters.")
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'")
        credential, signed_headers = params["X-Amz-Credential"], params["X-Amz-SignedHeaders"]
        signature, timestamp = params["X-Amz-Signature"], _iso_basic(params["X-Amz-Date"])
        token, expires = params.get("X-Amz-Security-Token"), _expires(params.get("X-Amz-Expires"))
        pairs = [p for p in pairs if unquote(p[0]) != "X-Amz-Signature"]
    else:
        raise MissingAuthenticationTokenException()
    access_key, date, region, service = _scope(credential, timestamp)
    names = signed_headers.split(";")
    canonical = "\n".join((method.upper(), canonical_uri(path), canonical_query(pairs),
                           canonical_headers(names, headers), signed_headers,
                           _payload_hash(headers, body, secure, body_sha256)))
    string_to_sign = "\n".join((ALGORITHM, timestamp, f"{date}/{region}/{service}/aws4_request",
                                hashlib.sha256(canonical.encode()).hexdigest()))
    return Signed(access_key, timestamp, date, region, service, signature, token or None, expires, string_to_sign)


def _auth_fields(auth: str) -> dict[str, str]:
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'. "
                                           f"Authorization={auth}")
    fields = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value
    if not (fields.get("Credential") and fields.get("Signature") and fields.get("SignedHeaders")):
        missing = [f"Authorization header requires '{name}' parameter." for name in ("Credential", "Signature",
                                                                                      "SignedHeaders")
                   if not fields.get(name)]
        raise IncompleteSignatureException(" ".join(missing) + f" Authorization={auth}")
    return fields


def _header_timestamp(headers: Mapping[str, str], auth: str) -> str:
    """X-Amz-Date, or else the Date header (botocore signs with either)."""
    if "x-amz-date" in headers:
        return _iso_basic(headers["x-amz-date"])
    if "date" in headers:
        try:
            when = parsedate_to_datetime(headers["date"])
        except (TypeError, ValueError):
            when = None
        if when is not None:  # "-0000" (botocore's) parses without a zone: UTC
            return _stamp(calendar.timegm(when.utctimetuple()))
    raise IncompleteSignatureException("Authorization header requires existence of either a 'X-Amz-Date' or a "
                                       f"'Date' header. Authorization={auth}")


def _iso_basic(value: str) -> str:
    try:
        _epoch(value)
    except ValueError:
        raise IncompleteSignatureException(f"Date must be in ISO-8601 'basic format'. Got '{value}'. See "
                                           "http://en.wikipedia.org/wiki/ISO_8601") from None
    return value


@lru_cache(maxsize=256)
def _epoch(stamp: str) -> int:
    """YYYYMMDDTHHMMSSZ -> epoch seconds (strptime costs ~100 us, a datetime
    several; cached: every request of the same second has the same stamp, and
    a stamp is parsed twice, for its format and for the date window)."""
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z" or not (stamp[:8] + stamp[9:15]).isdigit():
        raise ValueError(stamp)
    when = datetime(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]),
                    int(stamp[13:15]), tzinfo=timezone.utc)  # validates the ranges
    return int(when.timestamp())


def _expires(value: str | None) -> int:
    if value is None or not value.isdigit() or not 0 < int(value) <= MAX_EXPIRES_S:
        raise IncompleteSignatureException(f"X-Amz-Expires must be an integer between 1 and {MAX_EXPIRES_S} "
                                           f"seconds, not {value!r}.")
    return int(value)


def _scope(credential: str, timestamp: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(f"Credential should be scoped to a valid region. Credential={credential}"
                                           if len(parts) > 1 else
                                           f"Authorization header requires 'Credential' parameter. "
                                           f"Credential={credential}")
    access_key, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise IncompleteSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
    if date != timestamp[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{timestamp[:8]}', from '{timestamp}'.")
    return access_key, date, region, service


def canonical_uri(path: str) -> str:
    """The raw path with dot segments and empty segments removed, then
    percent-encoded once more (botocore's `_normalize_url_path`: an encoded
    `%3A` in a Lambda function ARN is signed as `%253A`)."""
    if not path or path == "/":
        return "/"
    segments = [s for s in path.split("/") if s and s != "."]
    out: list[str] = []
    for s in segments:
        if s == "..":
            if out:
                out.pop()
        else:
            out.append(s)
    normalized = ("/" if path[0] == "/" else "") + "/".join(out) + ("/" if path[-1] == "/" and out else "")
    return quote(normalized, safe="/~")


def canonical_query(pairs: list[tuple[str, str, str]]) -> str:
    """Each name and value percent-encoded as AWS wants (RFC 3986 unreserved
    characters kept), sorted. Decoding first makes a client that encoded
    differently (`+`, lower-case hex) sign the same string botocore does."""
    if not pairs:
        return ""
    encoded = sorted((quote(unquote(k), safe=_QUERY_SAFE), quote(unquote(v), safe=_QUERY_SAFE))
                     for k, _, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_headers(names: list[str], headers: Mapping[str, str]) -> str:
    """`name:value` lines (runs of whitespace in a value folded to one space),
    and the blank line that ends them."""
    return "".join([f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names])


def _payload_hash(headers: Mapping[str, str], body: bytes, secure: bool, actual: str | None) -> str:
    """The body's hash, as signed: botocore signs `x-amz-content-sha256` when
    sent. An unsigned payload is accepted only over TLS (on plain HTTP the
    body could be changed on the way)."""
    if actual is None:
        actual = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    claimed = headers.get("x-amz-content-sha256")
    if claimed is None:
        return actual
    if claimed == UNSIGNED_PAYLOAD and secure:
        return claimed
    if claimed != actual:
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was "
                                        "computed.")
    return claimed


def check_scope(signed: Signed, region: str, services: Container[str]) -> None:
    """The scope names this endpoint's region and one of its signing services."""
    if signed.region != region:
        raise InvalidSignatureException(f"Credential should be scoped to a valid region, not '{signed.region}'. ")
    if signed.service not in services:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{signed.service}'. ")


def check_time(signed: Signed, now: float, window_s: int = WINDOW_S) -> None:
    """The header form's date within `window_s` of `now`, either way; a
    presigned request within its X-Amz-Expires (and not from the future)."""
    signed_at = _epoch(signed.timestamp)
    if signed_at > now + window_s:
        raise InvalidSignatureException(f"Signature not yet current: {signed.timestamp} is still later than "
                                        f"{_stamp(now + window_s)} ({_stamp(now)} + 15 min.)")
    if signed.expires is not None:
        if now > signed_at + signed.expires:
            raise InvalidSignatureException(f"Signature expired: {signed.timestamp} is now earlier than "
                                            f"{_stamp(now - signed.expires)} ({_stamp(now)} - {signed.expires} sec.)")
    elif signed_at < now - window_s:
        raise InvalidSignatureException(f"Signature expired: {signed.timestamp} is now earlier than "
                                        f"{_stamp(now - window_s)} ({_stamp(now)} - 15 min.)")


def _stamp(when: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def verify(signed: Signed, key: bytes) -> None:
    """Raises InvalidSignatureException unless `key` (the derived signing key)
    signed the request. Constant-time comparison."""
    expected = hmac.digest(key, signed.string_to_sign.encode(), "sha256").hex()
    if not hmac.compare_digest(expected, signed.signature):
        raise InvalidSignatureException(MISMATCH)


class SigningKeys:
    """Derived signing keys per (key id, date, region, service): four HMACs
    saved per request. Bounded: cleared when full (a day's keys come back at
    the cost of one derivation each). Key ids are never reused, so a deleted
    key's entry is harmless: the key store refuses the id first."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def get(self, signed: Signed, secret: Callable[[], str]) -> bytes:
        """The key for `signed`'s scope; `secret()` is asked only on a miss
        (unwrapping a stored secret costs more than the derivation)."""
        slot = (signed.access_key, signed.date, signed.region, signed.service)
        key = self._keys.get(slot)
        if key is None:
            if len(self._keys) >= self.capacity:
                self._keys.clear()
            key = self._keys[slot] = signing_key(secret(), signed.date, signed.region, signed.service)
        return key

    def forget(self, access_key: str) -> None:
        """Drop one key id's entries (its key was deleted or deactivated)."""
        for slot in [s for s in self._keys if s[0] == access_key]:
            del self._keys[slot]


def sign(method: str, url: str, headers: Mapping[str, str], body: bytes, *, access_key: str, secret: str,
         region: str, service: str, now: float, token: str | None = None) -> dict[str, str]:
    """The headers that sign a request (X-Amz-Date, Authorization and, for
    session credentials, X-Amz-Security-Token): the cluster's own calls to
    routers, without botocore. `headers` lower-cased, with `host`; every one
    given is signed."""
    timestamp = _stamp(now)
    out = {"x-amz-date": timestamp, **({"x-amz-security-token": token} if token else {})}
    signed_headers = {**{k.lower(): v for k, v in headers.items()}, **out}
    names = sorted(signed_headers)
    path, _, query = url.partition("?")
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    canonical = "\n".join((method.upper(), canonical_uri(path), canonical_query(pairs),
                           canonical_headers(names, signed_headers), ";".join(names),
                           hashlib.sha256(body).hexdigest()))
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join((ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    signature = hmac.new(signing_key(secret, timestamp[:8], region, service), string_to_sign.encode(),
                         hashlib.sha256).hexdigest()
    out["authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
                            f"Signature={signature}")
    return out
