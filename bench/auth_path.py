"""The router's CPU per request with authentication on and off, in one process (issue 19).

Requests signed by botocore's SigV4Auth, as boto3 sends them (the headers it
signs and sends, YCSB's GetItem and UpdateItem), go through the router's own
request handling: router/http.py's connection (parsing, the pseudo-headers
authentication reads) and the Dispatcher (type checks, authentication,
authorization against a metadata state built in memory). The operations
themselves are stand-ins answering at once: the data call costs the same in
every mode, so the difference between modes is what auth costs a request.

Modes: `open` (any signature passes, no policy), `admin` (enforced, an admin
caller: no policy evaluated, as `make bench --security` signs) and `user`
(enforced, a user whose identity policy allows the table's item operations
on their own partition keys only: LeadingKeys, with a Deny beside it).

Under valgrind the difference between two lengths of run is the
instructions per request, a count the machine's load hardly moves:

    for N in 2000 6000; do valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python -m bench.auth_path --mode user --requests $N; done    # (refs(6000) - refs(2000)) / 4000

Without valgrind it prints the process CPU per request of each mode, for a
rough look (`--profile` adds cProfile's top functions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cluster.kms import MasterKeys
from cluster.meta import MetaState
from cluster.users import key_context, new_user
from router import http
from router.auth.authenticate import Authenticator
from router.auth.authorize import Authorizer
from router.auth.users import Users
from router.protocol import Dispatcher

REGION = "us-east-1"
TABLE = "usertable"
HOST = "127.0.0.1:8000"
MASTER = MasterKeys(Path("bench-master.key"), [("m1", b"\x05" * 32)])
KEYS = {"admin": ("AKIABENCHADMIN000001", "admin-secret"), "user": ("AKIABENCHUSER0000001", "user-secret")}
# What an application's least-privilege policy looks like: its table's item operations on its own keys.
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "OwnItems", "Effect": "Allow",
     "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:Query", "dynamodb:BatchGetItem"],
     "Resource": [f"arn:aws:dynamodb:{REGION}:000000000000:table/{TABLE}",
                  f"arn:aws:dynamodb:{REGION}:000000000000:table/{TABLE}/index/*"],
     "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["user*"]}}},
    {"Sid": "NoTableChanges", "Effect": "Deny", "Action": ["dynamodb:DeleteTable", "dynamodb:UpdateTable"],
     "Resource": "*"}]})
MODES = ("open", "admin", "user")
POOL = 500  # distinct signed requests


def state() -> MetaState:
    """One table (YCSB's) and two users: an admin and an application's."""
    s = MetaState.bootstrap([{"id": "n1", "addr": "127.0.0.1:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}]}
    assert s.apply({"op": "create_table", "name": TABLE, "uuid": "u", "now": 1.0, "spec": spec,
                    "placements": [["n1"]]})["ok"]
    for name, (key_id, secret) in KEYS.items():
        s.apply({"op": "create_user", "user": new_user(name, 1.0, admin=name == "admin")})
        s.users[name]["keys"][key_id] = {"secret": MASTER.wrap(secret.encode(), key_context(key_id)),
                                         "status": "Active", "created": 1.0, "expires": None, "token": None}
    s.apply({"op": "put_user_policy", "name": "user", "policy_name": "app", "document": POLICY})
    return s


def bodies(n: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """YCSB's GetItem and UpdateItem (half each), as (operation, JSON body)."""
    out = []
    for i in range(n):
        key = {"S": f"user{rng.randrange(10**9)}"}
        if i % 2:
            out.append(("GetItem", json.dumps({"TableName": TABLE, "Key": {"key": key}}).encode()))
        else:
            out.append(("UpdateItem", json.dumps({
                "TableName": TABLE, "Key": {"key": key}, "UpdateExpression": "SET #f = :v",
                "ExpressionAttributeNames": {"#f": f"field{rng.randrange(10)}"},
                "ExpressionAttributeValues": {":v": {"S": "x" * 100}}}).encode()))
    return out


def wire(op: str, body: bytes, key_id: str, secret: str) -> bytes:
    """The request as boto3 sends it: signed by botocore, on the wire."""
    req = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers={
        "X-Amz-Target": f"DynamoDB_20120810.{op}", "Content-Type": "application/x-amz-json-1.0",
        "User-Agent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.9 "
                      "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0",
        "amz-sdk-invocation-id": "8c1f1d4e-31c5-4cbb-9f4e-0d3b8e1e7a55", "amz-sdk-request": "attempt=1",
        "Content-Length": str(len(body)), "Host": HOST})
    SigV4Auth(Credentials(key_id, secret), "dynamodb", REGION).add_auth(req)
    head = "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
    return f"POST / HTTP/1.1\r\n{head}\r\n".encode() + body


