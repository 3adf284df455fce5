"""HTTP content codings as DynamoDB applies them (pure: no I/O).

Requests may arrive compressed (`Content-Encoding: gzip` or `deflate`; the
SDKs' request compression). The decompressed size is capped while
decompressing, so a small bomb never allocates more than the body limit.
Answers of 4 KiB or more are compressed when the client's `Accept-Encoding`
allows gzip or deflate, choosing as DynamoDB does (ScyllaDB Alternator's
test_compressed_response.py records DynamoDB's choices for many headers).
"""

from __future__ import annotations

import zlib

# DynamoDB compresses answers from this size on, smaller ones never.
COMPRESS_MIN = 4096
# Level 1: most of the size gain for a fraction of the CPU (the router is CPU bound).
_LEVEL = 1


class UnsupportedEncoding(ValueError):
    """A Content-Encoding other than gzip, deflate or identity."""


class CorruptBody(ValueError):
    """A body that is not valid data of its Content-Encoding."""


class BodyTooLarge(ValueError):
    """The decompressed body exceeds the limit."""


def decode(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` without the codings listed in `encoding` (applied in order, so
    removed in reverse); at most `limit` bytes may come out of any step."""
    for coding in reversed(encoding.split(",")):
        coding = coding.strip().lower()
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, limit, members=True)
        elif coding == "deflate":
            body = _inflate(body, zlib.MAX_WBITS, limit, members=False)
        else:
            raise UnsupportedEncoding(coding)
    return body


def _inflate(data: bytes, wbits: int, limit: int, *, members: bool) -> bytes:
    """Decompress, producing at most `limit` + 1 bytes (one more tells it is too
    large). gzip allows several members one after the other (RFC 1952); a
    zlib stream is one. Anything else after the end is an error."""
    out: list[bytes] = []
    size = 0
    while True:
        d = zlib.decompressobj(wbits)
        try:
            chunk = d.decompress(data, limit + 1 - size)
        except zlib.error as exc:
            raise CorruptBody(str(exc)) from None
        size += len(chunk)
        out.append(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if not d.eof:
            raise CorruptBody("the compressed data ends early")
        data = d.unused_data
        if not data:
            return out[0] if len(out) == 1 else b"".join(out)
        if not members:
            raise CorruptBody("data follows the end of the compressed stream")


def compress(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        c = zlib.compressobj(_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(body) + c.flush()
    return zlib.compress(body, _LEVEL)


_choices: dict[str, str | None] = {}


def choose(accept_encoding: str) -> str | None:
    """The coding to answer with ("gzip", "deflate" or None), cached: a client
    sends the same header with every request."""
    try:
        return _choices[accept_encoding]
    except KeyError:
        pass
    if len(_choices) >= 256:
        _choices.clear()
    choice = _choices[accept_encoding] = _choose(accept_encoding)
    return choice


def _choose(header: str) -> str | None:
    """Highest quality wins; on a tie an explicitly named coding beats `*`,
    and the one named first wins (`*` prefers gzip). As DynamoDB: a `q` that
    is not a number counts as 1, values are clamped to [0, 1], the first `q`
    parameter of an entry counts, a coding named twice takes its best `q`,
    and `identity` plays no part."""
    named: dict[str, tuple[float, int]] = {}
    star: float | None = None
    for pos, element in enumerate(header.split(",")):
        name, *params = element.split(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    pass
                break
        if name == "*":
            star = q if star is None else max(star, q)
        elif name in ("gzip", "deflate"):
            best = named.get(name)
            named[name] = (q, pos) if best is None else (max(best[0], q), best[1])
    ranked = []
    for i, coding in enumerate(("gzip", "deflate")):
        if coding in named:
            q, pos = named[coding]
            ranked.append((q, 1, -pos, coding))
        elif star is not None:
            ranked.append((star, 0, -i, coding))
    best = max(ranked, default=None)
    return best[3] if best is not None and best[0] > 0 else None
