"""A leader's write path in one process, for measuring when the machine is not quiet.

`bench.cpu` measures whole clusters; on a 2-core machine that other tenants
load 10-30 deep its per-operation CPU swings by a quarter and more, even
paired, and so do in-process timings. Counted instructions do not: this runs
YCSB-A's UpdateItem (as a router encodes it) through one node's `Data`
session into a one-member partition group (evaluate, propose, group commit
with its fsync, apply, answer), the leader's whole path but the network, and
under valgrind the difference between two lengths of run is the instructions
per write (the three repetitions and the warm-up each run every round), a
count the machine's load hardly moves:

    for R in 20 60; do valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        python -m bench.leader_path --rounds $R; done    # (refs(60) - refs(20)) / (40 * 16 * 4)

`--members 3` runs the group's two followers in the same process, their
Raft messages over loopback TCP (the peer transport, frames and codec), so
the count covers what a write costs all three nodes but the router's
`Data` stream: what the followers' append, fsync and apply cost too.

`--op put` sends YCSB-W's PutItem (a 1 KB record, ten 100-byte fields)
instead, and `--op batch` a BatchWriteItem's share of one partition: each
message one BATCH_WRITE of `--batch` such puts (the count is then per item).
`--op get` sends GetItems of records the run puts first (eventually
consistent; `--consistent`: strongly, so the leader checks its lease), the
path of YCSB-A's other half, B's 95% and C.

`--provisioned` gives the partition a provisioned table's limits, so each
write is priced exactly (DynamoDB's item size, as `bench.batch_load`'s table is).

`--encrypt` gives the nodes a master key and the table a data key, as
`trireme up` does: items and Raft entries are sealed and opened (AES-GCM,
node/storage/encryption.py) as in a real cluster.

Run it from the source tree to measure (PYTHONPATH), so two trees compare
with the same driver. Without valgrind it prints the loop thread's CPU per
write, for a rough look.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import orjson

from bench import ycsb
from cluster.keys import item_key
from cluster.kms import MasterKeys, new_data_key
from ddb import items as ddb_items
from ddb.encoding import encode_key, encode_partition_key, hash64
from ddb.keys import KeySchema
from node.groups.engine import Engine
from node.partition.capacity import Limits
from node.partition.replica import PartitionReplica
from node.services.data import DataSession
from node.storage import Storage
from router.node_requests import item_fields
from trireme_pb import node_pb2

GROUP = "t1.p0"  # a partition of table id 1, as a real group is named (encryption keys on it)
LAST_HASH = (1 << 64) - 1
TICK_S = 2.0
SCHEMA = KeySchema.from_wire([{"AttributeName": "key", "KeyType": "HASH"}],
                             [{"AttributeName": "key", "AttributeType": "S"}], has_indexes=True)


def _bound(req: ddb_items.ItemRequest) -> tuple[dict, bytes]:
    """A request's key, checked against the table's schema, and its storage key."""
    key = req.bind(SCHEMA)
    return key, item_key(1, hash64(encode_partition_key(SCHEMA, key)), encode_key(SCHEMA, key))


def updates(n: int, rng: random.Random, records: int = 1000) -> list[node_pb2.DataRequest]:
    """YCSB-A's UpdateItem (one of ten fields set to 100 bytes) as the router sends it."""
    out = []
    for i in range(n):
        body = {"TableName": "usertable", "Key": {"key": {"S": f"user{rng.randrange(records)}"}},
                "UpdateExpression": "SET #f = :v", "ExpressionAttributeNames": {"#f": f"field{rng.randrange(10)}"},
                "ExpressionAttributeValues": {":v": {"S": "x" * 100}}}
        req = ddb_items.parse_update_item(body)
        key, skey = _bound(req)
        out.append(node_pb2.DataRequest(id=i, group=GROUP, op=node_pb2.DataRequest.UPDATE, key=skey,
                                        item=orjson.dumps(key), **item_fields(req)))
    return out


def puts(n: int, rng: random.Random, records: int = 1000) -> list[node_pb2.DataRequest]:
    """YCSB-W's PutItem (a record of ten 100-byte fields) as the router sends it."""
    out = []
    for i in range(n):
        item = {"key": {"S": f"user{rng.randrange(records)}"}, **ycsb.fields(rng)}
        req = ddb_items.parse_put_item({"TableName": "usertable", "Item": item})
        _, skey = _bound(req)
        out.append(node_pb2.DataRequest(id=i, group=GROUP, op=node_pb2.DataRequest.PUT, key=skey,
                                        item=orjson.dumps(req.item), **item_fields(req)))
    return out


