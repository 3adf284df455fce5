"""Key rotation for encryption at rest, while the cluster runs.

`trireme keys rotate [TABLE]`: a new data key version for TABLE (and its
global indexes), or for every table: new writes are sealed under it at once,
values written before still open with their version (kept in the metadata);
with `--reencrypt` every node then seals its older values again under the new
version, step by step between the writes (node/services/reencrypt.py), and the
command shows each node's progress until all are done.

`trireme keys rotate-master`: a new master key appended to the key file
(cluster/kms.py), then every table's data key versions wrapped again under
it by the meta leader; stored values are untouched (their data keys are the
same), and the older master key stays in the file for what was wrapped under
it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from client.elastic_cmd import meta
from cluster.kms import KeyFileError, MasterKeys
from cluster.rpc import CallError, Channels, call_once
from deploy.local import LocalCluster

DATA_DIR_HELP = "the local cluster's directory (default: data)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="rotate encryption-at-rest keys (data keys, the master key)",
                          description="Rotate the keys tables are encrypted at rest with, without downtime.")
    ks = keys.add_subparsers(dest="action", required=True)
    rot = ks.add_parser("rotate", help="a new data key version for TABLE (default: every table)")
    rot.add_argument("table", nargs="?", default=None)
    rot.add_argument("--reencrypt", action="store_true",
                     help="then seal every value written under an older version again under the new one, on "
                          "every node, in the background of the writes (progress shown until done)")
    rot.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    rot.set_defaults(func=cmd_rotate)
    rm = ks.add_parser("rotate-master", help="a new master key; every data key is wrapped again under it")
    rm.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    rm.set_defaults(func=cmd_rotate_master)
    init = ks.add_parser("init", help="write a new master key file (when there is none) for nodes' --key-file")
    init.add_argument("--key-file", type=Path, required=True)
    init.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    """The compose deployment's first step (`trireme up` writes its own)."""
    try:
        keys = MasterKeys.create(args.key_file)
    except (KeyFileError, OSError) as exc:
        print(f"trireme keys init: {exc}", file=sys.stderr)
        return 1
    print(f"master key file {keys.path} (current key {keys.current})")
    return 0


def _load(args: argparse.Namespace, what: str) -> LocalCluster | None:
    try:
        return LocalCluster.load(args.data_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"trireme keys {what}: {exc}", file=sys.stderr)
        return None


def cmd_rotate(args: argparse.Namespace) -> int:
    cluster = _load(args, "rotate")
    if cluster is None:
        return 2
    try:
        done = asyncio.run(meta(cluster, "rotate_key", {"name": args.table}))
    except CallError as exc:
        print(f"trireme keys rotate: {exc.message or exc}", file=sys.stderr)
        return 1
    if not done.get("encryption"):
        print("trireme keys rotate: the cluster runs without a key file: nothing is encrypted at rest",
              file=sys.stderr)
        return 1
    for name, version in sorted(done["rotated"].items()):
        print(f"{name}: data key version {version} (new writes); older versions still read")
    if args.reencrypt:
        jobs = [(done["ids"][n], v) for n, v in sorted(done["rotated"].items())]
        try:
            failed = asyncio.run(reencrypt(cluster, jobs))
        except CallError as exc:
            failed = [exc.message or str(exc)]
        if failed:
            print(f"trireme keys rotate: re-encryption failed: {'; '.join(failed)}", file=sys.stderr)
            return 1
    return 0


async def reencrypt(cluster: LocalCluster, jobs: list[tuple[int, int]], interval_s: float = 0.5) -> list[str]:
    """Have every node re-encrypt each (table id, version) and show their
    progress until all are done; answers the failures."""
    channels = Channels(cluster.cluster_id)
    nodes = {p.name: p.addr for p in cluster.procs.values() if p.kind == "node"}
    try:
        while True:
            states = {}
            for name, addr in nodes.items():
                states[name] = [await call_once(channels, addr, "admin", "reencrypt",
                                                {"table_id": tid, "version": v}) for tid, v in jobs]
            print("  ".join(f"{n}: {sum(j['resealed'] for j in js)} resealed of "
                            f"{sum(j['examined'] for j in js)} examined{'' if all(j['done'] for j in js) else '...'}"
                            for n, js in states.items()), flush=True)
            if all(j["done"] for js in states.values() for j in js):
                return [f"{n}: {j['error']}" for n, js in states.items() for j in js if j["error"]]
            await asyncio.sleep(interval_s)
    finally:
        await channels.close()


def cmd_rotate_master(args: argparse.Namespace) -> int:
    cluster = _load(args, "rotate-master")
    if cluster is None:
        return 2
    if not cluster.master_key_file.exists():
        print(f"trireme keys rotate-master: the cluster runs without a key file ({cluster.master_key_file})",
              file=sys.stderr)
        return 1
    try:
        new_id = MasterKeys.load(cluster.master_key_file).add()
        done = asyncio.run(meta(cluster, "rewrap_keys", {}))
    except KeyFileError as exc:
        print(f"trireme keys rotate-master: {exc}", file=sys.stderr)
        return 1
    except CallError as exc:
        print(f"trireme keys rotate-master: {exc.message or exc} (the key file has the new key {new_id}; "
              f"the data keys are still wrapped under the older one, which stays in the file)", file=sys.stderr)
        return 1
    print(f"master key {done['master']} is current in {cluster.master_key_file}; {done['rewrapped']} data key "
          f"version(s) rewrapped under it")
    return 0
