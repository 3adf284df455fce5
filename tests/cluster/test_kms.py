"""The master key file: created private, wraps and unwraps data keys and
secrets (bound to their context), rotates, derives the internal credential."""

from __future__ import annotations

import stat

import pytest

from cluster.kms import KeyFileError, MasterKeys, new_data_key


def test_create_is_private_and_idempotent(tmp_path):
    path = tmp_path / "kms" / "master.key"
    m = MasterKeys.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert MasterKeys.create(path).current == m.current == "m1"
    key = new_data_key()
    assert MasterKeys.load(path).unwrap(m.wrap(key)) == key


def test_rotation_keeps_old_wrapped_keys_opening(tmp_path):
    m = MasterKeys.create(tmp_path / "master.key")
    key = new_data_key()
    old = m.wrap(key)
    reader = MasterKeys.load(m.path)  # another process, loaded before the rotation
    assert m.add() == "m2"
    new = m.wrap(key)
    assert m.wrapped_by(old) == "m1" and m.wrapped_by(new) == "m2"
    assert reader.unwrap(new) == key  # it reloads the file for the key it lacks
    assert reader.unwrap(old) == key
    assert stat.S_IMODE(m.path.stat().st_mode) == 0o600


def test_a_wrapped_key_does_not_open_under_another_file(tmp_path):
    a = MasterKeys.create(tmp_path / "a.key")
    b = MasterKeys.create(tmp_path / "b.key")
    with pytest.raises(Exception):
        b.unwrap(a.wrap(new_data_key()))
    with pytest.raises(KeyFileError, match="no master key 'm9'"):
        b.unwrap("m9:AAAA")


@pytest.mark.parametrize("text, why", [("", "no key"), ("m1 notbase64!\n", "expected 'ID BASE64KEY'"),
                                       ("m1 AAAA\n", "a key is 32 bytes, not 3")])
def test_bad_key_files_say_what_is_wrong(tmp_path, text, why):
    path = tmp_path / "master.key"
    path.write_text(text)
    with pytest.raises(KeyFileError, match=why):
        MasterKeys.load(path)
    with pytest.raises(KeyFileError, match="cannot read"):
        MasterKeys.load(tmp_path / "missing.key")


def test_wrap_unwrap_of_a_secret_is_bound_to_its_context(tmp_path):
    key = MasterKeys.create(tmp_path / "k")
    wrapped = key.wrap(b"secret", "access-key:AKIA1")
    assert b"secret" not in wrapped.encode()
    assert key.unwrap(wrapped, "access-key:AKIA1") == b"secret"
    with pytest.raises(KeyFileError):
        key.unwrap(wrapped, "access-key:AKIA2")  # moved to another record
    with pytest.raises(KeyFileError):
        key.unwrap(wrapped)  # not a data key
    other = MasterKeys.create(tmp_path / "other")
    with pytest.raises(KeyFileError):
        other.unwrap(wrapped, "access-key:AKIA1")  # another cluster's key file


def test_internal_credential_is_derived_alike_by_every_holder_and_kept_across_rotation(tmp_path):
    path = tmp_path / "k"
    key = MasterKeys.create(path)
    key_id, secret = key.internal_credential()
    assert (key_id, secret) == MasterKeys.load(path).internal_credential()
    assert key_id.startswith("TRIR") and len(key_id) == 20 and len(secret) == 40
    key.add()
    assert MasterKeys.load(path).internal_credential() == (key_id, secret)
    assert MasterKeys.create(tmp_path / "k2").internal_credential() != (key_id, secret)
