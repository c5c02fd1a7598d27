"""Applying a calibration: write the drop-in, keep it only if the merged configuration is valid."""

from __future__ import annotations

from pathlib import Path

from edge.calibration.dropins import write_dropin
from edge.config import AppConfig, ConfigError, load_config_with_dropins


def dropin_directory(config: AppConfig) -> Path:
    return config.storage.dropin_dir or config.storage.state_dir / "config.d"


def apply_dropin(config_path: Path, config: AppConfig, name: str, text: str) -> tuple[AppConfig, list[Path]]:
    """The merged configuration and its drop-ins; on ConfigError the previous drop-in is restored."""
    directory = dropin_directory(config)
    path = directory / name
    previous = path.read_bytes() if path.exists() else None
    write_dropin(directory, name, text)
    try:
        return load_config_with_dropins(config_path)
    except ConfigError:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_dropin(directory, name, previous.decode("utf-8"))
        raise
