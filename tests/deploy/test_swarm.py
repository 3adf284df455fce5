"""The Swarm stack (deploy/swarm/trireme-stack.yml): checked offline (its
command lines parse, each AZ's node is placed by its label), and for real on
a one-host swarm: `docker swarm init`, `docker stack deploy` with the
documented one-host placement, a boto3 put and get through the router, then
the stack removed and the swarm left.

The real one runs in CI (``CI=true``) and wherever ``TRIREME_COMPOSE_TEST=1``;
it may install and start a Docker engine (root on Debian), so elsewhere it skips.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from client.cli import build_parser
from deploy.containers import Engine
from deploy.local import free_port
from tests.deploy.compose_support import TAG, engine_with_image
from tests.integration.conftest import make_client, wait_until

STACK_FILE = Path(__file__).resolve().parents[2] / "deploy" / "swarm" / "trireme-stack.yml"
STACK = "trireme-swarm-test"
ONE_HOST = "node.role == manager"  # the stack file's documented placement when one host holds every AZ


def stack(env: dict[str, str] | None = None) -> dict:
    """The stack file as `docker stack deploy` reads it: ${VAR:-default} filled in."""
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: (env or {}).get(m.group(1), m.group(2)),
                  STACK_FILE.read_text())
    return yaml.safe_load(text)


def test_each_az_gets_a_node_placed_by_its_label_and_every_command_parses():
    services = stack()["services"]
    founders = {}
    for name, svc in services.items():
        args = build_parser().parse_args(svc["command"])  # argparse exits on a bad command line
        if args.command == "router":
            assert sorted(args.seeds.split(",")) == [f"{n}:7101" for n in ("n1", "n2", "n3")]
            continue
        assert args.command == "node" and args.id == name and args.advertise == f"{name}:7101"
        assert svc["deploy"]["placement"]["constraints"] == [f"node.labels.trireme.az == {args.az}"]
        assert svc["deploy"]["endpoint_mode"] == "dnsrr" and svc["volumes"] == [f"{name}:/data"]
        founders[name] = f"{args.advertise}@{args.az}"
        members = dict(m.split("=", 1) for m in args.initial_cluster.split(","))
        assert members == {n: f"{n}:7101@{az}" for n, az in
                           (("n1", "us-east-1a"), ("n2", "us-east-1b"), ("n3", "us-east-1c"))}
    assert founders == members
    one_host = stack({f"TRIREME_PLACE_{z}": ONE_HOST for z in "ABC"})["services"]
    assert {s["deploy"]["placement"]["constraints"][0] for n, s in one_host.items() if n != "router"} == {ONE_HOST}


@pytest.mark.slow
@pytest.mark.serial  # an engine in swarm mode: alone, as in the serial phase
def test_the_stack_deploys_on_a_swarm_and_serves_dynamodb():
    port = free_port("127.0.0.1")
    with engine_with_image() as engine:
        _remove(engine)  # an interrupted run's stack, volumes and swarm
        engine.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377",
                      timeout=120)
        env = dict(engine.env, TRIREME_IMAGE=TAG, TRIREME_PORT=str(port), TRIREME_PLACE_A=ONE_HOST,
                   TRIREME_PLACE_B=ONE_HOST, TRIREME_PLACE_C=ONE_HOST, TRIREME_CLUSTER_ID="trireme-swarm-test")
        try:
            deployed = Engine(env).docker("stack", "deploy", "--resolve-image", "never", "-c", str(STACK_FILE),
                                          STACK, timeout=120, check=False)
            assert deployed.returncode == 0, deployed.stderr.decode() + deployed.stdout.decode()
            ddb = make_client(f"http://127.0.0.1:{port}", retries=3, read_timeout=10)

            def table_ready() -> bool:
                try:
                    ddb.create_table(TableName="swarm", BillingMode="PAY_PER_REQUEST",
                                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
                except ddb.exceptions.ResourceInUseException:
                    pass
                return ddb.describe_table(TableName="swarm")["Table"]["TableStatus"] == "ACTIVE"
            wait_until(_answers(table_ready), 150, "the swarm cluster to create a table", interval=1.0)
            ddb.put_item(TableName="swarm", Item={"pk": {"S": "k"}, "v": {"N": "7"}})
            got = ddb.get_item(TableName="swarm", Key={"pk": {"S": "k"}}, ConsistentRead=True)
            assert got["Item"] == {"pk": {"S": "k"}, "v": {"N": "7"}}
            tasks = engine.docker("stack", "ps", "--format", "{{.Name}} {{.CurrentState}}", STACK,
                                  timeout=60).stdout.decode()
            assert all(f"{STACK}_{s}." in tasks for s in ("n1", "n2", "n3", "router")), tasks
        finally:
            _remove(engine)


def _remove(engine: Engine) -> None:
    """The stack, then its volumes (once its containers are gone), then the swarm."""
    engine.docker("stack", "rm", STACK, check=False, timeout=120)
    label = f"label=com.docker.stack.namespace={STACK}"
    wait_until(lambda: not engine.docker("ps", "-aq", "--filter", label, check=False, timeout=30).stdout.strip(),
               60, "the stack's containers to go", interval=1.0)
    volumes = engine.docker("volume", "ls", "-q", "--filter", label, check=False, timeout=30).stdout.split()
    if volumes:
        engine.docker("volume", "rm", *(v.decode() for v in volumes), check=False, timeout=60)
    engine.docker("swarm", "leave", "--force", check=False, timeout=120)


def _answers(predicate):
    """False while the cluster cannot answer yet (connection refused, no leader), instead of raising."""
    def attempt() -> bool:
        try:
            return predicate()
        except Exception:  # noqa: BLE001 (the stack is still starting)
            return False
    return attempt
