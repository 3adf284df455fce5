"""One real cluster shared by the whole conformance suite; each module makes
its own tables, and each case is one documented behaviour."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def conformance_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path_factory.mktemp("conformance"), extra_env={
        "TRIREME_TTL_COOLDOWN_S": str(TTL_COOLDOWN_S), "TRIREME_TTL_SWEEP_S": str(TTL_SWEEP_S)})
    yield c
    c.stop()


@pytest.fixture(scope="session")
def ddb(conformance_cluster):
    return make_client(conformance_cluster.endpoint, retries=2)


@pytest.fixture(scope="session")
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
