"""The console in a real browser: Playwright driving Debian's chromium
against a real cluster. Load the page, create a table, put an item and
query it (checked with boto3 too), edit and page through items, read the
table's stream, kill the node process that leads a partition and watch the
page show the new leader live, see the capacity sampled, delete the table.
Takes screenshots on the way: into a temporary folder, or into docs/console/
(the README's) with TRIREME_SCREENSHOTS=1, so `make test` leaves the tree clean."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import subprocess
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.integration.conftest import make_client, start_cluster, wait_until


CHROMIUM = "/usr/bin/chromium"
# As /work/.library/env/machines/python.md gives them: no background connections on a closed network.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = (Path(__file__).resolve().parents[2] / "docs" / "console" if os.environ.get("TRIREME_SCREENSHOTS")
        else Path(tempfile.mkdtemp(prefix="trireme-console-shots-")))
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.serial  # a leader election against the clock, and a browser: alone, not beside other clusters


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed when missing (as root)."""
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip("chromium is missing and only root can install it (apt-get install chromium)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, capture_output=True, timeout=600,
                       env=env)
    return CHROMIUM


@pytest.fixture
def page(chromium):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)  # a new empty profile each time
        try:
            pg = browser.new_page(viewport={"width": 1500, "height": 950})
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.on("dialog", lambda d: d.accept())  # "Delete table?"
            pg.set_default_timeout(TIMEOUT_MS)
            yield pg
            assert errors == [], f"the page's JavaScript failed: {errors}"
        finally:
            browser.close()


def api(cluster, path: str) -> dict:
    with urllib.request.urlopen(cluster.endpoint + path, timeout=10) as r:
        return json.loads(r.read())


def leader_of(page, partition: str) -> str:
    return page.inner_text(f"#partitions tr[data-partition='{partition}'] .leader-cell").strip()


@pytest.fixture
def cluster(tmp_path):
    """A cluster of its own (the test kills a node); started before the browser,
    whose sync API keeps an event loop running on this thread."""
    c = start_cluster(tmp_path)
    yield c
    c.stop()


