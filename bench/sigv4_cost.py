"""The CPU cost of verifying one request's SigV4 signature (issue 19):
`python -m bench.sigv4_cost`. A GetItem signed by botocore, verified as the
router does (parse, scope, date window, HMAC with the cached signing key),
and the derivation of a new signing key (a cache miss: once per key, day,
region and service)."""

from __future__ import annotations

import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ddb.iam import sigv4


def measure(n: int = 20000) -> tuple[float, float]:
    """(seconds per verification with a cached key, seconds per key derivation)."""
    body = b'{"TableName": "usertable", "Key": {"pk": {"S": "user1234567890"}}}'
    req = AWSRequest(method="POST", url="http://127.0.0.1:8000/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem",
        "Host": "127.0.0.1:8000"})
    SigV4Auth(Credentials("AKIAEXAMPLE", "secret"), "dynamodb", "us-east-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    keys, now = sigv4.SigningKeys(), time.time()
    start = time.perf_counter()
    for _ in range(n):
        signed = sigv4.parse("POST", "/", headers, body)
        sigv4.check_scope(signed, "us-east-1", ("dynamodb",))
        sigv4.check_time(signed, now)
        sigv4.verify(signed, keys.get(signed, lambda: "secret"))
    per_request = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n // 10):
        sigv4.signing_key("secret", signed.date, signed.region, signed.service)
    return per_request, (time.perf_counter() - start) / (n // 10)


if __name__ == "__main__":
    verify_s, derive_s = measure()
    print(f"SigV4 verification: {verify_s * 1e6:.1f} us per request (cached signing key); "
          f"a new signing key: {derive_s * 1e6:.1f} us")
