"""The Lambda API's function records and request rules, pure (no I/O).

Covers CreateFunction, UpdateFunctionCode, UpdateFunctionConfiguration,
GetFunction, ListFunctions, DeleteFunction and the checks of Invoke, with
Lambda's limits, defaults, exception names and messages. Constraints come from
botocore's Lambda model (``lambda/2015-03-31/service-2.json``) and the Lambda
quotas page; where the model widened a bound for features Trireme does not
have (Timeout 5,400 s and MemorySize 32,768 MB belong to durable functions and
managed instances), the standard function's bound applies, with the message
Lambda answered when it was the model's bound.

The caller (the router, later) turns a body into a `Function` and keeps the
zip's bytes beside it under `Function.code_sha256`; the worker runtime unpacks
them by that digest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from functions.errors import (InvalidParameterValueException, InvalidRequestContentException,
                              PreconditionFailedException, RequestEntityTooLargeException, RequestTooLargeException,
                              ResourceConflictException, ResourceNotFoundException, ValidationException)

DEFAULT_ACCOUNT = "000000000000"
LATEST = "$LATEST"

# Runtimes a worker runs (every python3 runtime Lambda still lets one create,
# run on this host's interpreter); python runtimes Lambda blocks for creation;
# the model's whole enumeration (anything else is a ValidationException).
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
BLOCKED_RUNTIMES = ("python2.7", "python3.6", "python3.7", "python3.8")
NEWEST_RUNTIME = "python3.14"
MODEL_RUNTIMES = (
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x",
    "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x", "java8", "java8.al2", "java11", "java17", "java21",
    "java25", "python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10", "python3.11",
    "python3.12", "python3.13", "python3.14", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
    "dotnet6", "dotnet8", "dotnet10", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3",
    "ruby3.4", "ruby4.0", "provided", "provided.al2", "provided.al2023", "nodejs26.x", "python3.15",
    "java8.al2023", "java11.al2023", "java17.al2023", "custom")

TIMEOUT_DEFAULT, TIMEOUT_MAX = 3, 900
MEMORY_DEFAULT, MEMORY_MIN, MEMORY_MAX = 128, 128, 10240
NAME_MAX = 64
DESCRIPTION_MAX = 256
HANDLER_MAX = 128
ZIP_MAX = 50 * 1024 * 1024  # direct upload, zipped
ZIP_MAX_BASE64 = 69905067  # the same bound on the base64 request body, as Lambda states it
UNZIPPED_MAX = 262144000
ENV_MAX = 4096
SYNC_PAYLOAD_MAX = 6291456
ASYNC_PAYLOAD_MAX = 1048576
LIST_DEFAULT, LIST_MAX = 50, 10000

# Keys Lambda sets itself and refuses in a function's configuration.
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ"})

NAME_RE = re.compile(r"[a-zA-Z0-9-_]+")
# The model's FunctionName pattern, split into its parts.
FUNCTION_REF_RE = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?(?:(?P<region>(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso(?:[a-z]?)))?"
    r"-[a-z]+-\d{1}):)?(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9-_]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?")
FUNCTION_REF_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
                        r"([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")
ROLE_RE = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
ENV_KEY_RE = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
HANDLER_RE = re.compile(r"[^\s]+")
ARCHITECTURES = ("x86_64", "arm64")


@dataclass(frozen=True)
class Function:
    """One function's configuration ($LATEST); its code is kept by digest."""

    name: str
    runtime: str
    role: str
    handler: str
    code_sha256: str
    code_size: int
    last_modified: str
    revision_id: str
    description: str = ""
    timeout: int = TIMEOUT_DEFAULT
    memory_size: int = MEMORY_DEFAULT
    environment: Mapping[str, str] = field(default_factory=dict)
    architectures: tuple[str, ...] = ("x86_64",)

    def arn(self, region: str, account: str = DEFAULT_ACCOUNT) -> str:
        return function_arn(self.name, region, account)

    def configuration(self, region: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
        """The FunctionConfiguration Lambda answers for $LATEST."""
        out: dict[str, Any] = {
            "FunctionName": self.name,
            "FunctionArn": self.arn(region, account),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": LATEST,
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": log_group(self.name)},
        }
        if self.environment:
            out["Environment"] = {"Variables": dict(self.environment)}
        return out

    def to_record(self) -> dict[str, Any]:
        """A JSON-able record, for storing the function in the cluster."""
        rec = {k: getattr(self, k) for k in self.__dataclass_fields__}
        rec["environment"] = dict(self.environment)
        rec["architectures"] = list(self.architectures)
        return rec

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Function:
        return cls(**{**rec, "environment": dict(rec["environment"]),
                      "architectures": tuple(rec["architectures"])})


def function_arn(name: str, region: str, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def log_group(name: str) -> str:
    return f"/aws/lambda/{name}"


def code_sha256(zip_bytes: bytes) -> str:
    """CodeSha256 as Lambda shows it: the base64 of the zip's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


def timestamp(now: float) -> str:
    """LastModified's format, e.g. ``2019-09-24T18:20:01.254+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}+0000"


# ---------------------------------------------------------------- validation

def _validation(errors: list[str]) -> ValidationException:
    n = len(errors)
    return ValidationException(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors))


def _value_error(value: Any, member: str, constraint: str) -> str:
    return f"Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"


class _Checks:
    """Collects constraint failures, reported together as Lambda's validation framework does."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, value: Any, member: str, constraint: str) -> None:
        self.errors.append(_value_error(value, member, constraint))

    def length(self, value: str, member: str, lo: int, hi: int) -> None:
        if len(value) < lo:
            self.add(value, member, f"Member must have length greater than or equal to {lo}")
        elif len(value) > hi:
            self.add(value, member, f"Member must have length less than or equal to {hi}")

    def bounds(self, value: int, member: str, lo: int, hi: int) -> None:
        if value < lo:
            self.add(value, member, f"Member must have value greater than or equal to {lo}")
        elif value > hi:
            self.add(value, member, f"Member must have value less than or equal to {hi}")

    def pattern(self, value: str, member: str, regex: re.Pattern[str], shown: str | None = None) -> None:
        if not regex.fullmatch(value):
            self.add(value, member, f"Member must satisfy regular expression pattern: {shown or regex.pattern}")

    def raise_any(self) -> None:
        if self.errors:
            raise _validation(self.errors)


def _require_type(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise InvalidParameterValueException(f"Invalid type for parameter {key}")
    return value


@dataclass(frozen=True)
class FunctionRef:
    """A FunctionName parameter resolved: the name, and the qualifier if one was given."""

    name: str
    qualifier: str | None
    given: str


def parse_function_name(value: Any, region: str, account: str = DEFAULT_ACCOUNT, *,
                        member: str = "functionName") -> FunctionRef:
    """A name, a partial ARN (``123456789012:function:NAME``) or a full ARN, with an optional qualifier."""
    if not isinstance(value, str):
        raise InvalidParameterValueException("Invalid type for parameter FunctionName")
    checks = _Checks()
    m = FUNCTION_REF_RE.fullmatch(value)
    checks.length(value, member, 1, 140)
    if m is None:
        checks.pattern(value, member, FUNCTION_REF_RE, FUNCTION_REF_PATTERN)
    checks.raise_any()
    assert m is not None
    name = m["name"]
    if len(name) > NAME_MAX:
        raise _validation([_value_error(name, member, f"Member must have length less than or equal to {NAME_MAX}")])
    if (m["region"] and m["region"] != region) or (m["account"] and m["account"] != account):
        # Another region's or account's function: as Lambda, it does not exist here.
        raise ResourceNotFoundException(f"Function not found: {value}")
    return FunctionRef(name=name, qualifier=m["qualifier"], given=value)


def latest_only(ref: FunctionRef, region: str, account: str = DEFAULT_ACCOUNT) -> str:
    """The name, for a reference to $LATEST; versions and aliases are not kept (never published)."""
    if ref.qualifier not in (None, LATEST):
        raise ResourceNotFoundException(f"Function not found: {function_arn(ref.name, region, account)}:{ref.qualifier}")
    return ref.name


def not_found(name: str, region: str, account: str = DEFAULT_ACCOUNT) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Function not found: {function_arn(name, region, account)}")


def already_exists(name: str) -> ResourceConflictException:
    return ResourceConflictException(f"Function already exist: {name}")


def _check_runtime(runtime: str) -> None:
    if runtime not in MODEL_RUNTIMES:
        raise _validation([_value_error(runtime, "runtime",
                                        "Member must satisfy enum value set: [" + ", ".join(MODEL_RUNTIMES) + "]")])
    if runtime in BLOCKED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            f"functions. We recommend you use the new runtime ({NEWEST_RUNTIME}) while creating or updating "
            "functions.")
    if runtime not in PYTHON_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is not supported by Trireme, which runs "
            f"{', '.join(PYTHON_RUNTIMES)} functions.")


def _check_environment(env: Any) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise InvalidParameterValueException("Invalid type for parameter Environment")
    variables = env.get("Variables") or {}
    if not isinstance(variables, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise InvalidParameterValueException("Invalid type for parameter Environment.Variables")
    if not all(ENV_KEY_RE.fullmatch(k) for k in variables):
        # Lambda does not echo the values of this sensitive map.
        raise ValidationException(
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
            f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {ENV_KEY_RE.pattern}]")
    reserved = [k for k in variables if k in RESERVED_ENV]
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. Reserved "
            f"keys used in this request: {', '.join(reserved)}")
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > ENV_MAX:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}")
    return dict(variables)


def _check_settings(body: Mapping[str, Any], checks: _Checks) -> dict[str, Any]:
    """The configuration members CreateFunction and UpdateFunctionConfiguration share, checked."""
    out: dict[str, Any] = {}
    role = _require_type(body, "Role", str)
    if role is not None:
        checks.pattern(role, "role", ROLE_RE)
        out["role"] = role
    handler = _require_type(body, "Handler", str)
    if handler is not None:
        checks.length(handler, "handler", 0, HANDLER_MAX)
        checks.pattern(handler, "handler", HANDLER_RE)
        out["handler"] = handler
    description = _require_type(body, "Description", str)
    if description is not None:
        checks.length(description, "description", 0, DESCRIPTION_MAX)
        out["description"] = description
    timeout = _require_type(body, "Timeout", int)
    if timeout is not None:
        checks.bounds(timeout, "timeout", 1, TIMEOUT_MAX)
        out["timeout"] = timeout
    memory = _require_type(body, "MemorySize", int)
    if memory is not None:
        checks.bounds(memory, "memorySize", MEMORY_MIN, MEMORY_MAX)
        out["memory_size"] = memory
    checks.raise_any()
    runtime = _require_type(body, "Runtime", str)
    if runtime is not None:
        _check_runtime(runtime)
        out["runtime"] = runtime
    if "Environment" in body:
        out["environment"] = _check_environment(body["Environment"])
    return out


def check_zip(zip_bytes: Any, operation: str) -> bytes:
    """A deployment package: bytes, at most 50 MB zipped and 250 MB unzipped, safe to unpack."""
    if not isinstance(zip_bytes, (bytes, bytearray)):
        raise InvalidParameterValueException("Invalid type for parameter ZipFile")
    zip_bytes = bytes(zip_bytes)
    if len(zip_bytes) > ZIP_MAX:
        raise RequestEntityTooLargeException(
            f"Request must be smaller than {ZIP_MAX_BASE64} bytes for the {operation} operation")
    unzip_error = InvalidParameterValueException(
        "Could not unzip uploaded file. Please check your file, then try to upload again.")
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise unzip_error from None
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith("/") or ".." in parts:
            raise unzip_error
    if sum(i.file_size for i in infos) > UNZIPPED_MAX:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
    return zip_bytes


def _code(body: Mapping[str, Any], operation: str) -> bytes:
    if any(body.get(k) for k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")):
        raise InvalidParameterValueException(
            "Trireme takes function code as ZipFile only (no S3 or container image source).")
    if body.get("ZipFile") is None:
        raise InvalidParameterValueException("Please provide a source for function code.")
    return check_zip(body["ZipFile"], operation)


def _architectures(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 1:
        raise _validation([_value_error(value, "architectures",
                                        "Member must have length less than or equal to 1")])
    if value[0] not in ARCHITECTURES:
        raise _validation([_value_error(value, "architectures",
                                        "Member must satisfy constraint: [Member must satisfy enum value set: "
                                        "[x86_64, arm64]]")])
    return (value[0],)


def _revision(fields: Mapping[str, Any], now: float) -> str:
    """A RevisionId derived from the new state (pure, and different after every change)."""
    digest = hashlib.sha256(json.dumps({**fields, "at": now}, sort_keys=True, default=str).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _stamp(fn_fields: dict[str, Any], now: float) -> Function:
    fn_fields["last_modified"] = timestamp(now)
    fn_fields["revision_id"] = _revision({k: v for k, v in fn_fields.items() if k != "revision_id"}, now)
    return Function(**fn_fields)


def create_function(body: Mapping[str, Any], *, now: float, region: str,
                    account: str = DEFAULT_ACCOUNT) -> tuple[Function, bytes]:
    """CreateFunction's request checked: the new function and its zip."""
    ref = parse_function_name(body.get("FunctionName"), region, account)
    if ref.qualifier is not None:
        raise InvalidParameterValueException("Unsupported parameter: qualifier in FunctionName")
    if body.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValueException("Trireme runs Zip packages only (PackageType Zip).")
    if body.get("Role") is None:
        raise InvalidParameterValueException("Role is a required parameter.")
    checks = _Checks()
    settings = _check_settings(body, checks)
    if not settings.get("runtime") or not settings.get("handler"):
        raise InvalidParameterValueException(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    architectures = _architectures(body.get("Architectures"))
    zip_bytes = _code(body.get("Code") or {}, "CreateFunction")
    fields = {"name": ref.name, **settings, "code_sha256": code_sha256(zip_bytes), "code_size": len(zip_bytes)}
    if architectures:
        fields["architectures"] = architectures
    return _stamp(fields, now), zip_bytes


def update_function_code(fn: Function, body: Mapping[str, Any], *, now: float) -> tuple[Function, bytes]:
    """UpdateFunctionCode's request checked: the updated function and its new zip.

    With ``DryRun`` the caller keeps the old function (the answer still shows the new digest).
    """
    if body.get("RevisionId") not in (None, fn.revision_id):
        raise _precondition_failed()
    zip_bytes = _code(body, "UpdateFunctionCode")
    architectures = _architectures(body.get("Architectures"))
    fields = {**_fields(fn), "code_sha256": code_sha256(zip_bytes), "code_size": len(zip_bytes)}
    if architectures:
        fields["architectures"] = architectures
    return _stamp(fields, now), zip_bytes


def update_function_configuration(fn: Function, body: Mapping[str, Any], *, now: float) -> Function:
    """UpdateFunctionConfiguration: the members given replace the function's (Environment as a whole)."""
    if body.get("RevisionId") not in (None, fn.revision_id):
        raise _precondition_failed()
    settings = _check_settings(body, _Checks())
    return _stamp({**_fields(fn), **settings}, now)


def _fields(fn: Function) -> dict[str, Any]:
    return {k: getattr(fn, k) for k in fn.__dataclass_fields__}


def _precondition_failed() -> PreconditionFailedException:
    return PreconditionFailedException(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API "
        "to retrieve the latest Revision Id")


def get_function(fn: Function, *, region: str, account: str = DEFAULT_ACCOUNT,
                 code_location: str) -> dict[str, Any]:
    """GetFunction's answer; ``code_location`` is where the caller serves the zip."""
    return {"Configuration": fn.configuration(region, account),
            "Code": {"RepositoryType": "S3", "Location": code_location}}


def list_functions(functions: Iterable[Function], *, region: str, account: str = DEFAULT_ACCOUNT,
                   marker: str | None = None, max_items: int | None = None) -> dict[str, Any]:
    """ListFunctions: one page in name order; the marker is the last name shown, base64-encoded."""
    if max_items is None:
        max_items = LIST_DEFAULT
    checks = _Checks()
    checks.bounds(max_items, "maxItems", 1, LIST_MAX)
    checks.raise_any()
    ordered = sorted(functions, key=lambda f: f.name)
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise InvalidParameterValueException("Invalid marker: " + marker) from None
        ordered = [f for f in ordered if f.name > after]
    page = ordered[:max_items]
    out: dict[str, Any] = {"Functions": [f.configuration(region, account) for f in page]}
    if len(ordered) > max_items:
        out["NextMarker"] = base64.urlsafe_b64encode(page[-1].name.encode()).decode()
    return out


# ---------------------------------------------------------------- Invoke

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
INVOKE_STATUS = {"RequestResponse": 200, "Event": 202, "DryRun": 204}


@dataclass(frozen=True)
class Invocation:
    """An Invoke request checked: the payload is JSON (kept as the bytes sent)."""

    invocation_type: str
    log_type: str
    payload: bytes


def check_invocation(invocation_type: str | None, log_type: str | None, payload: bytes | None) -> Invocation:
    """Invoke's headers and payload checked as Lambda does, before any worker runs."""
    itype = invocation_type or "RequestResponse"
    ltype = log_type or "None"
    checks = _Checks()
    if itype not in INVOCATION_TYPES:
        checks.add(itype, "invocationType", "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
    if ltype not in ("None", "Tail"):
        checks.add(ltype, "logType", "Member must satisfy enum value set: [None, Tail]")
    checks.raise_any()
    payload = payload or b""
    limit = ASYNC_PAYLOAD_MAX if itype == "Event" else SYNC_PAYLOAD_MAX
    if len(payload) > limit:
        operation = "InvokeAsync" if itype == "Event" else "Invoke"
        raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for the {operation} operation")
    if payload.strip():
        try:
            json.loads(payload)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidRequestContentException(
                f"Could not parse request body into json: Could not parse payload into json: {e}") from None
    else:
        payload = b"{}"
    return Invocation(invocation_type=itype, log_type=ltype, payload=payload)


def invoke_response(invocation: Invocation, *, payload: bytes, function_error: str | None,
                    log_tail: bytes) -> tuple[int, dict[str, str], bytes]:
    """Invoke's answer: status, headers, body (the Tail of the log only when asked and synchronous)."""
    status = INVOKE_STATUS[invocation.invocation_type]
    if invocation.invocation_type != "RequestResponse":
        return status, {}, b""
    headers = {"X-Amz-Executed-Version": LATEST, "Content-Type": "application/json"}
    if function_error:
        headers["X-Amz-Function-Error"] = function_error
    if invocation.log_type == "Tail":
        headers["X-Amz-Log-Result"] = base64.b64encode(log_tail[-4096:]).decode()
    return status, headers, payload

