"""Secrets and TLS: files read and checked at start-up with errors naming the file, and connection errors
described so a technician can act on them."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from pathlib import Path

from edge.uplink.settings import BrokerEndpoint, TlsSettings


class UplinkConfigError(ValueError):
    """A configured file (CA, certificate, key, password) is missing or unusable; the message names it."""


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UplinkConfigError(f"{what} file {path} does not exist") from None
    except OSError as error:
        raise UplinkConfigError(f"{what} file {path} cannot be read: {error.strerror or error}") from None
    if not text:
        raise UplinkConfigError(f"{what} file {path} is empty")
    return text


def build_tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client context that verifies the broker's chain and host name; errors name the file at fault."""
    for label, file in (
        ("CA", tls.ca_file),
        ("client certificate", tls.cert_file),
        ("client key", tls.key_file),
    ):
        if file is not None and not Path(file).is_file():
            raise UplinkConfigError(f"TLS {label} file {file} does not exist")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(tls.ca_file))
    except (ssl.SSLError, OSError) as error:
        raise UplinkConfigError(
            f"TLS CA file {tls.ca_file} is not a usable CA certificate: {error}"
        ) from None
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            context.load_cert_chain(certfile=str(tls.cert_file), keyfile=str(tls.key_file))
        except (ssl.SSLError, OSError) as error:
            raise UplinkConfigError(
                f"TLS client certificate {tls.cert_file} / key {tls.key_file} cannot be loaded: {error}"
            ) from None
    return context


def describe_connect_error(error: BaseException, endpoint: BrokerEndpoint, tls: bool) -> str:
    """One line a technician can act on."""
    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS error with {where}: broker certificate rejected ({error.verify_message or error.reason})"
    if isinstance(error, ssl.SSLError):
        reason = error.reason or str(error)
        if "EXPIRED" in str(reason).upper():
            return f"TLS error with {where}: the broker rejected our client certificate as expired ({reason})"
        return f"TLS error with {where}: {reason}"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {where} (broker down?)"
    if isinstance(error, socket.timeout | TimeoutError):
        return f"connection to {where} timed out"
    if isinstance(error, ConnectionResetError) and tls:
        return f"TLS error with {where}: connection reset during the handshake (client certificate refused?)"
    return f"cannot connect to {where}: {type(error).__name__}: {error}"


def certificate_not_after_unix_s(cert_file: Path) -> float | None:
    """notAfter of a PEM certificate, or None if it cannot be read."""
    from cryptography import x509  # only on a refused TLS connection: keep start-up light

    try:
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        return cert.not_valid_after_utc.replace(tzinfo=dt.UTC).timestamp()
    except (OSError, ValueError):
        return None


def describe_tls_refusal(where: str, detail: str, tls: TlsSettings | None) -> str:
    """Why the broker closed a TLS connection before its CONNACK, as far as we can tell."""
    # Under TLS 1.3 the broker checks our certificate after our side of the handshake is done, so its
    # refusal arrives as an alert on the first read, or only as a closed socket on the first write.
    if "EXPIRED" in detail.upper():
        return f"TLS error with {where}: the broker rejected our client certificate as expired ({detail})"
    expired = client_certificate_expiry(tls)
    if expired is not None:
        return (
            f"TLS error with {where}: the broker closed the connection; our client certificate "
            f"expired on {expired} ({detail})"
        )
    return (
        f"TLS error with {where}: the broker closed the connection before CONNACK "
        f"(client certificate refused?) ({detail})"
    )


def client_certificate_expiry(tls: TlsSettings | None) -> str | None:
    """The expiry date of our client certificate if it has passed by the local clock, else None."""
    if tls is None or tls.cert_file is None:
        return None
    not_after = certificate_not_after_unix_s(tls.cert_file)
    if not_after is None or not_after > time.time():
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(not_after))
