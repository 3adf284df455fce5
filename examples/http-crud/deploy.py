"""Deploy the tutorial app to a Trireme endpoint (or any Lambda + DynamoDB
endpoint): the table, the function and its URL. Prints the URL.

    python examples/http-crud/deploy.py --endpoint http://localhost:8000
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
TABLE = "http-crud-tutorial-items"
FUNCTION = "http-crud-tutorial-function"
ROLE = "arn:aws:iam::000000000000:role/http-crud-tutorial-role"  # required by the API; Trireme keeps it only


def package() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(HERE / "lambda_function.py", "lambda_function.py")
    return buf.getvalue()


def deploy(endpoint: str, region: str = "us-east-1") -> str:
    """Create (or update) the table, the function and its URL; answer the URL."""
    session = boto3.Session(region_name=region, aws_access_key_id="trireme", aws_secret_access_key="trireme")
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    ddb.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    try:
        lam.create_function(FunctionName=FUNCTION, Runtime="python3.11", Role=ROLE,
                            Handler="lambda_function.lambda_handler", Code={"ZipFile": package()}, Timeout=10)
    except lam.exceptions.ResourceConflictException:
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=package())
    try:
        return lam.create_function_url_config(FunctionName=FUNCTION, AuthType="NONE")["FunctionUrl"]
    except lam.exceptions.ResourceConflictException:
        return lam.get_function_url_config(FunctionName=FUNCTION)["FunctionUrl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://localhost:8000")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    print(deploy(args.endpoint, args.region))


if __name__ == "__main__":
    main()
