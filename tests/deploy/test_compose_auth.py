"""The compose deployment enforces auth by default, without containers: the
router's command line under TRIREME_AUTH on and off, the `admin` service's
command, where the host finds the keys, and that the chaos and check tools
sign with them."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
import yaml

from chaos.containers import ComposeChaos
from client.elastic_cmd import meta
from deploy import compose_admin
from deploy.containers import COMPOSE_FILE, REGIONS_COMPOSE_FILE, Compose, _compose_env
from deploy.local import write_credentials

SERVICES = yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def _router_argv(auth: str | None) -> list[str]:
    """What the router's entrypoint runs, with `trireme` swapped for printf
    (compose turns `$$` into `$`)."""
    entry, command = SERVICES["router"]["entrypoint"], SERVICES["router"]["command"]
    script = entry[2].replace("$$", "$").replace("exec trireme router", "printf '%s\\n'")
    env = {"PATH": "/usr/bin:/bin", **({"TRIREME_AUTH": auth} if auth is not None else {})}
    out = subprocess.run(["sh", "-c", script, *entry[3:], *command], env=env, capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def test_the_router_enforces_auth_unless_trireme_auth_is_off():
    assert SERVICES["router"]["environment"]["TRIREME_AUTH"] == "${TRIREME_AUTH:-on}"
    on = _router_argv("on")
    assert on[-1] == "--auth" and on[:2] == ["--listen", "0.0.0.0:8000"]
    assert "--auth" not in _router_argv("off")
    assert on[on.index("--key-file") + 1] == "/kms/master.key"  # unwraps the users' secrets
    assert "kms:/kms:ro" in SERVICES["router"]["volumes"]


def test_the_admin_service_writes_the_keys_to_the_hosts_secrets_directory():
    admin = SERVICES["admin"]
    assert admin["entrypoint"] == ["python", "-m", "deploy.compose_admin"]
    args = admin["command"]
    assert args[args.index("--out") + 1] == "/secrets/credentials"
    assert args[args.index("--mode") + 1] == "${TRIREME_AUTH:-on}"
    assert admin["volumes"] == ["${TRIREME_SECRETS:-./secrets}:/secrets"]
    assert set(admin["depends_on"]) == {"n1", "n2", "n3"}


def test_compose_admin_does_nothing_in_open_mode(tmp_path, capsys):
    out = tmp_path / "credentials"
    assert compose_admin.main(["--seeds", "127.0.0.1:9", "--out", str(out), "--mode", "off"]) == 0
    assert not out.exists() and "open mode" in capsys.readouterr().out


def test_compose_admin_gives_up_clearly_when_no_node_answers(tmp_path, capsys):
    out = tmp_path / "credentials"
    assert compose_admin.main(["--seeds", "127.0.0.1:9", "--out", str(out), "--wait", "0"]) == 1
    assert "cannot make the admin user's keys" in capsys.readouterr().err and not out.exists()
    write_credentials(out, "AKIDKEPT", "kept", "us-east-1")  # kept only once the metadata says they work
    assert compose_admin.main(["--seeds", "127.0.0.1:9", "--out", str(out), "--wait", "0"]) == 1
    assert "AKIDKEPT" in out.read_text()


def test_compose_runs_as_the_callers_owner_with_the_secrets_directory_made(tmp_path):
    """Docker would make a missing bind-mount directory as root; the owner
    the admin service gives the keys to is the user running compose."""
    secrets = tmp_path / "made" / "secrets"
    env = _compose_env(COMPOSE_FILE, {"TRIREME_SECRETS": str(secrets)})
    assert secrets.is_dir() and env["TRIREME_OWNER"] == f"{os.getuid()}:{os.getgid()}"
    kept = _compose_env(COMPOSE_FILE, {"TRIREME_SECRETS": str(secrets), "TRIREME_OWNER": "7:8"})
    assert kept["TRIREME_OWNER"] == "7:8"
    regions = tmp_path / "regions"
    _compose_env(REGIONS_COMPOSE_FILE, {"TRIREME_SECRETS": str(regions)})  # the regions run in open mode
    assert not regions.exists()


def test_chaos_and_check_sign_with_the_keys_the_admin_service_wrote(tmp_path):
    from chaos.runner import _KEYS, _client
    compose = Compose(engine=None, settings={"TRIREME_SECRETS": str(tmp_path), "TRIREME_PORT": "18000"})
    assert compose.credentials_file == tmp_path / "credentials"
    assert Compose(engine=None).credentials_file == COMPOSE_FILE.parent / "secrets" / "credentials"
    chaos = ComposeChaos(compose)
    with pytest.raises(RuntimeError, match="no admin keys"):
        chaos.credentials()
    write_credentials(compose.credentials_file, "AKIDADMIN", "s3cret", "us-east-1")
    assert chaos.credentials() == ("AKIDADMIN", "s3cret")
    assert ComposeChaos(Compose(engine=None, settings={"TRIREME_AUTH": "off"})).credentials() is None
    _KEYS[chaos.endpoint] = chaos.credentials()  # what run_check does
    try:
        creds = _client(chaos.endpoint)._request_signer._credentials
        assert (creds.access_key, creds.secret_key) == ("AKIDADMIN", "s3cret")
    finally:
        del _KEYS[chaos.endpoint]
    assert _client(chaos.endpoint)._request_signer._credentials.access_key == "check"


def test_compose_admin_makes_working_keys_keeps_them_and_replaces_stale_ones(tmp_path):
    """Against a real cluster with --auth: the keys written work with boto3;
    a second run keeps them; keys the metadata does not know are replaced."""
    import boto3
    from botocore.exceptions import ClientError

    from deploy.local import read_credentials
    from tests.integration.conftest import start_cluster, wait_until
    cluster = start_cluster(tmp_path, auth=True)
    try:
        seeds = [p.addr for p in cluster.procs.values() if p.kind == "node"]
        out = tmp_path / "secrets" / "credentials"
        # As in a fresh compose cluster, no admin user yet (IAM allows a user two access keys).
        assert asyncio.run(meta(cluster, "delete_user", {"name": "admin"})).get("ok")

        def works() -> bool:
            key_id, secret = read_credentials(out)
            client = boto3.client("dynamodb", endpoint_url=cluster.endpoint, region_name=cluster.region,
                                  aws_access_key_id=key_id, aws_secret_access_key=secret)
            try:
                return "TableNames" in client.list_tables()
            except ClientError:  # the router learns a new key from the metadata a moment later
                return False

        assert "wrote" in compose_admin.ensure(seeds, cluster.cluster_id, out, cluster.region, 60)
        written = out.read_text()
        wait_until(works, 30, "the admin keys written to work", interval=0.3)
        assert "holds" in compose_admin.ensure(seeds, cluster.cluster_id, out, cluster.region, 60)
        assert out.read_text() == written
        write_credentials(out, "AKIDSTALE", "stale", cluster.region)  # a cluster made again on new volumes
        assert "wrote" in compose_admin.ensure(seeds, cluster.cluster_id, out, cluster.region, 60)
        assert "AKIDSTALE" not in out.read_text()
        wait_until(works, 30, "the new keys to work", interval=0.3)
    finally:
        cluster.stop()
