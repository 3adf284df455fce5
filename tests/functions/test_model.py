"""The Lambda API model: names, limits, defaults, messages and the shapes answered."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions import model
from functions.errors import (InvalidParameterValueException, InvalidRequestContentException,
                              PreconditionFailedException, RequestEntityTooLargeException, RequestTooLargeException,
                              ResourceConflictException, ResourceNotFoundException, ValidationException)

REGION = "us-east-1"
ACCOUNT = model.DEFAULT_ACCOUNT
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


ZIP = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def body(**over):
    b = {"FunctionName": "fn", "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
         "Code": {"ZipFile": ZIP}}
    b.update(over)
    return b


def create(**over):
    return model.create_function(body(**over), now=1_700_000_000.123, region=REGION)


# ------------------------------------------------------------- names

names = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)


@given(names)
def test_every_form_of_a_name_resolves_to_it(name):
    arn = model.function_arn(name, REGION)
    for given_ in (name, f"{ACCOUNT}:function:{name}", arn, f"{arn}:$LATEST"):
        assert model.parse_function_name(given_, REGION).name == name


@given(st.text(min_size=1, max_size=70).filter(lambda s: not re.fullmatch(r"[a-zA-Z0-9_-]+", s)))
@settings(max_examples=60)
def test_other_characters_are_a_validation_error(text):
    # Any text the model's pattern rejects; a colon may still parse as a qualified name.
    try:
        ref = model.parse_function_name(text, REGION)
    except (ValidationException, ResourceNotFoundException):
        return
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", ref.name) and ref.name in text


def test_a_name_longer_than_64_is_refused():
    with pytest.raises(ValidationException, match="at 'functionName' .*less than or equal to 64"):
        model.parse_function_name("a" * 65, REGION)
    with pytest.raises(ValidationException, match="regular expression pattern"):
        model.parse_function_name("my function", REGION)


def test_another_regions_function_is_not_found():
    with pytest.raises(ResourceNotFoundException):
        model.parse_function_name("arn:aws:lambda:eu-west-1:000000000000:function:fn", REGION)


def test_only_latest_is_kept():
    ref = model.parse_function_name("fn:7", REGION)
    with pytest.raises(ResourceNotFoundException, match=r"Function not found: arn:aws:lambda:us-east-1:"
                                                        r"000000000000:function:fn:7"):
        model.latest_only(ref, REGION)
    assert model.latest_only(model.parse_function_name("fn:$LATEST", REGION), REGION) == "fn"


def test_not_found_and_conflict_messages_and_wire():
    e = model.not_found("fn", REGION)
    assert e.message == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert (e.status, e.headers()["x-amzn-ErrorType"], e.wire_body()) == (
        404, "ResourceNotFoundException", {"Type": "User", "Message": e.message})
    c = model.already_exists("fn")
    assert (c.status, c.wire_body()) == (409, {"Type": "User", "message": "Function already exist: fn"})
    v = ValidationException("x")
    assert v.wire_body() == {"message": "x"} and v.status == 400


# ------------------------------------------------------------- CreateFunction

def test_create_defaults_and_configuration_shape():
    fn, zip_bytes = create()
    assert zip_bytes == ZIP
    conf = fn.configuration(REGION)
    assert conf["FunctionName"] == "fn"
    assert conf["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert (conf["Timeout"], conf["MemorySize"], conf["Version"]) == (3, 128, "$LATEST")
    assert conf["CodeSha256"] == base64.b64encode(hashlib.sha256(ZIP).digest()).decode()
    assert conf["CodeSize"] == len(ZIP)
    assert conf["LastModified"] == "2023-11-14T22:13:20.123+0000"
    assert (conf["State"], conf["LastUpdateStatus"], conf["PackageType"]) == ("Active", "Successful", "Zip")
    assert conf["Architectures"] == ["x86_64"]
    assert conf["LoggingConfig"]["LogGroup"] == "/aws/lambda/fn"
    assert "Environment" not in conf
    assert re.fullmatch(r"[0-9a-f-]{36}", conf["RevisionId"])


def test_a_record_round_trips():
    fn, _ = create(Environment={"Variables": {"AA": "1"}}, Architectures=["arm64"])
    rec = json.loads(json.dumps(fn.to_record()))
    assert model.Function.from_record(rec) == fn


@pytest.mark.parametrize("over, member", [
    ({"Timeout": 0}, "'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"),
    ({"Timeout": 901}, "'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
    ({"MemorySize": 127}, "'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"),
    ({"MemorySize": 10241}, "'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"),
    ({"Role": "nope"}, "'role' failed to satisfy constraint: Member must satisfy regular expression pattern"),
    ({"Description": "d" * 257}, "'description' failed to satisfy constraint: Member must have length less"),
    ({"Handler": "a b"}, "'handler' failed to satisfy constraint"),
    ({"Runtime": "python9"}, "'runtime' failed to satisfy constraint: Member must satisfy enum value set"),
])
def test_constraints_are_validation_errors(over, member):
    with pytest.raises(ValidationException, match="1 validation error detected: Value '.*' at " + re.escape(member)):
        create(**over)


def test_several_violations_are_reported_together():
    with pytest.raises(ValidationException, match="^2 validation errors detected: .*timeout.*; .*memorySize"):
        create(Timeout=0, MemorySize=1)


@given(timeout=st.integers(1, 900), memory=st.integers(128, 10240))
def test_every_bound_value_is_accepted(timeout, memory):
    fn, _ = create(Timeout=timeout, MemorySize=memory)
    assert (fn.timeout, fn.memory_size) == (timeout, memory)


@pytest.mark.parametrize("runtime", model.PYTHON_RUNTIMES)
def test_python_runtimes_are_accepted(runtime):
    assert create(Runtime=runtime)[0].runtime == runtime


def test_blocked_and_foreign_runtimes_are_invalid_parameters():
    with pytest.raises(InvalidParameterValueException,
                       match=r"The runtime parameter of python3.8 is no longer supported for creating or updating "
                             r"AWS Lambda functions\. We recommend you use the new runtime \(python3.14\)"):
        create(Runtime="python3.8")
    with pytest.raises(InvalidParameterValueException, match="The runtime parameter of nodejs20.x is not supported"):
        create(Runtime="nodejs20.x")


def test_runtime_and_handler_are_mandatory():
    for missing in ("Runtime", "Handler"):
        b = body()
        del b[missing]
        with pytest.raises(InvalidParameterValueException, match="Runtime and Handler are mandatory parameters"):
            model.create_function(b, now=0, region=REGION)


def test_wrong_types_are_invalid_parameters():
    with pytest.raises(InvalidParameterValueException, match="Invalid type for parameter Timeout"):
        create(Timeout="3")
    with pytest.raises(InvalidParameterValueException, match="Invalid type for parameter MemorySize"):
        create(MemorySize=True)


def test_environment_rules():
    fn, _ = create(Environment={"Variables": {"TABLE": "t", "a_1": "x"}})
    assert fn.configuration(REGION)["Environment"] == {"Variables": {"TABLE": "t", "a_1": "x"}}
    with pytest.raises(InvalidParameterValueException, match=r"contains reserved keys that are currently not "
                                                             r"supported for modification\. Reserved keys used in "
                                                             r"this request: AWS_REGION"):
        create(Environment={"Variables": {"AWS_REGION": "x"}})
    with pytest.raises(ValidationException, match=r"Value at 'environment.variables' failed to satisfy constraint: "
                                                  r"Map keys must satisfy constraint"):
        create(Environment={"Variables": {"1A": "x"}})
    with pytest.raises(ValidationException):  # a key has two characters at least
        create(Environment={"Variables": {"A": "x"}})
    with pytest.raises(InvalidParameterValueException, match="exceeded the 4KB limit. String measured: "):
        create(Environment={"Variables": {"BIG": "x" * 4096}})


@given(st.dictionaries(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{1,20}", fullmatch=True), st.text(max_size=40),
                       max_size=8))
@settings(max_examples=60)
def test_valid_environments_are_kept_as_given(variables):
    if any(k in model.RESERVED_ENV for k in variables):
        return
    fn, _ = create(Environment={"Variables": variables})
    assert dict(fn.environment) == variables


def test_code_rules():
    with pytest.raises(InvalidParameterValueException, match="Could not unzip uploaded file"):
        create(Code={"ZipFile": b"not a zip"})
    with pytest.raises(InvalidParameterValueException, match="Could not unzip uploaded file"):
        create(Code={"ZipFile": make_zip({"../evil.py": "x"})})
    with pytest.raises(InvalidParameterValueException, match="Please provide a source for function code"):
        create(Code={})
    with pytest.raises(InvalidParameterValueException, match="ZipFile only"):
        create(Code={"S3Bucket": "b", "S3Key": "k"})
    with pytest.raises(RequestEntityTooLargeException,
                       match="Request must be smaller than 69905067 bytes for the CreateFunction operation") as e:
        create(Code={"ZipFile": b"\0" * (model.ZIP_MAX + 1)})
    assert e.value.status == 413


def test_unzipped_size_is_bounded(monkeypatch):
    assert model.UNZIPPED_MAX == 262144000  # Lambda's bound; lowered below to keep the test small
    monkeypatch.setattr(model, "UNZIPPED_MAX", 1000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 1001)
    with pytest.raises(InvalidParameterValueException, match="Unzipped size must be smaller than 1000 bytes"):
        create(Code={"ZipFile": buf.getvalue()})


# ------------------------------------------------------------- updates, get, list

def test_update_code_changes_digest_and_revision():
    fn, _ = create()
    new_zip = make_zip({"app.py": "def handler(e, c):\n    return 2\n"})
    updated, zip_bytes = model.update_function_code(fn, {"ZipFile": new_zip}, now=1_700_000_100)
    assert zip_bytes == new_zip and updated.code_sha256 == model.code_sha256(new_zip)
    assert updated.revision_id != fn.revision_id and updated.handler == fn.handler
    with pytest.raises(PreconditionFailedException):
        model.update_function_code(fn, {"ZipFile": new_zip, "RevisionId": "other"}, now=0)


def test_update_configuration_replaces_given_members_only():
    fn, _ = create(Environment={"Variables": {"AA": "1"}}, Timeout=10)
    updated = model.update_function_configuration(fn, {"MemorySize": 256, "Environment": {"Variables": {"BB": "2"}}},
                                                  now=1_700_000_100)
    assert (updated.memory_size, updated.timeout, dict(updated.environment)) == (256, 10, {"BB": "2"})
    with pytest.raises(ValidationException):
        model.update_function_configuration(fn, {"Timeout": 1000}, now=0)


def test_get_function_shape():
    fn, _ = create()
    out = model.get_function(fn, region=REGION, code_location="http://localhost:8000/code/fn")
    assert out["Configuration"] == fn.configuration(REGION)
    assert out["Code"] == {"RepositoryType": "S3", "Location": "http://localhost:8000/code/fn"}


@given(st.sets(names, max_size=20), st.integers(1, 7))
@settings(max_examples=25)
def test_list_pages_cover_every_function_once_in_order(all_names, page_size):
    fns = [create(FunctionName=n)[0] for n in all_names]
    seen, marker = [], None
    while True:
        page = model.list_functions(fns, region=REGION, marker=marker, max_items=page_size)
        assert len(page["Functions"]) <= page_size
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == sorted(all_names)


def test_list_max_items_bounds():
    with pytest.raises(ValidationException, match="'maxItems'"):
        model.list_functions([], region=REGION, max_items=0)


# ------------------------------------------------------------- Invoke

def test_invocation_checks():
    inv = model.check_invocation(None, None, b"")
    assert (inv.invocation_type, inv.log_type, inv.payload) == ("RequestResponse", "None", b"{}")
    with pytest.raises(InvalidRequestContentException, match="Could not parse request body into json"):
        model.check_invocation(None, None, b"{nope")
    with pytest.raises(ValidationException, match="'invocationType'"):
        model.check_invocation("Sync", None, b"{}")
    with pytest.raises(RequestTooLargeException, match="Request must be smaller than 6291456 bytes") as e:
        model.check_invocation("RequestResponse", None, b'"' + b"x" * model.SYNC_PAYLOAD_MAX + b'"')
    assert e.value.status == 413
    with pytest.raises(RequestTooLargeException, match="1048576"):
        model.check_invocation("Event", None, b'"' + b"x" * model.ASYNC_PAYLOAD_MAX + b'"')


def test_invoke_response_shapes():
    sync = model.check_invocation("RequestResponse", "Tail", b"{}")
    log = b"x" * 5000 + b"END"
    status, headers, payload = model.invoke_response(sync, payload=b'{"a":1}', function_error="Unhandled",
                                                     log_tail=log)
    assert (status, payload, headers["X-Amz-Function-Error"]) == (200, b'{"a":1}', "Unhandled")
    assert base64.b64decode(headers["X-Amz-Log-Result"]) == log[-4096:]
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    assert model.invoke_response(model.check_invocation("Event", None, b"{}"), payload=b"", function_error=None,
                                 log_tail=b"")[0] == 202
    assert model.invoke_response(model.check_invocation("DryRun", None, b"{}"), payload=b"", function_error=None,
                                 log_tail=b"")[0] == 204
