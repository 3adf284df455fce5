"""The metadata calls on IAM users (`trireme users`, the router's STS
GetSessionToken): the meta leader's node makes the secrets, wraps them with
the cluster master key (cluster/kms.py) and proposes the records
(cluster/meta.py's "users" block); the plaintext secret leaves only in the
answer, once.

Refusals come back answered (`{"ok": False, "error", "message"}` with IAM's
error codes), never raised as DynamoDB errors: the CLI and STS show them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.kms import KeyFileError, MasterKeys
from cluster.users import (SESSION_DEFAULT_S, SESSION_MAX_S, SESSION_MIN_S, check_policy, check_user_name,
                           key_context, new_key_id, new_secret, new_token, new_user, public, token_digest)

if TYPE_CHECKING:
    from node.control.metareplica import MetaReplica

USER_OPS = ("users", "create_user", "delete_user", "create_access_key", "delete_access_key",
            "set_access_key_status", "put_user_policy", "delete_user_policy", "create_session")
_keys: dict[Path, MasterKeys] = {}


def session_min_s() -> int:
    """GetSessionToken's shortest DurationSeconds: ``TRIREME_SESSION_MIN_S``
    (tests shorten it to see a session expire), else STS's 900."""
    value = os.environ.get("TRIREME_SESSION_MIN_S")
    return int(value) if value else SESSION_MIN_S


def _refused(error: str, message: str) -> dict:
    return {"ok": False, "error": error, "message": message}


def _master(key_file: Path | None) -> MasterKeys:
    if key_file is None:
        raise KeyFileError("this node has no --key-file (the cluster master key): it cannot make users' secrets")
    key = _keys.get(key_file)
    if key is None:
        key = _keys[key_file] = MasterKeys.load(key_file)
    return key


async def user_op(key_file: Path | None, mr: MetaReplica, op: str, body: dict) -> dict:
    now = time.time()
    if op == "users":  # listings never carry the wrapped secrets
        return {"ok": True, "users": [public(u) for _, u in sorted(mr.state.users.items())]}
    if op == "create_user":
        problem = check_user_name(body.get("name"))
        if problem:
            return _refused("ValidationError", problem)
        result = await mr.run({"op": "create_user", "user": new_user(body["name"], now, bool(body.get("admin")))})
        if not result.get("ok") or not body.get("with_key"):
            return result
        return await _new_key(key_file, mr, body["name"], now, None)
    if op == "create_access_key":
        return await _new_key(key_file, mr, body.get("name"), now, None)
    if op == "create_session":
        duration = body.get("duration")
        duration = SESSION_DEFAULT_S if duration is None else duration
        low = session_min_s()
        if not isinstance(duration, int) or not low <= duration <= SESSION_MAX_S:
            bound = (f"greater than or equal to {low}" if isinstance(duration, int) and duration < low
                     else f"less than or equal to {SESSION_MAX_S}")
            return _refused("ValidationError", f"1 validation error detected: Value '{duration}' at "
                                               f"'durationSeconds' failed to satisfy constraint: Member must have "
                                               f"value {bound}")
        return await _new_key(key_file, mr, body.get("name"), now, duration)
    if op == "put_user_policy":
        problem = check_policy(body.get("policy_name"), body.get("document"))
        if problem:
            return _refused(*problem)
    return await mr.run({**{k: body.get(k) for k in ("name", "key_id", "status", "policy_name", "document")},
                         "op": op})


async def _new_key(key_file: Path | None, mr: MetaReplica, name: Any, now: float, duration: int | None) -> dict:
    """A new access key (a session credential when `duration` is given)."""
    try:
        master = _master(key_file)
    except KeyFileError as exc:
        return _refused("ServiceFailure", str(exc))
    key_id, secret = new_key_id(session=duration is not None), new_secret()
    record: dict[str, Any] = {"secret": master.wrap(secret.encode(), key_context(key_id)), "status": "Active",
                              "created": now, "expires": None, "token": None}
    out: dict[str, Any] = {"AccessKeyId": key_id, "SecretAccessKey": secret, "Status": "Active", "UserName": name,
                           "CreateDate": now}
    if duration is not None:
        token = new_token()
        record.update(expires=now + duration, token=token_digest(token))
        out.update(SessionToken=token, Expiration=now + duration)
    result = await mr.run({"op": "put_access_key", "name": name, "key_id": key_id, "key": record, "now": now})
    return {**result, "key": out} if result.get("ok") else result
