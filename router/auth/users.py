"""The router's view of the cluster's users: access key id -> who holds it,
read from the metadata the router already watches (cluster/meta.py
MetaState.users), with the secrets unwrapped only when a signing key must be
derived (cluster/kms.py), and the cluster's internal credential.

Entries are cached per key id and rebuilt when the metadata changes (each
new snapshot brings new records), so a deleted or deactivated key stops
working with the first metadata version that says so.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from cluster.kms import MasterKeys
from cluster.meta import MetaState
from cluster.users import key_context, token_digest
from ddb.iam.sigv4 import SigningKeys
from router.auth.caller import Caller, user_arn

INTERNAL_USER = "trireme-internal"  # the name routers and nodes act under


@dataclass(frozen=True)
class Entry:
    """One access key and the caller it authenticates."""

    caller: Caller  # source_ip left empty: filled per request
    active: bool
    expires: float | None  # session credentials
    token: str | None  # sha256 hex of the session token
    wrapped: str  # the secret, wrapped (empty for the internal credential)

    def token_ok(self, token: str | None) -> bool:
        """A session key needs its token; a long-term key must come without one."""
        if self.token is None:
            return token is None
        return token is not None and hmac.compare_digest(token_digest(token), self.token)


class Users:
    def __init__(self, state: Callable[[], MetaState | None], master: MasterKeys) -> None:
        self._state = state
        self._master = master
        self.keys = SigningKeys()
        key_id, self._internal_secret = master.internal_credential()
        self._internal = Entry(Caller(INTERNAL_USER, user_arn(INTERNAL_USER), key_id, admin=True, enforced=True),
                               True, None, None, "")
        self._cache: dict[str, tuple[object, Entry | None]] = {}  # key id -> (the users dict it came from, entry)

    @property
    def ready(self) -> bool:
        return self._state() is not None

    def lookup(self, key_id: str) -> Entry | None:
        if key_id == self._internal.caller.access_key:
            return self._internal
        state = self._state()
        if state is None:
            return None
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] is state.users:
            return cached[1]
        if len(self._cache) > 10_000:
            self._cache.clear()
        entry = self._entry(state, key_id)
        self._cache[key_id] = (state.users, entry)
        if entry is None or not entry.active:
            self.keys.forget(key_id)
        return entry

    @staticmethod
    def _entry(state: MetaState, key_id: str) -> Entry | None:
        found = state.user_by_key(key_id)
        if found is None:
            return None
        user, key = found
        policies = []
        for text in user["policies"].values():
            try:
                policies.append(json.loads(text))
            except ValueError:  # stored only after validation: never expected
                continue
        caller = Caller(user["name"], user["arn"], key_id, tuple(policies), bool(user.get("admin")),
                        enforced=True, session=key.get("expires") is not None)
        return Entry(caller, key["status"] == "Active", key.get("expires"), key.get("token"), key["secret"])

    def secret(self, entry: Entry) -> str:
        """The plaintext secret (asked only to derive a signing key)."""
        if entry is self._internal:
            return self._internal_secret
        return self._master.unwrap(entry.wrapped, key_context(entry.caller.access_key)).decode()
