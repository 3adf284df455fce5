"""One real cluster shared by the conformance modules a process runs in a
row; each module makes its own tables, and each case is one documented
behaviour."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy.local import LocalCluster
from tests.integration.conftest import make_client, start_cluster, wait_until


# Time to Live at test speed: UpdateTimeToLive's cooldown (DynamoDB: ~31
# minutes) and the interval of the partition leaders' expiry sweeps.
TTL_COOLDOWN_S = 2.0
TTL_SWEEP_S = 0.3
# The delays before Lambda's two retries of a failed asynchronous invocation (AWS: about 1 and 2 minutes).
LAMBDA_RETRY_DELAYS = "0.2,0.2"


# The cluster this process's conformance modules share while they run one after another. It was
# session-scoped: each make test worker kept its own up, idle, from its first conformance module to the
# end of the phase (10-15 minutes of three nodes at 5-9% of a core each, with TTL sweeps every 0.3 s),
# beside the integration and unit suites that came after. Each module makes its own tables.
_running: list[LocalCluster] = []
SUITE = Path(__file__).parent


def _stop() -> None:
    while _running:
        _running.pop().stop()


@pytest.fixture(scope="module")
def conformance_cluster(tmp_path_factory) -> LocalCluster:
    if not _running:
        _running.append(start_cluster(tmp_path_factory.mktemp("conformance"), extra_env={
            "TRIREME_TTL_COOLDOWN_S": str(TTL_COOLDOWN_S), "TRIREME_TTL_SWEEP_S": str(TTL_SWEEP_S),
            "TRIREME_LAMBDA_RETRY_DELAYS": LAMBDA_RETRY_DELAYS}))
    return _running[0]


@pytest.hookimpl(trylast=True)  # after the module's own fixtures were torn down (they may delete tables)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the cluster once the next test this process runs is not a conformance test
    (a pytest-xdist worker knows its next test before it runs the current one)."""
    if nextitem is None or SUITE not in nextitem.path.parents:
        _stop()


def pytest_sessionfinish() -> None:
    _stop()


@pytest.fixture(scope="module")
def ddb(conformance_cluster):
    return make_client(conformance_cluster.endpoint, retries=2)


@pytest.fixture(scope="module")
def raw_ddb(conformance_cluster):
    """A client that sends what it is given: botocore's own checks off, to
    reach the server's validation (Limit=0, wrong types, ...)."""
    return boto3.client("dynamodb", endpoint_url=conformance_cluster.endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))


def create_table(ddb, name: str, hash_key: tuple[str, str], range_key: tuple[str, str] | None = None,
                 **extra) -> str:
    keys = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    defs = {hash_key[0]: hash_key[1]}
    if range_key is not None:
        keys.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        defs[range_key[0]] = range_key[1]
    for attr, kind in extra.pop("more_definitions", {}).items():
        defs[attr] = kind
    ddb.create_table(TableName=name, KeySchema=keys, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in defs.items()],
                     **extra)
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 30,
               f"{name} to become ACTIVE")
    return name


def error_of(call, **kwargs) -> tuple[str, str]:
    """(code, message) of a call that must fail."""
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]
