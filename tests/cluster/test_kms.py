"""The master key file and AES-GCM wrapping of secrets."""

from __future__ import annotations

import stat

import pytest

from cluster.kms import KeyFileError, MasterKey, create_key_file, load_key


def test_key_file_is_private_and_kept(tmp_path):
    path = create_key_file(tmp_path / "kms" / "master.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = path.read_text()
    create_key_file(path)  # a second `trireme up` keeps the cluster's key
    assert path.read_text() == first


def test_wrap_unwrap_round_trip_bound_to_context(tmp_path):
    key = load_key(create_key_file(tmp_path / "k"))
    wrapped = key.wrap(b"secret", "access-key:AKIA1")
    assert b"secret" not in wrapped.encode()
    assert key.unwrap(wrapped, "access-key:AKIA1") == b"secret"
    with pytest.raises(KeyFileError):
        key.unwrap(wrapped, "access-key:AKIA2")  # moved to another record
    with pytest.raises(KeyFileError):
        MasterKey(b"\x01" * 32).unwrap(wrapped, "access-key:AKIA1")  # another cluster's key


def test_internal_credential_is_derived_alike_by_every_holder(tmp_path):
    path = create_key_file(tmp_path / "k")
    key_id, secret = load_key(path).internal_credential()
    assert (key_id, secret) == load_key(path).internal_credential()
    assert key_id.startswith("TRIR") and len(key_id) == 20 and len(secret) == 40
    assert MasterKey(b"\x02" * 32).internal_credential() != (key_id, secret)


def test_malformed_or_missing_key_file_is_refused(tmp_path):
    (tmp_path / "bad").write_text("not hex")
    with pytest.raises(KeyFileError, match="does not hold a master key"):
        load_key(tmp_path / "bad")
    with pytest.raises(KeyFileError, match="cannot read"):
        load_key(tmp_path / "missing")
