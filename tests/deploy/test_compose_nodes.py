"""The compose file's `two-per-az` profile (the config only; the compose
cluster itself runs in tests/deploy/test_compose.py): with it, two storage
nodes in each AZ, as `trireme up --nodes-per-az 2`."""

from __future__ import annotations

from collections import Counter

import yaml

from deploy.containers import COMPOSE_FILE

NET = "${TRIREME_NET:-10.213.7}"


def _arg(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_the_two_per_az_profile_adds_a_node_in_each_az_joining_through_the_founders():
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    founders = {name: s for name, s in services.items() if name in ("n1", "n2", "n3")}
    added = {name: s for name, s in services.items() if "two-per-az" in (s.get("profiles") or [])}
    assert sorted(added) == ["n4", "n5", "n6"]
    assert all(not s.get("profiles") for s in founders.values())  # a plain `up` still runs three nodes
    assert "elastic" in services["n4"]["profiles"]  # `--profile elastic up -d n4` as before
    nodes = {**founders, **added}
    azs = Counter(_arg(s["command"], "--az") for s in nodes.values())
    assert azs == {"us-east-1a": 2, "us-east-1b": 2, "us-east-1c": 2}
    seeds = ",".join(_arg(founders[n]["command"], "--listen") for n in ("n1", "n2", "n3"))
    addresses = set()
    for name, s in added.items():
        cmd = s["command"]
        assert _arg(cmd, "--id") == name == s["hostname"]
        ip = s["networks"]["cluster"]["ipv4_address"]
        assert _arg(cmd, "--listen") == f"{ip}:7101" and _arg(cmd, "--peer-listen") == f"{ip}:7201"
        assert _arg(cmd, "--join") == seeds and "--initial-cluster" not in cmd
        assert _arg(cmd, "--cluster-id") == _arg(founders["n1"]["command"], "--cluster-id")
        assert f"{name}:/data" in s["volumes"] and name in compose["volumes"]
        addresses.add(ip)
    used = {s["networks"]["cluster"]["ipv4_address"] for n, s in services.items()
            if n not in added and "networks" in s}
    assert len(addresses) == 3 and not addresses & used and all(a.startswith(NET + ".") for a in addresses)
