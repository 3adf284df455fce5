"""ExportTableToPointInTime writes DynamoDB's export layout (manifests,
gzipped DynamoDB JSON data files) into a bucket directory; ImportTable reads
it back into a new table equal to the source (digests)."""

from __future__ import annotations

import gzip
import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import wait_until
from tests.integration.test_backups import _make_table, _restored, _scan, digest


def test_export_then_import(cluster, ddb):
    _make_table(ddb, "ex_src")
    arn = ddb.describe_table(TableName="ex_src")["Table"]["TableArn"]
    with pytest.raises(ClientError) as e:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket1")
    assert e.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
    ddb.update_continuous_backups(TableName="ex_src", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    for i in range(50):
        ddb.put_item(TableName="ex_src", Item={"pk": {"S": f"k{i % 9}"}, "sk": {"N": str(i)},
                                               "n": {"N": f"{i}.5"}, "ss": {"SS": ["a", f"b{i}"]},
                                               "b": {"B": b"\x00\xff" * i}, "z": {"NULL": True}})
    before = _scan(ddb, "ex_src")
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket1", S3Prefix="exports/one",
                                                ClientToken="tok-1")["ExportDescription"]
    assert started["ExportStatus"] in ("IN_PROGRESS", "COMPLETED") and started["ExportFormat"] == "DYNAMODB_JSON"
    done = wait_until(lambda: (d := ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"])
                      ["ExportStatus"] == "COMPLETED" and d, 60, "export completed")
    assert done["ItemCount"] == 50
    again = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket1", S3Prefix="exports/one",
                                              ClientToken="tok-1")["ExportDescription"]
    assert again["ExportArn"] == started["ExportArn"]  # idempotent by ClientToken
    assert [s["ExportArn"] for s in ddb.list_exports(TableArn=arn)["ExportSummaries"]] == [started["ExportArn"]]

    bucket = cluster.data_dir / "exports" / "bucket1"
    summary = json.loads((bucket / done["ExportManifest"]).read_text())
    assert summary["itemCount"] == 50 and summary["outputFormat"] == "DYNAMODB_JSON"
    files = [json.loads(line) for line in (bucket / summary["manifestFilesS3Key"]).read_text().splitlines()]
    assert sum(f["itemCount"] for f in files) == 50
    lines = [json.loads(line) for f in files for line in gzip.decompress((bucket / f["dataFileS3Key"]).read_bytes())
             .decode().splitlines()]
    assert all(set(line) == {"Item"} for line in lines) and len(lines) == 50

    out = ddb.import_table(
        S3BucketSource={"S3Bucket": "bucket1", "S3KeyPrefix": "exports/one"}, InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={"TableName": "ex_copy", "BillingMode": "PAY_PER_REQUEST",
                                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                                          {"AttributeName": "sk", "AttributeType": "N"}],
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}]})
    imp = out["ImportTableDescription"]
    finished = wait_until(lambda: (d := ddb.describe_import(ImportArn=imp["ImportArn"])["ImportTableDescription"])
                          ["ImportStatus"] == "COMPLETED" and d, 60, "import completed")
    assert finished["ImportedItemCount"] == 50 and finished["ErrorCount"] == 0
    _restored(ddb, "ex_copy")
    assert digest(_scan(ddb, "ex_copy")) == digest(before)
    assert [s["ImportArn"] for s in ddb.list_imports()["ImportSummaryList"]] == [imp["ImportArn"]]


def test_import_of_plain_json_with_a_bad_line(cluster, ddb):
    bucket = cluster.data_dir / "exports" / "bucket2"
    bucket.mkdir(parents=True, exist_ok=True)
    (bucket / "part-1.json").write_text('{"Item": {"id": {"S": "a"}}}\nnot json\n{"Item": {"id": {"S": "b"}}}\n')
    imp = ddb.import_table(
        S3BucketSource={"S3Bucket": "bucket2"}, InputFormat="DYNAMODB_JSON", InputCompressionType="NONE",
        TableCreationParameters={"TableName": "ex_plain", "BillingMode": "PAY_PER_REQUEST",
                                 "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                                 "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]})["ImportTableDescription"]
    done = wait_until(lambda: (d := ddb.describe_import(ImportArn=imp["ImportArn"])["ImportTableDescription"])
                      ["ImportStatus"] == "COMPLETED" and d, 60, "import completed")
    assert (done["ImportedItemCount"], done["ErrorCount"], done["ProcessedItemCount"]) == (2, 1, 3)
    _restored(ddb, "ex_plain")
    assert sorted(i["id"]["S"] for i in _scan(ddb, "ex_plain")) == ["a", "b"]
    with pytest.raises(ClientError) as e:
        ddb.import_table(S3BucketSource={"S3Bucket": "nobucket"}, InputFormat="DYNAMODB_JSON",
                         TableCreationParameters={"TableName": "ex_none",
                                                  "AttributeDefinitions": [{"AttributeName": "id",
                                                                            "AttributeType": "S"}],
                                                  "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                                  "BillingMode": "PAY_PER_REQUEST"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
