"""TLS for a cluster: a local certificate authority, certificates bound to
one cluster, and the contexts and gRPC credentials that use them.

`trireme up --tls` makes a CA (`DATA_DIR/tls/ca.pem`, `ca.key` 0600) and
one certificate per node, router and the CLI (`admin`), each naming its
cluster, role and name in a SAN URI `trireme://cluster/<id>/<role>/<name>`.
Nodes require such a certificate of their own cluster from everyone who
calls them (gRPC and the Raft peer port), and check that the role may make
the call; a certificate of another cluster is refused even when the CA is
shared (`trireme up --regions` signs every region's certificates with one CA).

gRPC clients cannot inspect the server's certificate from Python, so every
member certificate also carries the DNS name `cluster_dns_name(id)` and
gRPC channels verify the server against that name (not against the address
dialled): a node of another cluster fails the handshake. The routers'
HTTPS certificate is the router's own: boto3 checks it against the host
(localhost, 127.0.0.1, the listen host, compose's service names).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:  # imported where certificates are made or read: processes without TLS never load it
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

DIR = "tls"  # under DATA_DIR
ROLES = ("node", "router", "admin")
URI_PREFIX = "trireme://cluster/"
HOSTS = ("localhost", "127.0.0.1")  # in every certificate (compose adds its service names)
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
CA_DAYS = 3650
CERT_DAYS = 825


class TlsError(Exception):
    """Certificates missing, unreadable or not of a cluster; the message says which."""


@dataclass(frozen=True)
class Member:
    """Who a certificate names."""
    cluster_id: str
    role: str
    name: str


def member_uri(m: Member) -> str:
    return f"{URI_PREFIX}{m.cluster_id}/{m.role}/{m.name}"


def parse_member_uri(uri: str) -> Member | None:
    if not uri.startswith(URI_PREFIX):
        return None
    parts = uri[len(URI_PREFIX):].split("/")
    if len(parts) != 3 or not all(parts) or parts[1] not in ROLES:
        return None
    return Member(*parts)


def cluster_dns_name(cluster_id: str) -> str:
    """The DNS name every member certificate of the cluster carries, which
    gRPC clients verify servers against (the id itself when it is a valid
    DNS label, else a digest of it)."""
    label = cluster_id if _LABEL.fullmatch(cluster_id) else hashlib.sha256(cluster_id.encode()).hexdigest()[:32]
    return f"{label}.cluster.trireme"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    """Written 0600 from the start (never readable by others, not even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _san(host: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class Authority:
    """A local CA: signs the certificates of one `trireme up` run's clusters."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    @classmethod
    def create(cls, name: str = "Trireme local CA") -> Authority:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @classmethod
    def load(cls, tls_dir: Path) -> Authority:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key = serialization.load_pem_private_key((tls_dir / "ca.key").read_bytes(), None)
            cert = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
        except (OSError, ValueError) as exc:
            raise TlsError(f"cannot read the CA in {tls_dir}: {exc}") from None
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(key, cert)

    @classmethod
    def ensure(cls, tls_dir: Path) -> Authority:
        """The CA in `tls_dir`, made there first if it has none."""
        if (tls_dir / "ca.key").exists():
            return cls.load(tls_dir)
        ca = cls.create()
        ca.save(tls_dir)
        return ca

    def save(self, tls_dir: Path) -> None:
        tls_dir.mkdir(parents=True, exist_ok=True)
        _write_private(tls_dir / "ca.key", _key_pem(self.key))
        _write_public(tls_dir / "ca.pem", self.pem)

    @property
    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, member: Member, hosts: tuple[str, ...] | list[str] = ()) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for `member`: usable as a TLS server and
        client, valid for `hosts` (plus localhost, 127.0.0.1), the cluster's
        DNS name and the member's URI."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        names = list(dict.fromkeys([*HOSTS, *hosts, cluster_dns_name(member.cluster_id)]))
        now = _now()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{member.role} {member.name}"),
                                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, member.cluster_id)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
                .add_extension(x509.SubjectAlternativeName(
                    [_san(h) for h in names] + [x509.UniformResourceIdentifier(member_uri(member))]),
                    critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def issue_files(self, tls_dir: Path, member: Member, hosts: tuple[str, ...] | list[str] = ()) -> Identity:
        """Issue `member`'s certificate into `tls_dir` as NAME.pem and NAME.key
        (0600) beside a copy of ca.pem, unless it holds one for the member already."""
        tls_dir.mkdir(parents=True, exist_ok=True)
        if not (tls_dir / "ca.pem").exists() or (tls_dir / "ca.pem").read_bytes() != self.pem:
            _write_public(tls_dir / "ca.pem", self.pem)
        ident = Identity.in_dir(tls_dir, member.name)
        if ident.cert_file.exists() and ident.key_file.exists():
            try:
                if ident.member == member:
                    return ident
            except TlsError:
                pass
        cert, key = self.issue(member, hosts)
        _write_private(ident.key_file, key)
        _write_public(ident.cert_file, cert)
        return ident


@functools.lru_cache(maxsize=256)
def member_of_pem(pem: bytes) -> Member | None:
    """Who a PEM certificate names (cached: nodes look at each caller's)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        m = parse_member_uri(uri)
        if m is not None:
            return m
    return None


def member_of_peercert(peercert: dict[str, Any] | None) -> Member | None:
    """Who the certificate `ssl.SSLSocket.getpeercert()` returned names."""
    for kind, value in (peercert or {}).get("subjectAltName", ()):
        if kind == "URI":
            m = parse_member_uri(value)
            if m is not None:
                return m
    return None


def refusal(found: Member | None, clusters: frozenset[str] | set[str], roles: tuple[str, ...]) -> str:
    """Why a peer presenting `found` is refused ("" when it is admitted)."""
    if found is None:
        return "its certificate names no Trireme cluster member"
    if found.cluster_id not in clusters:
        return f"its certificate is of cluster {found.cluster_id} ({found.role} {found.name})"
    if found.role not in roles:
        return f"{found.role} certificates may not make this call (only {', '.join(roles)})"
    return ""


@dataclass(frozen=True)
class Identity:
    """A process's certificate, key and the CA it trusts, as files."""
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def in_dir(cls, tls_dir: Path, name: str) -> Identity:
        """DIR/ca.pem, DIR/NAME.pem and DIR/NAME.key (`--tls-dir`)."""
        tls_dir = Path(tls_dir)
        return cls(tls_dir / "ca.pem", tls_dir / f"{name}.pem", tls_dir / f"{name}.key")

    def check(self) -> Identity:
        """Self, once every file is readable and the certificate names a member."""
        _ = self.member
        return self

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TlsError(f"cannot read {path}: {exc.strerror or exc}") from None

    @property
    def ca(self) -> bytes:
        return self._read(self.ca_file)

    @property
    def cert(self) -> bytes:
        return self._read(self.cert_file)

    @property
    def key(self) -> bytes:
        return self._read(self.key_file)

    @property
    def member(self) -> Member:
        found = member_of_pem(self.cert)
        if found is None:
            raise TlsError(f"{self.cert_file} names no Trireme cluster member (no {URI_PREFIX}... SAN)")
        return found

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        """For the routers' HTTPS (no client certificate) and the Raft peer port (one required)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if require_client_cert:
            ctx.load_verify_locations(cafile=str(self.ca_file))
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """For dialling a peer port: the CA checks the chain, the caller checks
        the member the certificate names (no host name: the link relays
        other regions' nodes from its own address)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(self.ca_file))
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def server_credentials(self) -> grpc.ServerCredentials:
        """A node's gRPC port: callers must present a certificate of the CA."""
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca,
                                           require_client_auth=True)

    def channel(self, addr: str, options: list[tuple[str, Any]]) -> grpc.aio.Channel:
        """A gRPC channel to a node of this identity's cluster (the server is
        checked against the cluster's DNS name, see the module docstring)."""
        creds = grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                              certificate_chain=self.cert)
        name = cluster_dns_name(self.member.cluster_id)
        return grpc.aio.secure_channel(addr, creds, options=[*options, ("grpc.ssl_target_name_override", name),
                                                             ("grpc.default_authority", name)])


def channel(addr: str, options: list[tuple[str, Any]], tls: Identity | None) -> grpc.aio.Channel:
    """The one place gRPC channels to nodes are made: with `tls`, mutual TLS."""
    if tls is None:
        return grpc.aio.insecure_channel(addr, options=options)
    return tls.channel(addr, options)


def handshake_failed(details: str | None) -> bool:
    """A gRPC error's details say the TLS handshake failed (another CA, or
    another cluster's node: its certificate lacks our cluster's name)."""
    d = (details or "").lower()
    return any(w in d for w in ("handshake", "ssl", "certificate", "verification"))


# The certificates this process dials nodes with, by cluster id: a node's or
# router's own (also for calls before it states an id), and in tools and tests
# the admin certificate of each TLS cluster they opened (deploy/local.py).
_identities: dict[str, Identity] = {}
_own: Identity | None = None
_trusted: dict[str, str] = {}  # an https endpoint -> the CA file to verify it with


def use(identity: Identity, own: bool = False) -> None:
    """Dial the nodes of `identity`'s cluster with it (`own`: this process's
    identity, a node's or router's, set once at start)."""
    global _own
    _identities[identity.member.cluster_id] = identity
    if own:
        _own = identity


def for_cluster(cluster_id: str) -> Identity | None:
    """The certificate to dial a node of `cluster_id` with (None: plaintext)."""
    return _identities.get(cluster_id) or (_own if not cluster_id else None)


def trust(endpoint: str, ca_file: Path) -> None:
    """Verify `endpoint` (https://HOST:PORT) with `ca_file` (see ca_for)."""
    _trusted[endpoint.rstrip("/")] = str(ca_file)


def ca_for(endpoint: str) -> str | None:
    """The CA file to verify an https endpoint with, if this process opened
    its cluster (boto3's `verify=`; None: the default trust)."""
    return _trusted.get(endpoint.rstrip("/"))


def https_context(url: str) -> ssl.SSLContext | None:
    """How to verify `url` (urllib's `context=`, asyncio's `ssl=`): None for
    http; for https the CA of the cluster this process opened at that
    endpoint, else its own cluster's CA (every region of one `trireme up
    --regions` shares it), else the system's trust."""
    if not url.startswith("https:"):
        return None
    ca = ca_for("/".join(url.split("/", 3)[:3])) or (str(_own.ca_file) if _own is not None else None)
    return _default_context(ca)


@functools.lru_cache(maxsize=16)
def _default_context(cafile: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def from_flags(tls_dir: Path | None, ca: Path | None, cert: Path | None, key: Path | None, name: str,
               role: str, cluster_id: str = "") -> Identity | None:
    """A process's certificate from --tls-dir (DIR/ca.pem, DIR/NAME.pem,
    DIR/NAME.key) or --tls-ca/--tls-cert/--tls-key; None without either.
    Checked to be a `role`'s of `cluster_id` (when given); ValueError says what is wrong."""
    explicit = (ca, cert, key)
    if tls_dir is None and not any(explicit):
        return None
    if tls_dir is not None and any(explicit):
        raise ValueError("give --tls-dir or --tls-ca/--tls-cert/--tls-key, not both")
    if tls_dir is None and not all(explicit):
        raise ValueError("--tls-ca, --tls-cert and --tls-key go together")
    ident = Identity.in_dir(tls_dir, name) if tls_dir is not None else Identity(*explicit)  # type: ignore[arg-type]
    try:
        member = ident.check().member
    except TlsError as exc:
        raise ValueError(str(exc)) from None
    if member.role != role:
        raise ValueError(f"{ident.cert_file} is the certificate of {member.role} {member.name}, not of a {role}")
    if cluster_id and cluster_id != member.cluster_id:
        raise ValueError(f"{ident.cert_file} is of cluster {member.cluster_id}, but --cluster-id says {cluster_id}")
    return ident
