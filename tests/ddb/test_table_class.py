"""Table classes and deletion protection in the pure table requests."""

import pytest

from ddb import tables
from ddb.errors import ValidationException

BASE = {"TableName": "tbl", "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


def _record(spec: dict, updated: dict | None = None) -> dict:
    return {"name": "tbl", "spec": spec, "status": "ACTIVE", "created": 1.0, "uuid": "u", "updated": updated or {}}


def test_create_keeps_the_class_and_describe_shows_it():
    spec = tables.parse_create_table({**BASE, "TableClass": "STANDARD_INFREQUENT_ACCESS"})
    assert tables.describe_table(_record(spec), region="us-east-1")["TableClassSummary"] == {
        "TableClass": "STANDARD_INFREQUENT_ACCESS"}


def test_a_table_created_without_a_class_shows_no_summary():
    spec = tables.parse_create_table(BASE)
    assert "TableClassSummary" not in tables.describe_table(_record(spec), region="us-east-1")


def test_an_unknown_class_is_refused_as_dynamodb_does():
    with pytest.raises(ValidationException) as e:
        tables.parse_create_table({**BASE, "TableClass": "GLACIER"})
    assert e.value.message == ("1 validation error detected: Value 'GLACIER' at 'tableClass' failed to satisfy "
                               "constraint: Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]")


def test_update_changes_the_class_and_records_when():
    spec = tables.parse_create_table(BASE)
    new, updated = tables.parse_update_table({"TableClass": "STANDARD_INFREQUENT_ACCESS"}, _record(spec), now=42.0)
    assert new["TableClass"] == "STANDARD_INFREQUENT_ACCESS" and updated == {"TableClassUpdateDateTime": 42.0}
    assert tables.describe_table(_record(new, updated), region="us-east-1")["TableClassSummary"] == {
        "TableClass": "STANDARD_INFREQUENT_ACCESS", "LastUpdateDateTime": 42.0}
    same, updated = tables.parse_update_table({"TableClass": "STANDARD"}, _record(spec), now=43.0)
    assert same["TableClass"] == "STANDARD" and updated == {}  # STANDARD was the class already


def test_deletion_protection_refuses_delete_with_dynamodbs_message():
    tables.check_deletable(tables.parse_create_table(BASE))
    with pytest.raises(ValidationException) as e:
        tables.check_deletable(tables.parse_create_table({**BASE, "DeletionProtectionEnabled": True}))
    assert e.value.message == ("Resource cannot be deleted as it is currently protected against deletion. "
                               "Disable deletion protection first.")
