"""The Kubernetes manifests (deploy/k8s), checked offline: against the
Kubernetes API schemas (kubernetes-validate ships them), and against our own
command line and topology, so that what `kubectl apply` gets would run."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from client.cli import build_parser

K8S_VERSION = "1.35"  # a recent release the schemas cover
DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
DOCS = [d for f in sorted(DIR.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def of_kind(kind: str) -> list[dict]:
    return [d for d in DOCS if d["kind"] == kind]


def workloads() -> list[dict]:
    return of_kind("StatefulSet") + of_kind("Deployment")


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pod_name(workload: dict) -> str:
    """The name a pod of it has (the first one, for a StatefulSet)."""
    return workload["metadata"]["name"] + ("-0" if workload["kind"] == "StatefulSet" else "-7d9c-x2x4z")


def expand(words: list[str], container: dict, workload: dict) -> list[str]:
    """`$(VAR)` replaced as the kubelet does, from the container's env."""
    env = {}
    for e in container.get("env", []):
        src = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = e["value"]
        elif src.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod_name(workload)
        elif "configMapKeyRef" in src:
            ref = src["configMapKeyRef"]
            maps = [m for m in of_kind("ConfigMap") if m["metadata"]["name"] == ref["name"]]
            assert maps and ref["key"] in maps[0]["data"], f"no ConfigMap {ref['name']} with key {ref['key']}"
            env[e["name"]] = maps[0]["data"][ref["key"]]
        else:
            raise AssertionError(f"unexpected env source {e}")

    def one(m: re.Match) -> str:
        assert m.group(1) in env, f"{m.group(0)} is not in the container's env"
        return env[m.group(1)]
    return [REF.sub(one, w) for w in words]


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse as `trireme` would (argparse exits on a bad command line)."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"`trireme {' '.join(argv)}` does not parse") from exc


def command_line(workload: dict) -> argparse.Namespace:
    pod = workload["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "command" not in container, "the image's ENTRYPOINT (trireme) runs the args"
    return parse(expand(container["args"], container, workload))


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_against_the_kubernetes_schemas(doc):
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{'.'.join(map(str, exc.path))}: {exc.message}")


def test_every_container_and_exec_probe_runs_a_trireme_command_line_that_parses():
    commands = []
    for w in workloads():
        args = command_line(w)
        commands.append(args.command)
        (container,) = w["spec"]["template"]["spec"]["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{w['metadata']['name']} has no {probe}"
            exec_ = container[probe].get("exec")
            if exec_:
                assert exec_["command"][0] == "trireme"
                assert parse(exec_["command"][1:]).command == "probe"
            else:  # the router's GET / on a port it listens on
                port = container[probe]["httpGet"]["port"]
                (named,) = [p for p in container["ports"] if port in (p["name"], p["containerPort"])]
                assert args.listen.endswith(f":{named['containerPort']}")
    assert sorted(set(commands)) == ["node", "router"]


def test_each_az_has_a_pinned_stateful_set_of_nodes_that_advertise_their_stable_dns_name():
    sets = of_kind("StatefulSet")
    headless = {s["metadata"]["name"]: s for s in of_kind("Service") if s["spec"].get("clusterIP") == "None"}
    azs = []
    for s in sets:
        args = command_line(s)
        azs.append(args.az)
        assert args.id == pod_name(s)
        service = headless[s["spec"]["serviceName"]]
        assert service["spec"]["publishNotReadyAddresses"] is True  # founders resolve each other before ready
        labels = s["spec"]["template"]["metadata"]["labels"]
        assert matches(service["spec"]["selector"], labels) and matches(s["spec"]["selector"]["matchLabels"], labels)
        assert args.advertise == f"{pod_name(s)}.{service['metadata']['name']}:7101"
        assert args.listen == "0.0.0.0:7101" and args.peer_listen == "0.0.0.0:7201"
        ports = {p["port"] for p in service["spec"]["ports"]}
        assert {7101, 7201} <= ports
        terms = s["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                                "values": [args.az]}]}]
        (claim,) = s["spec"]["volumeClaimTemplates"]
        (container,) = s["spec"]["template"]["spec"]["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts[str(args.data_dir)] == claim["metadata"]["name"]
    assert len(set(azs)) == len(azs) == 3


def test_pod_zero_of_each_set_founds_the_cluster_and_every_pod_can_join_by_name():
    sets = of_kind("StatefulSet")
    founders = {pod_name(s): (f"{pod_name(s)}.{s['spec']['serviceName']}:7101", command_line(s).az)
                for s in sets}
    for s in sets:
        args = command_line(s)
        members = dict(m.split("=", 1) for m in args.initial_cluster.split(","))
        assert {k: tuple(v.split("@")) for k, v in members.items()} == founders
        assert sorted(args.join.split(",")) == sorted(a for a, _ in founders.values())
        assert args.cluster_id  # the same on all: one ConfigMap
    routers = [command_line(d) for d in of_kind("Deployment")]
    assert routers and all(sorted(r.seeds.split(",")) == sorted(a for a, _ in founders.values()) for r in routers)
    assert {r.cluster_id for r in routers} == {command_line(s).cluster_id for s in sets}


def test_a_disruption_budget_keeps_a_quorum_of_every_replica_set():
    """Replicas span the three AZs: at most one node pod of all sets may be evicted at once, and
    a new image restarts no pod by itself (the sets would roll one pod per AZ at once)."""
    assert all(s["spec"]["updateStrategy"] == {"type": "OnDelete"} for s in of_kind("StatefulSet"))
    (pdb,) = of_kind("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    for w in workloads():
        covered = matches(selector, w["spec"]["template"]["metadata"]["labels"])
        assert covered == (w["kind"] == "StatefulSet"), w["metadata"]["name"]


def test_the_router_service_reaches_the_routers_port():
    (deployment,) = of_kind("Deployment")
    (service,) = [s for s in of_kind("Service") if s["spec"].get("clusterIP") != "None"]
    assert matches(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    (port,) = service["spec"]["ports"]
    assert command_line(deployment).listen == f"0.0.0.0:{named[port['targetPort']]}"
    assert all(command_line(s).router_endpoint == f"http://{service['metadata']['name']}:{port['port']}"
               for s in of_kind("StatefulSet"))
