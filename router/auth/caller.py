"""The authenticated caller of one request: what authentication hands to
authorization and to the operations that log or record who acted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ddb.iam.policy import Policy

ACCOUNT = "000000000000"  # the one account a Trireme cluster serves (as DynamoDB Local does)


@dataclass(frozen=True)
class Caller:
    """`enforced` is False in open mode: any credentials are accepted and no
    policy is evaluated. `admin` callers pass every policy (the cluster's
    root credential, used by `trireme` itself and the admin endpoint)."""

    name: str  # the IAM user name ("anonymous" in open mode)
    arn: str  # arn:aws:iam::000000000000:user/NAME (arn:aws:sts::...:assumed-role style not used)
    access_key: str
    policies: tuple[dict, ...] = field(default=())  # the user's identity policy documents, parsed JSON
    admin: bool = False
    source_ip: str = ""
    enforced: bool = False
    session: bool = False  # authenticated with temporary (session) credentials
    secure: bool = False  # the request came over TLS (the aws:SecureTransport condition key)
    # `policies` parsed (router/auth/policies.py), when the user's entry made them: once per metadata version.
    identity: tuple[Policy, ...] | None = field(default=None, compare=False, repr=False)


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


ANONYMOUS = Caller(name="anonymous", arn=user_arn("anonymous"), access_key="")
