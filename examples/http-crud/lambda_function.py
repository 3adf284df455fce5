"""The handler of AWS's tutorial "Create a CRUD HTTP API with Lambda and
DynamoDB", in Python, as one would deploy it to AWS Lambda: boto3 with no
endpoint (on Trireme the function's environment points it at the cluster).

The tutorial's HTTP API gives each request a route key ("GET /items/{id}")
and path parameters; a function URL has no routes (routeKey "$default"), so
the handler derives the same route key from requestContext.http.method and
rawPath when API Gateway did not. Behind either, it answers the same.
"""

import json
from decimal import Decimal

import boto3

TABLE_NAME = "http-crud-tutorial-items"
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def route(event):
    """(route key, path parameters): API Gateway's, or derived from the path."""
    if event.get("routeKey", "$default") != "$default":
        return event["routeKey"], event.get("pathParameters") or {}
    method = event["requestContext"]["http"]["method"]
    parts = [p for p in event["rawPath"].split("/") if p]
    if parts == ["items"]:
        return f"{method} /items", {}
    if len(parts) == 2 and parts[0] == "items":
        return f"{method} /items/{{id}}", {"id": parts[1]}
    return f"{method} {event['rawPath']}", {}


def to_json(value):
    """DynamoDB's numbers arrive as Decimal: JSON numbers again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def lambda_handler(event, context):
    status = 200
    try:
        route_key, params = route(event)
        if route_key == "DELETE /items/{id}":
            table.delete_item(Key={"id": params["id"]})
            body = f"Deleted item {params['id']}"
        elif route_key == "GET /items/{id}":
            body = table.get_item(Key={"id": params["id"]}).get("Item")
        elif route_key == "GET /items":
            body = table.scan()["Items"]
        elif route_key == "PUT /items":
            item = json.loads(event["body"], parse_float=Decimal)
            table.put_item(Item={"id": item["id"], "price": item["price"], "name": item["name"]})
            body = f"Put item {item['id']}"
        else:
            raise ValueError(f"Unsupported route: \"{route_key}\"")
    except Exception as err:  # the tutorial answers every failure with a 400 and the message
        status = 400
        body = str(err)
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body, default=to_json)}
