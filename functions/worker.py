"""The worker: one Lambda execution environment, run as ``python -m functions.worker``.

It imports the user's handler from LAMBDA_TASK_ROOT and calls it once per
request, as Lambda's Python runtime interface client does: same context object,
same error payloads, same log format. It uses the standard library only, so a
handler's namespace holds nothing of Trireme but this module.

Wire (with the host, `functions/runtime.py`): requests are JSON lines on stdin;
everything the process writes to stdout and stderr is the function's log, and
each answer is a frame in that same stream, ``\\x1e<token> <length>\\n<json>``,
written after the handler's output is flushed, so the host knows which output
belongs to which request. A request is acknowledged (a frame) before the
handler runs: a worker that died idle is told apart from a handler that exited. The token is random per worker and comes in the first
line, not in the environment the handler reads.

Memory: RLIMIT_AS is the address space mapped once the interpreter is up, plus
the function's MemorySize, plus `STACK_SLACK` for the thread stacks a handler
may start (each reserves address space it rarely uses). A handler that goes
past it gets MemoryError; the worker then answers Runtime.OutOfMemory and exits,
as Lambda recycles an environment that ran out of memory. The host process is
another process and never affected.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
from typing import Any

STACK_SLACK_MB = 64
MB = 1024 * 1024


class LambdaContext:
    """The context object of Lambda's Python runtime (attribute names and types as AWS's)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id: str = request["request_id"]
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.function_name: str = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version: str = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb: str = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name: str = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name: str = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, msg: str) -> None:
        sys.stdout.write(msg)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_logging() -> _RequestIdFilter:
    """The root logger's handler, formatted as Lambda's (the root level stays WARNING, as there)."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"))
    ids = _RequestIdFilter()
    handler.addFilter(ids)
    logging.getLogger().addHandler(handler)
    return ids


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_memory(memory_mb: int) -> None:
    limit = _vm_size() + (memory_mb + STACK_SLACK_MB) * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if the host dies, even mid-handler."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _max_memory_mb() -> int:
    return -(-resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


def _error(error_type: str, message: str, request_id: str, frames: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": frames or []}


def _log_error(err: dict[str, Any]) -> None:
    trace = "".join(err["stackTrace"])
    text = f"[ERROR] {err['errorType']}: {err['errorMessage']}"
    if trace:
        text += "\nTraceback (most recent call last):\n" + trace.rstrip("\n")
    print(text, flush=True)


class Worker:
    def __init__(self, control_in: Any, control_out: int, token: str) -> None:
        self.control_in = control_in
        self.control_out = control_out
        self.token = token.encode()
        self.ids = _install_logging()
        self.handler: Any = None

    def answer(self, frame: dict[str, Any]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        data = json.dumps(frame).encode()
        out = b"\x1e" + self.token + b" " + str(len(data)).encode() + b"\n" + data
        while out:
            out = out[os.write(self.control_out, out):]

    def init(self) -> dict[str, Any] | None:
        """Import the handler (Lambda's init phase); an error payload if that fails."""
        spec = os.environ["_HANDLER"]
        try:
            modname, fname = spec.rsplit(".", 1)
        except ValueError as e:
            return _error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}", "")
        modname = modname.replace("/", ".")
        try:
            module = importlib.import_module(modname)
        except ImportError as e:
            return _error("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}", "")
        except SyntaxError as e:
            return _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", "",
                          traceback.format_list(traceback.extract_tb(e.__traceback__)[1:]))
        except MemoryError:
            return _error("Runtime.OutOfMemory", "Runtime exited with error: out of memory", "")
        except Exception as e:  # noqa: BLE001 - a module's own failure is the user's init error
            return _error(type(e).__name__, str(e), "", traceback.format_list(traceback.extract_tb(e.__traceback__)[1:]))
        self.handler = getattr(module, fname, None)
        if self.handler is None:
            return _error("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'", "")
        return None

    def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id = request["request_id"]
        self.ids.request_id = request_id
        try:
            event = json.loads(request["event"])
            result = self.handler(event, LambdaContext(request))
        except MemoryError:
            err = _error("Runtime.OutOfMemory", "Runtime exited with error: out of memory", request_id)
            return {"ok": False, "payload": json.dumps(err), "errorType": err["errorType"], "exit": True}
        except Exception as e:  # noqa: BLE001 - the handler's exception is the invocation's answer
            frames = traceback.format_list(traceback.extract_tb(e.__traceback__)[1:])
            err = _error(type(e).__name__, str(e), request_id, frames)
            _log_error(err)
            return {"ok": False, "payload": json.dumps(err), "errorType": err["errorType"]}
        finally:
            self.ids.request_id = ""
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as e:
            err = _error("Runtime.MarshalError", f"Unable to marshal response: {e}", request_id)
            _log_error(err)
            return {"ok": False, "payload": json.dumps(err), "errorType": err["errorType"]}
        return {"ok": True, "payload": payload}

    def serve(self) -> None:
        init_started = time.monotonic()
        err = self.init()
        init_ms = (time.monotonic() - init_started) * 1000
        if err is not None:
            _log_error(err)
        self.answer({"init_ms": init_ms, "error": err, "max_memory_mb": _max_memory_mb()})
        if err is not None:
            return  # Lambda starts a fresh environment after a failed init
        for line in self.control_in:
            request = json.loads(line)
            self.answer({"received": request["request_id"]})
            frame = self.invoke(request)
            frame["max_memory_mb"] = _max_memory_mb()
            self.answer(frame)
            if frame.get("exit"):
                return


def main() -> None:
    _die_with_parent()
    control_in = os.fdopen(os.dup(0), "rb")
    control_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the handler's stdin reads nothing, as Lambda's
    os.close(devnull)
    setup = json.loads(control_in.readline())
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    # The handler's imports resolve in its package first; Trireme's own source tree is not on its path.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [task_root] + [p for p in sys.path if p and os.path.abspath(p) != here]
    sys.modules.pop("functions", None)
    os.chdir(task_root)
    _limit_memory(int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]))
    Worker(control_in, control_out, setup["token"]).serve()


if __name__ == "__main__":
    main()
