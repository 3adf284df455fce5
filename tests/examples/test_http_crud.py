"""examples/http-crud: the "API Gateway + Lambda + DynamoDB CRUD" tutorial app,
deployed by its own script to a real cluster and driven with plain HTTP."""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "http-crud"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"http_crud_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_tutorial_app_create_list_get_delete(cluster):
    url = load("deploy").deploy(cluster.endpoint)
    assert load("deploy").deploy(cluster.endpoint) == url  # deploying again keeps the URL
    items = url + "items"
    assert call("PUT", items, {"id": "123", "price": 12345, "name": "myitem"}) == (200, "Put item 123")
    assert call("PUT", items, {"id": "456", "price": 9.5, "name": "other"}) == (200, "Put item 456")
    status, listed = call("GET", items)
    assert status == 200 and sorted(listed, key=lambda i: i["id"]) == [
        {"id": "123", "price": 12345, "name": "myitem"}, {"id": "456", "price": 9.5, "name": "other"}]
    assert call("GET", items + "/123") == (200, {"id": "123", "price": 12345, "name": "myitem"})
    assert call("DELETE", items + "/123") == (200, "Deleted item 123")
    assert call("GET", items + "/123") == (200, None)
    assert [i["id"] for i in call("GET", items)[1]] == ["456"]
    assert call("POST", items) == (400, 'Unsupported route: "POST /items"')
