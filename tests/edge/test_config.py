"""Configuration: strict validation with key paths, and the CLI's exit codes (78 = EX_CONFIG)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import EX_CONFIG, ConfigError, load_config, validate_config

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """
site_id = "bj-south"
device_id = "gate-03"
[[lanes]]
id = "lane-1"
[lanes.thermal]
type = "gy_mcu90640"
port = "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.1:1.0-port0"
[[lanes.id_scanners]]
type = "sam_id_reader"
port = "socket://127.0.0.1:7001"
"""

# An unknown key (lanes[0].thermal.baud), a wrong type (screening.threshold_c) and a missing key (device_id).
BROKEN = """
site_id = "bj-south"
[[lanes]]
id = "lane-1"
[lanes.thermal]
type = "gy_mcu90640"
port = "/dev/ttyUSB0"
baud = 460800
[screening]
threshold_c = "warm"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "checkpoint-edge.toml"
    path.write_text(text)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.lanes[0].thermal.type == "gy_mcu90640"
    assert config.lanes[0].id_scanners[0].port == "socket://127.0.0.1:7001"
    assert config.screening.threshold_c == 37.3
    assert config.broker.topic_prefix == "checkpoint/v2"


def test_example_config_is_valid() -> None:
    config = load_config(REPO / "config" / "example.toml")
    assert len(config.lanes) >= 1


def test_all_errors_reported_with_key_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BROKEN))
    errors = caught.value.errors
    assert "lanes[0].thermal.baud: unknown key" in errors
    assert "device_id: required key is missing" in errors
    assert any(e.startswith("screening.threshold_c: ") for e in errors)
    assert len(errors) == 3


def test_bad_port_names_the_field(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'port = "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.1:1.0-port0"', 'port = "ttyUSB0"'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.errors == ["lanes[0].thermal.port: not a serial URL or device path"]


def test_unknown_device_type_lists_known_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL.replace('type = "gy_mcu90640"', 'type = "flir_x9"')))
    (error,) = caught.value.errors
    assert error.startswith("lanes[0].thermal: unknown device type; expected one of ")
    assert "gy_mcu90640" in error


def test_topic_unsafe_ids_rejected() -> None:
    data = {"site_id": "bj/south", "device_id": "gate+1", "lanes": []}
    with pytest.raises(ConfigError) as caught:
        validate_config(data, "inline")
    paths = {e.split(":")[0] for e in caught.value.errors}
    assert {"site_id", "device_id", "lanes"} <= paths


def test_toml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, 'site_id = "x\n'))
    assert caught.value.errors[0].startswith("TOML syntax:")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml")
    assert "cannot read file" in caught.value.errors[0]


def test_check_config_cli_ok_and_broken(tmp_path: Path) -> None:
    ok = run_cli("check-config", str(write(tmp_path, MINIMAL)))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and "1 lane(s)" in ok.stdout

    broken = run_cli("check-config", str(write(tmp_path, BROKEN)))
    assert broken.returncode == EX_CONFIG
    for expected in (
        "lanes[0].thermal.baud: unknown key",
        "device_id: required key is missing",
        "screening.threshold_c",
    ):
        assert expected in broken.stderr


def test_run_with_broken_config_exits_78_before_starting(tmp_path: Path) -> None:
    broken = run_cli("run", "--config", str(write(tmp_path, BROKEN)))
    assert broken.returncode == EX_CONFIG
    assert "lanes[0].thermal.baud: unknown key" in broken.stderr
    assert "device_id: required key is missing" in broken.stderr


def test_example_config_is_generated_from_the_models() -> None:
    from edge.config_example import render_example

    current = (REPO / "config" / "example.toml").read_text()
    assert current == render_example(), "config/example.toml is stale: python -m edge.config_example > it"


def test_check_config_warns_about_a_missing_key_file_and_still_passes(tmp_path: Path) -> None:
    """The service screens without a site key (identities withheld), so ExecStartPre must let it start."""
    text = (
        MINIMAL
        + f'[storage]\nstate_dir = "{tmp_path / "state"}"\n[privacy]\nhmac_key_file = "{tmp_path / "nope.key"}"\n'
    )
    result = run_cli("check-config", str(write(tmp_path, text)))
    assert result.returncode == 0
    assert "warning: privacy.hmac_key_file: site key file" in result.stderr and "nope.key" in result.stderr


def test_check_config_names_the_missing_site_key_of_the_example() -> None:
    result = run_cli("check-config", str(REPO / "config" / "example.toml"))
    assert result.returncode == 0, result.stderr
    assert "/run/credentials/checkpoint-edge.service/site-key does not exist" in result.stderr
    assert "withhold identities" in result.stderr


def test_check_config_refuses_a_missing_ca_file(tmp_path: Path) -> None:
    text = MINIMAL + f'[broker.tls]\nca_file = "{tmp_path / "ca.pem"}"\n'
    result = run_cli("check-config", str(write(tmp_path, text)))
    assert result.returncode == EX_CONFIG
    assert "broker.tls: TLS CA file" in result.stderr and "ca.pem" in result.stderr


def test_run_with_a_missing_ca_file_exits_78_naming_the_file(tmp_path: Path) -> None:
    text = MINIMAL + (
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n[broker.tls]\nca_file = "{tmp_path / "ca.pem"}"\n'
    )
    result = run_cli("run", "--config", str(write(tmp_path, text)))
    assert result.returncode == EX_CONFIG
    assert "ca.pem" in result.stderr


def test_example_config_documents_every_device_type_and_key() -> None:
    from drivers.registry import all_device_types, config_model

    text = (REPO / "config" / "example.toml").read_text()
    for device_type in sorted(all_device_types()):
        assert f'type = "{device_type}"' in text, device_type
        for name in config_model(device_type).model_fields:
            as_key, as_table = f"{name} = " in text, f".{name}]" in text  # nested models are sub-tables
            assert as_key or as_table, f"{device_type}.{name} is not documented"
