"""The console's SigV4 signer (router/console/static/auth.js, WebCrypto) checked
against the router's verifier (ddb/iam/sigv4.py): run under node, which has
the same WebCrypto API as the browser. Header-signed DynamoDB, Lambda and
console API requests and a presigned event stream URL verify with the secret
and fail with another."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ddb.errors import InvalidSignatureException
from ddb.iam import sigv4

AUTH_JS = Path(__file__).resolve().parents[3] / "router" / "console" / "static" / "auth.js"
HOST = "127.0.0.1:8123"
CREDS = {"accessKeyId": "AKIDCONSOLE", "secretAccessKey": "se/cr+et", "region": "eu-west-1"}
DRIVER = """
const fs = require("fs");
eval(fs.readFileSync(process.argv[1], "utf8"));
const [creds, host, requests, presigned] = JSON.parse(process.argv[2]);
(async () => {
  const out = [];
  for (const [service, method, url, headers, body] of requests) {
    out.push({ service, method, url, headers: { ...headers, host, ...(await SigV4.sign(creds, service, method, url, headers, body, host)) }, body });
  }
  for (const url of presigned) out.push({ service: "dynamodb", method: "GET", url: await SigV4.presign(creds, "dynamodb", url, host), headers: { host }, body: "" });
  console.log(JSON.stringify(out));
})();
"""
REQUESTS = [
    ["dynamodb", "POST", "/", {"content-type": "application/x-amz-json-1.0",
                               "x-amz-target": "DynamoDB_20120810.PutItem"}, '{"TableName":"t","Item":{"k":{"S":"é ü"}}}'],
    ["dynamodb", "POST", "/", {"content-type": "application/x-amz-json-1.0",
                               "x-amz-target": "DynamoDBStreams_20120810.ListStreams"}, "{}"],
    ["lambda", "GET", "/2015-03-31/functions/my-fn/configuration?Qualifier=%24LATEST&a=b%20c", {}, ""],
    ["dynamodb", "POST", "/console/api/chaos", {"content-type": "application/json"}, '{"action":"kill","node":"n1"}'],
    ["dynamodb", "GET", "/console/api/state", {}, ""],
]


def _signed() -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs)")
    done = subprocess.run([node, "-e", DRIVER, str(AUTH_JS), json.dumps([CREDS, HOST, REQUESTS,
                                                                        ["/console/api/events"]])],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _verify(r: dict, secret: str) -> sigv4.Signed:
    headers = {k.lower(): v for k, v in r["headers"].items()}
    signed = sigv4.parse(r["method"], r["url"], headers, r["body"].encode())
    sigv4.check_scope(signed, "eu-west-1", (r["service"],))
    sigv4.check_time(signed, time.time())
    sigv4.verify(signed, sigv4.signing_key(secret, signed.date, signed.region, signed.service))
    return signed


def test_what_the_console_signs_the_router_verifies():
    signed = _signed()
    assert len(signed) == len(REQUESTS) + 1
    for r in signed:
        assert _verify(r, CREDS["secretAccessKey"]).access_key == "AKIDCONSOLE", r
        with pytest.raises(InvalidSignatureException):
            _verify(r, "another secret")
    events = signed[-1]
    assert "X-Amz-Signature=" in events["url"] and "authorization" not in events["headers"]
    assert _verify(events, CREDS["secretAccessKey"]).expires == 300
