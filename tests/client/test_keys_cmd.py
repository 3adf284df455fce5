"""`trireme keys init` writes the master key file the compose nodes read, once."""

from __future__ import annotations

from client.cli import main
from cluster.kms import MasterKeys


def test_keys_init_writes_a_key_file_once(tmp_path, capsys):
    path = tmp_path / "kms" / "master.key"
    assert main(["keys", "init", "--key-file", str(path)]) == 0
    first = path.read_text()
    assert MasterKeys.load(path).current == "m1"
    assert main(["keys", "init", "--key-file", str(path)]) == 0
    assert path.read_text() == first  # a restarted compose project keeps its key
    assert "master key file" in capsys.readouterr().out


def test_keys_rotate_without_a_cluster_says_so(tmp_path, capsys):
    assert main(["keys", "rotate", "--data-dir", str(tmp_path)]) == 2
    assert "no cluster in" in capsys.readouterr().err
