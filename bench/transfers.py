"""The transactions workloads: two-item transfers by TransactWriteItems
between the loaded YCSB records, spread (T: up to 10,000 accounts, conflicts
rare) or hot (H: 10 accounts, so concurrent transfers meet on their items
and some are cancelled with TransactionConflict). Committed transfers count
as operations; cancellations are counted apart, as the cancellation rate.
"""

from __future__ import annotations

import random

from bench import ycsb

WORKLOADS = {
    "T": "TransactWriteItems: 2-item transfers over 10,000 accounts (little contention)",
    "H": "TransactWriteItems: 2-item transfers over 10 accounts (contention)",
}
ACCOUNTS = {"T": 10_000, "H": 10}
START = 1_000_000  # an account's balance before its first transfer: conditions never fail for want of money


def accounts(workload: str, records: int) -> int:
    """How many of the loaded records the workload moves money between."""
    return min(ACCOUNTS[workload], records)


def _update(key: bytes, sign: bytes, amount: int) -> bytes:
    """The source's side (sign -) carries the funds condition, as a bank's would."""
    condition = b'"ConditionExpression":"attribute_not_exists(balance) OR balance >= :a",' if sign == b"-" else b""
    return (b'{"Update":{"TableName":"' + ycsb.TABLE.encode() + b'","Key":{"key":{"S":"' + key + b'"}},'
            b'"UpdateExpression":"SET balance = if_not_exists(balance, :start) ' + sign + b' :a",' + condition
            + b'"ExpressionAttributeValues":{":a":{"N":"%d"},":start":{"N":"%d"}}}}' % (amount, START))


def body(keys: list[bytes], n: int, rng: random.Random) -> bytes:
    """One transfer between two distinct accounts of the first `n` keys."""
    a, b = rng.sample(range(n), 2)
    amount = rng.randint(1, 100)
    return b'{"TransactItems":[' + _update(keys[a], b"-", amount) + b"," + _update(keys[b], b"+", amount) + b"]}"