class _Transport:
    """What router/http.py's connection writes to: answers counted, nothing sent."""

    def __init__(self) -> None:
        self.answered = 0
        self.failed = b""  # the first answer that was not a 200
        self.waiter: asyncio.Future | None = None

    def get_extra_info(self, name: str, default=None):
        return ("10.0.0.7", 50123) if name == "peername" else default

    def write(self, data: bytes) -> None:
        if not data.startswith(b"HTTP/1.1 200"):
            self.failed = self.failed or data
        self.answered += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def close(self) -> None:
        pass


def dispatcher(mode: str, meta: MetaState) -> Dispatcher:
    """The router's handler with stand-in operations (the data call is the same in every mode)."""
    async def get_item(request: dict) -> bytes:
        return b'{"Item":{"key":{"S":"user1"},"field0":{"S":"x"}}}'

    async def update_item(request: dict) -> bytes:
        return b"{}"

    users = Users(lambda: meta, MASTER) if mode != "open" else None
    return Dispatcher({"GetItem": get_item, "UpdateItem": update_item},
                      authenticate=Authenticator(users, REGION), authorize=Authorizer(lambda: meta, REGION))


async def drive(handler: Dispatcher, requests: list[bytes], reps: int,
                observe: http.Observer | None = None) -> list[float]:
    """Process CPU µs per request for each repetition (after one warm-up);
    `observe`: the connection's observer of answers (the router's metrics)."""
    loop = asyncio.get_running_loop()
    conn = http._Conn(http._Config(handler, http.MAX_BODY, REGION, access_log=False, slow_ms=0, observe=observe))
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    out = []
    try:
        for rep in range(reps + 1):
            t0 = time.process_time()
            for data in requests:
                want = transport.answered + 1
                conn.data_received(data)
                if transport.answered < want:
                    transport.waiter = loop.create_future()
                    await transport.waiter
                if transport.failed:
                    raise RuntimeError(f"a request failed: {transport.failed[-300:]!r}")
            if rep:
                out.append(1e6 * (time.process_time() - t0) / len(requests))
    finally:
        conn.connection_lost(None)
    return out


def requests_for(mode: str, n: int, pool: int = POOL) -> list[bytes]:
    """`n` requests, cycling through `pool` signed ones (signing is botocore's
    work, outside the router: a fixed pool keeps it out of the difference
    between two lengths of run)."""
    key_id, secret = KEYS["admin" if mode == "admin" else "user"]
    signed = [wire(op, body, key_id, secret) for op, body in bodies(min(n, pool), random.Random(1))]
    return [signed[i % len(signed)] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.auth_path", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=MODES, action="append", help="open, admin or user (default: all three)")
    p.add_argument("--requests", type=int, default=2000, help="signed requests per repetition (default 2000)")
    p.add_argument("--reps", type=int, default=3, help="measured repetitions, after one warm-up (default 3)")
    p.add_argument("--profile", action="store_true", help="cProfile one repetition of each mode")
    args = p.parse_args(argv)
    meta = state()
    for mode in args.mode or MODES:
        handler = dispatcher(mode, meta)
        requests = requests_for(mode, args.requests)
        reps = asyncio.run(drive(handler, requests, args.reps))
        print(f"{mode:5}: process CPU us per request:", " ".join(f"{x:.1f}" for x in reps),
              f"(min {min(reps):.1f})", flush=True)
        if args.profile:
            import cProfile
            import pstats
            prof = cProfile.Profile()
            prof.runcall(asyncio.run, drive(handler, requests, 1))
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
