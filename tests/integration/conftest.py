"""Real clusters for end-to-end tests: node and router processes on loopback,
talked to with boto3."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from cluster import tls
from deploy.local import LocalCluster


def make_client(endpoint: str, retries: int = 0, read_timeout: float = 30.0):
    """boto3's DynamoDB client of `endpoint` (an https one of a TLS cluster
    the test started trusts its CA)."""
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", verify=tls.ca_for(endpoint),
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"},
                      read_timeout=read_timeout, connect_timeout=5))


def start_cluster(tmp_path, **kwargs) -> LocalCluster:
    """A started cluster. Its tables start with two partitions unless a test
    asks otherwise (the product's default is one), so that scans, batches,
    transactions and indexes cross a partition boundary in every test."""
    kwargs.setdefault("partitions_per_table", 2)
    cluster = LocalCluster(tmp_path / "data", router_port=0, node_base_port=0, **kwargs)
    cluster.plan()
    try:
        cluster.start(wait_s=60)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def discard(cluster: LocalCluster) -> None:
    """Stop a cluster the tests are done with: SIGKILL right after SIGTERM, since
    nothing reads its data again (a graceful stop is 1-2 s of a test's time for
    every cluster; tests of stopping call `stop` themselves)."""
    cluster.stop(timeout=0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    """A three-node cluster shared by a module's tests (they must not break it)."""
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    discard(c)


@pytest.fixture
def own_cluster(tmp_path) -> Iterator[Callable[..., LocalCluster]]:
    """A factory for a cluster a test may break; stopped afterwards."""
    started: list[LocalCluster] = []

    def factory(**kwargs) -> LocalCluster:
        c = start_cluster(tmp_path, **kwargs)
        started.append(c)
        return c

    yield factory
    for c in started:
        discard(c)


@pytest.fixture(scope="module")
def ddb(cluster):
    return make_client(cluster.endpoint)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 (the condition may raise until it holds)
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))
