"""The cluster master key: a local key file standing in for KMS.

The file lives outside every node's data directory (``trireme up`` writes
``DATA_DIR/kms/master.key``, mode 0600; ``--key-file`` names another), so a
copy of a data directory holds no key that opens it. It holds one key a line,
``ID BASE64``; the last line is the current key, the earlier ones are kept so
that data keys wrapped before a rotation still unwrap (``trireme keys
rotate-master`` appends a key, then rewraps every data key under it).

Data keys are wrapped with AES-GCM; a wrapped key is ``ID:BASE64(nonce |
ciphertext)``, so the master key that wrapped it is named.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
_NONCE = 12
_WRAP_AAD = b"trireme data key"


class KeyFileError(Exception):
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

    def wrap(self, data_key: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(self._keys[self.current]).encrypt(nonce, data_key, _WRAP_AAD)
        return f"{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def unwrap(self, wrapped: str) -> bytes:
        """The data key; reloads the file once when the wrapping key is not known yet."""
        key_id, _, blob = wrapped.partition(":")
        if key_id not in self._keys:
            self.reload()
        master = self._keys.get(key_id)
        if master is None:
            raise KeyFileError(f"the key file {self.path} has no master key {key_id!r}")
        raw = base64.b64decode(blob)
        return AESGCM(master).decrypt(raw[:_NONCE], raw[_NONCE:], _WRAP_AAD)

    def wrapped_by(self, wrapped: str) -> str:
        return wrapped.partition(":")[0]


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
