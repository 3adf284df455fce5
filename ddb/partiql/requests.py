"""The checks of ExecuteStatement's and BatchExecuteStatement's members that
the service model states (lengths, ranges, enums) and the signed NextToken of
a SELECT's next page."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from ddb.errors import ValidationException, constraint_error, constraint_failure
from ddb.transactions import token_and_capacity_errors

MAX_STATEMENT = 8192
MAX_BATCH = 25
MAX_TRANSACTION = 100
RETURN_VALUES_ON_FAILURE = ("ALL_OLD", "NONE")
INVALID_TOKEN = "The provided NextToken is not valid for this statement"


@dataclass(frozen=True)
class StatementRequest:
    statement: str
    parameters: list[dict] | None
    consistent_read: bool
    return_on_failure: str  # ReturnValuesOnConditionCheckFailure


def _statement(member: dict | None, path: str, errors: list[str]) -> StatementRequest:
    if member is None:  # a null in the list
        errors.append(constraint_error(None, path.removesuffix("."), "Member must not be null"))
        return StatementRequest("", None, False, "NONE")
    text = member.get("Statement")
    if text is None:
        errors.append(constraint_error(None, f"{path}statement", "Member must not be null"))
    elif not 1 <= len(text) <= MAX_STATEMENT:
        errors.append(constraint_error(text, f"{path}statement", f"Member must have length "
                                       f"{'greater than or equal to 1' if not text else f'less than or equal to {MAX_STATEMENT}'}"))
    params = member.get("Parameters")
    if params is not None and len(params) < 1:
        errors.append(constraint_error(params, f"{path}parameters", "Member must have length greater than or equal to 1"))
    rvf = member.get("ReturnValuesOnConditionCheckFailure") or "NONE"
    if rvf not in RETURN_VALUES_ON_FAILURE:
        errors.append(constraint_error(rvf, f"{path}returnValuesOnConditionCheckFailure",
                                       "Member must satisfy enum value set: [ALL_OLD, NONE]"))
    return StatementRequest(text or "", params, bool(member.get("ConsistentRead")), rvf)


def parse_execute_statement(body: dict) -> tuple[StatementRequest, int | None]:
    """The statement, and Limit."""
    errors: list[str] = []
    req = _statement(body, "", errors)
    limit = body.get("Limit")
    if limit is not None and limit < 1:
        errors.append(constraint_error(limit, "limit", "Member must have value greater than or equal to 1"))
    if errors:
        raise constraint_failure(errors)
    return req, limit


def parse_batch(body: dict) -> list[StatementRequest]:
    statements = body.get("Statements")
    errors: list[str] = []
    if statements is None:
        raise constraint_failure([constraint_error(None, "statements", "Member must not be null")])
    if not 1 <= len(statements) <= MAX_BATCH:
        bound = "greater than or equal to 1" if not statements else f"less than or equal to {MAX_BATCH}"
        raise constraint_failure([constraint_error(statements, "statements", f"Member must have length {bound}")])
    out = [_statement(m, f"statements.{i + 1}.member.", errors) for i, m in enumerate(statements)]
    if errors:
        raise constraint_failure(errors)
    return out


def parse_transaction(body: dict) -> list[StatementRequest]:
    """ExecuteTransaction's TransactStatements (1 to 100), ClientRequestToken and ReturnConsumedCapacity."""
    statements = body.get("TransactStatements")
    errors = token_and_capacity_errors(body)
    if statements is None:
        errors.append(constraint_error(None, "transactStatements", "Member must not be null"))
    elif not 1 <= len(statements) <= MAX_TRANSACTION:
        bound = "greater than or equal to 1" if not statements else f"less than or equal to {MAX_TRANSACTION}"
        errors.append(constraint_error(statements, "transactStatements", f"Member must have length {bound}"))
    if errors:
        raise constraint_failure(errors)
    out = [_statement(m, f"transactStatements.{i + 1}.member.", errors) for i, m in enumerate(statements)]
    if errors:
        raise constraint_failure(errors)
    return out


def _mac(key: bytes, statement: str, payload: bytes) -> bytes:
    return hmac.new(key, statement.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]


def encode_token(key: bytes, statement: str, index: int, last_key: dict | None) -> str:
    """An opaque NextToken: which of the statement's reads to go on with and
    its LastEvaluatedKey (None: from its start), bound by an HMAC to the
    statement it continues, so an edited or borrowed token is refused."""
    payload = orjson.dumps({"i": index, "k": last_key}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(_mac(key, statement, payload) + payload).decode()


def decode_token(key: bytes, statement: str, token: str, reads: int) -> tuple[int, dict | None]:
    """(index, LastEvaluatedKey) of a token ``encode_token`` made for the
    statement, which has ``reads`` reads."""
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        mac, payload = raw[:16], raw[16:]
        if len(mac) != 16 or not hmac.compare_digest(mac, _mac(key, statement, payload)):
            raise ValueError("bad mac")
        position = orjson.loads(payload)
    except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        raise ValidationException(INVALID_TOKEN) from None
    if type(position) is not dict:
        raise ValidationException(INVALID_TOKEN)
    index, last_key = position.get("i"), position.get("k")
    if type(index) is not int or not 0 <= index < reads or not (last_key is None or type(last_key) is dict):
        raise ValidationException(INVALID_TOKEN)
    return index, last_key
