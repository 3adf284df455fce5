"""The compose deployment's admin credentials: a one-shot service
(`admin` in deploy/docker-compose.yml) that waits for the nodes' metadata,
makes the admin user with a key and writes them as an AWS shared
credentials file (profile `trireme`) into a directory the host mounts, as
`trireme up --auth` writes DATA_DIR/credentials. Once written, later runs
leave it alone. With `--mode off` (TRIREME_AUTH=off: open mode) it does nothing.

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
from deploy.local import admin_key, write_credentials


def ensure(seeds: list[str], cluster_id: str, out: Path, region: str, wait_s: float) -> str:
    """Write `out` unless it is there; what was done, for the log. Retries
    while the nodes start (no metadata leader yet) until `wait_s` passed."""
    if out.exists():
        return f"{out} exists: the admin user's keys are there"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            left = deadline - time.monotonic()
            made = asyncio.run(admin_key(seeds, cluster_id, deadline_s=min(10.0, max(1.0, left))))
            if made.get("ok"):
                break
            problem = f"{made.get('error')}: {made.get('message')}"
        except Exception as exc:  # noqa: BLE001 (nodes still starting: no leader, connection refused)
            problem = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot make the admin user's keys within {wait_s:.0f} s ({problem})")
        time.sleep(1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_credentials(out, made["key"]["AccessKeyId"], made["key"]["SecretAccessKey"], region)
    return f"wrote the admin user's keys to {out} (profile trireme)"


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
