"""Runs functions' handlers in worker processes, as Lambda runs them in execution environments.

`FunctionRuntime.invoke` takes a function (`functions.model.Function`), its
event and, the first time its code is seen, the zip: the code is unpacked once
per CodeSha256 under ``code_dir``; a worker (``python -m functions.worker``,
`functions/worker.py`) is started with the function's environment, imports the
handler and answers invocations. Workers stay warm between invocations and are
reused; concurrent invocations of one function get one worker each, up to
``max_concurrency`` (more wait); at most ``max_idle`` idle workers are kept in
all, the least recently used stopped first. A worker that timed out, crashed,
exited or ran out of memory is discarded; the next invocation starts a fresh one.
A configuration or code change (a new RevisionId) retires the old workers.

Each function's log is a file ``log_dir/NAME.log`` with the lines CloudWatch
shows: the handler's output and logging, START/END/REPORT per invocation; the
last 4 KB of an invocation's lines come back for Invoke's ``LogType: Tail``.
Log lines are small appends to a local file, written from the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.model import DEFAULT_ACCOUNT, LATEST, Function, log_group

INIT_TIMEOUT = 10.0  # Lambda's bound on the init phase
TAIL_BYTES = 4096
LINE_MAX = 256 * 1024  # CloudWatch's largest log event
DRAIN_AFTER_KILL = 1.0
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # where ``-m functions.worker`` is found


@dataclass(frozen=True)
class InvokeResult:
    """One invocation's outcome, as Invoke answers it."""

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" when the handler (or its environment) failed
    log_tail: bytes
    duration_ms: float
    status: str  # "success", "error" or "timeout"


class _Log:
    """An invocation's log lines: appended to the function's file, the last 4 KB kept for the Tail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = b""
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_size = 0

    def output(self, data: bytes) -> None:
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        if cut:
            self._write(data[:cut])
        if len(self.partial) >= LINE_MAX:  # one endless line is cut into CloudWatch-sized events
            self.flush()

    def line(self, text: str) -> None:
        self.flush()
        self._write(text.encode() + b"\n")

    def flush(self) -> None:
        if self.partial:
            part, self.partial = self.partial, b""
            self._write(part + b"\n")

    def _write(self, data: bytes) -> None:
        with open(self.path, "ab") as f:
            f.write(data)
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail_size - len(self.tail[0]) >= TAIL_BYTES:
            self.tail_size -= len(self.tail.popleft())

    def last(self) -> bytes:
        return b"".join(self.tail)[-TAIL_BYTES:]


class _WorkerGone(Exception):
    """The worker's output ended: it exited or was killed."""


class _Worker:
    """One worker process and its half of the wire (see `functions/worker.py`)."""

    def __init__(self, proc: asyncio.subprocess.Process, token: bytes, revision: str, stream: str) -> None:
        self.proc = proc
        self.marker = b"\x1e" + token + b" "
        self.buf = bytearray()
        self.revision = revision
        self.stream = stream
        self.max_memory_mb = 0
        self.last_used = time.monotonic()

    @classmethod
    async def start(cls, python: str, env: dict[str, str], revision: str, stream: str) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            python, "-m", "functions.worker", cwd=str(SOURCE_ROOT), env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)  # its own process group: a kill takes whatever the handler started
        token = secrets.token_hex(16).encode()
        worker = cls(proc, token, revision, stream)
        await worker.send({"token": token.decode()})
        return worker

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def frame(self, log: _Log) -> dict[str, Any]:
        """The next answer; the output before it goes to ``log`` as it arrives."""
        assert self.proc.stdout is not None
        while True:
            i = self.buf.find(self.marker)
            if i >= 0:
                log.output(bytes(self.buf[:i]))
                del self.buf[:i]
                nl = self.buf.find(b"\n")
                if nl >= 0:
                    size = int(self.buf[len(self.marker):nl])
                    if len(self.buf) >= nl + 1 + size:
                        frame = json.loads(bytes(self.buf[nl + 1:nl + 1 + size]))
                        del self.buf[:nl + 1 + size]
                        self.max_memory_mb = frame.get("max_memory_mb", self.max_memory_mb)
                        return frame
            else:
                keep = len(self.marker) - 1  # a marker may be split across reads
                if len(self.buf) > keep:
                    log.output(bytes(self.buf[:-keep]))
                    del self.buf[:-keep]
            chunk = await self.proc.stdout.read(1 << 16)
            if not chunk:
                log.output(bytes(self.buf))
                self.buf.clear()
                raise _WorkerGone()
            self.buf += chunk

    async def exit_status(self, log: _Log) -> int:
        """End the process (if it still runs), log its last output; its exit status (negative: a signal)."""
        assert self.proc.stdout is not None
        self._kill()
        log.output(bytes(self.buf))
        self.buf.clear()
        try:
            async with asyncio.timeout(DRAIN_AFTER_KILL):
                while chunk := await self.proc.stdout.read(1 << 16):
                    log.output(chunk)
        except TimeoutError:
            pass
        return await self.proc.wait()

    def _kill(self) -> None:
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def stop(self) -> int:
        self._kill()
        return await self.proc.wait()


