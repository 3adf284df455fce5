"""YCSB's data and operations, as DynamoDB JSON request bodies.

Records are YCSB's: a key `user<hash>` and ten 100-byte fields
`field0..field9` (about 1 KB). Keys are chosen uniformly or by YCSB's
scrambled zipfian (theta 0.99: a few keys hot, most cold, hot keys spread
over the key space rather than clustered). Bodies are assembled from
pre-encoded pieces so that making a request costs the generator little.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import orjson

TABLE = "usertable"
QTABLE = "usertable_q"  # Query workload: 10 items under each partition key
QITEMS = 10
FIELDS = 10
FIELD_BYTES = 100

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv64(value: int) -> int:
    """YCSB's FNV-1a over the 8 bytes of a long (scatters record numbers)."""
    h = FNV_OFFSET
    for _ in range(8):
        h ^= value & 0xFF
        h = (h * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
        value >>= 8
    return h


def key_name(n: int) -> str:
    return f"user{fnv64(n)}"


class Zipfian:
    """YCSB's ZipfianGenerator over [0, n) (Gray et al., 'Quickly generating
    billion-record synthetic databases'), scrambled by FNV as YCSB does."""

    def __init__(self, n: int, theta: float = 0.99, rng: random.Random | None = None) -> None:
        self.n = n
        self.theta = theta
        self.rng = rng or random.Random()
        zetan = sum(1.0 / (i ** theta) for i in range(1, n + 1))
        zeta2 = 1.0 + 0.5 ** theta
        self.zetan = zetan
        self.alpha = 1.0 / (1.0 - theta)
        self.eta = (1 - (2.0 / n) ** (1 - theta)) / (1 - zeta2 / zetan)
        self.half_pow = 1.0 + 0.5 ** theta
        self.last_rank = 0  # the rank behind the last key drawn (0: the hottest)

    def rank(self) -> int:
        u = self.rng.random()
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < self.half_pow:
            return 1
        return min(self.n - 1, int(self.n * (self.eta * u - self.eta + 1) ** self.alpha))

    def __call__(self) -> int:
        self.last_rank = r = self.rank()
        return fnv64(r) % self.n


def hottest(n: int, share: float = 0.01) -> int:
    """How many of the zipfian's ranks make its hottest `share` of `n` keys
    (YCSB-A's hot keys: the hottest 1%; at least one)."""
    return max(1, int(n * share))


def chooser(distribution: str, n: int, rng: random.Random) -> Callable[[], int]:
    if distribution == "uniform":
        return lambda: rng.randrange(n)
    if distribution == "zipfian":
        return Zipfian(n, rng=rng)
    raise ValueError(f"unknown distribution {distribution!r} (uniform, zipfian)")


def fields(rng: random.Random) -> dict:
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return {f"field{i}": {"S": "".join(rng.choices(chars, k=FIELD_BYTES))} for i in range(FIELDS)}


@dataclass
class Bodies:
    """Request bodies for one client: keys pre-encoded once."""

    keys: list[bytes]  # JSON-escaped key strings (they need no escaping)
    consistent: bool
    rng: random.Random

    def get(self, k: int) -> bytes:
        return (b'{"TableName":"' + TABLE.encode() + b'","Key":{"key":{"S":"' + self.keys[k] + b'"}}'
                + (b',"ConsistentRead":true}' if self.consistent else b"}"))

    def put(self, k: int, values: bytes) -> bytes:
        return b'{"TableName":"' + TABLE.encode() + b'","Item":{"key":{"S":"' + self.keys[k] + b'"},' + values + b"}}"

    def update(self, k: int) -> bytes:
        field = self.rng.randrange(FIELDS)
        value = orjson.dumps({"S": "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz", k=FIELD_BYTES))})
        return (b'{"TableName":"' + TABLE.encode() + b'","Key":{"key":{"S":"' + self.keys[k]
                + b'"}},"UpdateExpression":"SET #f = :v","ExpressionAttributeNames":{"#f":"field%d"},'
                % field + b'"ExpressionAttributeValues":{":v":' + value + b"}}")

    def query(self, k: int) -> bytes:
        return (b'{"TableName":"' + QTABLE.encode() + b'","KeyConditionExpression":"#k = :k",'
                b'"ExpressionAttributeNames":{"#k":"key"},"ExpressionAttributeValues":{":k":{"S":"'
                + self.keys[k] + b'"}}' + (b',"ConsistentRead":true}' if self.consistent else b"}"))


def values_blob(rng: random.Random) -> bytes:
    """The ten fields as the inside of an Item object (reused across puts)."""
    return orjson.dumps(fields(rng))[1:-1]


def table_spec(name: str, with_sort: bool) -> dict:
    spec = {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}]}
    if with_sort:
        spec["KeySchema"].append({"AttributeName": "n", "KeyType": "RANGE"})
        spec["AttributeDefinitions"].append({"AttributeName": "n", "AttributeType": "N"})
    return spec