def gets(n: int, rng: random.Random, consistent: bool, records: int = 1000) -> list[node_pb2.DataRequest]:
    """YCSB's GetItem of a record, as the router sends it (strongly consistent: to the leader)."""
    out = []
    for i in range(n):
        req = ddb_items.parse_get_item({"TableName": "usertable", "Key": {"key": {"S": f"user{rng.randrange(records)}"}},
                                        "ConsistentRead": consistent})
        _, skey = _bound(req)
        out.append(node_pb2.DataRequest(id=i, group=GROUP, op=node_pb2.DataRequest.GET, key=skey,
                                        consistent=consistent, **item_fields(req)))
    return out


def load_messages(batch: int, rng: random.Random, records: int = 1000) -> list[node_pb2.DataRequests]:
    """Puts of every record, `batch` a message: what the gets read."""
    reqs = [node_pb2.DataRequest(id=i, group=GROUP, op=node_pb2.DataRequest.PUT,
                                 key=_bound(ddb_items.parse_get_item({"TableName": "usertable", "Key": key}))[1],
                                 item=orjson.dumps({**key, **ycsb.fields(rng)}))
            for i, key in enumerate({"key": {"S": f"user{r}"}} for r in range(records))]
    return [node_pb2.DataRequests(requests=reqs[i:i + batch]) for i in range(0, records, batch)]


PUT_MESSAGES = 8  # distinct messages the puts (and gets) cycle through


def messages_of(op: str, rounds: int, batch: int, rng: random.Random,
                consistent: bool = False) -> list[node_pb2.DataRequests]:
    """`rounds` messages of `batch` writes each (for "batch": one BATCH_WRITE of
    `batch` parts; for "get": reads). Puts and gets cycle through PUT_MESSAGES
    messages made once, so the difference of two runs holds no making of 1 KB
    records (updates are each made anew, as they always were: their counts
    stay comparable)."""
    if op == "update":
        return [node_pb2.DataRequests(requests=updates(batch, rng)) for _ in range(rounds)]
    pool = []
    for i in range(PUT_MESSAGES):
        if op == "get":
            pool.append(node_pb2.DataRequests(requests=gets(batch, rng, consistent)))
            continue
        parts = puts(batch, rng)
        if op == "put":
            pool.append(node_pb2.DataRequests(requests=parts))
            continue
        for part in parts:
            part.ClearField("id")
            part.ClearField("group")
        pool.append(node_pb2.DataRequests(requests=[node_pb2.DataRequest(
            id=i, group=GROUP, op=node_pb2.DataRequest.BATCH_WRITE, parts=parts)]))
    return [pool[i % PUT_MESSAGES] for i in range(rounds)]


def table_keys(data_dir: Path) -> tuple[MasterKeys, SimpleNamespace]:
    """A master key and table id 1's data key wrapped under it (as the metadata holds it)."""
    master = MasterKeys.create(data_dir / "kms" / "master.key")
    return master, SimpleNamespace(id=1, keys=[{"id": 1, "wrapped": master.wrap(new_data_key()), "created": 0.0}],
                                   key_version=1)


async def start_engines(members: int, data_dir: Path, encrypt: bool = False,
                        tick_s: float = TICK_S) -> tuple[list[Storage], list[Engine]]:
    """`members` engines founding GROUP, their Raft peers on loopback ports of
    this process (dialled straight, not looked up through the Admin service);
    with `encrypt`, their storage seals table 1's values."""
    ids = [f"n{i + 1}" for i in range(members)]
    master, table = table_keys(data_dir) if encrypt else (None, None)
    storages = [Storage.open(data_dir / node_id, master=master) for node_id in ids]
    if table is not None:
        for storage in storages:
            storage.learn_keys([table])
    # Long ticks: under valgrind a turn takes 50 times longer, and heartbeats
    # or an election must not take turns of their own (nor count as writes).
    engines = [Engine(node_id, storage, lambda node_id: node_id, tick_s=tick_s)
               for node_id, storage in zip(ids, storages)]
    ports: dict[str, int] = {}
    for engine in engines:
        engine.factories = {"partition": PartitionReplica}
        engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH}, ids)
        if members > 1:
            engine.transport.cluster_id = "bench"
            await engine.transport.bind("127.0.0.1", 0)
            ports[engine.node_id] = engine.transport._server.sockets[0].getsockname()[1]  # noqa: SLF001

            async def endpoint(addr: str) -> tuple[str, int]:
                return "127.0.0.1", ports[addr]
            engine.transport.raft_endpoint = endpoint
            await engine.transport.serve()
        engine.start()
    engines[0].replicas[GROUP].raft.campaign()  # the first leads
    engines[0].wake()
    return storages, engines


