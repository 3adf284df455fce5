"""Which gRPC calls a node serves: those that state its cluster id and, with
TLS, come with a certificate of its cluster (cluster/tls.py) whose role may
make them.

Read-only admin calls may state no id, for tools (`trireme status`, grpcurl).
"""

from __future__ import annotations

import logging

import grpc

from cluster import tls
from cluster.identity import METADATA_KEY, Throttled, mismatch

log = logging.getLogger(__name__)

# Admin ops that change nothing: answered to tools that state no cluster id.
ANONYMOUS_OPS = frozenset(("health", "replicas", "meta", "faults", "read_raw", "replication"))
MEMBER_ROLES = ("node", "router", "admin")  # Meta and Admin calls
DATA_ROLES = ("node", "router")  # the Data stream: routers, and nodes shipping index entries


class Admission:
    def __init__(self, cluster_id: str, who: str, tls_required: bool = False) -> None:
        self.cluster_id = cluster_id
        self.who = who  # "node n1 (127.0.0.1:7101)", for the refusal message
        self.tls_required = tls_required  # the gRPC port is mutual TLS: check the caller's certificate
        self._refusals = Throttled(log)

    async def admit(self, context: grpc.aio.ServicerContext, op: str | None = None,
                    roles: tuple[str, ...] = MEMBER_ROLES) -> None:
        """Refuse a call whose certificate is not of this cluster's members
        in `roles`, or that states another cluster's id (FAILED_PRECONDITION),
        or none for anything but a read-only admin op."""
        if self.tls_required:
            await self._check_certificate(context, roles)
        stated = next((v for k, v in context.invocation_metadata() or () if k == METADATA_KEY), "")
        if stated == self.cluster_id or (not stated and op in ANONYMOUS_OPS):
            return
        message = mismatch(self.cluster_id, stated, self.who, f"the caller at {context.peer()}")
        self._refusals.warning(f"grpc {stated}", message)
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, message)

    async def _check_certificate(self, context: grpc.aio.ServicerContext, roles: tuple[str, ...]) -> None:
        pems = (context.auth_context() or {}).get("x509_pem_cert") or [b""]
        found = tls.member_of_pem(pems[0])
        why = tls.refusal(found, {self.cluster_id}, roles)
        if not why:
            return
        if found is not None and found.cluster_id != self.cluster_id:  # said as identity.py says it
            message = mismatch(self.cluster_id, found.cluster_id, self.who,
                               f"the certificate of {found.role} {found.name} at {context.peer()}")
            code = grpc.StatusCode.FAILED_PRECONDITION
        else:
            message = f"{self.who} refused the caller at {context.peer()}: {why}"
            code = grpc.StatusCode.PERMISSION_DENIED
        self._refusals.warning(f"tls {found}", message)
        await context.abort(code, message)
