"""Micro-benchmark of the router's per-request type check (ddb.shapes):
microseconds per PutItem (an item of 10 attributes, some nested) and GetItem
request body, as the router sees them.

    .venv/bin/python -m bench.validator
"""

from __future__ import annotations

import timeit

from router.protocol import service_checks

PUT = {"TableName": "users", "Item": {
    "pk": {"S": "user#0001"}, "sk": {"S": "profile"}, "name": {"S": "Ada Lovelace"}, "age": {"N": "36"},
    "active": {"BOOL": True}, "tags": {"SS": ["math", "engines"]},
    "address": {"M": {"city": {"S": "London"}, "zip": {"S": "W1"}}},
    "scores": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}, "note": {"NULL": True}, "blob": {"B": "AAEC"}},
    "ConditionExpression": "attribute_not_exists(#p)", "ExpressionAttributeNames": {"#p": "pk"},
    "ReturnConsumedCapacity": "TOTAL"}
GET = {"TableName": "users", "Key": {"pk": {"S": "user#0001"}, "sk": {"S": "profile"}},
       "ProjectionExpression": "#n, age", "ExpressionAttributeNames": {"#n": "name"}, "ConsistentRead": True}


def main() -> None:
    checks = service_checks()
    for name, body in (("PutItem", PUT), ("GetItem", GET)):
        check = checks["DynamoDB_20120810." + name]
        n = 200_000
        best = min(timeit.repeat(lambda: check(body), number=n, repeat=5))
        print(f"{name}: {best / n * 1e6:.2f} us per request")


if __name__ == "__main__":
    main()
