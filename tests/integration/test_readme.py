"""The README's boto3 example runs as written against a real cluster."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_boto3_example_runs(cluster):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "http://localhost:8000" in code
    scope: dict = {}
    exec(compile(code.replace("http://localhost:8000", cluster.endpoint), "README.md", "exec"), scope)
    item = scope["ddb"].get_item(TableName="users", Key={"id": {"S": "ada"}}, ConsistentRead=True)["Item"]
    assert item == {"id": {"S": "ada"}, "visits": {"N": "2"}}
