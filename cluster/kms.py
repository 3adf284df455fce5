"""The cluster master key: a local key file standing in for KMS.

The file lives outside every node's data directory (``trireme up`` writes
``DATA_DIR/kms/master.key``, mode 0600; ``--key-file`` names another), so a
copy of a data directory holds no key that opens it. It holds one key a line,
``ID BASE64``; the last line is the current key, the earlier ones are kept so
that data keys wrapped before a rotation still unwrap (``trireme keys
rotate-master`` appends a key, then rewraps every data key under it).

Data keys (encryption at rest) and users' secret access keys (the metadata
holds them wrapped) are wrapped with AES-GCM; a wrapped value is
``ID:BASE64(nonce | ciphertext)``, so the master key that wrapped it is named,
and a context (the record's identity) is bound as associated data: a wrapped
secret moved to another record does not unwrap.

The key file also yields the cluster's internal credential: the key id and
secret that routers and nodes sign their calls to routers with (between
regions too: the regions of one deployment share the key file), derived from
its first key (so a rotation keeps it) and never stored anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ddb.iam.sigv4 import sign

KEY_BYTES = 32  # AES-256
_NONCE = 12
_WRAP_AAD = b"trireme data key"
INTERNAL_PREFIX = "TRIR"  # the internal credential's key id starts so (users' keys: AKIA, sessions: ASIA)


class KeyFileError(ValueError):
    """The key file is missing, unreadable or malformed, or lacks a key a value names."""


def new_data_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


class MasterKeys:
    """The keys of one key file; the last is the one new data keys are wrapped under."""

    def __init__(self, path: Path, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyFileError(f"{path}: no key in the key file")
        self.path = path
        self._keys = dict(keys)
        self.current = keys[-1][0]
        self._first = keys[0][1]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MasterKeys:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file {p}: {exc.strerror}") from None
        return cls(p, _parse(p, text))

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> MasterKeys:
        """Write a new key file with one key (0600, its directory 0700); an existing one is loaded."""
        p = Path(path)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write(p, [("m1", new_data_key())])
        return cls.load(p)

    def add(self) -> str:
        """Append a new current key to the file (master key rotation); returns its id."""
        keys = list(self._keys.items())
        new_id = f"m{1 + max(int(k[1:]) for k, _ in keys if k[1:].isdigit())}" if keys else "m1"
        keys.append((new_id, new_data_key()))
        _write(self.path, keys)
        self._keys, self.current = dict(keys), new_id
        return new_id

    def reload(self) -> None:
        """Read the file again: another process may have rotated it."""
        fresh = MasterKeys.load(self.path)
        self._keys, self.current = fresh._keys, fresh.current

    def wrap(self, data: bytes, context: str | None = None) -> str:
        """``data`` sealed under the current key; ``context`` (default: a data key's) bound as associated data."""
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(self._keys[self.current]).encrypt(nonce, data, _aad(context))
        return f"{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def unwrap(self, wrapped: str, context: str | None = None) -> bytes:
        """What ``wrap`` sealed; reloads the file once when the wrapping key is not known yet."""
        key_id, _, blob = wrapped.partition(":")
        if key_id not in self._keys:
            self.reload()
        master = self._keys.get(key_id)
        if master is None:
            raise KeyFileError(f"the key file {self.path} has no master key {key_id!r}")
        try:
            raw = base64.b64decode(blob, validate=True)
            return AESGCM(master).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(context))
        except (InvalidTag, ValueError) as exc:
            raise KeyFileError(f"cannot unwrap a value for {context or 'a data key'}: "
                               "wrong master key or damaged record") from exc

    def internal_credential(self) -> tuple[str, str]:
        """(access key id, secret) of the cluster's own calls: the same for every
        process holding this key file, so it needs no storage and no distribution."""
        def derive(label: str) -> bytes:
            return hmac.new(self._first, label.encode(), hashlib.sha256).digest()
        key_id = INTERNAL_PREFIX + base64.b32encode(derive("internal key id")).decode()[:16]
        return key_id, base64.b64encode(derive("internal secret")).decode()[:40]

    def wrapped_by(self, wrapped: str) -> str:
        return wrapped.partition(":")[0]


def _aad(context: str | None) -> bytes:
    return _WRAP_AAD if context is None else context.encode()


def _parse(path: Path, text: str) -> list[tuple[str, bytes]]:
    keys = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key_id, b64 = line.split()
            key = base64.b64decode(b64, validate=True)
        except ValueError:
            raise KeyFileError(f"{path}:{n}: expected 'ID BASE64KEY'") from None
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"{path}:{n}: a key is {KEY_BYTES} bytes, not {len(key)}")
        keys.append((key_id, key))
    return keys


def _write(path: Path, keys: list[tuple[str, bytes]]) -> None:
    """Replace the file atomically, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Trireme master keys: the last is current; keep this file away from the data\n")
        f.writelines(f"{k} {base64.b64encode(v).decode()}\n" for k, v in keys)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- this process's own credential -----------------------------------------------
# What a router or node signs its calls to routers with (region to region,
# replication, triggers, functions): the internal credential when the process
# was given the key file, else a placeholder that open-mode routers accept.
OPEN_CREDENTIAL = ("trireme", "trireme")
_own: tuple[str, str] = OPEN_CREDENTIAL


def use_key_file(path: Path | str | None) -> MasterKeys | None:
    """Load the key file (None: none given) and sign this process's calls with its internal credential."""
    global _own
    if not path:
        return None
    master = MasterKeys.load(path)
    _own = master.internal_credential()
    return master


def own_credential() -> tuple[str, str]:
    return _own


def signature(host: str, port: int, target: str, data: bytes, region: str) -> str:
    """Header lines (CRLF-ended) signing a DynamoDB-protocol POST to
    `region`'s router at host:port with this process's own credential:
    routers run with --auth accept it as the cluster's (the regions of one
    deployment share the key file)."""
    key_id, secret = _own
    headers = {"host": f"{host}:{port}", "content-type": "application/x-amz-json-1.0", "x-amz-target": target}
    added = sign("POST", "/", headers, data, access_key=key_id, secret=secret, region=region, service="dynamodb",
                 now=time.time())
    return "".join(f"{name}: {value}\r\n" for name, value in added.items())
