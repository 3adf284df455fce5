"""PartiQL: ExecuteStatement and BatchExecuteStatement against a real
cluster, with boto3, one documented behaviour a case.

Sources: the Developer Guide's PartiQL reference (ql-reference.select,
.insert, .update, .delete, ql-functions, ql-operators), the API Reference of
ExecuteStatement and BatchExecuteStatement (BatchStatementError codes), and
botocore's service model for the shapes."""

from __future__ import annotations

import itertools

import pytest

from tests.conformance.conftest import create_table, error_of
from tests.conformance.values import L, M, N, S, SS

_seq = itertools.count()
MALFORMED = "Statement wasn't well formed, can't be processed: "


@pytest.fixture(scope="module")
def music(ddb):
    """Artist (hash) + SongTitle (range), a global index on Genre, ten songs."""
    name = create_table(ddb, "pq_music", ("Artist", "S"), ("SongTitle", "S"), more_definitions={"Genre": "S"},
                        GlobalSecondaryIndexes=[{"IndexName": "by_genre",
                                                 "KeySchema": [{"AttributeName": "Genre", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "ALL"}}])
    for i in range(10):
        ddb.put_item(TableName=name, Item={"Artist": S("Acme" if i < 6 else "Zed"), "SongTitle": S(f"song{i}"),
                                           "Year": N(2000 + i), "Genre": S("rock" if i % 2 else "jazz"),
                                           "Info": M(tags=L(S("a"), S(f"t{i}")), plays=N(i * 10))})
    return name


def run(ddb, statement: str, *params, **kw) -> dict:
    if params:
        kw["Parameters"] = list(params)
    return ddb.execute_statement(Statement=statement, **kw)


def titles(items) -> list[str]:
    return sorted(i["SongTitle"]["S"] for i in items)


def fresh(ddb) -> str:
    return create_table(ddb, f"pq_rw_{next(_seq)}", ("pk", "S"), ("sk", "N"))


# --- SELECT -----------------------------------------------------------------------


def test_select_by_partition_key_with_parameter(ddb, music):
    out = run(ddb, f'SELECT * FROM "{music}" WHERE Artist = ?', S("Acme"))
    assert titles(out["Items"]) == [f"song{i}" for i in range(6)]
    assert "NextToken" not in out


def test_select_full_key_and_projection_with_nested_paths(ddb, music):
    out = run(ddb, f"SELECT SongTitle, Info.plays, Info.tags[1] FROM \"{music}\" "
                   f"WHERE Artist = 'Acme' AND SongTitle = 'song3'")
    assert out["Items"] == [{"SongTitle": S("song3"), "Info": M(plays=N(30), tags=L(S("t3")))}]


@pytest.mark.parametrize("where, expected", [
    ("SongTitle BETWEEN 'song1' AND 'song3'", [1, 2, 3]),
    ("begins_with(SongTitle, 'song4')", [4]),
    ("SongTitle > 'song3'", [4, 5]),
    ("SongTitle <= 'song1'", [0, 1]),
    ("Year >= 2004", [4, 5]),  # a filter
    ("Year IN [2001, 2003]", [1, 3]),
    ("NOT (Year < 2002 OR Year > 2003)", [2, 3]),
    ("Info.plays BETWEEN 20 AND 30 AND contains(Info.tags, 't2')", [2]),
    ("size(Info.tags) = 2 AND attribute_type(Year, 'N') AND Genre = 'rock'", [1, 3, 5]),
    ("Absent IS MISSING AND Year IS NOT MISSING AND Info.tags[0] = 'a'", [0, 1, 2, 3, 4, 5]),
    ("Year <> 2000 AND Year != 2001 AND Nope IS NULL", [2, 3, 4, 5]),
])
def test_select_key_conditions_and_filters(ddb, music, where, expected):
    out = run(ddb, f"SELECT * FROM \"{music}\" WHERE Artist = 'Acme' AND {where}")
    assert titles(out["Items"]) == [f"song{i}" for i in expected]


def test_select_without_partition_key_scans_with_a_filter(ddb, music):
    assert titles(run(ddb, f"SELECT * FROM \"{music}\" WHERE Year > 2007 OR Artist = 'Nobody'")["Items"]) == [
        "song8", "song9"]
    assert len(run(ddb, f'SELECT * FROM "{music}"')["Items"]) == 10


def test_select_from_an_index(ddb, music):
    out = run(ddb, f"SELECT SongTitle FROM \"{music}\".\"by_genre\" WHERE Genre = 'jazz' AND Year < 2005")
    assert titles(out["Items"]) == ["song0", "song2", "song4"]


def test_a_global_index_serves_only_what_it_projects(ddb):
    t = create_table(ddb, f"pq_proj_{next(_seq)}", ("pk", "S"), more_definitions={"g": "S"},
                     GlobalSecondaryIndexes=[{"IndexName": "gix", "KeySchema": [{"AttributeName": "g",
                                                                                  "KeyType": "HASH"}],
                                              "Projection": {"ProjectionType": "INCLUDE",
                                                             "NonKeyAttributes": ["kept"]}}])
    assert error_of(ddb.execute_statement, Statement=f"SELECT kept, other, pk, mymap.x, other FROM \"{t}\".\"gix\" "
                                                     "WHERE g = 'a'") == (
        "ValidationException", "One or more parameter values were invalid: Global secondary index gix does not "
                               "project [other, mymap]")
    assert run(ddb, f"SELECT kept, pk, g FROM \"{t}\".\"gix\"")["Items"] == []


def test_order_by_sort_key_descending(ddb, music):
    out = run(ddb, f"SELECT SongTitle FROM \"{music}\" WHERE Artist = 'Acme' ORDER BY SongTitle DESC")
    assert [i["SongTitle"]["S"] for i in out["Items"]] == [f"song{i}" for i in range(5, -1, -1)]


def test_limit_and_next_token_page_through_every_item_once(ddb, music):
    seen, token, pages = [], None, 0
    while True:
        kw = {"Limit": 3, **({"NextToken": token} if token else {})}
        out = run(ddb, f'SELECT * FROM "{music}" WHERE Artist = ?', S("Acme"), **kw)
        seen += out["Items"]
        pages += 1
        token = out.get("NextToken")
        if token is None:
            break
        assert out["LastEvaluatedKey"]["Artist"] == S("Acme")
    assert titles(seen) == [f"song{i}" for i in range(6)] and pages >= 2


def test_partition_key_in_reads_each_partition_and_pages_across_them(ddb, music):
    stmt = f"SELECT SongTitle FROM \"{music}\" WHERE Artist IN ['Zed', 'Nobody', 'Acme', 'Zed'] AND Year <> 2003"
    out = run(ddb, stmt, ReturnConsumedCapacity="TOTAL")
    assert titles(out["Items"]) == ["song0", "song1", "song2", "song4", "song5", "song6", "song7", "song8", "song9"]
    assert out["ConsumedCapacity"]["TableName"] == music and "NextToken" not in out
    seen, token, pages = [], None, 0
    while True:
        out = run(ddb, stmt, Limit=4, **({"NextToken": token} if token else {}))
        seen += out["Items"]
        pages += 1
        token = out.get("NextToken")
        if token is None:
            break
    assert titles(seen) == ["song0", "song1", "song2", "song4", "song5", "song6", "song7", "song8", "song9"]
    assert pages >= 3


def test_next_token_is_bound_to_its_statement_and_not_forgeable(ddb, music):
    stmt = f'SELECT * FROM "{music}"'
    token = run(ddb, stmt, Limit=2)["NextToken"]
    assert error_of(ddb.execute_statement, Statement=stmt + " WHERE Year > 0", NextToken=token)[0] == \
        "ValidationException"
    assert error_of(ddb.execute_statement, Statement=stmt, NextToken=token[:-4] + "AAAA")[0] == \
        "ValidationException"


def test_consistent_read_and_consumed_capacity(ddb, music):
    out = run(ddb, f"SELECT * FROM \"{music}\" WHERE Artist = 'Acme' AND SongTitle = 'song1'",
              ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": music, "CapacityUnits": 1.0}
    code, message = error_of(ddb.execute_statement, Statement=f"SELECT * FROM \"{music}\".\"by_genre\" "
                             "WHERE Genre = 'jazz'", ConsistentRead=True)
    assert code == "ValidationException" and "Consistent reads are not supported on global secondary indexes" \
        in message


# --- INSERT, UPDATE, DELETE -------------------------------------------------------------


def test_insert_then_duplicate(ddb):
    t = fresh(ddb)
    assert run(ddb, f"INSERT INTO \"{t}\" VALUE {{'pk': ?, 'sk': 1, 'tags': <<'x', 'y'>>, "
                    f"'m': {{'a': [1, TRUE, NULL]}}}}", S("a"))["Items"] == []
    item = ddb.get_item(TableName=t, Key={"pk": S("a"), "sk": N(1)}, ConsistentRead=True)["Item"]
    assert item == {"pk": S("a"), "sk": N(1), "tags": SS("x", "y"),
                    "m": M(a=L(N(1), {"BOOL": True}, {"NULL": True}))}
    assert error_of(ddb.execute_statement, Statement=f"INSERT INTO \"{t}\" VALUE {{'pk': 'a', 'sk': 1}}") == (
        "DuplicateItemException", "Duplicate primary key exists in table")


def test_update_set_arithmetic_list_append_nested_and_remove(ddb):
    t = fresh(ddb)
    ddb.put_item(TableName=t, Item={"pk": S("u"), "sk": N(1), "n": N(1), "l": L(N(1)), "m": M(x=N(1)),
                                    "gone": S("x"), "s": SS("a")})
    run(ddb, f"UPDATE \"{t}\" SET n = n + 2 SET l = list_append(l, [2, 3]), m.x = ?, m.y = 'new' "
             f"SET s = set_add(s, <<'b'>>) REMOVE gone WHERE pk = 'u' AND sk = 1", N(9))
    item = ddb.get_item(TableName=t, Key={"pk": S("u"), "sk": N(1)}, ConsistentRead=True)["Item"]
    assert item == {"pk": S("u"), "sk": N(1), "n": N(3), "l": L(N(1), N(2), N(3)), "m": M(x=N(9), y=S("new")),
                    "s": SS("a", "b")}


def test_returning_and_the_from_first_update(ddb):
    t = fresh(ddb)
    ddb.put_item(TableName=t, Item={"pk": S("r"), "sk": N(1), "n": N(1), "m": S("x")})
    out = run(ddb, f"UPDATE \"{t}\" SET n = n + 1 WHERE pk = 'r' AND sk = 1 RETURNING MODIFIED NEW *")
    assert out["Items"] == [{"n": N(2)}]
    out = run(ddb, f"FROM \"{t}\" WHERE pk = 'r' AND sk = 1 AND attribute_exists(m) REMOVE m RETURNING ALL NEW *")
    assert out["Items"] == [{"pk": S("r"), "sk": N(1), "n": N(2)}]
    assert run(ddb, f"DELETE FROM \"{t}\" WHERE pk = 'r' AND sk = 1 RETURNING ALL OLD *")["Items"] == [
        {"pk": S("r"), "sk": N(1), "n": N(2)}]
    assert run(ddb, f"DELETE FROM \"{t}\" WHERE pk = 'r' AND sk = 1 RETURNING ALL OLD *")["Items"] == []
    assert error_of(ddb.execute_statement, Statement=f"DELETE FROM \"{t}\" WHERE pk = 'r' AND sk = 1 "
                                                     "RETURNING ALL NEW *") == (
        "ValidationException", "Only RETURNING ALL OLD * is allowed in DELETE statements.")


def test_update_condition_failure_returns_the_item_when_asked(ddb):
    t = fresh(ddb)
    ddb.put_item(TableName=t, Item={"pk": S("c"), "sk": N(1), "n": N(1)})
    stmt = f"UPDATE \"{t}\" SET n = 5 WHERE pk = 'c' AND sk = 1 AND n > 3"
    assert error_of(ddb.execute_statement, Statement=stmt) == ("ConditionalCheckFailedException",
                                                               "The conditional request failed")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
        ddb.execute_statement(Statement=stmt, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert exc.value.response["Item"] == {"pk": S("c"), "sk": N(1), "n": N(1)}


def test_update_of_a_missing_item_fails_and_creates_nothing(ddb):
    t = fresh(ddb)
    assert error_of(ddb.execute_statement, Statement=f"UPDATE \"{t}\" SET n = 1 WHERE pk = 'x' AND sk = 1")[0] == \
        "ConditionalCheckFailedException"
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": S("x"), "sk": N(1)}, ConsistentRead=True)


def test_delete_with_and_without_condition(ddb):
    t = fresh(ddb)
    ddb.put_item(TableName=t, Item={"pk": S("d"), "sk": N(1), "n": N(1)})
    assert error_of(ddb.execute_statement, Statement=f"DELETE FROM \"{t}\" WHERE pk = 'd' AND sk = 1 AND n = 2")[0] \
        == "ConditionalCheckFailedException"
    run(ddb, f"DELETE FROM \"{t}\" WHERE pk = 'd' AND sk = 1 AND n = 1", ReturnConsumedCapacity="TOTAL")
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": S("d"), "sk": N(1)}, ConsistentRead=True)
    run(ddb, f"DELETE FROM \"{t}\" WHERE pk = 'd' AND sk = 1")  # no item: nothing to do


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("statement, message", [
    ("SELEC * FROM t", MALFORMED + "Expected data manipulation"),
    ("SELECT * FROM", None),
    ("SELECT * FROM t WHERE a = 'open", None),
    ("UPDATE t WHERE pk = 1", None),
    ("SELECT * FROM t WHERE a = 1 extra", MALFORMED + "Unexpected token after expression"),
    ("SELECT * FROM t WHERE a = 1 # note", MALFORMED),
])
def test_malformed_statements(ddb, statement, message):
    code, got = error_of(ddb.execute_statement, Statement=statement)
    assert code == "ValidationException" and got.startswith(MALFORMED)
    if message is not None:
        assert got == message


def test_function_errors_name_the_place(ddb, music):
    stmt = f"SELECT * FROM \"{music}\" WHERE Artist = 'Acme' AND EXISTS(Year)"
    column = stmt.index("EXISTS") + 1
    assert error_of(ddb.execute_statement, Statement=stmt) == (
        "ValidationException", f"Unrecognized function: exists at 1:{column}:6")
    stmt = f"UPDATE \"{music}\" SET Tags = set_add(Other, <<'x'>>) WHERE Artist = 'Acme' AND SongTitle = 'song1'"
    assert error_of(ddb.execute_statement, Statement=stmt)[1] == (
        f"The first argument to SET_ADD must equal the assignment value at 1:{stmt.index('set_add') + 1}:7")


def test_aliases_are_refused(ddb, music):
    assert error_of(ddb.execute_statement, Statement=f"SELECT * FROM \"{music}\" m WHERE Artist = 'Acme'") == (
        "ValidationException", "Aliasing is not supported")


def test_number_literals_and_comments(ddb):
    t = create_table(ddb, f"pq_num_{next(_seq)}", ("pk", "N"))
    run(ddb, f"INSERT INTO \"{t}\" VALUE {{'pk': 7.32e6}} -- a note")
    assert ddb.get_item(TableName=t, Key={"pk": N(7320000)}, ConsistentRead=True)["Item"] == {"pk": N(7320000)}
    for literal in ("7320000", "7.32E6", "732e4", "/* x */ .732e7"):
        assert run(ddb, f"SELECT * FROM \"{t}\" WHERE pk = {literal}")["Items"] == [{"pk": N(7320000)}]


def test_parameter_count_must_match(ddb, music):
    code, message = error_of(ddb.execute_statement, Statement=f'SELECT * FROM "{music}" WHERE Artist = ?')
    assert (code, message) == ("ValidationException", "Number of parameters in request and statement don't match.")
    assert error_of(ddb.execute_statement, Statement=f"SELECT * FROM \"{music}\" WHERE Artist = 'a'",
                    Parameters=[S("x")])[1] == message


@pytest.mark.parametrize("statement", [
    "UPDATE \"{t}\" SET n = 1 WHERE pk = 'a'",
    "DELETE FROM \"{t}\" WHERE sk = 1",
    "DELETE FROM \"{t}\" WHERE pk = 'a' OR sk = 1",
])
def test_writes_need_the_full_key(ddb, statement):
    t = fresh(ddb)
    assert error_of(ddb.execute_statement, Statement=statement.format(t=t)) == (
        "ValidationException", "Where clause does not contain a mandatory equality on all key attributes")


def test_missing_table(ddb):
    assert error_of(ddb.execute_statement, Statement='SELECT * FROM "pq_nope"')[0] == "ResourceNotFoundException"


def test_limits_of_the_request(raw_ddb, music):
    assert "Member must have length less than or equal to 8192" in error_of(
        raw_ddb.execute_statement, Statement="SELECT * FROM t WHERE a = '" + "x" * 8200 + "'")[1]
    assert "failed to satisfy constraint: Member must have value greater than or equal to 1" in error_of(
        raw_ddb.execute_statement, Statement=f'SELECT * FROM "{music}"', Limit=0)[1]


# --- BatchExecuteStatement --------------------------------------------------------------


def test_batch_reads_answer_items_in_order(ddb, music):
    out = ddb.batch_execute_statement(Statements=[
        {"Statement": f'SELECT * FROM "{music}" WHERE Artist = ? AND SongTitle = ?',
         "Parameters": [S("Acme"), S("song2")]},
        {"Statement": f"SELECT Year FROM \"{music}\" WHERE Artist = 'Zed' AND SongTitle = 'song9'",
         "ConsistentRead": True},
        {"Statement": f"SELECT * FROM \"{music}\" WHERE Artist = 'Zed' AND SongTitle = 'none'"},
        {"Statement": f"SELECT * FROM \"{music}\" WHERE Artist = 'Zed'"},  # not one item
        {"Statement": "SELECT * FROM"},
    ], ReturnConsumedCapacity="TOTAL")["Responses"]
    assert out[0]["TableName"] == music and out[0]["Item"]["SongTitle"] == S("song2")
    assert out[1] == {"TableName": music, "Item": {"Year": N(2009)}}
    assert out[2] == {"TableName": music}
    assert out[3]["Error"] == {"Code": "ValidationError", "Message": "Select statements within "
                               "BatchExecuteStatement must specify the primary key in the where clause."}
    assert out[4]["Error"]["Code"] == "ValidationError" and out[4]["Error"]["Message"].startswith(MALFORMED)


def test_batch_writes_each_with_its_own_error(ddb):
    t = fresh(ddb)
    ddb.put_item(TableName=t, Item={"pk": S("old"), "sk": N(1), "n": N(1)})
    out = ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'new', 'sk': 1}}"},
        {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'old', 'sk': 1}}"},
        {"Statement": f"UPDATE \"{t}\" SET n = 2 WHERE pk = 'old' AND sk = 1 AND n = 5",
         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
        {"Statement": f"DELETE FROM \"{t}\" WHERE pk = 'gone' AND sk = 1"},
        {"Statement": "DELETE FROM \"pq_nope\" WHERE pk = 'x' AND sk = 1"},
    ], ReturnConsumedCapacity="TOTAL")
    r = out["Responses"]
    assert r[0] == {"TableName": t} and r[3] == {"TableName": t}
    assert r[1]["Error"] == {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
    assert r[2]["Error"] == {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
                             "Item": {"pk": S("old"), "sk": N(1), "n": N(1)}}
    assert r[4]["Error"]["Code"] == "ResourceNotFound"
    assert out["ConsumedCapacity"] == [{"TableName": t, "CapacityUnits": 2.0}]
    assert "Item" in ddb.get_item(TableName=t, Key={"pk": S("new"), "sk": N(1)}, ConsistentRead=True)


def test_batch_rules(ddb, raw_ddb, music):
    code, _ = error_of(ddb.batch_execute_statement, Statements=[
        {"Statement": f"SELECT * FROM \"{music}\" WHERE Artist = 'a' AND SongTitle = 'b'"},
        {"Statement": f"DELETE FROM \"{music}\" WHERE Artist = 'a' AND SongTitle = 'b'"}])
    assert code == "ValidationException"
    message = error_of(raw_ddb.batch_execute_statement, Statements=[{"Statement": 'SELECT * FROM "t"'}] * 26)[1]
    assert "Member must have length less than or equal to 25" in message
