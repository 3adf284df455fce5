"""The router's view of the cluster's users: access key id -> who holds it,
read from the metadata the router already watches (cluster/meta.py
MetaState.users), with the secrets unwrapped only when a signing key must be
derived (cluster/kms.py), and the cluster's internal credential.

Entries, with their users' identity policies parsed, are cached per key id
and rebuilt when the metadata changes (each new snapshot brings new records
and a new version), so a deleted or deactivated key, or a changed policy,
takes effect with the first metadata version that says so.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cluster.kms import MasterKeys
from cluster.meta import MetaState
from cluster.users import key_context, token_digest
from ddb.iam.sigv4 import SigningKeys
from router.auth.caller import Caller, user_arn
from router.auth.policies import identity

INTERNAL_USER = "trireme-internal"  # the name routers and nodes act under


PEERS_PER_KEY = 256  # callers kept per key, one per client address (a fresh set past it)


@dataclass(frozen=True)
class Entry:
    """One access key and the caller it authenticates."""

    caller: Caller  # source_ip left empty: filled per request (`at`)
    active: bool
    expires: float | None  # session credentials
    token: str | None  # sha256 hex of the session token
    wrapped: str  # the secret, wrapped (empty for the internal credential)
    _at: dict[tuple[str, bool], Caller] = field(default_factory=dict, compare=False, repr=False)

    def at(self, ip: str, secure: bool) -> Caller:
        """The caller as it calls from `ip` (over TLS or not): made once per
        address, not per request (an entry lives as long as its metadata version)."""
        caller = self._at.get((ip, secure))
        if caller is None:
            if len(self._at) >= PEERS_PER_KEY:
                self._at.clear()
            caller = self._at[ip, secure] = replace(self.caller, source_ip=ip, secure=secure)
        return caller

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
        # key id -> (the users dict and the metadata version it came from, entry)
        self._cache: dict[str, tuple[object, int, Entry | None]] = {}

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
        if cached is not None and cached[0] is state.users and cached[1] == state.version:
            return cached[2]
        if len(self._cache) > 10_000:
            self._cache.clear()
        entry = self._entry(state, key_id)
        self._cache[key_id] = (state.users, state.version, entry)
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
                        enforced=True, session=key.get("expires") is not None, identity=identity(policies))
        return Entry(caller, key["status"] == "Active", key.get("expires"), key.get("token"), key["secret"])

    def secret(self, entry: Entry) -> str:
        """The plaintext secret (asked only to derive a signing key)."""
        if entry is self._internal:
            return self._internal_secret
        return self._master.unwrap(entry.wrapped, key_context(entry.caller.access_key)).decode()