async def run(rounds: int, batch: int, reps: int, data_dir: Path, members: int = 1,
              encrypt: bool = False, tick_s: float = TICK_S, op: str = "update",
              provisioned: bool = False, consistent: bool = False) -> list[float]:
    """Loop-thread CPU µs per request for each repetition (after one warm-up):
    `rounds` messages of `batch` requests, each message answered before the next.
    With `members` > 1 the group's other members run in this process too.
    The answers are serialized as gRPC sends them and parsed (as the router
    does: the same bytes, so the same cost, whichever tree runs)."""
    storages, engines = await start_engines(members, data_dir, encrypt, tick_s)
    engine = engines[0]
    replica = engine.replicas[GROUP]
    session = DataSession(engine.replicas, lambda node_id: None, "n1")
    loop = asyncio.get_running_loop()
    answered: list[node_pb2.DataResponse] = []
    waiting: list = [None, 0]  # (future, answers it waits for)

    async def write(msg: node_pb2.DataResponses | bytes) -> None:
        msg = node_pb2.DataResponses.FromString(msg if isinstance(msg, bytes) else msg.SerializeToString())
        refused = False  # (a BATCH_WRITE refused whole answers no parts: do not wait for them)
        for r in msg.responses:  # (a BATCH_WRITE's answer: its parts')
            answered.extend(r.parts or (r,))
            refused = refused or r.status != node_pb2.OK
        fut, want = waiting
        if fut is not None and (len(answered) >= want or refused) and not fut.done():
            fut.set_result(None)

    pump = asyncio.create_task(session.pump(write))
    try:
        deadline = time.monotonic() + 30
        while not (replica.is_leader and replica.writable()):
            if time.monotonic() > deadline:
                raise RuntimeError("the group elected no leader")
            await asyncio.sleep(0.01)
        if provisioned:  # a provisioned table's limits, never reached: writes are priced exactly
            replica.capacity.configure(Limits(read=1e9, write=1e9), time.monotonic())
        rng = random.Random(1)

        async def send(msgs: list[node_pb2.DataRequests]) -> None:
            answered.clear()
            for msg in msgs:
                want = len(answered) + len(msg.requests[0].parts or msg.requests)
                session.feed(msg)
                if len(answered) < want:
                    waiting[:] = [loop.create_future(), want]
                    await waiting[0]
            failed = [r for r in answered if r.status != node_pb2.OK]
            if failed:
                raise RuntimeError(f"{len(failed)} requests failed, the first: {failed[0]}")
        if op == "get":
            await send(load_messages(batch, rng))
        messages = messages_of(op, rounds, batch, rng, consistent)
        out = []
        for rep in range(reps + 1):
            t0 = time.thread_time()
            await send(messages)
            spent = time.thread_time() - t0
            if op == "get" and not all(r.item for r in answered):
                raise RuntimeError("a get found no item")
            if rep:
                out.append(1e6 * spent / (rounds * batch))
        return out
    finally:
        session.close()
        pump.cancel()
        for engine, storage in zip(engines, storages):
            await engine.stop()
            storage.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.leader_path", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=100, help="messages per repetition (default 100)")
    p.add_argument("--batch", type=int, default=16, help="updates per message (default 16)")
    p.add_argument("--reps", type=int, default=3, help="measured repetitions, after one warm-up (default 3)")
    p.add_argument("--members", type=int, default=1,
                   help="the group's members, all in this process, the others' Raft over loopback (default 1)")
    p.add_argument("--encrypt", action="store_true",
                   help="seal items and Raft entries as a cluster with a master key does")
    p.add_argument("--tick-s", type=float, default=TICK_S,
                   help=f"the engines' Raft tick (default {TICK_S}): on a machine so loaded that a run under "
                        "valgrind lasts minutes, a longer one keeps heartbeats out of the count")
    p.add_argument("--op", choices=("update", "put", "batch", "get"), default="update",
                   help="YCSB-A's UpdateItem, YCSB-W's PutItem, puts in one BATCH_WRITE, or GetItem of "
                        "records loaded first (default update)")
    p.add_argument("--consistent", action="store_true", help="--op get: strongly consistent reads")
    p.add_argument("--provisioned", action="store_true",
                   help="a provisioned table's limits: every write priced exactly (DynamoDB's item size)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trireme-leader-path-") as d:
        reps = asyncio.run(run(args.rounds, args.batch, args.reps, Path(d), args.members, args.encrypt,
                               args.tick_s, args.op, args.provisioned, args.consistent))
    print("loop thread CPU us per request:", " ".join(f"{x:.1f}" for x in reps), f"(min {min(reps):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
