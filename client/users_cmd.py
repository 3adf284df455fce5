"""`trireme users`: the cluster's IAM users, their access keys, identity
policies and session credentials, through the metadata (the meta leader's
node makes and wraps the secrets: node/control/users.py). A secret is printed
once, when it is made; the metadata keeps it only wrapped by the master key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from client.elastic_cmd import meta
from client.status import table
from cluster.rpc import CallError
from deploy.local import LocalCluster

DATA_DIR_HELP = "the local cluster's directory (default: data)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="manage the cluster's IAM users, access keys and policies",
                       description="Users sign their requests (SigV4) with their access keys when the cluster "
                                   "runs with --auth; their identity policies say what they may do.")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help=DATA_DIR_HELP)
    us = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    def action(name: str, help_: str, *args: str) -> argparse.ArgumentParser:
        a = us.add_parser(name, help=help_)
        for arg in args:
            a.add_argument(arg)
        a.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=DATA_DIR_HELP)
        return a

    add = action("add", "create a user and its first access key (the secret is printed once)", "name")
    add.add_argument("--admin", action="store_true", help="a user every policy allows (like the account's root)")
    add.add_argument("--no-key", action="store_true", help="create no access key")
    action("list", "the users, their keys and policies")
    action("show", "one user: keys (without secrets) and policy documents", "name")
    action("remove", "delete a user with its keys and policies", "name")
    keys = action("keys", "access keys: add, remove, deactivate, activate", "key_action", "name")
    keys.add_argument("key_id", nargs="?", default=None, help="the access key id (not for add)")
    put = action("put-policy", "attach (or replace) an identity policy", "name", "policy_name", "file")
    put.description = "FILE holds the policy document (JSON in AWS's grammar); - reads standard input."
    action("delete-policy", "detach an identity policy", "name", "policy_name")
    session = action("session", "temporary credentials (STS GetSessionToken) for a user", "name")
    session.add_argument("--duration", type=int, default=None, help="seconds, 900 to 129600 (default 43200)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cluster = LocalCluster.load(args.data_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"trireme users: {exc}", file=sys.stderr)
        return 2
    try:
        return _ACTIONS[args.users_command](cluster, args)
    except CallError as exc:
        print(f"trireme users: {exc.message or exc}", file=sys.stderr)
        return 1
    except _Refused as exc:
        print(f"trireme users: {exc}", file=sys.stderr)
        return 1


class _Refused(Exception):
    """The metadata refused the change (IAM's error code and message)."""


def _call(cluster: LocalCluster, op: str, body: dict) -> dict:
    result = asyncio.run(meta(cluster, op, body))
    if not result.get("ok"):
        raise _Refused(f"{result.get('error')}: {result.get('message')}")
    return result


def _print_key(key: dict[str, Any]) -> None:
    print(f"  access key id:     {key['AccessKeyId']}\n  secret access key: {key['SecretAccessKey']}")
    if key.get("SessionToken"):
        print(f"  session token:     {key['SessionToken']}\n  expires:           {_when(key['Expiration'])}")
    print("  (the secret is shown only now: keep it)")


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _add(cluster: LocalCluster, args: argparse.Namespace) -> int:
    made = _call(cluster, "create_user", {"name": args.name, "admin": args.admin, "with_key": not args.no_key})
    print(f"user {args.name} created" + (" (admin)" if args.admin else ""))
    if "key" in made:
        _print_key(made["key"])
    return 0


def _users(cluster: LocalCluster) -> list[dict]:
    return _call(cluster, "users", {})["users"]


def _list(cluster: LocalCluster, args: argparse.Namespace) -> int:
    rows = []
    for u in _users(cluster):
        keys = [f"{k}{'' if rec['status'] == 'Active' else ' (inactive)'}{' (session)' if rec.get('expires') else ''}"
                for k, rec in u["keys"].items()]
        rows.append([u["name"], "yes" if u.get("admin") else "", _when(u["created"]), ", ".join(keys) or "-",
                     ", ".join(u["policies"]) or "-"])
    print(table(["USER", "ADMIN", "CREATED", "ACCESS KEYS", "POLICIES"], rows) if rows else "no users")
    return 0


def _show(cluster: LocalCluster, args: argparse.Namespace) -> int:
    user = next((u for u in _users(cluster) if u["name"] == args.name), None)
    if user is None:
        raise _Refused(f"NoSuchEntity: The user with name {args.name} cannot be found.")
    print(f"user {user['name']}  {user['arn']}  created {_when(user['created'])}"
          + ("  (admin)" if user.get("admin") else ""))
    rows = [[k, rec["status"], _when(rec["created"]), _when(rec.get("expires"))] for k, rec in user["keys"].items()]
    print(table(["ACCESS KEY", "STATUS", "CREATED", "EXPIRES"], rows) if rows else "no access keys")
    for name, document in user["policies"].items():
        print(f"\npolicy {name}:\n{document}")
    return 0


def _remove(cluster: LocalCluster, args: argparse.Namespace) -> int:
    _call(cluster, "delete_user", {"name": args.name})
    print(f"user {args.name} deleted (its keys stop working at once)")
    return 0


def _keys(cluster: LocalCluster, args: argparse.Namespace) -> int:
    what = args.key_action
    if what == "add":
        _print_key(_call(cluster, "create_access_key", {"name": args.name})["key"])
        return 0
    if what not in ("remove", "deactivate", "activate") or not args.key_id:
        raise _Refused("usage: trireme users keys add NAME | keys remove|deactivate|activate NAME KEY_ID")
    if what == "remove":
        _call(cluster, "delete_access_key", {"name": args.name, "key_id": args.key_id})
    else:
        _call(cluster, "set_access_key_status", {"name": args.name, "key_id": args.key_id,
                                                 "status": "Inactive" if what == "deactivate" else "Active"})
    print(f"access key {args.key_id} of {args.name}: {what}d")
    return 0


def _put_policy(cluster: LocalCluster, args: argparse.Namespace) -> int:
    try:
        document = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except OSError as exc:
        raise _Refused(f"cannot read {args.file}: {exc.strerror or exc}") from None
    _call(cluster, "put_user_policy", {"name": args.name, "policy_name": args.policy_name, "document": document})
    print(f"policy {args.policy_name} attached to {args.name}")
    return 0


def _delete_policy(cluster: LocalCluster, args: argparse.Namespace) -> int:
    _call(cluster, "delete_user_policy", {"name": args.name, "policy_name": args.policy_name})
    print(f"policy {args.policy_name} detached from {args.name}")
    return 0


def _session(cluster: LocalCluster, args: argparse.Namespace) -> int:
    _print_key(_call(cluster, "create_session", {"name": args.name, "duration": args.duration})["key"])
    return 0


_ACTIONS = {"add": _add, "list": _list, "show": _show, "remove": _remove, "keys": _keys,
            "put-policy": _put_policy, "delete-policy": _delete_policy, "session": _session}
