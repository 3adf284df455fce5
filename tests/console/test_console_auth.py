"""The console of a cluster started with --auth: its page is public, its API
wants a SigV4 signature (the event stream's presigned in the query), its
fault injection an admin; in a real browser, the sign-in form, then the
page working with the signed requests it makes (router/console/static/auth.js)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from client.elastic_cmd import meta
from ddb.iam import sigv4
from tests.console.test_console import chromium, page  # noqa: F401 (fixtures)
from tests.integration.conftest import start_cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("console-auth"), auth=True)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def viewer(cluster) -> tuple[str, str]:
    """A user who is not an admin, with a key."""
    made = asyncio.run(meta(cluster, "create_user", {"name": "viewer", "with_key": True}))
    assert made.get("ok"), made
    return made["key"]["AccessKeyId"], made["key"]["SecretAccessKey"]


def request(cluster, method: str, path: str, body: bytes = b"", keys: tuple[str, str] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict | bytes]:
    headers = dict(headers or {})
    if keys is not None:
        headers["Host"] = cluster.endpoint.split("//", 1)[1]
        headers.update(sigv4.sign(method, path, headers, body, access_key=keys[0], secret=keys[1],
                                  region=cluster.region, service="dynamodb", now=time.time()))
    req = urllib.request.Request(cluster.endpoint + path, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw = r.status, r.read() if r.headers.get("Content-Type") != "text/event-stream" else b""
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def test_the_page_is_public_and_its_api_wants_a_signature(cluster, viewer):
    assert request(cluster, "GET", "/console")[0] == 200
    assert request(cluster, "GET", "/console/static/auth.js")[0] == 200
    status, body = request(cluster, "GET", "/console/api/state")
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    status, body = request(cluster, "GET", "/console/api/state", keys=("AKIDNOBODY", "nothing"))
    assert (status, body["__type"]) == (403, "UnrecognizedClientException")
    admin = cluster.credentials()
    status, body = request(cluster, "GET", "/console/api/state", keys=admin)
    assert status == 200 and body["cluster_id"] == cluster.cluster_id
    status, _ = request(cluster, "GET", "/consoleX")  # not the console: the Lambda API's authentication
    assert status == 403

    # Fault injection: admins only.
    heal = json.dumps({"action": "heal"}).encode()
    wait_until(lambda: request(cluster, "GET", "/console/api/state", keys=viewer)[0] == 200, 30,
               "the router to know the viewer's key", interval=0.3)
    status, body = request(cluster, "POST", "/console/api/chaos", heal, keys=viewer,
                           headers={"Content-Type": "application/json"})
    assert (status, body["__type"]) == (403, "AccessDeniedException") and "user/viewer" in body["message"]
    status, body = request(cluster, "POST", "/console/api/chaos", heal, keys=admin,
                           headers={"Content-Type": "application/json"})
    assert status == 200, body


def test_signing_in_in_the_browser(cluster, page):  # noqa: F811 (the fixture)
    key_id, secret = cluster.credentials()
    page.goto(cluster.endpoint + "/console")
    page.wait_for_selector("#signin:not([hidden])")
    assert "enforces authentication" in page.inner_text("#signin-message")
    page.fill("#signin input[name=key]", key_id)
    page.fill("#signin input[name=secret]", secret + "x")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-message >> text=InvalidSignatureException")

    page.fill("#signin input[name=key]", key_id)
    page.fill("#signin input[name=secret]", secret)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#live.live")  # the event stream, opened with a presigned URL
    assert page.is_hidden("#signin") and page.is_visible("#signout")
    page.fill("#create-table input[name=name]", "Signed")
    page.fill("#create-table input[name=pk]", "pk")
    page.click("#create-table button[type=submit]")
    page.wait_for_selector("#tables-list tr[data-table=Signed] >> text=ACTIVE")
    page.wait_for_selector("#partitions tr[data-partition]", state="attached")  # the console API's state, signed

    page.click("#signout")
    page.wait_for_selector("#signin:not([hidden])")