def _exit_message(status: int) -> str:
    if status == 0:
        return "Runtime exited without providing a reason"
    if status < 0:
        name = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGTERM: "terminated",
                signal.SIGABRT: "aborted"}.get(signal.Signals(-status), signal.Signals(-status).name)
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {status}"


class FunctionRuntime:
    """The workers of every function on this host, and their logs and unpacked code."""

    def __init__(self, *, code_dir: str | Path, log_dir: str | Path, endpoint_url: str, region: str,
                 account: str = DEFAULT_ACCOUNT, max_concurrency: int = 4, max_idle: int = 8,
                 python: str = sys.executable, access_key: str = "trireme", secret_key: str = "trireme") -> None:
        self.code_dir = Path(code_dir)
        self.log_dir = Path(log_dir)
        self.code_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.endpoint_url = endpoint_url
        self.region = region
        self.account = account
        self.max_concurrency = max_concurrency
        self.max_idle = max_idle
        self.python = python
        self.credentials = (access_key, secret_key)
        self._idle: dict[str, list[_Worker]] = collections.defaultdict(list)
        self._busy: set[_Worker] = set()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._unpacking: dict[str, asyncio.Task[Path]] = {}

    # ------------------------------------------------------------ code

    def _code_path(self, sha256: str) -> Path:
        return self.code_dir / sha256.replace("/", "_").replace("+", "-").rstrip("=")

    def has_code(self, sha256: str) -> bool:
        return self._code_path(sha256).is_dir()

    async def _code(self, fn: Function, zip_bytes: bytes | None) -> Path:
        path = self._code_path(fn.code_sha256)
        if path.is_dir():
            return path
        if zip_bytes is None:
            raise LookupError(f"the code of {fn.name} ({fn.code_sha256}) is not unpacked and was not given")
        task = self._unpacking.get(fn.code_sha256)
        if task is None:
            # A thread, because extracting up to 250 MB is blocking file I/O that would stall the loop.
            task = asyncio.ensure_future(asyncio.to_thread(_unpack, zip_bytes, path))
            self._unpacking[fn.code_sha256] = task
            task.add_done_callback(lambda _t: self._unpacking.pop(fn.code_sha256, None))
        return await asyncio.shield(task)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    # ------------------------------------------------------------ workers

    def _environment(self, fn: Function, task_root: Path, stream: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # The host's AWS profile never leaks into a handler (a function may set its own).
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        env.update(fn.environment)
        env.update({
            "_HANDLER": fn.handler,
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(SOURCE_ROOT),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": LATEST,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group(fn.name),
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_ACCESS_KEY_ID": self.credentials[0],
            "AWS_SECRET_ACCESS_KEY": self.credentials[1],
            "AWS_ENDPOINT_URL": self.endpoint_url,
        })
        return env

    def _slot(self, name: str) -> asyncio.Semaphore:
        if name not in self._slots:
            self._slots[name] = asyncio.Semaphore(self.max_concurrency)
        return self._slots[name]

    async def _take_idle(self, fn: Function) -> _Worker | None:
        idle = self._idle.get(fn.name, [])
        while idle:
            worker = idle.pop()
            if worker.revision == fn.revision_id and worker.proc.returncode is None:
                return worker
            await worker.stop()  # an older revision's environment, or one that died idle
        return None

    async def _release(self, name: str, worker: _Worker) -> None:
        self._busy.discard(worker)
        worker.last_used = time.monotonic()
        self._idle[name].append(worker)
        while sum(len(ws) for ws in self._idle.values()) > self.max_idle:
            owner, oldest = min(((n, w) for n, ws in self._idle.items() for w in ws), key=lambda p: p[1].last_used)
            self._idle[owner].remove(oldest)
            await oldest.stop()

    async def retire(self, name: str) -> None:
        """Stop a function's idle workers (after DeleteFunction; an update retires them by revision)."""
        for worker in self._idle.pop(name, []):
            await worker.stop()

    async def close(self) -> None:
        """Stop every worker, idle or busy."""
        for name in list(self._idle):
            await self.retire(name)
        for worker in list(self._busy):
            await worker.stop()
        self._busy.clear()

    # ------------------------------------------------------------ invoke

    async def invoke(self, fn: Function, payload: bytes, *, zip_bytes: bytes | None = None,
                     request_id: str | None = None) -> InvokeResult:
        """Run ``fn``'s handler on the JSON ``payload`` and answer as Lambda's Invoke."""
        request_id = request_id or str(uuid.uuid4())
        task_root = await self._code(fn, zip_bytes)
        log = _Log(self.log_path(fn.name))
        async with self._slot(fn.name):
            while True:
                worker = await self._take_idle(fn)
                init_ms = None
                if worker is None:
                    worker, init_ms, failed = await self._cold_start(fn, task_root, log, request_id)
                    if failed is not None:
                        return failed
                self._busy.add(worker)
                outcome = await self._run(fn, worker, payload, request_id, log, init_ms)
                if outcome is not None or init_ms is not None:
                    break
                # A warm worker that died idle never saw the request: run it on a fresh one.
                self._busy.discard(worker)
                await worker.stop()
            if outcome is None:
                outcome = await self._exited(fn, worker, request_id, log, init_ms, 0.0)
            result, keep = outcome
            if keep:
                await self._release(fn.name, worker)
            else:
                self._busy.discard(worker)
                await worker.stop()
            return result

    async def _cold_start(self, fn: Function, task_root: Path, log: _Log,
                          request_id: str) -> tuple[_Worker, float, InvokeResult | None]:
        """A new worker with the handler imported; or the init failure as this invocation's answer."""
        now = time.time()
        stream = time.strftime("%Y/%m/%d", time.gmtime(now)) + f"/[{LATEST}]{uuid.uuid4().hex}"
        started = time.monotonic()
        worker = await _Worker.start(self.python, self._environment(fn, task_root, stream), fn.revision_id, stream)
        try:
            async with asyncio.timeout(INIT_TIMEOUT):
                frame = await worker.frame(log)
        except _WorkerGone:  # the module exited while imported
            init_ms = (time.monotonic() - started) * 1000
            log.line(f"START RequestId: {request_id} Version: {LATEST}")
            result, _ = await self._exited(fn, worker, request_id, log, init_ms, init_ms)
            return worker, init_ms, result
        except TimeoutError:
            await worker.exit_status(log)
            err = {"errorType": "Sandbox.Timedout",
                   "errorMessage": f"RequestId: {request_id} Error: Task timed out after {INIT_TIMEOUT:.2f} seconds"}
            return worker, INIT_TIMEOUT * 1000, self._finish(fn, worker, log, request_id, err, INIT_TIMEOUT * 1000,
                                                             INIT_TIMEOUT * 1000)
        init_ms = (time.monotonic() - started) * 1000
        if frame["error"] is not None:
            await worker.exit_status(log)
            # As Lambda's, an init error's payload carries an empty requestId.
            return worker, init_ms, self._finish(fn, worker, log, request_id, frame["error"], 0.0, init_ms)
        return worker, init_ms, None

    async def _run(self, fn: Function, worker: _Worker, payload: bytes, request_id: str, log: _Log,
                   init_ms: float | None) -> tuple[InvokeResult, bool] | None:
        """One invocation on a ready worker, and whether the worker may be kept; None if it was gone."""
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000) + fn.timeout * 1000
        try:
            await worker.send({"request_id": request_id, "event": payload.decode(), "deadline_ms": deadline_ms,
                               "invoked_function_arn": fn.arn(self.region, self.account)})
        except (BrokenPipeError, ConnectionResetError):
            return None
        try:
            async with asyncio.timeout(fn.timeout):
                try:
                    await worker.frame(log)  # the worker's receipt: from here on, the handler runs
                except _WorkerGone:
                    return None  # it died idle: the request never reached a handler
                log.line(f"START RequestId: {request_id} Version: {LATEST}")
                frame = await worker.frame(log)
        except TimeoutError:
            duration = (time.monotonic() - started) * 1000
            await worker.exit_status(log)
            log.line(f"{_now_iso()} {request_id} Task timed out after {fn.timeout:.2f} seconds")
            err = {"errorType": "Sandbox.Timedout",
                   "errorMessage": f"RequestId: {request_id} Error: Task timed out after {fn.timeout:.2f} seconds"}
            return self._report(fn, worker, log, request_id, err, duration, init_ms, status="timeout"), False
        except _WorkerGone:
            return await self._exited(fn, worker, request_id, log, init_ms, (time.monotonic() - started) * 1000)
        duration = (time.monotonic() - started) * 1000
        if frame["ok"]:
            return self._report(fn, worker, log, request_id, None, duration, init_ms,
                                payload=frame["payload"].encode()), True
        err = json.loads(frame["payload"])
        if frame.get("exit"):
            await worker.exit_status(log)
        return self._report(fn, worker, log, request_id, err, duration, init_ms), not frame.get("exit")

    async def _exited(self, fn: Function, worker: _Worker, request_id: str, log: _Log, init_ms: float | None,
                      duration: float) -> tuple[InvokeResult, bool]:
        """The worker ended during the invocation (sys.exit, os._exit, a signal): Runtime.ExitError."""
        status = await worker.exit_status(log)
        message = f"RequestId: {request_id} Error: {_exit_message(status)}"
        log.line(f"{message}\nRuntime.ExitError")
        err = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return self._report(fn, worker, log, request_id, err, duration, init_ms), False

    def _finish(self, fn: Function, worker: _Worker, log: _Log, request_id: str, err: dict[str, Any],
                duration: float, init_ms: float) -> InvokeResult:
        """An invocation that failed in init: logged with its START, END and REPORT."""
        log.line(f"START RequestId: {request_id} Version: {LATEST}")
        return self._report(fn, worker, log, request_id, err, duration, init_ms)

    def _report(self, fn: Function, worker: _Worker, log: _Log, request_id: str, err: dict[str, Any] | None,
                duration: float, init_ms: float | None, *, payload: bytes = b"", status: str = "error"
                ) -> InvokeResult:
        log.flush()
        log.line(f"END RequestId: {request_id}")
        fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration:.2f} ms",
                  f"Billed Duration: {math.ceil(duration)} ms", f"Memory Size: {fn.memory_size} MB",
                  f"Max Memory Used: {worker.max_memory_mb} MB"]
        if init_ms is not None:
            fields.append(f"Init Duration: {init_ms:.2f} ms")
        if err is not None:
            fields.append(f"Status: {status}")
            if status == "error":
                fields.append(f"Error Type: {err['errorType']}")
        log.line("\t".join(fields) + "\t")
        if err is None:
            return InvokeResult(request_id, payload, None, log.last(), duration, "success")
        return InvokeResult(request_id, json.dumps(err).encode(), "Unhandled", log.last(), duration, status)


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _unpack(zip_bytes: bytes, path: Path) -> Path:
    """Extract into a temporary sibling, then rename: a reader never sees half a package."""
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=".unpack-"))
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
            zf.extractall(staging)
        try:
            staging.rename(path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


LOG_PAGE = 1 << 20


def read_log(path: Path, offset: int, limit: int = LOG_PAGE) -> bytes:
    """A function log's whole lines from byte ``offset``: at most ``limit`` bytes
    (what `trireme logs` pages through; b"" when there is no log)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(limit)
    except FileNotFoundError:
        return b""
    return data[:data.rfind(b"\n") + 1]
