"""The console over HTTPS when a certificate is configured: the session cookie is then Secure."""

from __future__ import annotations

import datetime as dt
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.web.auth import write_credential_file
from edge.web.server import WebServer
from edge.web.settings import WebSettings


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "console.crt", tmp_path / "console.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _Lane:
    lane_id = "lane-1"


class _Service:
    """Only what the login page and its redirect touch: the console pages are tested on a real service."""

    lanes = (_Lane(),)


def test_console_serves_https_with_a_secure_session_cookie(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    credentials = tmp_path / "console.pw"
    write_credential_file(credentials, "a long enough password")
    settings = WebSettings.model_validate(
        {
            "display": {"enabled": False},
            "console": {
                "port": 0,
                "credentials_file": str(credentials),
                "tls_cert_file": str(cert_file),
                "tls_key_file": str(key_file),
            },
        }
    )
    web = WebServer(settings, lambda: _Service()).start()
    try:
        url = web.url("console")
        assert url is not None and url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert_file))
        context.check_hostname = False  # the certificate names 127.0.0.1 as CN only
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
        with opener.open(url + "/login", timeout=10) as response:
            assert response.status == 200
        body = urllib.parse.urlencode({"password": "a long enough password"}).encode()
        try:
            opener.open(urllib.request.Request(url + "/login", data=body), timeout=10)
            raise AssertionError("expected the 303 to the console")
        except urllib.error.HTTPError as exc:
            assert exc.code == 303
            cookie = exc.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        # Plain HTTP to the TLS port is not served.
        try:
            urllib.request.urlopen(url.replace("https://", "http://") + "/login", timeout=5)
            raise AssertionError("plain HTTP was served on the TLS listener")
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
    finally:
        web.stop()
