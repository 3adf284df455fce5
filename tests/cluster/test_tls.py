"""cluster/tls.py: the local CA, cluster-bound certificates, and what the TLS
contexts and gRPC credentials built from them accept and refuse."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
import stat
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from cluster import tls
from cluster.tls import Authority, Identity, Member


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority.create()


def test_a_certificate_names_its_member_its_hosts_and_its_cluster(ca):
    member = Member("c0ffee", "node", "n1")
    pem, _ = ca.issue(member, ["n1.internal", "10.0.0.7"])
    cert = x509.load_pem_x509_certificate(pem)
    cert.verify_directly_issued_by(ca.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "n1.internal", "c0ffee.cluster.trireme"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                             ipaddress.ip_address("10.0.0.7")}
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["trireme://cluster/c0ffee/node/n1"]
    assert tls.member_of_pem(pem) == member


def test_files_keep_private_keys_private_and_are_reissued_only_for_another_member(ca, tmp_path):
    ca.save(tmp_path)
    first = ca.issue_files(tmp_path, Member("c1", "router", "router1"))
    for key in (tmp_path / "ca.key", first.key_file):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pem = first.cert
    assert ca.issue_files(tmp_path, Member("c1", "router", "router1")).cert == pem  # kept
    other = ca.issue_files(tmp_path, Member("c2", "router", "router1"))
    assert other.member == Member("c2", "router", "router1")
    assert Authority.ensure(tmp_path).pem == ca.pem


@given(st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1),
       st.sampled_from(tls.ROLES), st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True))
def test_member_uris_round_trip_and_every_cluster_has_a_dns_name(cluster_id, role, name):
    m = Member(cluster_id, role, name)
    assert tls.parse_member_uri(tls.member_uri(m)) == m
    label, rest = tls.cluster_dns_name(cluster_id).split(".", 1)
    assert rest == "cluster.trireme" and re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label)


@pytest.mark.parametrize("uri", ["https://x/y", "trireme://cluster/c1/root/n1", "trireme://cluster/c1/node",
                                 "trireme://cluster//node/n1"])
def test_uris_that_name_no_member(uri):
    assert tls.parse_member_uri(uri) is None


def test_refusals_say_why():
    own = {"c1"}
    assert tls.refusal(Member("c1", "node", "n1"), own, ("node",)) == ""
    assert "cluster c2" in tls.refusal(Member("c2", "node", "n1"), own, ("node",))
    assert "admin certificates may not" in tls.refusal(Member("c1", "admin", "admin"), own, ("node", "router"))
    assert "names no Trireme" in tls.refusal(None, own, ("node",))


def test_flags_are_checked(ca, tmp_path):
    ca.issue_files(tmp_path, Member("c1", "node", "n1"))
    assert tls.from_flags(None, None, None, None, "n1", "node") is None
    assert tls.from_flags(tmp_path, None, None, None, "n1", "node", "c1").member.name == "n1"
    for args, said in [((tmp_path, None, None, None, "n1", "router"), "the certificate of node n1, not of a router"),
                       ((tmp_path, None, None, None, "n1", "node", "c9"), "of cluster c1, but --cluster-id says c9"),
                       ((tmp_path, None, None, None, "n2", "node"), "cannot read"),
                       ((None, tmp_path / "ca.pem", None, None, "n1", "node"), "go together"),
                       ((tmp_path, tmp_path / "ca.pem", None, None, "n1", "node"), "not both")]:
        with pytest.raises(ValueError, match=re.escape(said)):
            tls.from_flags(*args)


def _identities(tmp_path: Path) -> dict[str, Identity]:
    """Node certificates: n1, n2 of cluster c1, x1 of cluster c2 (the same CA), s1 of c1 under another CA."""
    ca, stranger = Authority.create(), Authority.create()
    out = {name: ca.issue_files(tmp_path / "a", Member(cid, "node", name)) for cid, name in
           (("c1", "n1"), ("c1", "n2"), ("c2", "x1"))}
    out["s1"] = stranger.issue_files(tmp_path / "b", Member("c1", "node", "s1"))
    return out


async def _handshake(server: Identity, client: Identity | None) -> tls.Member | None:
    """Who the server sees after a TLS handshake with `client` (raises when it fails)."""
    seen: asyncio.Future = asyncio.get_running_loop().create_future()

    async def accept(reader, writer):
        seen.set_result(tls.member_of_peercert(writer.get_extra_info("peercert")))
        writer.close()

    srv = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server.server_context(require_client_cert=True))
    port = srv.sockets[0].getsockname()[1]
    try:
        ctx = client.client_context() if client else ssl.create_default_context(cafile=str(server.ca_file))
        if client is None:
            ctx.check_hostname = False
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        server_member = tls.member_of_peercert(writer.get_extra_info("peercert"))
        assert server_member == server.member  # what the dialler checks
        await writer.drain()
        return await asyncio.wait_for(seen, 5)
    finally:
        srv.close()


def test_the_peer_port_contexts_require_a_certificate_of_the_ca(tmp_path):
    ids = _identities(tmp_path)
    assert asyncio.run(_handshake(ids["n1"], ids["n2"])) == Member("c1", "node", "n2")
    # The same CA's certificate of another cluster passes TLS; its member is then refused.
    assert asyncio.run(_handshake(ids["n1"], ids["x1"])) == Member("c2", "node", "x1")
    for client in (ids["s1"], None):  # another CA's, or none: the handshake fails
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError)):
            asyncio.run(asyncio.wait_for(_handshake(ids["n1"], client), 5))


async def _grpc_call(server: Identity, client: Identity) -> bytes:
    """A unary call from `client` to a gRPC server with `server`'s credentials."""
    handler = grpc.method_handlers_generic_handler("t.T", {"Echo": grpc.unary_unary_rpc_method_handler(
        lambda req, ctx: req)})
    srv = grpc.aio.server()
    srv.add_generic_rpc_handlers((handler,))
    port = srv.add_secure_port("127.0.0.1:0", server.server_credentials())
    await srv.start()
    try:
        async with client.channel(f"127.0.0.1:{port}", []) as ch:
            return await ch.unary_unary("/t.T/Echo")(b"hi", timeout=5)
    finally:
        await srv.stop(0)


def test_grpc_clients_accept_only_servers_of_their_cluster_and_ca(tmp_path):
    ids = _identities(tmp_path)
    assert asyncio.run(_grpc_call(ids["n1"], ids["n2"])) == b"hi"
    for server, client in ((ids["x1"], ids["n2"]), (ids["s1"], ids["n2"]), (ids["n1"], ids["s1"])):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            asyncio.run(_grpc_call(server, client))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert tls.handshake_failed(err.value.details()), err.value.details()
