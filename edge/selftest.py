"""`checkpoint-edge selftest --config FILE`: is this appliance ready to screen? One line per check.

Checks: secret files present and private (not group/world-readable), serial ports present and openable
(or held by the running service), models load, broker reachable (TLS handshake when configured), clock
synchronised, free disk in the state directory. Exit 0 only when every check passes; `--skip NAME` leaves a
check out on purpose (printed as SKIP), e.g. the clock on a lab machine without a time source.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import ssl
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge.calibration.dropins import PID_FILE
from edge.clock import clock_synchronised
from edge.config import EX_CONFIG, AppConfig, ConfigError, load_config
from edge.privacy import site_key_problem

CHECKS = ("secrets", "ports", "models", "broker", "clock", "disk")
DISK_MARGIN_MB = 64
BROKER_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def _secret_files(config: AppConfig) -> Iterator[tuple[str, Path]]:
    if config.privacy.hmac_key_file is not None:
        yield "privacy.hmac_key_file", Path(config.privacy.hmac_key_file)
    if config.broker.password_file is not None:
        yield "broker.password_file", Path(config.broker.password_file)
    if config.broker.tls is not None and config.broker.tls.key_file is not None:
        yield "broker.tls.key_file", Path(config.broker.tls.key_file)
    if config.web.console.credentials_file is not None:
        yield "web.console.credentials_file", Path(config.web.console.credentials_file)
    if config.web.console.tls_key_file is not None:
        yield "web.console.tls_key_file", Path(config.web.console.tls_key_file)


def check_secret(key: str, path: Path) -> Check:
    name = f"secret {key}"
    try:
        info = path.stat()
    except OSError as exc:
        return Check(name, False, f"{path}: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return Check(name, False, f"{path}: not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Check(name, False, f"{path}: mode {mode:04o} lets group/others read it (chmod 600)")
    if not os.access(path, os.R_OK):
        return Check(name, False, f"{path}: not readable by this user")
    return Check(name, True, f"{path} (mode {mode:04o})")


def check_site_key(config: AppConfig) -> Check | None:
    """The service screens without a usable site key but withholds identities: ready it is not.

    None when the secret-file check below already names the fault (missing, unreadable, mode)."""
    from edge.privacy import SiteKey

    site_key = SiteKey(config.privacy)
    if site_key.problem is None:
        check = site_key.status()["key_check"]
        return Check("site key", True, f"{site_key.key_id} from {site_key.source} (check {check})")
    key_file = config.privacy.hmac_key_file
    if key_file is not None and not check_secret("privacy.hmac_key_file", Path(key_file)).ok:
        return None
    return Check("site key", False, f"{site_key.problem}: alerts would withhold identities")


def _service_pid(config: AppConfig) -> int | None:
    try:
        pid = int((config.storage.state_dir / PID_FILE).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _held_by(pid: int, port: str) -> bool:
    """Does process `pid` have `port` open? (/proc/PID/fd; needs the same user or root.)"""
    target = os.path.realpath(port)
    try:
        return any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def check_port(where: str, port: str, service_pid: int | None) -> Check:
    import serial

    name = f"port {where}"
    if not port.startswith("/"):
        return Check(name, True, f"{port}: a network URL, checked by the device's own reconnects")
    if not os.path.exists(port):
        return Check(name, False, f"{port} does not exist (unplugged? udev rule?)")
    try:
        link = serial.Serial(port, timeout=0.1, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        if service_pid is not None and _held_by(service_pid, port):
            return Check(name, True, f"{port}: held by the running service (pid {service_pid})")
        return Check(name, False, f"{port}: cannot open: {exc}")
    link.close()
    return Check(name, True, f"{port}: opened and closed")


def _ports(config: AppConfig) -> Iterator[tuple[str, str]]:
    for i, lane in enumerate(config.lanes):
        devices: list[tuple[str, object]] = [("thermal", lane.thermal), ("visible", lane.visible)]
        devices += [(f"id_scanners[{j}]", s) for j, s in enumerate(lane.id_scanners)]
        devices.append(("alarm", lane.alarm))
        for where, device in devices:
            port = getattr(device, "port", None)
            if port:
                yield f"lanes[{i}].{where}", str(port)


def check_models(config: AppConfig) -> Check:
    from edge.screening.faces import RetinaFace
    from edge.screening.pipeline import LaneScreener

    loaded = set()
    try:
        for lane in config.lanes:
            settings = config.screening_for(lane.id)
            LaneScreener(settings)  # loads the core-temperature estimator unless the offset is configured
            loaded.add(
                f"estimator {settings.estimator_camera}" if settings.estimator != "offset" else "offset"
            )
            if settings.face_finder in ("thermal-detector", "visible") or (
                settings.face_finder == "auto" and lane.visible is not None
            ):
                RetinaFace()
                loaded.add("RetinaFace")
    except Exception as exc:  # any load failure (missing file, onnxruntime error) is the finding
        return Check("models", False, f"{type(exc).__name__}: {exc}")
    return Check("models", True, "loaded " + ", ".join(sorted(loaded)))


def check_broker(config: AppConfig) -> Check:
    from edge.uplink import UplinkConfigError, build_tls_context

    host, port = config.broker.host, config.broker.port
    name = "broker"
    try:
        sock = socket.create_connection((host, port), timeout=BROKER_TIMEOUT_S)
    except OSError as exc:
        return Check(name, False, f"{host}:{port} unreachable: {exc.strerror or exc}")
    try:
        if config.broker.tls is None:
            return Check(name, True, f"{host}:{port} accepts TCP connections (no TLS configured)")
        context = build_tls_context(config.broker.tls)
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return Check(name, True, f"{host}:{port} TLS handshake OK ({tls.version()})")
    except (UplinkConfigError, ssl.SSLError, OSError) as exc:
        return Check(name, False, f"{host}:{port} TLS handshake failed: {exc}")
    finally:
        sock.close()


def check_clock() -> Check:
    synced = clock_synchronised()
    if synced:
        return Check("clock", True, "the kernel reports the clock NTP-synchronised")
    if synced is None:
        return Check("clock", False, "cannot read the kernel's clock state (not Linux?)")
    return Check(
        "clock", False, "the kernel reports the clock unsynchronised: is chrony or systemd-timesyncd running?"
    )


def check_disk(config: AppConfig) -> Check:
    state_dir = config.storage.state_dir
    needed_mb = config.storage.outbox_max_mb + DISK_MARGIN_MB
    probe = state_dir if state_dir.exists() else state_dir.parent
    try:
        free_mb = shutil.disk_usage(probe).free >> 20
    except OSError as exc:
        return Check("disk", False, f"{probe}: {exc.strerror or exc}")
    if not os.access(probe, os.W_OK):
        return Check("disk", False, f"{probe} is not writable by this user")
    ok = free_mb >= needed_mb
    return Check("disk", ok, f"{probe}: {free_mb} MiB free, {needed_mb} MiB needed (outbox budget + margin)")


def run_checks(config: AppConfig, skip: set[str]) -> Iterator[Check | str]:
    """Checks in order; a skipped group yields its name (a SKIP line)."""
    if "secrets" in skip:
        yield "secrets"
    else:
        site_key = check_site_key(config)
        if site_key is not None:
            yield site_key
        for key, path in _secret_files(config):
            result = check_secret(key, path)
            if result.ok and key == "privacy.hmac_key_file":
                # The service's own test of the site key (length, readability): what `run` would refuse.
                problem = site_key_problem(config.privacy)
                result = Check(result.name, False, problem) if problem else result
            yield result
    if "ports" in skip:
        yield "ports"
    else:
        pid = _service_pid(config)
        yield from (check_port(where, port, pid) for where, port in _ports(config))
    singles: dict[str, Callable[[AppConfig], Check]] = {
        "models": check_models,
        "broker": check_broker,
        "clock": lambda _config: check_clock(),
        "disk": check_disk,
    }
    for name, check in singles.items():
        yield name if name in skip else check(config)


def _cmd_selftest(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EX_CONFIG
    print(f"PASS  config: {args.config}")
    failed = 0
    for result in run_checks(config, set(args.skip)):
        if isinstance(result, str):
            print(f"SKIP  {result}: left out by --skip {result}")
            continue
        print(result.line(), flush=True)
        failed += not result.ok
    print(f"selftest: {'all checks passed' if not failed else f'{failed} check(s) failed'}")
    return 0 if not failed else 1


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "selftest", help="check secrets, ports, models, broker, clock and disk; exit 0 if all pass"
    )
    cmd.add_argument("--config", type=Path, required=True, help="the appliance's TOML configuration")
    cmd.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=CHECKS,
        help="leave a check out (repeatable), e.g. clock",
    )
    cmd.set_defaults(func=_cmd_selftest)
