"""The README's boto3 example runs as written against a real cluster."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from tests.integration.conftest import make_client

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_boto3_example_runs(cluster):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "http://localhost:8000" in code
    scope: dict = {}
    exec(compile(code.replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), scope)
    item = scope["ddb"].get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    assert item == {"id": {"S": "ada"}, "visits": {"N": "2"}}


def _example(cluster, marker: str):
    """The README's python block containing ``marker``, and a client, with the
    first example's table made if no test made it yet."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    ddb = make_client(cluster.endpoint)
    if "users" not in ddb.list_tables()["TableNames"]:  # the first example makes it
        exec(compile(blocks[0].replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), {})
    return next(b for b in blocks if marker in b), ddb


def test_readme_ttl_example_runs(cluster):
    ttl, ddb = _example(cluster, "update_time_to_live")
    exec(compile(ttl, "README.md", "exec"), {"ddb": ddb})
    assert ddb.describe_time_to_live(TableName="users")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert "expires" in ddb.get_item(TableName="users", Key={"id": {"S": "session-1"}})["Item"]


def test_readme_functions_example_runs(cluster):
    example, ddb = _example(cluster, 'boto3.client("lambda"')
    before = ddb.get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    scope: dict = {}
    exec(compile(example.replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), scope)
    out = scope["out"]
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert "counting a visit of ada" in base64.b64decode(out["LogResult"]).decode()
    after = ddb.get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    assert int(after["visits"]["N"]) == int(before["visits"]["N"]) + 1
