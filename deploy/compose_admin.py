"""The compose deployment's admin credentials: a one-shot service
(`admin` in deploy/docker-compose.yml) that waits for the nodes' metadata,
makes the admin user with a key and writes them as an AWS shared
credentials file (profile `trireme`) into a directory the host mounts, as
`trireme up --auth` writes DATA_DIR/credentials. Later runs keep the keys
written while the cluster knows them. With `--mode off` (TRIREME_AUTH=off: open mode) it does nothing.

    python -m deploy.compose_admin --seeds A:7101,B:7101 --cluster-id ID --out /secrets/credentials
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from cluster.regions import DEFAULT_REGION
from cluster.rpc import Channels, meta_call
from deploy.local import admin_key, read_credentials, write_credentials


def ensure(seeds: list[str], cluster_id: str, out: Path, region: str, wait_s: float) -> str:
    """Make `out` hold working admin keys; what was done, for the log. Keys
    already there are kept while the metadata knows them (a cluster made
    again on new volumes does not: new keys). Retries while the nodes start
    (no metadata leader yet) until `wait_s` passed."""
    kept = read_credentials(out) if out.exists() else None
    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        try:
            made = asyncio.run(_keys(seeds, cluster_id, kept, min(10.0, max(1.0, left))))
            if made.get("ok"):
                break
            problem = f"{made.get('error')}: {made.get('message')}"
        except Exception as exc:  # noqa: BLE001 (nodes still starting: no leader, connection refused)
            problem = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot make the admin user's keys within {wait_s:.0f} s ({problem})")
        time.sleep(1.0)
    if "key" not in made:
        return f"{out} holds the admin user's keys"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_credentials(out, made["key"]["AccessKeyId"], made["key"]["SecretAccessKey"], region)
    return f"wrote the admin user's keys to {out} (profile trireme)"


async def _keys(seeds: list[str], cluster_id: str, kept: tuple[str, str] | None, deadline_s: float) -> dict:
    """{"ok": True} if the metadata knows `kept`'s key id, else admin_key's answer (new keys)."""
    if kept is not None:
        ch = Channels(cluster_id)
        try:
            users = await meta_call(ch, seeds, "users", {}, deadline_s=deadline_s)
        finally:
            await ch.close()
        if any(kept[0] in u.get("keys", {}) for u in users.get("users", [])):
            return {"ok": True}
    return await admin_key(seeds, cluster_id, deadline_s=deadline_s)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.compose_admin", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", required=True, help="HOST:PORT,... of the nodes holding the metadata")
    p.add_argument("--cluster-id", default="")
    p.add_argument("--out", type=Path, required=True, help="the credentials file to write")
    p.add_argument("--region", default=DEFAULT_REGION)
    p.add_argument("--mode", default="on", help="on (enforced auth: make the keys) or off (open mode: nothing)")
    p.add_argument("--owner", default="", help="UID:GID to give the file (the host user who reads it)")
    p.add_argument("--wait", type=float, default=180.0, help="seconds to wait for the metadata (default 180)")
    args = p.parse_args(argv)
    if args.mode == "off":
        print("open mode (TRIREME_AUTH=off): any credentials pass; no admin keys made", flush=True)
        return 0
    try:
        print(ensure(args.seeds.split(","), args.cluster_id, args.out, args.region, args.wait), flush=True)
    except RuntimeError as exc:
        print(f"compose_admin: {exc}", file=sys.stderr, flush=True)
        return 1
    if args.owner:
        uid, _, gid = args.owner.partition(":")
        os.chown(args.out, int(uid), int(gid or uid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
