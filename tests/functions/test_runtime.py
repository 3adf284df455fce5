"""The worker runtime, with real worker processes: results, errors, limits, logs, warm reuse, concurrency."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import textwrap
import time
import zipfile
from pathlib import Path
from typing import AsyncIterator

import pytest

from functions import model
from functions.runtime import FunctionRuntime

REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:8000"


def make_function(source: str, *, name: str = "fn", handler: str = "app.handler", **over) -> tuple[model.Function, bytes]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", textwrap.dedent(source))
    body = {"FunctionName": name, "Runtime": "python3.11", "Role": "arn:aws:iam::123456789012:role/r",
            "Handler": handler, "Code": {"ZipFile": buf.getvalue()}, **over}
    return model.create_function(body, now=time.time(), region=REGION)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.asynccontextmanager
async def runtime(tmp_path: Path, **kw) -> AsyncIterator[FunctionRuntime]:
    rt = FunctionRuntime(code_dir=tmp_path / "code", log_dir=tmp_path / "logs", endpoint_url=ENDPOINT,
                         region=REGION, **kw)
    try:
        yield rt
    finally:
        await rt.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


PID_HANDLER = """
import os
def handler(event, context):
    return os.getpid()
"""


def test_a_value_the_context_and_the_environment(tmp_path):
    fn, zb = make_function("""
        import os
        import boto3
        def handler(event, context):
            return {
                "event": event,
                "context": [context.function_name, context.function_version, context.invoked_function_arn,
                            context.memory_limit_in_mb, context.aws_request_id, context.log_group_name,
                            context.log_stream_name],
                "remaining": context.get_remaining_time_in_millis(),
                "env": {k: os.environ.get(k) for k in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_ENDPOINT_URL",
                        "LAMBDA_TASK_ROOT", "_HANDLER", "TABLE", "AWS_ACCESS_KEY_ID"]},
                "cwd": os.getcwd(),
                "endpoint": boto3.client("dynamodb").meta.endpoint_url,
            }
    """, Environment={"Variables": {"TABLE": "orders"}}, MemorySize=256, Timeout=5)

    async def go():
        async with runtime(tmp_path) as rt:
            return await rt.invoke(fn, b'{"id": 7}', zip_bytes=zb, request_id="req-1")

    result = run(go())
    assert result.function_error is None, result.payload
    out = json.loads(result.payload)
    assert out["event"] == {"id": 7}
    name, version, arn, memory, request_id, group, stream = out["context"]
    assert (name, version, arn, memory, request_id, group) == (
        "fn", "$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:fn", "256", "req-1", "/aws/lambda/fn")
    assert "[$LATEST]" in stream
    assert 0 < out["remaining"] <= 5000
    env = out["env"]
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"], env["AWS_LAMBDA_FUNCTION_NAME"]) == (REGION, REGION, "fn")
    assert (env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], env["AWS_LAMBDA_FUNCTION_VERSION"]) == ("256", "$LATEST")
    assert (env["AWS_ENDPOINT_URL"], env["_HANDLER"], env["TABLE"]) == (ENDPOINT, "app.handler", "orders")
    assert env["AWS_ACCESS_KEY_ID"] and env["LAMBDA_TASK_ROOT"] == out["cwd"]
    assert out["endpoint"] == ENDPOINT  # boto3 inside a handler reaches the cluster unchanged


def test_a_warm_worker_is_reused_and_a_new_revision_gets_a_fresh_one(tmp_path):
    fn, zb = make_function(PID_HANDLER)

    async def go():
        async with runtime(tmp_path) as rt:
            first = json.loads((await rt.invoke(fn, b"{}", zip_bytes=zb)).payload)
            second = json.loads((await rt.invoke(fn, b"{}")).payload)
            updated = model.update_function_configuration(fn, {"Timeout": 4}, now=time.time() + 1)
            third = json.loads((await rt.invoke(updated, b"{}")).payload)
            return first, second, third

    first, second, third = run(go())
    assert first == second and third != first
    assert not alive(first) and not alive(third)  # stopped: retired, then closed


def test_a_worker_that_died_idle_is_replaced_without_an_error(tmp_path):
    fn, zb = make_function(PID_HANDLER)

    async def go():
        async with runtime(tmp_path) as rt:
            pid = json.loads((await rt.invoke(fn, b"{}", zip_bytes=zb)).payload)
            os.kill(pid, 9)
            again = await rt.invoke(fn, b"{}")
            return pid, again

    pid, again = run(go())
    assert again.function_error is None and json.loads(again.payload) != pid


def test_a_raising_handler_answers_aws_error_payload(tmp_path):
    fn, zb = make_function("""
        def handler(event, context):
            raise ValueError("boom")
    """)

    async def go():
        async with runtime(tmp_path) as rt:
            return await rt.invoke(fn, b"{}", zip_bytes=zb)

    result = run(go())
    assert result.function_error == "Unhandled" and result.status == "error"
    err = json.loads(result.payload)
    assert (err["errorMessage"], err["errorType"], err["requestId"]) == ("boom", "ValueError", result.request_id)
    assert len(err["stackTrace"]) == 1 and 'app.py", line 3, in handler' in err["stackTrace"][0]
    tail = result.log_tail.decode()
    assert "[ERROR] ValueError: boom\nTraceback (most recent call last):" in tail
    assert "Status: error\tError Type: ValueError" in tail


def test_a_handler_past_its_timeout_is_killed_and_replaced(tmp_path):
    fn, zb = make_function("""
        import os
        def handler(event, context):
            if event.get("loop"):
                print("looping", flush=True)
                while True:
                    pass
            return os.getpid()
    """, Timeout=1)

    async def go():
        async with runtime(tmp_path) as rt:
            pid = json.loads((await rt.invoke(fn, b"{}", zip_bytes=zb)).payload)
            timed_out = await rt.invoke(fn, b'{"loop": true}')
            gone = not alive(pid)
            after = json.loads((await rt.invoke(fn, b"{}")).payload)
            return pid, timed_out, gone, after

    pid, result, gone, after = run(go())
    assert result.status == "timeout" and result.function_error == "Unhandled"
    err = json.loads(result.payload)
    assert err["errorType"] == "Sandbox.Timedout"
    assert err["errorMessage"] == f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds"
    assert result.duration_ms >= 1000
    tail = result.log_tail.decode()
    assert "looping" in tail and f"{result.request_id} Task timed out after 1.00 seconds" in tail
    assert "Status: timeout" in tail
    assert gone and after != pid


def test_a_handler_exhausting_memory_fails_and_its_worker_is_replaced(tmp_path):
    fn, zb = make_function("""
        import os
        def handler(event, context):
            if event.get("hog"):
                hog = [bytearray(16 * 1024 * 1024) for _ in range(1000)]  # 16 GB, far past 128 MB
            if event.get("fits"):
                fits = bytearray(100 * 1024 * 1024)  # within the function's MemorySize
            return os.getpid()
    """)

    async def go():
        async with runtime(tmp_path) as rt:
            pid = json.loads((await rt.invoke(fn, b'{"fits": true}', zip_bytes=zb)).payload)
            hog = await rt.invoke(fn, b'{"hog": true}')
            after = json.loads((await rt.invoke(fn, b"{}")).payload)
            return pid, hog, after

    pid, result, after = run(go())
    assert result.function_error == "Unhandled"
    err = json.loads(result.payload)
    assert err["errorType"] == "Runtime.OutOfMemory"
    assert "Error Type: Runtime.OutOfMemory" in result.log_tail.decode()
    assert after != pid and not alive(pid)


@pytest.mark.parametrize("call, message", [
    ("os._exit(3)", "Runtime exited with error: exit status 3"),
    ("sys.exit(0)", "Runtime exited without providing a reason"),
    ("os.kill(os.getpid(), 9)", "Runtime exited with error: signal: killed"),
])
def test_a_handler_that_exits_answers_exit_error(tmp_path, call, message):
    fn, zb = make_function(f"""
        import os, sys
        def handler(event, context):
            print("leaving", flush=True)
            {call}
    """)

    async def go():
        async with runtime(tmp_path) as rt:
            failed = await rt.invoke(fn, b"{}", zip_bytes=zb)
            fixed, zb2 = make_function(PID_HANDLER)
            again = await rt.invoke(fixed, b"{}", zip_bytes=zb2)
            return failed, again

    result, again = run(go())
    err = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert err == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {result.request_id} Error: {message}"}
    assert "leaving" in result.log_tail.decode()
    assert again.function_error is None


def test_output_and_logging_go_to_the_function_log_and_the_tail(tmp_path):
    fn, zb = make_function("""
        import logging, sys
        logger = logging.getLogger()
        print("cold start")
        def handler(event, context):
            print("to stdout")
            print("to stderr", file=sys.stderr)
            logger.info("hidden: the root level is WARNING, as in Lambda")
            logger.warning("a warning")
            print("x" * 10000)
            print("last line")
            return None
    """)

    async def go():
        async with runtime(tmp_path) as rt:
            result = await rt.invoke(fn, b"{}", zip_bytes=zb)
            return result, rt.log_path("fn").read_text()

    result, log = run(go())
    assert result.payload == b"null"
    rid = result.request_id
    lines = log.splitlines()
    assert lines[0] == "cold start" and lines[1] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[2:4] == ["to stdout", "to stderr"]
    assert lines[4].startswith("[WARNING]\t") and lines[4].endswith(f"\t{rid}\ta warning")
    assert "hidden" not in log
    assert lines[-3:-1] == ["last line", f"END RequestId: {rid}"]
    report = lines[-1].split("\t")
    assert report[0] == f"REPORT RequestId: {rid}"
    assert [f.split(":")[0] for f in report[1:6]] == ["Duration", "Billed Duration", "Memory Size",
                                                      "Max Memory Used", "Init Duration"]
    assert report[3] == "Memory Size: 128 MB"
    assert len(result.log_tail) == 4096 and log.encode().endswith(result.log_tail)
    assert base64.b64decode(base64.b64encode(result.log_tail)) == result.log_tail


@pytest.mark.parametrize("source, handler, error_type, message", [
    (PID_HANDLER, "nomodule.handler", "Runtime.ImportModuleError",
     "Unable to import module 'nomodule': No module named 'nomodule'"),
    (PID_HANDLER, "app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
    (PID_HANDLER, "app", "Runtime.MalformedHandlerName",
     "Bad handler 'app': not enough values to unpack (expected 2, got 1)"),
    ("def handler(e, c) return 1\n", "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
    ("def handler(e, c):\n    return {1, 2}\n", "app.handler", "Runtime.MarshalError",
     "Unable to marshal response: Object of type set is not JSON serializable"),
])
def test_init_and_marshal_errors(tmp_path, source, handler, error_type, message):
    fn, zb = make_function(source, handler=handler)

    async def go():
        async with runtime(tmp_path) as rt:
            return await rt.invoke(fn, b"{}", zip_bytes=zb)

    result = run(go())
    err = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert err["errorType"] == error_type and err["errorMessage"].startswith(message)
    assert f"[ERROR] {error_type}: {message}" in result.log_tail.decode()


def test_a_module_that_exits_while_imported_answers_exit_error(tmp_path):
    fn, zb = make_function("""
        import os
        print("importing", flush=True)
        os._exit(2)
    """)

    async def go():
        async with runtime(tmp_path) as rt:
            return await rt.invoke(fn, b"{}", zip_bytes=zb)

    result = run(go())
    err = json.loads(result.payload)
    assert result.function_error == "Unhandled" and err["errorType"] == "Runtime.ExitError"
    assert err["errorMessage"] == f"RequestId: {result.request_id} Error: Runtime exited with error: exit status 2"
    tail = result.log_tail.decode()
    assert tail.index("importing") < tail.index("START RequestId") < tail.index("REPORT RequestId")


def test_concurrent_invocations_use_several_workers_within_the_bound(tmp_path):
    # Each invocation waits (up to 5 s) until two are running at once: run one at a time, they would fail.
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    fn, zb = make_function(f"""
        import os, time
        def handler(event, context):
            open(os.path.join({str(barrier)!r}, str(os.getpid())), "w").close()
            deadline = time.time() + 5
            while len(os.listdir({str(barrier)!r})) < 2:
                if time.time() > deadline:
                    raise RuntimeError("alone")
                time.sleep(0.01)
            return os.getpid()
    """, Timeout=10)

    async def go():
        async with runtime(tmp_path, max_concurrency=2) as rt:
            # Three at once, two workers at most: the third waits for a free one and reuses it.
            results = await asyncio.gather(*(rt.invoke(fn, b"{}", zip_bytes=zb) for _ in range(3)))
            return results, len(rt._idle["fn"])

    results, idle = run(go())
    pids = [json.loads(r.payload) for r in results]
    assert all(r.function_error is None for r in results), [r.payload for r in results]
    assert len(set(pids)) == 2 and idle == 2


def test_idle_workers_are_bounded(tmp_path):
    a, za = make_function(PID_HANDLER, name="a")
    b, zb = make_function(PID_HANDLER, name="b")

    async def go():
        async with runtime(tmp_path, max_idle=1) as rt:
            pa = json.loads((await rt.invoke(a, b"{}", zip_bytes=za)).payload)
            pb = json.loads((await rt.invoke(b, b"{}", zip_bytes=zb)).payload)
            return pa, pb, alive(pa), alive(pb)

    pa, pb, a_alive, b_alive = run(go())
    assert not a_alive and b_alive  # the least recently used idle worker was stopped
