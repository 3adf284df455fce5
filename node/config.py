"""A storage node's settings (`trireme node`'s flags), read by the subsystems
the composition root (node/server.py) wires together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.tls import Identity


@dataclass
class NodeConfig:
    id: str
    az: str
    listen: str  # host:port to bind for gRPC
    data_dir: Path
    advertise: str = ""  # host:port peers use; defaults to listen
    peer_listen: str = ""  # host:port to bind for Raft (the peer port)
    metrics_listen: str = ""  # host:port for GET /metrics (node/services/metrics_http.py); "": none
    cluster_id: str = ""  # settled before the node starts (cluster/identity.py)
    initial_cluster: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (addr, az)
    join: list[str] = field(default_factory=list)  # addresses of existing nodes
    dead_after_s: float = 30.0
    # New tables start with one partition, as DynamoDB's start small and split (for size, and for heat
    # with TRIREME_SPLIT_UNITS_PER_S): one leader per table batches all its writes into each Raft
    # entry and gRPC message (on 2 cores YCSB-A cost 487 us of CPU an operation against 649 with two).
    partitions_per_table: int = 1
    # A router nodes point functions' AWS_ENDPOINT_URL at (event source mappings run handlers here).
    router_endpoint: str = ""
    region: str = "us-east-1"
    remote_regions: dict[str, str] = field(default_factory=dict)  # region -> its router URL via the link
    remote_peers: dict[str, str] = field(default_factory=dict)  # region -> the link's peer port for it
    peer_clusters: list[str] = field(default_factory=list)  # other regions' cluster ids, admitted on the peer port
    # the master key file (cluster/kms.py): encryption at rest, users' secrets, the internal credential; None: off
    key_file: Path | None = None
    tls: Identity | None = None  # mutual TLS on the gRPC and peer ports (cluster/tls.py)

    @property
    def functions_dir(self) -> Path:
        """Where the event source mappings' handlers run: unpacked code, and logs (``logs/NAME.log``)."""
        return self.data_dir / "functions"

    @property
    def addr(self) -> str:
        return self.advertise or self.listen

    @property
    def peer_addr(self) -> str:
        """Where peers dial this node's Raft port: the advertised host, the --peer-listen port."""
        return f"{self.addr.rpartition(':')[0]}:{self.peer_listen.rpartition(':')[2]}"


def parse_initial_cluster(text: str) -> dict[str, tuple[str, str]]:
    """`n1=127.0.0.1:7101@us-east-1a,n2=...` -> {id: (addr, az)}."""
    out: dict[str, tuple[str, str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            node_id, rest = part.split("=", 1)
            addr, az = rest.rsplit("@", 1)
        except ValueError:
            raise ValueError(f"bad --initial-cluster member {part!r}: expected ID=HOST:PORT@AZ") from None
        out[node_id] = (addr, az)
    return out
