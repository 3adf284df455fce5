"""The README's boto3 example runs as written against a real cluster."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import urllib.request
from pathlib import Path

import boto3

from tests.integration.conftest import make_client

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_boto3_example_runs(cluster):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "http://localhost:8000" in code
    scope: dict = {}
    exec(compile(code.replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), scope)
    item = scope["ddb"].get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    assert item == {"id": {"S": "ada"}, "visits": {"N": "2"}}


def _example(cluster, word: str):
    """A client, and the README's example that uses ``word`` (pointed at the
    cluster), after the first example made its table."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    ddb = make_client(cluster.endpoint)
    if "users" not in ddb.list_tables()["TableNames"]:  # the first example makes it
        exec(compile(blocks[0].replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), {})
    return ddb, next(b for b in blocks if word in b).replace("http://localhost:8000", cluster.endpoint)


def test_readme_ttl_example_runs(cluster):
    ddb, ttl = _example(cluster, "update_time_to_live")
    exec(compile(ttl, "README.md", "exec"), {"ddb": ddb})
    assert ddb.describe_time_to_live(TableName="users")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert "expires" in ddb.get_item(TableName="users", Key={"id": {"S": "session-1"}})["Item"]


def test_readme_functions_example_runs(cluster):
    ddb, example = _example(cluster, 'boto3.client("lambda"')
    before = ddb.get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    scope: dict = {}
    exec(compile(example, "README.md", "exec"), scope)
    out = scope["out"]
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert "counting a visit of ada" in base64.b64decode(out["LogResult"]).decode()
    after = ddb.get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    assert int(after["visits"]["N"]) == int(before["visits"]["N"]) + 1


def test_readme_streams_example_runs(cluster):
    ddb, code = _example(cluster, "dynamodbstreams")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"ddb": ddb, "boto3": boto3})
    assert out.getvalue() == "INSERT {'id': {'S': 'bob'}}\n"


def test_readme_function_url_example_runs(cluster):
    _, example = _example(cluster, "create_function_url_config")
    scope: dict = {}
    exec(compile(example, "README.md", "exec"), scope)
    assert scope["url"].startswith(cluster.endpoint + "/trireme/url/")
    with urllib.request.urlopen(scope["url"] + "world", timeout=60) as resp:
        assert resp.read() == b"hello from /world"


def _cli_session(cluster, word: str) -> list:
    """Each AWS CLI command of the README's shell block that uses ``word``, run in order."""
    import os
    import subprocess
    import sys

    block = next(b for b in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S) if word in b)
    commands = [c for c in re.sub(r"\\\n\s*", "", block).splitlines() if c.startswith("aws ")]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    aws = str(Path(sys.executable).with_name("aws"))
    return [subprocess.run(["bash", "-c", c.replace("http://localhost:8000", cluster.endpoint)
                            .replace("aws ", aws + " ", 1)], env=env, capture_output=True, text=True, timeout=120)
            for c in commands]


def test_readme_partiql_cli_session_runs(cluster):
    """The PartiQL session runs as written with the AWS CLI (each command, in order)."""
    import json

    _example(cluster, "create_table")  # the users table
    results = _cli_session(cluster, "execute-statement")
    assert [r.returncode for r in results[:3]] == [0, 0, 0], [r.stderr for r in results]
    assert json.loads(results[2].stdout) == {"Items": [{"id": {"S": "carol"}, "visits": {"N": "2"}}]}
    assert results[3].returncode != 0 and "DuplicateItemException" in results[3].stderr
    assert "Duplicate primary key exists in table" in results[3].stderr


def test_readme_transactions_example_runs(cluster):
    ddb, code = _example(cluster, "transact_write_items")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"ddb": ddb})
    printed = re.search(r"prints\n\n```\n(.*?)```", README.read_text(), re.S).group(1)
    assert out.getvalue() == printed


def test_readme_execute_transaction_session_runs(cluster):
    """The ExecuteTransaction commands run as written with the AWS CLI, after the boto3 example."""
    import json

    ddb, code = _example(cluster, "transact_write_items")
    if "eve" not in str(ddb.get_item(TableName="users", Key={"id": {"S": "eve"}}, ConsistentRead=True)):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "README.md", "exec"), {"ddb": ddb})
    results = _cli_session(cluster, "execute-transaction")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    shown = json.loads(re.search(r"# (\{\"Responses\".*)", README.read_text()).group(1))
    assert json.loads(results[1].stdout) == shown


def test_readme_throttling_example_runs(cluster):
    ddb, code = _example(cluster, "impatient")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"ddb": ddb, "boto3": boto3})
    assert out.getvalue() == "ProvisionedThroughputExceededException\n{'id': {'S': 'm1'}}\n"


def test_readme_autoscaling_session_runs(cluster):
    """The auto scaling commands run as written with the AWS CLI, after the throttling example."""
    import json

    ddb, code = _example(cluster, "impatient")
    if "meters" not in ddb.list_tables()["TableNames"]:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "README.md", "exec"), {"ddb": ddb, "boto3": boto3})
    results = _cli_session(cluster, "register-scalable-target")
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert json.loads(results[1].stdout)["PolicyARN"].startswith("arn:aws:application-autoscaling:us-east-1:")
    assert "ScalingActivities" in json.loads(results[2].stdout)


def test_readme_backups_cli_session_runs(cluster, tmp_path):
    """The backup session runs as written with the AWS CLI: the backup restored, the export written."""
    import os
    import subprocess
    import sys

    from tests.integration.conftest import wait_until

    ddb, _ = _example(cluster, "create_table")
    block = next(b for b in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S) if "create-backup" in b)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    aws = str(Path(sys.executable).with_name("aws"))
    for c in [c for c in re.sub(r"\\\n\s*", "", block).splitlines() if c.startswith("aws ")]:
        r = subprocess.run(["bash", "-c", c.replace("http://localhost:8000", cluster.endpoint)
                            .replace("aws ", aws + " ", 1)], env=env, capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
        assert r.returncode == 0, (c, r.stderr)
    wait_until(lambda: ddb.describe_table(TableName="users-restored")["Table"]["TableStatus"] == "ACTIVE", 60,
               "the restored table")
    # The Time to Live example's item expires a minute after it was written: the sweeper may delete it from
    # users after the backup took it (the restored table keeps it: a restore does not carry TTL, as in DynamoDB)
    import time
    live = lambda items: sorted(repr(i) for i in items if int(i.get("expires", {}).get("N", "0")) == 0
                                or int(i["expires"]["N"]) > time.time() + 120)  # noqa: E731
    source = ddb.scan(TableName="users", ConsistentRead=True)["Items"]
    restored = ddb.scan(TableName="users-restored", ConsistentRead=True)["Items"]
    assert live(restored) == live(source) and len(live(source)) >= 5  # nothing written to users meanwhile
    wait_until(lambda: list((cluster.data_dir / "exports" / "my-exports").rglob("manifest-summary.json")), 60,
               "the export's manifest")
