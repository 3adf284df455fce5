"""`trireme check --workload bank`: transfers between accounts by
TransactWriteItems under the usual nemeses, with transactional and plain
reads of every balance, checked by `chaos.bank_checker`.

Accounts (2 x ``--keys``, at most 100: one TransactGetItems reads them all)
are items of three tables (two partitions each by default), so transfers
and reads span partitions on every node. Each starts with ``INITIAL``
and an empty log. Clients behave as SDK users do: a call whose outcome is
unknown (timeout, 500) is sent again with the same ClientRequestToken (so
DynamoDB answers a transaction that committed meanwhile with success, once),
as is one answered TransactionInProgressException; a transfer cancelled by a
conflict is tried again as a new transaction (a new id and token). A
transfer of the history is one id and token: ok once a call succeeded, fail
when a definite answer (a cancellation) came before any unknown one, else
unknown (a cancellation after an unknown call says nothing of that call).
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaos.bank_checker import BankChecker
from chaos.faults import Chaos
from chaos.runner import TABLE, CheckConfig, Report, Workload, _client, _error, _make_table, run_check

TABLES = (TABLE, f"{TABLE}-bank1", f"{TABLE}-bank2")
INITIAL = 100  # each account's balance at the start
KEY = "bank"
MAX_ACCOUNTS = 100  # TransactGetItems reads at most 100 items
DEFINITE = ("TransactionCanceledException", "ValidationException", "ResourceNotFoundException")
RETRY_S = (0.25, 0.5, 1.0, 2.0)  # backoff before resending a call of unknown outcome (same token)
CONFLICT_RETRIES = 3  # new transactions after a TransactionConflict cancellation
FINAL_S = 60.0  # after healing, how long the final snapshot may take (recovery of abandoned transactions)


def accounts_of(cfg: CheckConfig) -> list[tuple[str, str]]:
    """(table, key) of every account, spread over the tables in turn."""
    n = min(max(2, 2 * cfg.keys), MAX_ACCOUNTS)
    return [(TABLES[i % len(TABLES)], f"a{i}") for i in range(n)]


def account_name(table: str, key: str) -> str:
    return f"{table}/{key}"


def _parse(item: dict | None) -> list | None:
    """An account item as [balance, log]."""
    if item is None:
        return None
    return [int(item["balance"]["N"]), [int(x["N"]) for x in item["log"]["L"]]]


class BankWorkload(Workload):
    """What every client thread does, and the setup and final reads."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.accounts = accounts_of(self.cfg)
        self.run = uuid.uuid4().hex[:12]  # tokens of this run never match an earlier run's

    def tables(self) -> tuple[str, ...]:
        return TABLES

    def prepare(self, ddb: Any) -> None:
        """Fresh tables (the first one run_check made) and accounts, recorded as the history's ``init``."""
        for table in TABLES[1:]:
            _make_table(ddb, name=table)
        ddb = _client(ddb.meta.endpoint_url, attempts=10)  # puts are idempotent: retried through a slow start
        balances = {}
        for table, key in self.accounts:
            ddb.put_item(TableName=table, Item={"pk": {"S": key}, "balance": {"N": str(INITIAL)}, "log": {"L": []}})
            balances[account_name(table, key)] = INITIAL
        self.rec.invoke("setup", "init", KEY, balances)
        self.rec.ok("setup", "init", KEY, None)

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        pick = rng.random()
        if pick < 0.6:
            src, dst = rng.sample(self.accounts, 2)
            amount = rng.randint(1, INITIAL // 4)
            for attempt in range(CONFLICT_RETRIES + 1):
                if not self.transfer(ddb, process, src, dst, amount) or attempt == CONFLICT_RETRIES:
                    return
                time.sleep(rng.uniform(0.01, 0.05 * 2 ** attempt))
        elif pick < 0.75:
            self._read(ddb, process, "txn-read", self.txn_read)
        elif pick < 0.9:
            table, key = rng.choice(self.accounts)
            name = account_name(table, key)
            self._read(ddb, process, "read", lambda d: _parse(d.get_item(
                TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")), name)
        elif pick < 0.95:
            self._read(ddb, process, "scan", self.scan)
        else:
            self._read(ddb, process, "batch-read", self.batch_read)

    def transfer(self, ddb: Any, process: int, src: tuple[str, str], dst: tuple[str, str], amount: int) -> bool:
        """One transfer (one id and token, resent while its outcome is unknown);
        True when a conflict cancelled it (worth another transaction)."""
        tid = next(self.values)
        value = {"id": tid, "from": account_name(*src), "to": account_name(*dst), "amount": amount}
        entry = {"L": [{"N": str(tid)}]}
        amt = {"N": str(amount)}
        request = {"ClientRequestToken": f"{self.run}-{tid}", "TransactItems": [
            {"Update": {"TableName": src[0], "Key": {"pk": {"S": src[1]}},
                        "UpdateExpression": "SET balance = balance - :amt, #log = list_append(#log, :id)",
                        "ConditionExpression": "balance >= :amt", "ExpressionAttributeNames": {"#log": "log"},
                        "ExpressionAttributeValues": {":amt": amt, ":id": entry}}},
            {"Update": {"TableName": dst[0], "Key": {"pk": {"S": dst[1]}},
                        "UpdateExpression": "SET balance = balance + :amt, #log = list_append(#log, :id)",
                        "ExpressionAttributeNames": {"#log": "log"},
                        "ExpressionAttributeValues": {":amt": amt, ":id": entry}}}]}
        rec = self.rec
        rec.invoke(process, "transfer", KEY, value)
        unknown = None  # the error of an earlier call of unknown outcome
        for wait in (*RETRY_S, None):
            try:
                ddb.transact_write_items(**request)
            except ClientError as exc:
                code = _error(exc)
                if code in DEFINITE and unknown is None:
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    rec.fail(process, "transfer", KEY, value, f"{code} {reasons}" if reasons else code)
                    return "TransactionConflict" in reasons
                if code in DEFINITE:
                    break  # this call did nothing, but an earlier one may have (kept unknown)
                unknown = code
            except BotoCoreError as exc:
                unknown = _error(exc)
            else:
                rec.ok(process, "transfer", KEY, value)
                return False
            if wait is None:
                break
            time.sleep(wait)
        rec.info(process, "transfer", KEY, value, unknown)
        return False

    def _read(self, ddb: Any, process: int | str, f: str, read: Any, key_value: Any = None) -> None:
        rec = self.rec
        rec.invoke(process, f, KEY, key_value)
        try:
            result = read(ddb)
        except (ClientError, BotoCoreError) as exc:
            rec.fail(process, f, KEY, key_value, _error(exc))  # a read has no effect
            return
        rec.ok(process, f, KEY, result)

    def txn_read(self, ddb: Any) -> dict[str, list]:
        answer = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": t, "Key": {"pk": {"S": k}}}}
                                                       for t, k in self.accounts])
        return {account_name(t, k): _parse(r.get("Item"))
                for (t, k), r in zip(self.accounts, answer["Responses"])}

    def scan(self, ddb: Any) -> dict[str, list]:
        wanted = {account_name(*a) for a in self.accounts}
        out = {}
        for table in TABLES:
            start = None
            while True:
                page = ddb.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
                out.update({account_name(table, i["pk"]["S"]): _parse(i) for i in page["Items"]})
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        return {a: v for a, v in out.items() if a in wanted}

    def batch_read(self, ddb: Any) -> dict[str, list]:
        """BatchGetItem of every account (100 keys at most per call), unprocessed keys asked again."""
        out = {}
        for i in range(0, len(self.accounts), 100):
            keys: dict[str, Any] = {}
            for t, k in self.accounts[i:i + 100]:
                keys.setdefault(t, {"Keys": [], "ConsistentRead": True})["Keys"].append({"pk": {"S": k}})
            for _ in range(5):
                answer = ddb.batch_get_item(RequestItems=keys)
                for t, items in answer["Responses"].items():
                    out.update({account_name(t, it["pk"]["S"]): _parse(it) for it in items})
                keys = answer.get("UnprocessedKeys") or {}
                if not keys:
                    break
            if keys:
                raise ClientError({"Error": {"Code": "UnprocessedKeys", "Message": "keys left"}}, "BatchGetItem")
        return out

    def final(self, ddb: Any) -> None:
        """One snapshot of every account once healed: a TransactGetItems, tried
        until no transaction holds an account (recovery finishes abandoned ones)."""
        rec = self.rec
        rec.invoke("final", "final", KEY, None)
        deadline = time.monotonic() + FINAL_S
        while True:
            try:
                result = self.txn_read(ddb)
            except (ClientError, BotoCoreError) as exc:
                if time.monotonic() > deadline:
                    rec.fail("final", "final", KEY, None, _error(exc))
                    return
                time.sleep(0.5)
                continue
            rec.ok("final", "final", KEY, result)
            return


def run_bank_check(chaos: Chaos, cfg: CheckConfig) -> Report:
    """run_check (chaos.runner) with the bank workload and its checker."""
    return run_check(chaos, cfg, BankWorkload, BankChecker(),
                     "every transfer all or nothing and exactly once, totals kept, serializable")
