"""`checkpoint-edge`: the service and the technician's commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from edge import __version__
from edge.config import EX_CONFIG, AppConfig, ConfigError, load_config, load_config_with_dropins, summary

log = logging.getLogger("edge.cli")

# Rooms that add their own sub-commands through `register(subparsers)`.
_COMMAND_MODULES: tuple[str, ...] = (
    "drivers.technician_cli",
    "drivers.alarm.alarm_cli",
    "edge.screening.model_cli",
    "edge.outbox_cli",
    "edge.watch",
    "edge.web.web_cli",
    "edge.calibration.cli",
    "edge.selftest",
    "edge.lists_cli",
)


def _load_or_report(path: Path) -> AppConfig | None:
    """The configuration, or None after printing every error with its key path (the caller exits 78)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return None


def _cmd_run(args: argparse.Namespace) -> int:
    from edge.log_format import setup_logging
    from edge.privacy import KeyFileError
    from edge.supervisor import Supervisor
    from edge.uplink import UplinkConfigError

    config = _load_or_report(args.config)
    if config is None:
        return EX_CONFIG
    setup_logging(config.log_level, json_lines=not args.plain_logs)
    log.info("configuration: %s", summary(config))
    try:
        supervisor = Supervisor(args.config, config=config)
    except (KeyFileError, UplinkConfigError) as exc:  # a secret or certificate the config names is unusable
        log.error("cannot start: %s", exc)
        print(f"{args.config}: {exc}", file=sys.stderr)
        return EX_CONFIG
    except OSError as exc:  # e.g. the state directory is not writable: systemd retries after RestartSec
        log.error("cannot start: %s", exc)
        return 1
    supervisor.install_signal_handlers()
    return supervisor.run()


def _cmd_check_config(args: argparse.Namespace) -> int:
    from edge.config_check import check_files

    config = _load_or_report(args.file)
    if config is None:
        return EX_CONFIG
    errors, warnings = check_files(config)
    if errors:
        print(ConfigError(str(args.file), errors).render(), file=sys.stderr)
        return EX_CONFIG
    for warning in warnings:  # exit 0 all the same: the service runs, degraded, and says so
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    print(f"{args.file}: OK{' with warnings' if warnings else ''}: {summary(config)}")
    dropins = load_config_with_dropins(args.file)[1]
    if dropins:
        print(f"  calibration drop-ins merged: {', '.join(str(p) for p in dropins)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from edge.demo import run_demo

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_demo(passenger_count=args.passengers, hold_s=args.hold)
    except KeyboardInterrupt:  # Ctrl-C: run_demo's ExitStack has stopped everything it started
        print("\ndemo interrupted", file=sys.stderr)
        return 130


# Built-in commands need none of the rooms' command modules: `check-config` (the unit's ExecStartPre) and `run`
# then load no OpenCV, onnxruntime or paho-mqtt just to build the argument parser.
_BUILT_IN = frozenset({"run", "check-config", "demo"})


def build_parser(with_commands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="checkpoint-edge",
        description="Checkpoint screening appliance: thermal + ID-document screening with MQTT alerts.",
    )
    parser.add_argument("--version", action="version", version=f"checkpoint-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the service in the foreground (logs to stdout)")
    run.add_argument("--config", type=Path, required=True, help="the appliance's TOML configuration")
    run.add_argument("--plain-logs", action="store_true", help="human-readable logs instead of JSON lines")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a configuration file (exit 78 when invalid)")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_cmd_check_config)

    demo = sub.add_parser("demo", help="run the whole job on simulated devices and a local broker")
    demo.add_argument("--passengers", type=int, default=20, help="passengers in the scripted scene")
    demo.add_argument(
        "--hold",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep the service, its pages and /metrics running this long after the summary",
    )
    demo.set_defaults(func=_cmd_demo)

    if with_commands:
        for name in _COMMAND_MODULES:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(with_commands=command not in _BUILT_IN).parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
