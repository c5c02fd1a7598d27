"""What `check-config` looks at beyond the TOML: the files and devices a valid configuration names.

Errors are what `run` would refuse to start with (an unusable TLS or password file: exit 78). Warnings are what
`run` survives but a technician should fix: a missing or refused site key (alerts then withhold identities),
a list file or list-signing key that cannot be used, a serial port not present yet, a plaintext broker.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from edge.config import AppConfig
from edge.list_signing import ListKeyError, load_public_keys
from edge.privacy import site_key_problem
from edge.rule_lists import MAX_DOCUMENT_BYTES, Rejected, parse_signed
from edge.uplink import UplinkConfigError, build_tls_context, read_secret_file


def _broker_errors(config: AppConfig) -> list[str]:
    errors = []
    if config.broker.tls is not None:
        try:
            build_tls_context(config.broker.tls)
        except UplinkConfigError as exc:
            errors.append(f"broker.tls: {exc}")
    if config.broker.password_file is not None:
        try:
            read_secret_file(config.broker.password_file, "broker password")
        except UplinkConfigError as exc:
            errors.append(f"broker.password_file: {exc}")
    return errors


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_warning(config: AppConfig) -> str | None:
    if config.broker.tls is not None or is_loopback(config.broker.host):
        return None
    return (
        f"broker.tls is not set: alerts and pseudonyms travel in plaintext to {config.broker.host}:"
        f"{config.broker.port}, readable and forgeable on the station network (see docs/mosquitto.md)"
    )


def _list_warnings(config: AppConfig) -> list[str]:
    rules = config.rules
    warnings: list[str] = []
    trusted = None
    if rules.lists_public_key_file is not None:
        try:
            trusted = load_public_keys(rules.lists_public_key_file)
        except ListKeyError as exc:
            warnings.append(f"rules.lists_public_key_file: {exc}: every list update will be refused")
    if rules.lists_file is None:
        return warnings
    if rules.lists_public_key_file is None:
        warnings.append("rules.lists_file is set without rules.lists_public_key_file: it will be refused")
    try:
        with Path(rules.lists_file).open("rb") as f:
            raw = f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        warnings.append(f"rules.lists_file: {rules.lists_file} cannot be read: {exc.strerror or exc}")
        return warnings
    if trusted:
        try:
            parse_signed(raw, trusted)
        except Rejected as exc:
            warnings.append(f"rules.lists_file: {rules.lists_file} would be refused: {exc}")
    return warnings


def _port_warnings(config: AppConfig) -> list[str]:
    warnings = []
    for i, lane in enumerate(config.lanes):
        devices: list[tuple[str, object]] = [("thermal", lane.thermal), ("visible", lane.visible)]
        devices += [(f"id_scanners[{j}]", scanner) for j, scanner in enumerate(lane.id_scanners)]
        for where, device in devices:
            port = str(getattr(device, "port", "") or "")
            if port.startswith("/") and not Path(port).exists():
                warnings.append(
                    f"lanes[{i}].{where}.port: {port} does not exist (not plugged in?); "
                    "the lane starts degraded and keeps retrying"
                )
    return warnings


def check_files(config: AppConfig) -> tuple[list[str], list[str]]:
    """(errors, warnings), each naming the key path and the file."""
    warnings = []
    problem = site_key_problem(config.privacy)
    if problem:
        warnings.append(
            f"privacy.hmac_key_file: {problem}: the service will screen but withhold identities from alerts"
        )
    warnings += _list_warnings(config)
    warnings += _port_warnings(config)
    plaintext = plaintext_warning(config)
    if plaintext:
        warnings.append(plaintext)
    return _broker_errors(config), warnings
