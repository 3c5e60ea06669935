"""A local certificate authority for one stack, and one certificate per mesh identity.

``live up --mtls`` calls :func:`issue_mesh`: a fresh CA (ECDSA P-256) signs a certificate for every
identity -- each service, the supervisor (its readiness probes) and Prometheus (its scrapes). A
certificate names its identity the SPIFFE way, as a URI in the subject alternative name
(``spiffe://servicelab.local/service/orders``), next to the IP address ``127.0.0.1`` every instance
listens on, and is good for both sides of a connection (server and client authentication). Replicas
of a service share its certificate: the identity is the service, not the instance.

Everything lands in ``<state_dir>/secrets/`` (0600, folder 0700): ``mesh-ca.crt`` (the trust anchor
every side verifies against), ``mesh-<identity>.crt`` and ``mesh-<identity>.key``. The CA's private key
is never written: once the stack's certificates are issued, no one can mint another identity.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from live.common.settings import HOST, write_secret
from live.mesh.files import CA_FILE, MeshFiles, mesh_files

__all__ = ["CA_FILE", "TRUST_DOMAIN", "VALIDITY", "identity_of", "identity_uri", "issue_mesh", "mesh_files"]

TRUST_DOMAIN = "servicelab.local"
VALIDITY = datetime.timedelta(days=7)
"""How long a stack's certificates are good for (``live up`` issues new ones every time)."""
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_PREFIX = f"spiffe://{TRUST_DOMAIN}/service/"


def identity_uri(identity: str) -> str:
    """``orders`` -> ``spiffe://servicelab.local/service/orders``."""
    return _PREFIX + identity


def identity_of(certificate: x509.Certificate) -> str | None:
    """The mesh identity a certificate carries (its servicelab SPIFFE URI), or None when it has none."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(_PREFIX) and _NAME.match(uri[len(_PREFIX) :]):
            return uri[len(_PREFIX) :]
    return None


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "servicelab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _authority(
    now: datetime.datetime, valid_for: datetime.timedelta
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"servicelab mesh CA ({TRUST_DOMAIN})")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _leaf(
    identity: str,
    authority: x509.Certificate,
    authority_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
    valid_for: datetime.timedelta,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.IPAddress(ipaddress.ip_address(HOST)),
        x509.UniformResourceIdentifier(identity_uri(identity)),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(identity))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()), critical=False
        )
        .sign(authority_key, hashes.SHA256())
    )
    return certificate, key


def issue_mesh(
    state_dir: Path, identities: Iterable[str], valid_for: datetime.timedelta = VALIDITY
) -> dict[str, MeshFiles]:
    """A fresh CA and a certificate and key for every identity, written to the state folder's secrets.

    ValueError names an identity that is not a service-like name (lowercase, digits, dashes).
    """
    wanted = sorted(set(identities))
    for identity in wanted:
        if not _NAME.match(identity):
            raise ValueError(f"mesh identity {identity!r} is not a name like 'orders' (a-z, 0-9, '-')")
    now = datetime.datetime.now(datetime.UTC)
    authority, authority_key = _authority(now, valid_for)
    write_secret(state_dir, CA_FILE, _pem(authority))
    issued = {}
    for identity in wanted:
        certificate, key = _leaf(identity, authority, authority_key, now, valid_for)
        files = mesh_files(state_dir, identity)
        write_secret(state_dir, files.certificate.name, _pem(certificate))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_secret(state_dir, files.key.name, key_pem.decode("ascii"))
        issued[identity] = files
    return issued
