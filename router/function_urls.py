"""Function URLs: an HTTP endpoint per function, as Lambda's (the API
Gateway + Lambda pattern without API Gateway).

Two halves, on the router's port (`router/lambda_api.py` hands them over):

- the configuration API (botocore ``lambda`` service-2.json, ``/2021-10-31``
  paths): CreateFunctionUrlConfig, GetFunctionUrlConfig,
  UpdateFunctionUrlConfig, DeleteFunctionUrlConfig, ListFunctionUrlConfigs.
  The config lives in the function's entry of the cluster metadata
  (``MetaState.functions[NAME]["url"]``, written by the ``put_function_url``
  meta call), so every router serves every URL and deleting the function
  deletes its URL, as in Lambda. Under enforced auth (`trireme up --auth`),
  a URL with AuthType AWS_IAM serves only requests signed (SigV4, service
  ``lambda``) by a caller allowed ``lambda:InvokeFunctionUrl`` on the
  function (router/main.py checks, with `private_function`); others get
  Lambda's 403 ``{"Message":"Forbidden"}``. AuthType NONE URLs are public, as
  in Lambda. InvokeMode RESPONSE_STREAM is accepted and answered buffered.
- serving: any request to ``http://ROUTER/trireme/url/URL_ID/PATH?QUERY``
  invokes the function with API Gateway's HTTP API payload format 2.0 (the
  event Lambda gives function URLs; ``rawPath`` is ``/PATH``) and turns its
  answer into the HTTP response (`http_response`). AWS's URL is
  ``https://URL_ID.lambda-url.REGION.on.aws/``: locally the id is a path
  segment, so plain HTTP clients reach it on the router's one port. The
  host form works too: ``http://URL_ID.lambda-url.REGION.localhost:PORT/PATH``
  (`router/http.py` hands a non-DynamoDB request whose Host has
  ``.lambda-url.`` in it here; curl resolves ``*.localhost`` to 127.0.0.1).

The event builder and the response mapping are pure (`build_event`,
`http_response`, `cors_headers`); `FunctionUrls` does the I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
import time
import uuid
from typing import Any, Mapping
from urllib.parse import parse_qsl, unquote

import orjson

from functions import model
from functions.errors import ResourceConflictException, ResourceNotFoundException, ValidationException

CONFIG_PREFIX = "/2021-10-31/functions/"
SERVE_PREFIX = "/trireme/url/"
PREFIXES = (CONFIG_PREFIX.encode(), SERVE_PREFIX.encode())
AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
MAX_AGE = 86400
_ID_ALPHABET = string.ascii_lowercase + string.digits
_TEXT_TYPES = re.compile(r"text/|application/(json|xml|javascript|x-www-form-urlencoded)|\+json|\+xml")
_CTRL = re.compile(r"[\r\n\x00]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name
INTERNAL_ERROR = b"Internal Server Error"
_CORS_LISTS = {"AllowHeaders": (100, 1024), "AllowMethods": (6, 6), "AllowOrigins": (100, 253),
               "ExposeHeaders": (100, 1024)}


# ----------------------------------------------------------------- configuration (pure)

def new_url_id() -> str:
    """32 lower-case letters and digits, as Lambda's url ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def _iso(now: float) -> str:
    """CreationTime's format, e.g. ``2021-12-03T22:40:31.123456Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1e6) % 1000000:06d}Z"


def check_cors(cors: Any) -> dict[str, Any]:
    """The Cors structure with Lambda's constraints (lists of strings, MaxAge 0..86400)."""
    if not isinstance(cors, dict):
        raise ValidationException("1 validation error detected: Value at 'cors' failed to satisfy constraint: "
                                  "Member must be a structure")
    errors: list[str] = []
    out: dict[str, Any] = {}
    for key, value in cors.items():
        member = "cors." + key[0].lower() + key[1:]
        if key == "AllowCredentials":
            if not isinstance(value, bool):
                errors.append(f"Value '{value}' at '{member}' failed to satisfy constraint: Member must be a boolean")
            out[key] = value
        elif key == "MaxAge":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
                errors.append(f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value "
                              f"between 0 and {MAX_AGE}")
            out[key] = value
        elif key in _CORS_LISTS:
            most, longest = _CORS_LISTS[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(f"Value '{value}' at '{member}' failed to satisfy constraint: "
                              "Member must be a list of strings")
            elif len(value) > most:
                errors.append(f"Value '{value}' at '{member}' failed to satisfy constraint: "
                              f"Member must have length less than or equal to {most}")
            elif any(not 1 <= len(v) <= longest for v in value):
                errors.append(f"Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy "
                              f"constraint: [Member must have length between 1 and {longest}]")
            out[key] = value
        else:
            raise ValidationException(f"Unknown parameter in Cors: {key!r}")
    if errors:
        raise ValidationException(f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
                                  + "; ".join(errors))
    return out


def check_config(body: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Create (``old`` None: AuthType required) or Update request applied to the stored config."""
    config = dict(old or {})
    errors = []
    if "AuthType" in body or old is None:
        auth = body.get("AuthType")
        if auth not in AUTH_TYPES:
            errors.append(f"Value '{auth}' at 'authType' failed to satisfy constraint: Member must satisfy enum "
                          f"value set: [{', '.join(AUTH_TYPES)}]")
        config["AuthType"] = auth
    if "InvokeMode" in body or old is None:
        mode = body.get("InvokeMode", "BUFFERED")
        if mode not in INVOKE_MODES:
            errors.append(f"Value '{mode}' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum "
                          f"value set: [{', '.join(INVOKE_MODES)}]")
        config["InvokeMode"] = mode
    if errors:
        raise ValidationException(f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
                                  + "; ".join(errors))
    if "Cors" in body:
        config["Cors"] = check_cors(body["Cors"])
    return config


def url_of(url_id: str, host: str) -> str:
    return f"http://{host}{SERVE_PREFIX}{url_id}/"


def config_view(config: Mapping[str, Any], *, name: str, region: str, host: str,
                created_only: bool = False) -> dict[str, Any]:
    """The FunctionUrlConfig answered (Create's has no LastModifiedTime)."""
    out: dict[str, Any] = {"FunctionUrl": url_of(config["UrlId"], host),
                           "FunctionArn": model.function_arn(name, region),
                           "AuthType": config["AuthType"], "CreationTime": config["CreationTime"],
                           "InvokeMode": config["InvokeMode"]}
    if config.get("Cors"):
        out["Cors"] = config["Cors"]
    if not created_only:
        out["LastModifiedTime"] = config["LastModifiedTime"]
    return out


def no_config(name: str, region: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The resource you requested does not exist. (Service: Lambda, Status Code: "
                                     f"404, Function URL config for {model.function_arn(name, region)})")


def exists(name: str, region: str) -> ResourceConflictException:
    return ResourceConflictException(f"Failed to create function url config for [functionArn = "
                                     f"{model.function_arn(name, region)}]. Error message:  FunctionUrlConfig "
                                     "exists for this Lambda function")


# ----------------------------------------------------------------- serving (pure)

def _is_text(content_type: str | None) -> bool:
    return content_type is None or _TEXT_TYPES.search(content_type.lower()) is not None


def build_event(*, method: str, url: str, headers: Mapping[str, str], body: bytes, url_id: str, region: str,
                request_id: str, now: float) -> dict[str, Any]:
    """API Gateway's payload format 2.0 as a function URL sends it. ``url`` is
    the path after ``/trireme/url/URL_ID`` with its query; ``headers`` are lower-case."""
    path, _, query = url.partition("?")
    raw_path = path or "/"
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    out_headers = {k: v for k, v in headers.items() if k != "cookie"}
    cookies = [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()]
    domain = f"{url_id}.lambda-url.{region}.on.aws"
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
        "headers": out_headers,
        "requestContext": {
            "accountId": "anonymous",  # unsigned, as an AuthType NONE URL's
            "apiId": url_id, "domainName": domain, "domainPrefix": url_id,
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": (headers.get("x-forwarded-for") or "127.0.0.1").split(",")[0].strip(),
                     "userAgent": headers.get("user-agent", "")},
            "requestId": request_id, "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000)},
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if body:
        try:
            text = body.decode() if _is_text(headers.get("content-type")) else None
        except UnicodeDecodeError:
            text = None
        event["body"] = text if text is not None else base64.b64encode(body).decode()
        event["isBase64Encoded"] = text is None
    return event


def _header_value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode().strip('"')
    return _CTRL.sub(" ", text).encode("latin-1", "replace").decode("latin-1")


def http_response(payload: bytes, function_error: str | None) -> tuple[int, dict[str, str], list[str], bytes]:
    """The HTTP answer for the function's result: (status, headers, Set-Cookie values, body).

    A dict with ``statusCode`` is a response structure; any other JSON value
    is a 200 ``application/json`` body, as Lambda infers for function URLs; an
    error (or an unusable structure) is a 502."""
    bad = (502, {"Content-Type": "application/json"}, [], INTERNAL_ERROR)
    if function_error is not None:
        return bad
    try:
        value = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        return bad
    if not (isinstance(value, dict) and "statusCode" in value):
        return 200, {"Content-Type": "application/json"}, [], payload
    status = value.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return bad
    raw_headers = {} if value.get("headers") is None else value["headers"]
    cookies = [] if value.get("cookies") is None else value["cookies"]
    if not isinstance(raw_headers, dict) or not isinstance(cookies, list):
        return bad
    headers = {k: _header_value(v) for k, v in raw_headers.items() if _TOKEN.fullmatch(str(k))}
    content_type = next((k for k in headers if k.lower() == "content-type"), None)
    headers["Content-Type"] = headers.pop(content_type) if content_type else "application/json"
    body = value.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if value.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                return bad
        else:
            data = body.encode()
    else:
        data = orjson.dumps(body)
    return status, headers, [_header_value(c) for c in cookies], data


def cors_headers(cors: Mapping[str, Any] | None, request_headers: Mapping[str, str], *,
                 preflight: bool) -> dict[str, str]:
    """The CORS headers Lambda adds for a URL's Cors config (none without one,
    or when the request's Origin is not allowed)."""
    origin = request_headers.get("origin")
    if not cors or origin is None:
        return {}
    allowed = cors.get("AllowOrigins") or []
    if "*" in allowed and not cors.get("AllowCredentials"):
        allow_origin = "*"
    elif origin in allowed or "*" in allowed:
        allow_origin = origin
    else:
        return {}
    out = {"Access-Control-Allow-Origin": allow_origin}
    if allow_origin != "*":
        out["Vary"] = "Origin"
    if cors.get("AllowCredentials"):
        out["Access-Control-Allow-Credentials"] = "true"
    if preflight:
        if cors.get("AllowMethods"):
            out["Access-Control-Allow-Methods"] = ",".join(cors["AllowMethods"])
        if cors.get("AllowHeaders"):
            out["Access-Control-Allow-Headers"] = ",".join(cors["AllowHeaders"])
        if "MaxAge" in cors:
            out["Access-Control-Max-Age"] = str(cors["MaxAge"])
    elif cors.get("ExposeHeaders"):
        out["Access-Control-Expose-Headers"] = ",".join(cors["ExposeHeaders"])
    return out


# ----------------------------------------------------------------- the router's side

class FunctionUrls:
    """The URL config API and the URLs themselves, on the Lambda API's records."""

    def __init__(self, api: Any) -> None:
        """``api``: the `router.lambda_api.LambdaApi` (which imports this module):
        its records, commits, runtime and answers (``api.json``, ``api.rest``)."""
        self.api = api
        self._by_id: dict[str, str] = {}
        self._by_id_version = -1

    # --- configuration API ----------------------------------------------------

    def route(self, method: str, path: str):
        """``/2021-10-31/functions/NAME/url`` and ``.../urls``: (handler, name) or None."""
        name, _, what = path[len(CONFIG_PREFIX):].strip("/").partition("/")
        if what == "urls":
            handler = self.list if method == "GET" else None
        elif what == "url":
            handler = {"POST": self.create, "GET": self.get, "PUT": self.update, "DELETE": self.delete}.get(method)
        else:
            handler = None
        return None if handler is None or not name else (handler, unquote(name))

    def _config(self, name: str) -> dict[str, Any]:
        entry = self.api.cluster.state.functions.get(name)
        if entry is None:
            raise model.not_found(name, self.api.region)
        if not entry.get("url"):
            raise no_config(name, self.api.region)
        return entry["url"]

    async def _write(self, name: str, mode: str, config: dict | None) -> None:
        result = await self.api._commit("put_function_url", {"name": name, "mode": mode, "url": config})
        if not result.get("ok"):
            if result.get("error") == "ResourceConflictException":
                raise exists(name, self.api.region)
            if result.get("error") == "NoFunction":
                raise model.not_found(name, self.api.region)
            raise no_config(name, self.api.region)

    def _view(self, name: str, config: dict, headers: dict, created_only: bool = False) -> dict:
        return config_view(config, name=name, region=self.api.region,
                           host=headers.get("host") or self.api.endpoint, created_only=created_only)

    async def create(self, given: str, query: dict, headers: dict, raw: bytes) -> Any:
        name = self.api._name(given, query)
        body = self.api._body(raw)
        config = check_config(body)
        self.api._entry(name)
        if self.api.cluster.state.functions[name].get("url"):
            raise exists(name, self.api.region)
        now = _iso(time.time())
        config.update(UrlId=new_url_id(), CreationTime=now, LastModifiedTime=now)
        await self._write(name, "create", config)
        return self.api.json(201, self._view(name, config, headers, created_only=True))

    async def get(self, given: str, query: dict, headers: dict, raw: bytes) -> Any:
        name = self.api._name(given, query)
        return self.api.json(200, self._view(name, self._config(name), headers))

    async def update(self, given: str, query: dict, headers: dict, raw: bytes) -> Any:
        name = self.api._name(given, query)
        body = self.api._body(raw)
        config = check_config(body, self._config(name))
        config["LastModifiedTime"] = _iso(time.time())
        await self._write(name, "update", config)
        return self.api.json(200, self._view(name, config, headers))

    async def delete(self, given: str, query: dict, headers: dict, raw: bytes) -> Any:
        name = self.api._name(given, query)
        self._config(name)
        await self._write(name, "delete", None)
        return self.api.rest(204)

    async def list(self, given: str, query: dict, headers: dict, raw: bytes) -> Any:
        name = self.api._name(given, query)
        self.api._entry(name)
        entry = self.api.cluster.state.functions[name]
        configs = [self._view(name, entry["url"], headers)] if entry.get("url") else []
        return self.api.json(200, {"FunctionUrlConfigs": configs})  # one URL per function: never a NextMarker

    # --- serving ----------------------------------------------------------------

    def _function_of(self, url_id: str) -> str | None:
        state = self.api.cluster.state
        if state.version != self._by_id_version:
            self._by_id = {e["url"]["UrlId"]: n for n, e in state.functions.items() if e.get("url")}
            self._by_id_version = state.version
        return self._by_id.get(url_id)

    def private_function(self, url: str) -> str | None:
        """The function's ARN when the URL ``url`` (under SERVE_PREFIX) has AuthType AWS_IAM, else None."""
        url_id = url[len(SERVE_PREFIX):].partition("/")[0].partition("?")[0]
        name = self._function_of(url_id)
        if name is None or self.api.cluster.state.functions[name]["url"].get("AuthType") != "AWS_IAM":
            return None
        return model.function_arn(name, self.api.region)

    async def serve(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Any:
        """A request to a function's URL: the function's answer as HTTP."""
        api = self.api
        url_id, slash, rest = url[len(SERVE_PREFIX):].partition("/")
        url_id, _, query = url_id.partition("?")
        rest = "/" + rest if slash else "/" + (f"?{query}" if query else "")
        name = self._function_of(url_id)
        if name is None:
            return api.rest(403, b'{"Message":"Forbidden"}', {"Content-Type": "application/json"}, cors=False)
        fn, key = api._entry(name)
        cors = api.cluster.state.functions[name]["url"].get("Cors")
        if method == "OPTIONS" and cors and "origin" in headers and "access-control-request-method" in headers:
            return api.rest(200, b"", cors_headers(cors, headers, preflight=True), cors=False)
        request_id = str(uuid.uuid4())
        now = time.time()
        event = build_event(method=method, url=rest, headers=headers, body=body, url_id=url_id,
                            region=api.region, request_id=request_id, now=now)
        zip_bytes = None if api.runtime.has_code(fn.code_sha256) else await api.code.get(key, fn.code_size)
        result = await api.runtime.invoke(fn, orjson.dumps(event), zip_bytes=zip_bytes, request_id=request_id)
        status, out_headers, cookies, data = http_response(result.payload, result.function_error)
        out_headers = {k: v for k, v in out_headers.items()
                       if not (cors and k.lower().startswith("access-control-"))}
        out_headers.update(cors_headers(cors, headers, preflight=False))
        if method == "HEAD":
            data = b""
        return api.rest(status, data, out_headers, request_id=request_id, cors=False,
                        lines=[("Set-Cookie", c) for c in cookies])