def test_console(cluster, page):
    ddb = make_client(cluster.endpoint, retries=3)
    page.goto(cluster.endpoint + "/console")
    page.wait_for_selector("#live.live")  # the server-sent events stream is open

    # Create a table with the form: the request shown is the CreateTable the page sent.
    page.fill("#create-table input[name=name]", "Music")
    page.fill("#create-table input[name=pk]", "Artist")
    page.fill("#create-table input[name=sk]", "Song")
    page.select_option("#create-table select[name=stream]", "NEW_AND_OLD_IMAGES")
    page.click("#create-table button[type=submit]")
    page.wait_for_selector("#tables-list tr[data-table=Music] >> text=ACTIVE")
    assert ddb.describe_table(TableName="Music")["Table"]["KeySchema"][1]["AttributeName"] == "Song"
    page.screenshot(path=str(DOCS / "tables.png"))

    # Put an item from the editor (plain JSON), then query it with the builder.
    page.click("#tables-list tr[data-table=Music] >> text=Items")
    page.check("input[name=format][value=plain]")
    page.fill("#editor", '{"Artist": "Acme", "Song": "Hello", "Year": 2024}')
    page.click("#put-item")
    page.wait_for_selector("#code-boto3 >> text=client.put_item(")
    assert "aws dynamodb put-item" in page.inner_text("#code-cli")
    assert ddb.get_item(TableName="Music", Key={"Artist": {"S": "Acme"}, "Song": {"S": "Hello"}})["Item"][
        "Year"] == {"N": "2024"}
    ddb.put_item(TableName="Music", Item={"Artist": {"S": "Other"}, "Song": {"S": "Bye"}})
    page.check("input[name=mode][value=Query]")
    page.fill("#pk-value", "Acme")
    page.click("#run")
    page.wait_for_selector("#items tbody tr >> text=Hello")
    assert page.locator("#items tbody tr").count() == 1  # the other artist's item is not in the query
    assert "KeyConditionExpression='#pk = :pk'" in page.inner_text("#code-boto3")
    assert "--key-condition-expression '#pk = :pk'" in page.inner_text("#code-cli")
    page.screenshot(path=str(DOCS / "items.png"))

    # The editor shows a clicked item in DynamoDB JSON, and in plain JSON.
    page.check("input[name=format][value=ddb]")
    page.click("#items tbody tr >> text=Hello")
    assert json.loads(page.input_value("#editor"))["Year"] == {"N": "2024"}
    page.check("input[name=format][value=plain]")
    assert json.loads(page.input_value("#editor"))["Year"] == 2024

    # A Scan a page at a time: Next page sends the LastEvaluatedKey back.
    page.check("input[name=mode][value=Scan]")
    page.fill("#browse input[name=limit]", "1")
    shown = page.inner_text("#page-info")  # the Query's: no LastEvaluatedKey
    page.click("#run")
    wait_until(lambda: page.inner_text("#page-info") != shown, 15, "the Scan's first page")
    seen = []
    for _ in range(6):  # two items, a page each (a page may come back empty before the last)
        assert page.locator("#items tbody tr").count() <= 1
        seen += page.locator("#items tbody tr td:first-child").all_inner_texts()
        if page.is_disabled("#next-page"):
            break
        shown = page.inner_text("#page-info")  # names the LastEvaluatedKey: changes with every page
        page.click("#next-page")
        wait_until(lambda: page.inner_text("#page-info") != shown, 15, "the next page")
        assert "ExclusiveStartKey=" in page.inner_text("#code-boto3")
    assert sorted(seen) == ["Acme", "Other"]

    # The table's stream: its shards and the records of the two puts.
    page.click("#tabs button[data-tab=streams]")
    page.click("#streams tbody tr:has-text('Music') >> text=Shards and records")
    page.wait_for_selector("#stream-detail >> text=Hello")
    assert "client.get_records(" in page.inner_text("#code-boto3")
    page.screenshot(path=str(DOCS / "streams.png"))

    # A chaos button: cut one link (through the nodes' Admin service); the page shows the fault, then heals it.
    page.click("#tabs button[data-tab=cluster]")
    page.select_option("#cut-from", "n1")
    page.select_option("#cut-to", "n2")
    page.click("#chaos-cut")
    page.wait_for_selector("#nodes .node.faulty[data-node=n1] >> text=drops to n2")
    page.wait_for_selector("#nodes .node.faulty[data-node=n2] >> text=drops from n1")
    assert "trireme chaos cut n1 n2" in page.inner_text("#request-shown")
    page.click("button[data-chaos=heal]")
    page.wait_for_selector("#nodes .node.faulty", state="detached")

    # Kill the node leading one of Music's partitions: the page shows another leader, live.
    partition = page.get_attribute("#partitions tr[data-partition]:has-text('Music')", "data-partition")
    wait_until(lambda: leader_of(page, partition) in cluster.node_ids(), 30, f"a leader of {partition} shown")
    old = leader_of(page, partition)
    cluster.kill(old)
    page.wait_for_selector(f"#nodes .node.down[data-node={old}]")
    new = wait_until(lambda: (x := leader_of(page, partition)) not in (old, "none") and x, 45,
                     f"a new leader of {partition} shown on the page")
    assert new in cluster.node_ids()
    page.wait_for_selector(f"#timeline li >> text={partition}: {new} leads")
    page.screenshot(path=str(DOCS / "cluster.png"), full_page=True)

    # Capacity over time, sampled by the router since the page first loaded.
    for i in range(20):
        ddb.put_item(TableName="Music", Item={"Artist": {"S": "Acme"}, "Song": {"S": f"s{i}"}})
    wait_until(lambda: len(api(cluster, "/console/api/capacity")["tables"].get("Music", [])) >= 4, 30,
               "capacity samples of Music")
    page.click("#tabs button[data-tab=capacity]")
    page.wait_for_selector("#capacity h3:has-text('Music')")
    assert page.locator("#capacity svg.chart").count() == 3  # read, write, throttled
    page.wait_for_selector("#cost tr.subtotal:has-text('Music')")  # the month's estimate, per table and in total
    assert page.inner_text("#cost .cost-total").startswith("Estimated monthly total: $")
    page.screenshot(path=str(DOCS / "capacity.png"))

    # Delete the table from the list.
    page.click("#tabs button[data-tab=tables]")
    page.click("#tables-list tr[data-table=Music] >> text=Delete")
    page.wait_for_selector("#tables-list tr[data-table=Music]", state="detached")
    assert ddb.list_tables()["TableNames"] == []
