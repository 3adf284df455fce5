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
