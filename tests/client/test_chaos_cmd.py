"""`trireme chaos` against a real local cluster: an isolated AZ and a paused
node leave writes and strong reads working; heal brings everyone back."""

from __future__ import annotations

import pytest

from client.cli import main
from tests.integration.admin import leader_of, meta, replicas
from tests.integration.conftest import make_client, own_cluster, wait_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def chaos(cluster, capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(["chaos", *args, "--data-dir", str(cluster.data_dir)]) == 0
    return capsys.readouterr().out


def test_isolate_pause_heal(own_cluster, capsys):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint, retries=5)
    ddb.create_table(TableName="chaos", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName="chaos")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    groups = [g for g in meta(cluster)["partitions"] if g.startswith("t")]

    out = chaos(cluster, capsys, "isolate", "us-east-1a")
    assert "isolate" in out and "us-east-1a" in out
    listing = chaos(cluster, capsys, "list")
    assert "drops to n2,n3" in listing and "drops from n1" in listing
    # n1 cannot lead anything any more; the other two AZs keep serving.
    for g in groups:
        wait_until(lambda g=g: leader_of(cluster, g, live=["n2", "n3"]), 20, f"{g} led outside us-east-1a")
    for i in range(20):
        ddb.put_item(TableName="chaos", Item={"pk": {"S": f"k{i}"}})
    assert all("Item" in ddb.get_item(TableName="chaos", Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
               for i in range(20))

    chaos(cluster, capsys, "heal")
    assert "FAULTS" in chaos(cluster, capsys, "list")

    def n1_caught_up() -> bool:
        target = {g: replicas(cluster, leader_of(cluster, g))[g]["commit"] for g in groups}
        mine = replicas(cluster, "n1")
        return all(mine[g]["applied"] >= target[g] for g in groups)

    wait_until(n1_caught_up, 30, "n1 to catch up after the heal")

    chaos(cluster, capsys, "pause", "n2")
    assert "paused" in chaos(cluster, capsys, "list")
    for i in range(20, 30):
        ddb.put_item(TableName="chaos", Item={"pk": {"S": f"k{i}"}})
    chaos(cluster, capsys, "heal")
    wait_until(lambda: "paused" not in chaos(cluster, capsys, "list"), 10, "n2 to resume")
    log = chaos(cluster, capsys, "log")
    assert [line.split()[1] for line in log.splitlines()] == ["isolate", "heal", "pause", "heal"]
    assert all("Item" in ddb.get_item(TableName="chaos", Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
               for i in range(30))


def test_usage_errors_and_a_crash_loop(own_cluster, capsys):
    cluster = own_cluster()
    out = chaos(cluster, capsys, "crashloop", "n3", "--times", "2", "--every", "0.3")
    assert [line.split()[1] for line in out.splitlines()] == ["kill", "restart", "kill", "restart"]
    ddb = make_client(cluster.endpoint, retries=5)
    wait_until(lambda: ddb.list_tables() is not None, 30, "the cluster to serve after the crash loop")
    assert main(["chaos", "crashloop", "n3", "--times", "0", "--data-dir", str(cluster.data_dir)]) == 2
    assert main(["chaos", "kill", "--data-dir", str(cluster.data_dir)]) == 2
    assert main(["chaos", "isolate", "mars-1a", "--data-dir", str(cluster.data_dir)]) == 2
    assert "no node in AZ" in capsys.readouterr().err


def test_clock_skew_is_listed_and_healed(own_cluster, capsys):
    cluster = own_cluster()
    out = chaos(cluster, capsys, "clock", "--rate", "0.97", "n1")
    assert "clock" in out and "rate=0.97" in out and "note:" not in out
    assert "clock x0.97" in chaos(cluster, capsys, "list")
    out = chaos(cluster, capsys, "clock", "--rate", "0.5", "n2")
    assert "note: clock rates now differ by 100%" in out
    assert main(["chaos", "clock", "--rate", "0", "--data-dir", str(cluster.data_dir)]) == 2
    assert "clock rate must be in (0, 100]" in capsys.readouterr().err
    chaos(cluster, capsys, "heal")
    assert "clock x" not in chaos(cluster, capsys, "list")


def test_router_link_cut(own_cluster, capsys):
    """A router cut off from every node cannot write (503, never sent, so
    nothing applied); after heal it can."""
    cluster = own_cluster(router_deadline_s=1.5)
    ddb = make_client(cluster.endpoint)
    ddb.create_table(TableName="cut", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    wait_until(lambda: ddb.describe_table(TableName="cut")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    ddb.put_item(TableName="cut", Item={"pk": {"S": "k"}})
    for n in ("n1", "n2", "n3"):
        chaos(cluster, capsys, "cut", "router1", n)
    listing = chaos(cluster, capsys, "list")
    assert "router1" in listing and "drops to n1,n2,n3" in listing
    with pytest.raises(Exception) as err:
        ddb.put_item(TableName="cut", Item={"pk": {"S": "k"}, "v": {"S": "cut"}})
    assert "ServiceUnavailable" in str(err.value) and "link to" in str(err.value)
    chaos(cluster, capsys, "heal")
    assert "drops to" not in chaos(cluster, capsys, "list")
    assert "v" not in ddb.get_item(TableName="cut", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
