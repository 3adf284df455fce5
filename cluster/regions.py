"""Regions as separate clusters: a region's name and where its peers are.

Each region is a whole cluster (its own nodes in three AZs, metadata and
routers). Regions reach each other only through the cross-region link: a
router or node is told, per other region, the URL of that region's router
endpoint as seen through the link (`--remote-regions`).
"""

from __future__ import annotations

DEFAULT_REGION = "us-east-1"


def parse_remote_regions(text: str) -> dict[str, str]:
    """``eu-west-1=http://127.0.0.1:8101,ap-southeast-1=http://...`` -> {region: endpoint URL}."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        region, sep, url = part.partition("=")
        if not sep or not region or not url.startswith(("http://", "https://")):
            raise ValueError(f"bad --remote-regions member {part!r}: expected REGION=http://HOST:PORT")
        out[region] = url
    return out


def format_remote_regions(regions: dict[str, str]) -> str:
    return ",".join(f"{r}={url}" for r, url in sorted(regions.items()))


def azs_of(region: str) -> tuple[str, str, str]:
    """The three availability zones a local region's nodes are spread over."""
    return (f"{region}a", f"{region}b", f"{region}c")


# --- cross-region Raft peers (MRSC groups span regions) ------------------------
#
# A Raft group of a strongly consistent global table has members in three
# regions. They are named `REGION/NODE` in that group, the same in every
# region; a node reaches another region's member through the link's peer port
# for the (own, other) region pair: each connection starts with a header
# naming the destination node, which the link maps to that node's peer port.

PEER_HEADER = b"N"  # then one byte of length and the destination node id (UTF-8)


def qualify(region: str, node_id: str) -> str:
    return f"{region}/{node_id}"


def split_qualified(member: str) -> tuple[str | None, str]:
    """``eu-west-1/n2`` -> ("eu-west-1", "n2"); a plain ``n2`` -> (None, "n2")."""
    region, sep, node = member.rpartition("/")
    return (region, node) if sep else (None, member)


def peer_header(node_id: str) -> bytes:
    """The first bytes of a connection to the link's peer port, naming the node it is for."""
    raw = node_id.encode()
    if not 0 < len(raw) < 256:
        raise ValueError(f"node id {node_id!r} must be 1 to 255 bytes")
    return PEER_HEADER + bytes([len(raw)]) + raw


def parse_peer_header(data: bytes) -> tuple[str, int] | None:
    """(node id, header length) once `data` holds a whole header, None while it
    is short; ValueError when it is no header."""
    if not data:
        return None
    if data[:1] != PEER_HEADER:
        raise ValueError(f"first byte {data[:1]!r}: not a peer connection through the link")
    if len(data) < 2 or len(data) < 2 + data[1]:
        return None
    end = 2 + data[1]
    return data[2:end].decode(errors="replace"), end


def parse_remote_peers(text: str) -> dict[str, str]:
    """``eu-west-1=127.0.0.1:8301,...`` -> {region: host:port of the link's peer port for that region}."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        region, sep, addr = part.partition("=")
        host, colon, port = addr.rpartition(":")
        if not sep or not region or not colon or not host or "/" in host or not port.isdigit():
            raise ValueError(f"bad --remote-peers member {part!r}: expected REGION=HOST:PORT")
        out[region] = addr
    return out


def format_remote_peers(peers: dict[str, str]) -> str:
    return ",".join(f"{r}={addr}" for r, addr in sorted(peers.items()))
