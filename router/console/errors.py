"""How the console names a node's failure to answer: one line, the gRPC
status and its details (a grpc error's own str() spans several lines)."""

from __future__ import annotations

import grpc


def describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        details = (exc.details() or "").splitlines()
        return f"{exc.code().name}: {details[0][:160] if details else ''}".rstrip(": ")
    text = (str(exc).splitlines() or [""])[0][:160]
    return text or type(exc).__name__
