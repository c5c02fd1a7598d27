"""Must show 4: mutual TLS against Mosquitto running exactly the configuration in docs/mosquitto.md."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.contract.topics import broker_identity
from edge.outbox import Outbox
from edge.uplink import BrokerSettings, TlsSettings, Uplink, UplinkConfigError
from tests.fakes.mosquitto import Mosquitto, free_port, mosquitto_available
from tests.uplink.conftest import DEVICE, SITE, alert_payload, start_collector, stop_collector

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "mosquitto.md"
MakeUplink = Callable[..., Uplink]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_key_and_csr(cwd: Path, name: str, cn: str) -> None:
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        "/CN=" + cn.replace("/", "\\/"),  # openssl separates RDNs with "/": a CN `site/device` escapes it
        cwd=cwd,
    )


def sign(cwd: Path, name: str, ca: str, days: str, extensions: str) -> None:
    (cwd / f"{name}.ext").write_text(extensions)
    openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-out",
        f"{name}.crt",
        "-days",
        days,
        "-extfile",
        f"{name}.ext",
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def pki() -> Iterator[Path]:
    """A throwaway station CA, the broker's certificate (localhost only) and device/centre certificates."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    root = Path(tempfile.mkdtemp(prefix="pki-", dir="/tmp"))
    for ca in ("ca", "other-ca"):
        openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
            "-days",
            "30",
            "-subj",
            f"/CN={ca} test",
            cwd=root,
        )
    make_key_and_csr(root, "broker", "localhost")
    sign(root, "broker", "ca", "30", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    identity = broker_identity(SITE, DEVICE)  # CN = site/device: the documented ACL's %u
    for name, cn in (("gate-03", identity), ("centre", "centre"), ("gate-03-expired", identity)):
        make_key_and_csr(root, name, cn)
    client_ext = "extendedKeyUsage=clientAuth\n"
    sign(root, "gate-03", "ca", "30", client_ext)
    sign(root, "centre", "ca", "30", client_ext)
    sign(root, "gate-03-expired", "ca", "-1", client_ext)  # notAfter yesterday: expired
    yield root
    shutil.rmtree(root, ignore_errors=True)


def documented_blocks() -> tuple[str, str]:
    """The broker config and ACL exactly as docs/mosquitto.md gives them."""
    blocks = re.findall(r"```conf\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    conf = next(b for b in blocks if b.startswith("# /etc/mosquitto/conf.d/checkpoint.conf"))
    acl = next(b for b in blocks if b.startswith("# /etc/mosquitto/acl"))
    return conf, acl


@pytest.fixture(scope="module")
def tls_broker(pki: Path) -> Iterator[Mosquitto]:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed")
    conf, acl = documented_blocks()
    assert conf.count("listener 8883") == 1
    # Only deployment specifics change: port and bind address, file locations.
    conf = (
        conf.replace("listener 8883", "listener {port} 127.0.0.1")
        .replace("/etc/mosquitto/certs/", "{workdir}/certs/")
        .replace("/etc/mosquitto/acl", "{workdir}/acl")
        .replace("/var/lib/mosquitto/", "{workdir}/")
    )
    broker = Mosquitto(full_config=conf)
    (broker.workdir / "acl").write_text(acl)
    certs = broker.workdir / "certs"
    certs.mkdir()
    for name in ("ca.crt", "broker.crt", "broker.key"):
        shutil.copy(pki / name, certs / name)
    broker.start()
    yield broker
    broker.close()


def tls_settings(
    pki: Path, port: int, client: str = "gate-03", ca: str = "ca", host: str = "localhost", **overrides: Any
) -> BrokerSettings:
    values: dict[str, Any] = {
        "host": host,
        "port": port,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "tls": TlsSettings(
            ca_file=pki / f"{ca}.crt", cert_file=pki / f"{client}.crt", key_file=pki / f"{client}.key"
        ),
    }
    values.update(overrides)
    return BrokerSettings(**values)


def centre_tls(pki: Path) -> dict[str, Any]:
    return {
        "ca_certs": str(pki / "ca.crt"),
        "certfile": str(pki / "centre.crt"),
        "keyfile": str(pki / "centre.key"),
    }


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_device_publishes_in_its_own_subtree_over_mutual_tls(
    pki: Path, tls_broker: Mosquitto, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    centre = start_collector(
        tls_broker.port, host="localhost", client_id="centre-a", tls_kwargs=centre_tls(pki)
    )
    try:
        box = Outbox(tmp_path / "o.db")
        make_uplink(tls_settings(pki, tls_broker.port), box)
        stamped = [box.append("alert", alert_payload(n))["message_id"] for n in range(5)]
        assert centre.wait_for(lambda c: len(c.of_kind("alert")) >= 5, 10)
        assert [m.payload["message_id"] for m in centre.of_kind("alert")] == stamped
        assert centre.wait_for(lambda c: any(m.payload["state"] == "online" for m in c.of_kind("status")), 5)
        assert wait_until(lambda: box.depth()["alert"] == 0, 5)
        centre.assert_all_valid()
        box.close()
    finally:
        stop_collector(centre)


def test_publishing_outside_its_subtree_is_refused_by_the_broker(
    pki: Path, tls_broker: Mosquitto, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    centre = start_collector(
        tls_broker.port, host="localhost", client_id="centre-b", tls_kwargs=centre_tls(pki)
    )
    try:
        box = Outbox(tmp_path / "o.db")
        # gate-03's certificate, but publishing as gate-04: outside its ACL subtree.
        uplink = make_uplink(tls_settings(pki, tls_broker.port), box, device_id="gate-04")
        box.append("alert", alert_payload(1, device_id="gate-04"))
        assert wait_until(lambda: uplink.state()["refused"] >= 1, 10), uplink.state()
        assert "Not authorized" in (uplink.state()["last_error"] or "")
        time.sleep(0.5)
        assert centre.of_kind("alert") == []
        assert box.depth()["alert"] == 1  # refused is not acknowledged: the row stays
        box.close()
    finally:
        stop_collector(centre)


def test_a_wrong_ca_fails_with_a_clear_tls_error(
    pki: Path, tls_broker: Mosquitto, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    box = Outbox(tmp_path / "o.db")
    uplink = make_uplink(tls_settings(pki, tls_broker.port, ca="other-ca"), box)
    assert wait_until(lambda: uplink.state()["last_error"] is not None, 10)
    error = uplink.state()["last_error"]
    assert error.startswith(f"TLS error with localhost:{tls_broker.port}: broker certificate rejected"), error
    assert "certificate" in error.split(":", 2)[2]
    assert not uplink.state()["connected"]
    box.close()


def test_an_expired_client_certificate_fails_with_a_clear_error(
    pki: Path, tls_broker: Mosquitto, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    box = Outbox(tmp_path / "o.db")
    uplink = make_uplink(tls_settings(pki, tls_broker.port, client="gate-03-expired"), box)
    box.append("alert", alert_payload(1))
    assert wait_until(lambda: uplink.state()["last_error"] is not None, 10)
    time.sleep(1.0)
    error = uplink.state()["last_error"]
    assert error.startswith(f"TLS error with localhost:{tls_broker.port}"), error
    assert "expired" in error, error
    assert not uplink.state()["connected"] and uplink.state()["acked"] == 0
    assert box.depth()["alert"] == 1
    box.close()


def test_the_broker_host_name_is_verified(
    pki: Path, tls_broker: Mosquitto, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    box = Outbox(tmp_path / "o.db")
    # The broker's certificate names "localhost" only; the right CA is not enough.
    uplink = make_uplink(tls_settings(pki, tls_broker.port, host="127.0.0.1"), box)
    assert wait_until(lambda: uplink.state()["last_error"] is not None, 10)
    error = uplink.state()["last_error"]
    assert "TLS error" in error and "mismatch" in error, error
    box.close()


def test_a_tls_failure_never_falls_back_to_plaintext(
    pki: Path, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    """A listener that records each connection's first byte: 0x16 opens a TLS handshake, 0x10 an MQTT CONNECT."""
    port = free_port()
    first_bytes: list[int] = []
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept_and_record() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(1)
                except OSError:
                    data = b""
                if data:
                    first_bytes.append(data[0])

    recorder = threading.Thread(target=accept_and_record, daemon=True)
    recorder.start()
    try:
        box = Outbox(tmp_path / "o.db")
        uplink = make_uplink(
            tls_settings(pki, port, host="localhost", reconnect_min_s=0.05, reconnect_max_s=0.1), box
        )
        box.append("alert", alert_payload(1))
        assert wait_until(lambda: len(first_bytes) >= 5, 15), first_bytes
        uplink.stop(timeout_s=3)
        assert set(first_bytes) == {0x16}, f"non-TLS bytes sent: {sorted(set(first_bytes))}"
        assert "TLS error" in (uplink.state()["last_error"] or "")
        box.close()
    finally:
        stop.set()
        recorder.join(2)
        server.close()


def test_missing_certificate_files_are_named_at_start_up(pki: Path, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    settings = BrokerSettings(tls=TlsSettings(ca_file=tmp_path / "nope.crt"))
    with pytest.raises(UplinkConfigError, match=r"TLS CA file .*nope\.crt does not exist"):
        Uplink(settings, box, SITE, DEVICE)
    broken = tmp_path / "broken.crt"
    broken.write_text("not a certificate")
    with pytest.raises(UplinkConfigError, match=r"broken\.crt is not a usable CA certificate"):
        Uplink(BrokerSettings(tls=TlsSettings(ca_file=broken)), box, SITE, DEVICE)
    box.close()


def test_password_is_read_from_a_file_and_a_wrong_one_is_reported(
    tmp_path: Path, make_uplink: MakeUplink
) -> None:
    if not mosquitto_available() or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed")
    broker = Mosquitto(listener_config="allow_anonymous false\npassword_file {workdir}/passwd\n")
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(broker.workdir / "passwd"), DEVICE, "s3cret-Pw"],
        check=True,
        capture_output=True,
    )
    broker.start()
    try:
        good = tmp_path / "mqtt-password"
        good.write_text("s3cret-Pw\n")
        bad = tmp_path / "wrong-password"
        bad.write_text("guess\n")
        ok_box = Outbox(tmp_path / "ok.db")
        ok = make_uplink(BrokerSettings(port=broker.port, username=DEVICE, password_file=good), ok_box)
        assert wait_until(lambda: ok.state()["connected"], 10), ok.state()
        bad_box = Outbox(tmp_path / "bad.db")
        refused = make_uplink(
            BrokerSettings(port=broker.port, username=DEVICE, password_file=bad, client_id="other"), bad_box
        )
        assert wait_until(lambda: refused.state()["last_error"] is not None, 10)
        assert "refused the connection" in refused.state()["last_error"]
        assert not refused.state()["connected"]
        with pytest.raises(UplinkConfigError, match=r"MQTT password file .*absent does not exist"):
            Uplink(BrokerSettings(username=DEVICE, password_file=tmp_path / "absent"), ok_box, SITE, DEVICE)
    finally:
        broker.close()
