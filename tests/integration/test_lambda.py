"""Functions across routers and failures: a function created through one router
is served by another (its record in the metadata, its code in the hidden chunk
table), also after the node leading the code's partition is killed; ``trireme
logs`` reads the logs every router wrote."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.meta import FUNCTION_CODE_TABLE
from deploy.local import LocalCluster
from cluster.function_code import CHUNK
from tests.conformance.test_lambda import ROLE, lambda_client
from tests.integration.admin import leader_of, meta, raw_items
from tests.integration.conftest import discard, start_cluster, wait_until

TRIREME = [str(Path(sys.executable).with_name("trireme"))]
# Random bytes beside the handler: a zip of three chunks, spread over the code table's partitions.
FILLER = os.urandom(2 * CHUNK + 1000).hex()[:2 * CHUNK + 1000]
HANDLER = """
import os
FILLER = open(os.path.join(os.path.dirname(__file__), "filler.txt")).read()
def handler(event, context):
    print("handling", event["n"], "in", os.environ["AWS_ENDPOINT_URL"])
    return {"n": event["n"], "filler": len(FILLER)}
"""


def package(with_filler: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", HANDLER)
        zf.writestr("filler.txt", FILLER if with_filler else "")
        zf.writestr("id.txt", uuid.uuid4().hex)  # every package (and its CodeSha256) is its own
    return buf.getvalue()


@pytest.fixture(scope="module")
def two_routers(tmp_path_factory) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path_factory.mktemp("lambda"), routers=2)
    yield c
    discard(c)


def endpoints(cluster: LocalCluster) -> list[str]:
    return [f"http://{p.addr}" for p in cluster.procs.values() if p.kind == "router"]


def invoke(lam, name: str, n: int) -> dict:
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}))
    assert "FunctionError" not in out, out["Payload"].read()
    return json.load(out["Payload"])


def test_trireme_logs_reads_the_log_of_every_router(two_routers):
    first, second = (lambda_client(e) for e in endpoints(two_routers))
    name = f"logs-{uuid.uuid4().hex[:6]}"
    first.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                          Code={"ZipFile": package(with_filler=False)})
    invoke(first, name, 1)
    invoke(second, name, 2)
    logs = [*TRIREME, "logs", name, "--data-dir", str(two_routers.data_dir)]
    out = subprocess.run(logs, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for n, endpoint in ((1, endpoints(two_routers)[0]), (2, endpoints(two_routers)[1])):
        assert f"handling {n} in {endpoint}" in out.stdout  # each router ran it, with itself as the endpoint
    assert out.stdout.count("START RequestId: ") == 2 and out.stdout.count("REPORT RequestId: ") == 2

    missing = subprocess.run([*TRIREME, "logs", "nope", "--data-dir", str(two_routers.data_dir)],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "function nope not found" in missing.stderr

    follow = subprocess.Popen([*logs, "--follow"], stdout=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(follow.stdout.readline, "")), daemon=True)
        reader.start()
        wait_until(lambda: any("handling 2" in ln for ln in lines), 20, "the existing lines")
        invoke(second, name, 3)
        wait_until(lambda: any("handling 3" in ln for ln in lines), 20, "a new line, followed")
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(10)


def chunks_of(cluster: LocalCluster, sha: str) -> int:
    """How many chunks of code with this CodeSha256 the code table's partition leaders hold."""
    count = 0
    for group in meta(cluster)["tables"][FUNCTION_CODE_TABLE]["partitions"]:
        leader = leader_of(cluster, group)
        assert leader is not None
        count += sum(sha in v for v in raw_items(cluster, leader, group).values())
    return count


def test_code_no_function_references_is_dropped(two_routers):
    lam = lambda_client(endpoints(two_routers)[0])
    name = f"drop-{uuid.uuid4().hex[:6]}"
    first = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": package()})["CodeSha256"]
    assert chunks_of(two_routers, first) == 3
    second = lam.update_function_code(FunctionName=name, ZipFile=package(with_filler=False))["CodeSha256"]
    wait_until(lambda: chunks_of(two_routers, first) == 0, 20, "the replaced code's chunks to go")
    assert chunks_of(two_routers, second) == 1
    lam.delete_function(FunctionName=name)
    wait_until(lambda: chunks_of(two_routers, second) == 0, 20, "the deleted function's chunks to go")


def test_a_function_survives_the_loss_of_the_node_leading_its_code(two_routers):
    creator, other = (lambda_client(e) for e in endpoints(two_routers))
    name = f"failover-{uuid.uuid4().hex[:6]}"
    code = package()
    sha = creator.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": code}, Timeout=30)["CodeSha256"]
    assert invoke(creator, name, 1) == {"n": 1, "filler": len(FILLER)}

    def leader_holding_a_chunk() -> str | None:
        for group in meta(two_routers)["tables"][FUNCTION_CODE_TABLE]["partitions"]:
            leader = leader_of(two_routers, group)
            if leader and any(sha in v for v in raw_items(two_routers, leader, group).values()):
                return leader
        return None
    two_routers.kill(wait_until(leader_holding_a_chunk, 10, "the leader of a partition holding the code"))
    # The other router never ran it: it reads the record from its metadata and the chunks from the survivors.
    assert other.get_function(FunctionName=name)["Configuration"]["CodeSize"] == len(code)
    assert wait_until(lambda: invoke(other, name, 2), 60, "an invocation after the kill") == {
        "n": 2, "filler": len(FILLER)}
