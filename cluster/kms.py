"""The cluster master key: a local key file standing in for KMS.

The file lives outside every node's data directory (`trireme up` writes
`DATA_DIR/kms/master.key`, mode 0600, unless `--key-file` names another), so a
copy of a data directory alone reveals no secret. Users' secret access keys
are stored in the metadata wrapped with it (AES-GCM, the record's identity as
associated data: a wrapped secret moved to another record does not unwrap);
encryption at rest will wrap its per-table data keys with it too.

It also derives the cluster's internal credential: the key id and secret that
routers and nodes sign their calls to routers with (between regions too: the
regions of one deployment share the key file), never stored anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ddb.iam.sigv4 import sign

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
INTERNAL_PREFIX = "TRIR"  # the internal credential's key id starts so (users' keys: AKIA, sessions: ASIA)


class KeyFileError(ValueError):
    """A key file that is missing or malformed, or a wrapped value that does not unwrap."""


class MasterKey:
    """AES-GCM wrap/unwrap under the master key, and derived values."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a master key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key = key

    def wrap(self, plaintext: bytes, context: str) -> str:
        """base64(nonce | ciphertext | tag); `context` is bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext, context.encode())).decode()

    def unwrap(self, wrapped: str, context: str) -> bytes:
        try:
            raw = base64.b64decode(wrapped, validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError) as exc:
            raise KeyFileError(f"cannot unwrap a value for {context}: wrong master key or damaged record") from exc

    def derive(self, label: str) -> bytes:
        return hmac.new(self._key, label.encode(), hashlib.sha256).digest()

    def internal_credential(self) -> tuple[str, str]:
        """(access key id, secret) of the cluster's own calls: same for every
        process holding this key, so it needs no storage and no distribution."""
        key_id = INTERNAL_PREFIX + base64.b32encode(self.derive("internal key id")).decode()[:16]
        return key_id, base64.b64encode(self.derive("internal secret")).decode()[:40]


def create_key_file(path: Path) -> Path:
    """Write a new random key to `path` (mode 0600; its directory 0700) unless
    one is there already: a cluster keeps its key across restarts."""
    path = Path(path)
    if path.exists():
        load_key(path)  # refuse a malformed file now rather than at first use
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(KEY_BYTES).hex() + "\n")
    return path


def load_key(path: Path) -> MasterKey:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read the master key file {path}: {exc.strerror or exc}") from None
    try:
        return MasterKey(bytes.fromhex(text))
    except ValueError:
        raise KeyFileError(f"{path} does not hold a master key ({KEY_BYTES * 2} hex digits)") from None


# --- this process's own credential -----------------------------------------------
# What a router or node signs its calls to routers with (region to region,
# replication, triggers, functions): the internal credential when the process
# was given the master key, else a placeholder that open-mode routers accept.
OPEN_CREDENTIAL = ("trireme", "trireme")
_own: tuple[str, str] = OPEN_CREDENTIAL


def use_key_file(path: Path | str | None) -> MasterKey | None:
    """Load the master key (None: none given) and sign this process's calls with its internal credential."""
    global _own
    if not path:
        return None
    master = load_key(Path(path))
    _own = master.internal_credential()
    return master


def own_credential() -> tuple[str, str]:
    return _own


def signature(host: str, port: int, target: str, data: bytes, region: str) -> str:
    """Header lines (CRLF-ended) signing a DynamoDB-protocol POST to
    `region`'s router at host:port with this process's own credential:
    routers run with --auth accept it as the cluster's (the regions of one
    deployment share the master key)."""
    key_id, secret = _own
    headers = {"host": f"{host}:{port}", "content-type": "application/x-amz-json-1.0", "x-amz-target": target}
    added = sign("POST", "/", headers, data, access_key=key_id, secret=secret, region=region, service="dynamodb",
                 now=time.time())
    return "".join(f"{name}: {value}\r\n" for name, value in added.items())
