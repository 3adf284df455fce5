"""`trireme check`'s flags for the global workload: bad input is refused
with a clear message before anything starts."""

from __future__ import annotations

import pytest

from client.cli import main


@pytest.mark.parametrize("args,message", [
    (["--regions", "1"], "--regions takes 2 to 5"),
    (["--regions", "mars"], "'mars' is not a region name"),
    (["--regions", "us-east-1,us-east-1"], "names a region twice"),
    (["--regions", "2", "--workload", "set"], "--regions runs the global workload"),
    (["--regions", "2", "--compose"], "--regions runs the global workload"),
    (["--regions", "2", "--consistency", "strong"], "exactly three regions"),
    (["--regions", "us-east-1,eu-west-1,us-west-2", "--consistency", "strong"], "one Region set"),
    (["--consistency", "strong", "--workload", "set"], "with --consistency strong the register workload"),
    (["--consistency", "strong", "--nemesis", "leader-kill"], "unknown fault 'leader-kill' for the global"),
    (["--regions", "2", "--nemesis", "isolate-region,leader-kill"], "unknown fault 'leader-kill' for the global"),
    (["--workload", "global", "--data-dir", "/nonexistent/trireme-check"], "no regions in /nonexistent"),
])
def test_bad_global_check_arguments_are_refused(args, message, capsys, tmp_path):
    assert main(["check", *args, "--out", str(tmp_path / "check")]) == 2
    assert message in capsys.readouterr().err


def test_help_describes_the_global_workload_and_its_faults(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "--regions N|R1,R2" in out and "isolate-region" in out and "kill-region" in out and "global" in out
