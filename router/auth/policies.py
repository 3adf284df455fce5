"""Stored policy documents in their parsed form (ddb/iam/policy.py), cached
by their text: a document is parsed once, not on every request it decides.
The text is the key, so a changed policy is a new entry, never a stale one."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from ddb.iam.policy import MalformedPolicyDocument, Policy, parse_policy

log = logging.getLogger(__name__)


@lru_cache(maxsize=1024)
def parsed(text: str, resource_based: bool) -> Policy | None:
    """The policy, or None for a malformed one (stored before a check existed,
    or edited by hand): it grants nothing."""
    try:
        return parse_policy(text, resource_based=resource_based)
    except MalformedPolicyDocument as exc:
        log.warning("ignoring a malformed %s policy: %s", "resource" if resource_based else "identity", exc.message)
        return None


def identity(documents: Iterable[str | dict[str, Any]]) -> tuple[Policy, ...]:
    """A user's identity policies, from their documents (JSON text or parsed JSON)."""
    # As text (the cache's key), with any non-Latin-1 character \u-escaped as IAM's own documents have them.
    texts = (d if isinstance(d, str) else json.dumps(d, sort_keys=True) for d in documents)
    return tuple(p for p in (parsed(t, False) for t in texts) if p is not None)
