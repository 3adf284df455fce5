"""bench/auth_path.py: every signed request is authenticated, authorized
and answered in each mode, and a refused one stops the run."""

from __future__ import annotations

import asyncio

import pytest

from bench import auth_path


@pytest.mark.parametrize("mode", auth_path.MODES)
def test_each_mode_answers_every_request_and_reports_each_repetition(mode):
    meta = auth_path.state()
    reps = asyncio.run(auth_path.drive(auth_path.dispatcher(mode, meta), auth_path.requests_for(mode, 6, pool=4), 2))
    assert len(reps) == 2 and all(x > 0 for x in reps)


def test_a_request_the_policy_denies_fails_the_run():
    meta = auth_path.state()
    key_id, secret = auth_path.KEYS["user"]
    other = auth_path.wire("GetItem", b'{"TableName": "usertable", "Key": {"key": {"S": "admin1"}}}', key_id, secret)
    with pytest.raises(RuntimeError, match="AccessDeniedException"):
        asyncio.run(auth_path.drive(auth_path.dispatcher("user", meta), [other], 0))
