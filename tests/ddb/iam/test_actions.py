"""Each operation's action, resources and condition keys, and the policy
matrix: AWS's example DynamoDB policies (developer guide, "Using IAM policy
conditions for fine-grained access control"; IAM user guide examples) with
requests they allow and requests they deny."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.errors import ValidationException
from ddb.iam.actions import Check, checks, global_keys, lambda_action, value_text
from ddb.iam.policy import Request, evaluate, parse_policy

REGION = "us-east-1"
ARN = "arn:aws:dynamodb:us-east-1:000000000000:"
BOB = "arn:aws:iam::000000000000:user/bob"
KEYS = {("GameScores", None): ("UserId", "GameTitle"),
        ("GameScores", "TopScoreDateTimeIndex"): ("GameTitle", "TopScoreDateTime"), ("Other", None): ("pk", None)}
D = "DynamoDB_20120810."


def keys_of(table, index):
    return KEYS.get((table, index))


def checks_of(op: str, body: dict, target=D) -> list[Check]:
    return checks(target + op, body, region=REGION, keys_of=keys_of)


def allowed(doc: dict, op: str, body: dict, *, user="bob", target=D, resource_policy=None) -> bool:
    """Every check of the request passes (as the Authorizer requires)."""
    policy = parse_policy(doc)
    principal = f"arn:aws:iam::000000000000:user/{user}"
    found = checks_of(op, body, target)
    assert found, "every operation needs a check"
    for c in found:
        keys = {**global_keys(username=user, principal=principal, source_ip="10.0.0.7", secure=False, now=1.8e9),
                **c.keys}
        req = Request(principal=principal, action=c.action, resource=c.resource, keys=keys)
        rp = parse_policy(resource_policy, resource_based=True) if resource_policy else None
        if not evaluate(req, [policy], rp).allowed:
            return False
    return True


def S(v):
    return {"S": v}


# --- actions, resources and keys --------------------------------------------------------------------


def test_get_item():
    [c] = checks_of("GetItem", {"TableName": "GameScores", "Key": {"UserId": S("bob"), "GameTitle": S("G")},
                                "ProjectionExpression": "#w, TopScore.#w[0]",
                                "ExpressionAttributeNames": {"#w": "Wins"}})
    assert (c.action, c.resource) == ("dynamodb:GetItem", ARN + "table/GameScores")
    assert c.keys["dynamodb:LeadingKeys"] == ["bob"]
    assert c.keys["dynamodb:Attributes"] == ["GameTitle", "TopScore", "UserId", "Wins"]
    assert c.keys["dynamodb:Select"] == "SPECIFIC_ATTRIBUTES"
    assert c.keys["dynamodb:ReturnConsumedCapacity"] == "NONE"
    [plain] = checks_of("GetItem", {"TableName": "GameScores", "Key": {"UserId": S("bob"), "GameTitle": S("G")}})
    assert plain.keys["dynamodb:Select"] == "ALL_ATTRIBUTES"  # "Select always has a value"


def test_writes_carry_return_values_and_every_attribute_they_touch():
    [put] = checks_of("PutItem", {"TableName": "GameScores", "Item": {"UserId": S("bob"), "GameTitle": S("G"),
                                                                      "Wins": {"N": "1"}},
                                  "ConditionExpression": "attribute_not_exists(Losses) AND contains(#t, :v)",
                                  "ExpressionAttributeNames": {"#t": "TopScore"},
                                  "ExpressionAttributeValues": {":v": {"SS": ["NotAnAttribute"]}}})
    assert put.keys["dynamodb:Attributes"] == ["GameTitle", "Losses", "TopScore", "UserId", "Wins"]
    assert put.keys["dynamodb:ReturnValues"] == "NONE"
    [upd] = checks_of("UpdateItem", {"TableName": "GameScores", "Key": {"UserId": S("bob"), "GameTitle": S("G")},
                                     "UpdateExpression": "SET Wins = Wins + :one, Logs = list_append(Hist, :l) "
                                                         "REMOVE Prev[0] ADD Tags :s",
                                     "ExpressionAttributeValues": {":one": {"N": "1"}, ":l": {"L": []},
                                                                   ":s": {"SS": ["x"]}},
                                     "ReturnValues": "ALL_NEW", "ReturnConsumedCapacity": "TOTAL"})
    assert upd.keys["dynamodb:Attributes"] == ["GameTitle", "Hist", "Logs", "Prev", "Tags", "UserId", "Wins"]
    assert upd.keys["dynamodb:ReturnValues"] == "ALL_NEW"
    assert upd.keys["dynamodb:ReturnConsumedCapacity"] == "TOTAL"
    assert upd.keys["dynamodb:LeadingKeys"] == ["bob"]
    [legacy] = checks_of("UpdateItem", {"TableName": "GameScores", "Key": {"UserId": S("bob"), "GameTitle": S("G")},
                                        "AttributeUpdates": {"Wins": {"Value": {"N": "2"}}},
                                        "Expected": {"Losses": {"Exists": False}}})
    assert legacy.keys["dynamodb:Attributes"] == ["GameTitle", "Losses", "UserId", "Wins"]


def test_query_of_an_index_and_scan():
    [q] = checks_of("Query", {"TableName": "GameScores", "IndexName": "TopScoreDateTimeIndex",
                              "KeyConditionExpression": "GameTitle = :g AND TopScore > :s",
                              "FilterExpression": "Wins > :s", "ProjectionExpression": "TopScoreDateTime",
                              "ExpressionAttributeValues": {":g": S("Meteor"), ":s": {"N": "0"}}})
    assert (q.action, q.resource) == ("dynamodb:Query", ARN + "table/GameScores/index/TopScoreDateTimeIndex")
    assert q.keys["dynamodb:LeadingKeys"] == ["Meteor"]
    assert q.keys["dynamodb:Attributes"] == ["GameTitle", "TopScore", "TopScoreDateTime", "Wins"]
    assert q.keys["dynamodb:Select"] == "SPECIFIC_ATTRIBUTES"
    [legacy] = checks_of("Query", {"TableName": "GameScores", "KeyConditions": {
        "UserId": {"ComparisonOperator": "EQ", "AttributeValueList": [S("bob")]}}})
    assert legacy.keys["dynamodb:LeadingKeys"] == ["bob"] and legacy.keys["dynamodb:Select"] == "ALL_ATTRIBUTES"
    [s] = checks_of("Scan", {"TableName": "GameScores", "Select": "COUNT"})
    assert (s.action, s.resource, s.keys["dynamodb:Select"]) == ("dynamodb:Scan", ARN + "table/GameScores", "COUNT")
    assert "dynamodb:LeadingKeys" not in s.keys


def test_batches_check_each_table():
    cs = checks_of("BatchGetItem", {"RequestItems": {
        "GameScores": {"Keys": [{"UserId": S("bob"), "GameTitle": S("A")}, {"UserId": S("amy"), "GameTitle": S("B")}],
                       "ProjectionExpression": "Wins"},
        "Other": {"Keys": [{"pk": {"N": "7"}}]}}})
    assert [(c.action, c.resource) for c in cs] == [("dynamodb:BatchGetItem", ARN + "table/GameScores"),
                                                    ("dynamodb:BatchGetItem", ARN + "table/Other")]
    assert cs[0].keys["dynamodb:LeadingKeys"] == ["amy", "bob"] and cs[1].keys["dynamodb:LeadingKeys"] == ["7"]
    assert cs[0].keys["dynamodb:Attributes"] == ["GameTitle", "UserId", "Wins"]
    assert cs[1].keys["dynamodb:Select"] == "ALL_ATTRIBUTES"
    [w] = checks_of("BatchWriteItem", {"RequestItems": {"GameScores": [
        {"PutRequest": {"Item": {"UserId": S("bob"), "GameTitle": S("A"), "Wins": {"N": "1"}}}},
        {"DeleteRequest": {"Key": {"UserId": S("eve"), "GameTitle": S("A")}}}]}})
    assert w.action == "dynamodb:BatchWriteItem"
    assert w.keys["dynamodb:LeadingKeys"] == ["bob", "eve"]
    assert w.keys["dynamodb:Attributes"] == ["GameTitle", "UserId", "Wins"]


def test_transactions_check_each_action_with_the_enclosing_operation():
    key = {"UserId": S("bob"), "GameTitle": S("A")}
    cs = checks_of("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "GameScores", "Item": {**key, "Wins": {"N": "1"}}}},
        {"Update": {"TableName": "Other", "Key": {"pk": S("p")}, "UpdateExpression": "SET x = :v",
                    "ExpressionAttributeValues": {":v": S("1")}}},
        {"Delete": {"TableName": "GameScores", "Key": key}},
        {"ConditionCheck": {"TableName": "GameScores", "Key": key, "ConditionExpression": "attribute_exists(Wins)"}}]})
    assert [c.action for c in cs] == ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                      "dynamodb:ConditionCheckItem"]
    assert {c.keys["dynamodb:EnclosingOperation"] for c in cs} == {"TransactWriteItems"}
    assert cs[1].resource == ARN + "table/Other" and cs[1].keys["dynamodb:Attributes"] == ["pk", "x"]
    [g] = checks_of("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "GameScores", "Key": key}}]})
    assert (g.action, g.keys["dynamodb:EnclosingOperation"]) == ("dynamodb:GetItem", "TransactGetItems")


def test_partiql_checks_per_statement():
    cs = checks_of("BatchExecuteStatement", {"Statements": [
        {"Statement": 'SELECT * FROM "GameScores"."TopScoreDateTimeIndex" WHERE GameTitle = \'x\''},
        {"Statement": "INSERT INTO Other VALUE {'pk': 'a'}"},
        {"Statement": "UPDATE Other SET x = 1 WHERE pk = 'a'"},
        {"Statement": "DELETE FROM Other WHERE pk = 'a'"},
        {"Statement": "not partiql"}]})
    assert [(c.action, c.resource) for c in cs] == [
        ("dynamodb:PartiQLSelect", ARN + "table/GameScores/index/TopScoreDateTimeIndex"),
        ("dynamodb:PartiQLInsert", ARN + "table/Other"), ("dynamodb:PartiQLUpdate", ARN + "table/Other"),
        ("dynamodb:PartiQLDelete", ARN + "table/Other")]


@pytest.mark.parametrize("op,body,expected", [
    ("CreateTable", {"TableName": "T"}, [("dynamodb:CreateTable", ARN + "table/T")]),
    ("CreateTable", {"TableName": "T", "ResourcePolicy": "{}"},
     [("dynamodb:CreateTable", ARN + "table/T"), ("dynamodb:PutResourcePolicy", ARN + "table/T")]),
    ("DeleteTable", {"TableName": "T"}, [("dynamodb:DeleteTable", ARN + "table/T")]),
    ("ListTables", {}, [("dynamodb:ListTables", ARN + "table/*")]),
    ("DescribeLimits", {}, [("dynamodb:DescribeLimits", "*")]),
    ("TagResource", {"ResourceArn": ARN + "table/T", "Tags": []}, [("dynamodb:TagResource", ARN + "table/T")]),
    ("PutResourcePolicy", {"ResourceArn": ARN + "table/T/stream/L", "Policy": "{}"},
     [("dynamodb:PutResourcePolicy", ARN + "table/T/stream/L")]),
    ("DescribeBackup", {"BackupArn": ARN + "table/T/backup/01"},
     [("dynamodb:DescribeBackup", ARN + "table/T/backup/01")]),
    ("RestoreTableFromBackup", {"BackupArn": ARN + "table/T/backup/01", "TargetTableName": "U"},
     [("dynamodb:RestoreTableFromBackup", ARN + "table/T/backup/01"), ("dynamodb:RestoreTableFromBackup",
                                                                      ARN + "table/U")]),
    ("RestoreTableToPointInTime", {"SourceTableArn": ARN + "table/T", "TargetTableName": "U"},
     [("dynamodb:RestoreTableToPointInTime", ARN + "table/T"), ("dynamodb:RestoreTableToPointInTime",
                                                                ARN + "table/U")]),
    ("ExportTableToPointInTime", {"TableArn": ARN + "table/T", "S3Bucket": "b"},
     [("dynamodb:ExportTableToPointInTime", ARN + "table/T")]),
    ("ImportTable", {"TableCreationParameters": {"TableName": "N"}}, [("dynamodb:ImportTable", ARN + "table/N")]),
    ("CreateGlobalTable", {"GlobalTableName": "G"},
     [("dynamodb:CreateGlobalTable", "arn:aws:dynamodb::000000000000:global-table/G")]),
    ("UpdateTimeToLive", {"TableName": "T"}, [("dynamodb:UpdateTimeToLive", ARN + "table/T")]),
])
def test_control_plane_resources(op, body, expected):
    assert [(c.action, c.resource) for c in checks_of(op, body)] == expected


def test_streams_and_other_services():
    stream = ARN + "table/T/stream/2026-12-06T00:00:00.000"
    assert [(c.action, c.resource) for c in checks_of("GetShardIterator", {"StreamArn": stream},
                                                      "DynamoDBStreams_20120810.")] == [
        ("dynamodb:GetShardIterator", stream)]
    [rec] = checks_of("GetRecords", {"ShardIterator": stream + "|1|opaque"}, "DynamoDBStreams_20120810.")
    assert (rec.action, rec.resource) == ("dynamodb:GetRecords", stream)
    [ls] = checks_of("ListStreams", {}, "DynamoDBStreams_20120810.")
    assert (ls.action, ls.resource) == ("dynamodb:ListStreams", "*")
    [aas] = checks_of("RegisterScalableTarget", {}, "AnyScaleFrontendService.")
    assert aas.action == "application-autoscaling:RegisterScalableTarget"
    [admin] = checks_of("SetFaults", {}, "TriremeAdmin_1.")
    assert admin.action == "trireme:SetFaults"


def test_a_request_the_operation_refuses_is_refused_here_alike():
    with pytest.raises(ValidationException, match="ProjectionExpression"):
        checks_of("GetItem", {"TableName": "GameScores", "Key": {"UserId": S("a")}, "ProjectionExpression": "a,,"})


@given(st.one_of(st.text(max_size=8).map(S), st.integers().map(lambda i: {"N": str(i)}),
                 st.binary(max_size=8).map(lambda b: {"B": base64.b64encode(b).decode()})))
def test_key_values_compare_as_text(value):
    text = value_text(value)
    assert isinstance(text, str)
    [c] = checks_of("GetItem", {"TableName": "Other", "Key": {"pk": value}})
    assert c.keys["dynamodb:LeadingKeys"] == [text]


def test_global_keys():
    keys = global_keys(username="bob", principal=BOB, source_ip="10.1.2.3", secure=True, now=0, region=REGION)
    assert keys["aws:username"] == "bob" and keys["aws:PrincipalArn"] == BOB
    assert keys["aws:SourceIp"] == "10.1.2.3" and keys["aws:SecureTransport"] is True
    assert keys["aws:CurrentTime"] == "1970-01-01T00:00:00Z" and keys["aws:EpochTime"] == "0"
    assert keys["aws:PrincipalAccount"] == "000000000000" and keys["aws:RequestedRegion"] == REGION


def test_global_keys_are_made_once_a_second_and_per_caller_but_each_request_gets_its_own():
    def at(now: float, **who) -> dict:
        return global_keys(**{"username": "bob", "principal": BOB, "source_ip": "10.1.2.3", "secure": False,
                              "now": now, **who})

    keys = at(1.8e9 + 0.2)
    keys["aws:username"] = "mallory"  # a caller's copy: never the cached one
    assert at(1.8e9 + 0.9) == {**keys, "aws:username": "bob"}
    later = at(1.8e9 + 1)
    assert (later["aws:EpochTime"], later["aws:CurrentTime"]) == ("1800000001", "2027-01-15T08:00:01Z")
    other = at(1.8e9, username="alice", source_ip="10.9.9.9", secure=True, session=True)
    assert (other["aws:username"], other["aws:SourceIp"], other["aws:SecureTransport"]) == ("alice", "10.9.9.9", True)
    assert other["aws:TokenIssueTime"] == "2027-01-15T08:00:00Z" and "aws:TokenIssueTime" not in keys


@pytest.mark.parametrize("method,path,action,resource", [
    ("POST", "/2015-03-31/functions", "lambda:CreateFunction", "*"),
    ("GET", "/2015-03-31/functions/", "lambda:ListFunctions", "*"),
    ("GET", "/2015-03-31/functions/f", "lambda:GetFunction", "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ("POST", "/2015-03-31/functions/f/invocations", "lambda:InvokeFunction",
     "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ("PUT", "/2015-03-31/functions/f/code", "lambda:UpdateFunctionCode",
     "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ("DELETE", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af",
     "lambda:DeleteFunction", "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ("POST", "/2015-03-31/event-source-mappings/", "lambda:CreateEventSourceMapping", "*"),
    ("DELETE", "/2015-03-31/event-source-mappings/u-1", "lambda:DeleteEventSourceMapping",
     "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u-1"),
    ("POST", "/2021-10-31/functions/f/url", "lambda:CreateFunctionUrlConfig",
     "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ("GET", "/2021-10-31/functions/f/urls", "lambda:ListFunctionUrlConfigs",
     "arn:aws:lambda:us-east-1:000000000000:function:f"),
    ("GET", "/trireme/functions/f/logs?offset=0", "lambda:GetFunction",
     "arn:aws:lambda:us-east-1:000000000000:function:f"),
])
def test_lambda_actions(method, path, action, resource):
    c = lambda_action(method, path, region=REGION)
    assert (c.action, c.resource) == (action, resource)


def test_create_function_names_its_function():
    c = lambda_action("POST", "/2015-03-31/functions", region=REGION, body=b'{"FunctionName": "hello"}')
    assert c.resource == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert lambda_action("POST", "/2015-03-31/functions", region=REGION, body=b"not json").resource == "*"


def test_lambda_paths_without_a_route_or_with_their_own_auth():
    assert lambda_action("PATCH", "/2015-03-31/functions/f", region=REGION) is None
    assert lambda_action("GET", "/trireme/url/abc/path", region=REGION) is None


# --- the policy matrix ----------------------------------------------------------------------------------

GS = ARN + "table/GameScores"
KEY = {"UserId": S("bob"), "GameTitle": S("Meteor")}
READ_ONLY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Resource": GS,
    "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
               "dynamodb:DescribeTable"]}]}
OWN_ITEMS = {"Version": "2012-10-17", "Statement": [{
    "Sid": "FullAccessToUserItems", "Effect": "Allow", "Resource": [GS],
    "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
               "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
    "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}}]}
COLUMNS = {"Version": "2012-10-17", "Statement": [{
    "Sid": "LimitAccessToSpecificAttributes", "Effect": "Allow", "Resource": [GS],
    "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:Scan"],
    "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["UserId", "GameTitle", "TopScore"]},
                  "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES",
                                           "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]}}}]}
NO_UPDATES_OF = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": GS,
    "Condition": {"ForAllValues:StringNotLike": {"dynamodb:Attributes": ["FreeGamesAvailable", "BossLevelUnlocked"]},
                  "StringEquals": {"dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]}}}]}
ALL_BUT_DELETE_TABLE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
    {"Sid": "DenyDeleteTable", "Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"}]}
INDEX_ONLY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [GS + "/index/TopScoreDateTimeIndex"],
    "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["TopScoreDateTime", "GameTitle", "Wins",
                                                                         "Losses", "Attempts"]},
                  "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}}]}
STREAM_READ = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
     "Resource": GS + "/stream/*"},
    {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"}]}
FROM_OFFICE = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/24"}}}]}
STREAM = GS + "/stream/2026-12-06T00:00:00.000"
IX = "TopScoreDateTimeIndex"

MATRIX = [
    # read-only
    (READ_ONLY, "GetItem", {"TableName": "GameScores", "Key": KEY}, True),
    (READ_ONLY, "Scan", {"TableName": "GameScores"}, True),
    (READ_ONLY, "PutItem", {"TableName": "GameScores", "Item": KEY}, False),
    (READ_ONLY, "GetItem", {"TableName": "Other", "Key": {"pk": S("a")}}, False),
    (READ_ONLY, "Query", {"TableName": "GameScores", "IndexName": IX, "KeyConditionExpression": "GameTitle = :g",
                          "ExpressionAttributeValues": {":g": S("x")}}, False),  # an index is its own resource
    # row-level: LeadingKeys per user
    (OWN_ITEMS, "GetItem", {"TableName": "GameScores", "Key": KEY}, True),
    (OWN_ITEMS, "GetItem", {"TableName": "GameScores", "Key": {**KEY, "UserId": S("amy")}}, False),
    (OWN_ITEMS, "PutItem", {"TableName": "GameScores", "Item": {**KEY, "Wins": {"N": "3"}}}, True),
    (OWN_ITEMS, "Query", {"TableName": "GameScores", "KeyConditionExpression": "UserId = :u",
                          "ExpressionAttributeValues": {":u": S("bob")}}, True),
    (OWN_ITEMS, "Query", {"TableName": "GameScores", "KeyConditionExpression": "UserId = :u",
                          "ExpressionAttributeValues": {":u": S("amy")}}, False),
    (OWN_ITEMS, "BatchGetItem", {"RequestItems": {"GameScores": {"Keys": [KEY, {**KEY, "UserId": S("amy")}]}}},
     False),
    (OWN_ITEMS, "BatchWriteItem", {"RequestItems": {"GameScores": [{"PutRequest": {"Item": KEY}}]}}, True),
    (OWN_ITEMS, "Scan", {"TableName": "GameScores"}, False),  # not granted: LeadingKeys cannot restrict it
    (OWN_ITEMS, "DeleteTable", {"TableName": "GameScores"}, False),
    # column-level: Attributes with Select and ReturnValues
    (COLUMNS, "GetItem", {"TableName": "GameScores", "Key": KEY, "ProjectionExpression": "TopScore"}, True),
    (COLUMNS, "GetItem", {"TableName": "GameScores", "Key": KEY}, False),  # every attribute: Select ALL_ATTRIBUTES
    (COLUMNS, "GetItem", {"TableName": "GameScores", "Key": KEY, "ProjectionExpression": "TopScore, Wins"}, False),
    (COLUMNS, "Query", {"TableName": "GameScores", "KeyConditionExpression": "UserId = :u",
                        "ProjectionExpression": "TopScore", "ExpressionAttributeValues": {":u": S("bob")}}, True),
    (COLUMNS, "Query", {"TableName": "GameScores", "KeyConditionExpression": "UserId = :u", "Select": "COUNT",
                        "ExpressionAttributeValues": {":u": S("bob")}}, False),
    (COLUMNS, "Query", {"TableName": "GameScores", "KeyConditionExpression": "UserId = :u",
                        "FilterExpression": "Wins > :z", "ProjectionExpression": "TopScore",
                        "ExpressionAttributeValues": {":u": S("bob"), ":z": {"N": "0"}}}, False),  # a hidden filter
    (COLUMNS, "UpdateItem", {"TableName": "GameScores", "Key": KEY, "UpdateExpression": "SET TopScore = :s",
                             "ExpressionAttributeValues": {":s": {"N": "9"}}}, True),
    (COLUMNS, "UpdateItem", {"TableName": "GameScores", "Key": KEY, "UpdateExpression": "SET TopScore = :s",
                             "ReturnValues": "ALL_NEW", "ExpressionAttributeValues": {":s": {"N": "9"}}}, False),
    (COLUMNS, "UpdateItem", {"TableName": "GameScores", "Key": KEY, "UpdateExpression": "SET TopScore = :s",
                             "ConditionExpression": "Wins > :s", "ExpressionAttributeValues": {":s": {"N": "9"}}},
     False),
    (COLUMNS, "PutItem", {"TableName": "GameScores", "Item": KEY}, False),
    # prevent updates of some attributes
    (NO_UPDATES_OF, "UpdateItem", {"TableName": "GameScores", "Key": KEY, "UpdateExpression": "SET Wins = :w",
                                   "ExpressionAttributeValues": {":w": {"N": "1"}}}, True),
    (NO_UPDATES_OF, "UpdateItem", {"TableName": "GameScores", "Key": KEY, "UpdateExpression": "SET Wins = :w, "
                                   "BossLevelUnlocked = :w", "ExpressionAttributeValues": {":w": {"N": "1"}}}, False),
    (NO_UPDATES_OF, "UpdateItem", {"TableName": "GameScores", "Key": KEY, "UpdateExpression": "SET Wins = :w",
                                   "ReturnValues": "ALL_OLD", "ExpressionAttributeValues": {":w": {"N": "1"}}},
     False),
    # everything but DeleteTable
    (ALL_BUT_DELETE_TABLE, "CreateTable", {"TableName": "New"}, True),
    (ALL_BUT_DELETE_TABLE, "PutItem", {"TableName": "GameScores", "Item": KEY}, True),
    (ALL_BUT_DELETE_TABLE, "DeleteTable", {"TableName": "GameScores"}, False),
    # index-only
    (INDEX_ONLY, "Query", {"TableName": "GameScores", "IndexName": IX, "KeyConditionExpression": "GameTitle = :g",
                           "ProjectionExpression": "Wins, TopScoreDateTime",
                           "ExpressionAttributeValues": {":g": S("x")}}, True),
    (INDEX_ONLY, "Query", {"TableName": "GameScores", "IndexName": IX, "KeyConditionExpression": "GameTitle = :g",
                           "ExpressionAttributeValues": {":g": S("x")}}, False),  # ALL_PROJECTED_ATTRIBUTES
    (INDEX_ONLY, "Query", {"TableName": "GameScores", "KeyConditionExpression": "UserId = :u",
                           "ProjectionExpression": "Wins", "ExpressionAttributeValues": {":u": S("bob")}}, False),
    (INDEX_ONLY, "GetItem", {"TableName": "GameScores", "Key": KEY}, False),
    # stream read
    (STREAM_READ, "DescribeStream", {"StreamArn": STREAM}, True),
    (STREAM_READ, "GetRecords", {"ShardIterator": STREAM + "|1|x"}, True),
    (STREAM_READ, "ListStreams", {}, True),
    (STREAM_READ, "GetShardIterator", {"StreamArn": ARN + "table/Other/stream/2026-12-06T00:00:00.000"}, False),
    (STREAM_READ, "GetItem", {"TableName": "GameScores", "Key": KEY}, False),
    # source address
    (FROM_OFFICE, "GetItem", {"TableName": "GameScores", "Key": KEY}, True),
]


@pytest.mark.parametrize("doc,op,body,expected", MATRIX)
def test_policy_matrix(doc, op, body, expected):
    target = "DynamoDBStreams_20120810." if op in ("DescribeStream", "GetRecords", "ListStreams",
                                                   "GetShardIterator") else D
    assert allowed(doc, op, body, target=target) is expected


def test_source_ip_outside_the_range():
    office = {**FROM_OFFICE, "Statement": [{**FROM_OFFICE["Statement"][0],
                                           "Condition": {"IpAddress": {"aws:SourceIp": "192.168.0.0/16"}}}]}
    assert not allowed(office, "GetItem", {"TableName": "GameScores", "Key": KEY})


def test_transaction_needs_each_action():
    put_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem",
                                                        "Resource": GS}]}
    body = {"TransactItems": [{"Put": {"TableName": "GameScores", "Item": KEY}},
                              {"ConditionCheck": {"TableName": "GameScores", "Key": KEY,
                                                  "ConditionExpression": "attribute_exists(Wins)"}}]}
    assert not allowed(put_only, "TransactWriteItems", body)
    both = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": GS,
                                                    "Action": ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"]}]}
    assert allowed(both, "TransactWriteItems", body)


def test_resource_policy_grants_a_user_of_the_account():
    rp = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": BOB},
                                                  "Action": "dynamodb:GetItem", "Resource": GS}]}
    nothing = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    assert allowed(nothing, "GetItem", {"TableName": "GameScores", "Key": KEY}, resource_policy=rp)
    assert not allowed(nothing, "GetItem", {"TableName": "GameScores", "Key": KEY}, user="eve", resource_policy=rp)


def test_the_readme_policy_does_what_the_readme_says():
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    doc = json.loads(next(b for b in re.findall(r"```json\n(.*?)```", readme, re.S) if "OwnItemsOnly" in b))
    KEYS[("notes", None)] = ("owner", "id")
    try:
        key = {"owner": S("bob"), "id": S("1")}
        get = {"TableName": "notes", "Key": key, "ProjectionExpression": "title, body"}
        assert allowed(doc, "GetItem", get)
        assert not allowed(doc, "GetItem", {**get, "Key": {**key, "owner": S("amy")}})
        assert not allowed(doc, "GetItem", {"TableName": "notes", "Key": key})
        assert not allowed(doc, "GetItem", {**get, "ProjectionExpression": "title, secret"})
        put = {"TableName": "notes", "Item": {**key, "title": S("t")}}
        assert allowed(doc, "PutItem", put)
        assert not allowed(doc, "PutItem", {**put, "ReturnValues": "ALL_OLD"})
        assert not allowed(doc, "Scan", {"TableName": "notes", "ProjectionExpression": "title"})
    finally:
        del KEYS[("notes", None)]


def test_partiql_statements_carry_the_keys_of_what_they_compile_to():
    [sel] = checks_of("ExecuteStatement", {"Statement": 'SELECT TopScore FROM GameScores WHERE UserId = ?',
                                           "Parameters": [S("bob")]})
    assert sel.keys["dynamodb:LeadingKeys"] == ["bob"]
    assert sel.keys["dynamodb:Attributes"] == ["TopScore", "UserId"]
    [both] = checks_of("ExecuteStatement", {"Statement": "SELECT * FROM GameScores WHERE UserId IN ['bob', 'amy']"})
    assert both.keys["dynamodb:LeadingKeys"] == ["amy", "bob"]
    assert (sel.keys["dynamodb:FullTableScan"], both.keys["dynamodb:FullTableScan"]) == (False, False)
    [scan] = checks_of("ExecuteStatement", {"Statement": "SELECT * FROM GameScores WHERE Wins > 1"})
    assert scan.keys["dynamodb:FullTableScan"] is True and "dynamodb:LeadingKeys" not in scan.keys
    [upd] = checks_of("ExecuteStatement", {"Statement": "UPDATE GameScores SET Wins = 1 WHERE UserId = 'amy' "
                                                        "AND GameTitle = 'G'"})
    assert upd.keys["dynamodb:LeadingKeys"] == ["amy"] and "Wins" in upd.keys["dynamodb:Attributes"]
    [unknown] = checks_of("ExecuteStatement", {"Statement": "SELECT * FROM Nowhere WHERE k = 'a'"})
    assert (unknown.action, unknown.resource, unknown.keys) == ("dynamodb:PartiQLSelect", ARN + "table/Nowhere", {})


def test_partiql_under_a_leading_keys_policy():
    own = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Resource": GS, "Action": ["dynamodb:PartiQLSelect", "dynamodb:PartiQLUpdate"],
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}}]}
    assert allowed(own, "ExecuteStatement", {"Statement": "SELECT * FROM GameScores WHERE UserId = 'bob'"})
    assert not allowed(own, "ExecuteStatement", {"Statement": "SELECT * FROM GameScores WHERE UserId = 'amy'"})
    assert not allowed(own, "ExecuteStatement", {"Statement": "SELECT * FROM GameScores WHERE UserId IN "
                                                              "['bob', 'amy']"})
    assert not allowed(own, "BatchExecuteStatement", {"Statements": [
        {"Statement": "UPDATE GameScores SET Wins = 1 WHERE UserId = 'bob' AND GameTitle = 'G'"},
        {"Statement": "UPDATE GameScores SET Wins = 1 WHERE UserId = 'amy' AND GameTitle = 'G'"}]})
    assert not allowed(own, "ExecuteStatement", {"Statement": "DELETE FROM GameScores WHERE UserId = 'bob' "
                                                              "AND GameTitle = 'G'"})
    no_scans = {**own, "Statement": [*own["Statement"], {
        "Effect": "Deny", "Action": "dynamodb:PartiQLSelect", "Resource": GS,
        "Condition": {"Bool": {"dynamodb:FullTableScan": "true"}}}]}
    assert allowed(no_scans, "ExecuteStatement", {"Statement": "SELECT * FROM GameScores WHERE UserId = 'bob'"})
    assert not allowed(no_scans, "ExecuteStatement", {"Statement": "SELECT * FROM GameScores"})
