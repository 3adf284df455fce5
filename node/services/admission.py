"""Which gRPC calls a node serves: those that state its cluster id.

Read-only admin calls may state none, for tools (`trireme status`, grpcurl).
"""

from __future__ import annotations

import logging

import grpc

from cluster.identity import METADATA_KEY, Throttled, mismatch

log = logging.getLogger(__name__)

# Admin ops that change nothing: answered to tools that state no cluster id.
ANONYMOUS_OPS = frozenset(("health", "replicas", "meta", "faults", "read_raw", "replication"))


class Admission:
    def __init__(self, cluster_id: str, who: str) -> None:
        self.cluster_id = cluster_id
        self.who = who  # "node n1 (127.0.0.1:7101)", for the refusal message
        self._refusals = Throttled(log)

    async def admit(self, context: grpc.aio.ServicerContext, op: str | None = None) -> None:
        """Refuse (FAILED_PRECONDITION) a call that states another cluster's
        id, or none for anything but a read-only admin op."""
        stated = next((v for k, v in context.invocation_metadata() or () if k == METADATA_KEY), "")
        if stated == self.cluster_id or (not stated and op in ANONYMOUS_OPS):
            return
        message = mismatch(self.cluster_id, stated, self.who, f"the caller at {context.peer()}")
        self._refusals.warning(f"grpc {stated}", message)
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, message)
