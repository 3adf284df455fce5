"""ExecuteStatement's and BatchExecuteStatement's member constraints, and the
signed NextToken."""

from __future__ import annotations

import pytest

from ddb.errors import ValidationException
from ddb.partiql.requests import INVALID_TOKEN, decode_token, encode_token, parse_batch, parse_execute_statement

KEY = b"k" * 32
LAST = {"pk": {"S": "a"}, "sk": {"N": "2"}}


def test_token_round_trip_and_refusals():
    token = encode_token(KEY, "SELECT * FROM t", 1, LAST)
    assert decode_token(KEY, "SELECT * FROM t", token, 2) == (1, LAST)
    assert decode_token(KEY, "q", encode_token(KEY, "q", 0, None), 1) == (0, None)
    for key, statement, text, reads in ((KEY, "SELECT * FROM u", token, 2), (b"x" * 32, "SELECT * FROM t", token, 2),
                                        (KEY, "SELECT * FROM t", token[:-2], 2), (KEY, "SELECT * FROM t", "%%%", 2),
                                        (KEY, "SELECT * FROM t", "", 2), (KEY, "SELECT * FROM t", token, 1)):
        with pytest.raises(ValidationException, match=INVALID_TOKEN):
            decode_token(key, statement, text, reads)


@pytest.mark.parametrize("body, message", [
    ({"Statement": ""}, "Value '' at 'statement' failed to satisfy constraint: Member must have length greater "
                        "than or equal to 1"),
    ({"Statement": "x", "Limit": 0}, "Value '0' at 'limit' failed to satisfy constraint: Member must have value "
                                     "greater than or equal to 1"),
    ({"Statement": "x", "Parameters": []}, "Value '[]' at 'parameters' failed to satisfy constraint: Member must "
                                           "have length greater than or equal to 1"),
    ({"Statement": "x", "ReturnValuesOnConditionCheckFailure": "ALL_NEW"},
     "Value 'ALL_NEW' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy "
     "enum value set: [ALL_OLD, NONE]"),
])
def test_execute_statement_constraints(body, message):
    with pytest.raises(ValidationException) as exc:
        parse_execute_statement(body)
    assert exc.value.message == "1 validation error detected: " + message


def test_batch_constraints():
    assert len(parse_batch({"Statements": [{"Statement": "x"}] * 25})) == 25
    for statements in ([], [{"Statement": "x"}] * 26):
        with pytest.raises(ValidationException, match="at 'statements' failed to satisfy constraint"):
            parse_batch({"Statements": statements})
    with pytest.raises(ValidationException, match="at 'statements.2.member.statement'"):
        parse_batch({"Statements": [{"Statement": "x"}, {}]})


def test_a_null_statement_in_a_list_is_a_constraint_error():
    from ddb.partiql.requests import parse_transaction
    with pytest.raises(ValidationException) as exc:
        parse_transaction({"TransactStatements": [{"Statement": "x"}, None]})
    assert exc.value.message == ("1 validation error detected: Value null at 'transactStatements.2.member' failed "
                                 "to satisfy constraint: Member must not be null")
    with pytest.raises(ValidationException, match="Value null at 'statements.1.member'"):
        parse_batch({"Statements": [None]})
