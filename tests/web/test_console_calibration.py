"""Calibration from the console: propose, confirm with Apply, the drop-in is written and the service reloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.config import config_hash, load_config_with_dropins
from edge.simulation import script_scene
from edge.web.auth import write_credential_file
from tests.calibration.test_dropins import _running_hash, _wait_metric
from tests.fakes.browser import Browser
from tests.fakes.checkpoint import SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto
from tests.fakes.service_process import RunningService, info_logging
from tests.web.conftest import CONSOLE_PASSWORD

pytestmark = pytest.mark.slow


def test_offset_proposed_confirmed_and_applied_from_the_console(
    tmp_path: Path, mosquitto: Mosquitto, browser: Browser
) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=40, febrile=(), key_region=())])
    credentials = tmp_path / "console.pw"
    write_credential_file(credentials, CONSOLE_PASSWORD)
    info_logging(rig.config_path)
    text = rig.config_path.read_text().replace(
        "[web.console]\nport = 0\n", f'[web.console]\nport = 0\ncredentials_file = "{credentials}"\n'
    )
    rig.config_path.write_text(text)
    service = RunningService(rig.config_path)
    try:
        console = service.wait_console(1)
        browser.get(console + "/login")
        browser.find("#password").send_keys(CONSOLE_PASSWORD)
        browser.find("#login").click()
        browser.wait_for("#live-lane-1[data-frame]")
        browser.find("details summary").click()

        # No blackbody in the simulated lane's view: said plainly, nothing offered to apply.
        browser.find("#cal-blackbody-lane-1").click()
        out = browser.wait_for("#cal-out-lane-1[data-state=error]", text="no steady patch")
        assert not browser.find("#cal-apply-lane-1").is_displayed()
        browser.screenshot("blackbody-not-found")

        rng = np.random.default_rng(5)
        clinical = rng.uniform(36.3, 38.2, 12)
        readings = "\n".join(f"{c - 0.25:.2f},{c:.2f}" for c in clinical)
        browser.find("#cal-readings-lane-1").send_keys(readings)
        browser.find("#cal-offset-lane-1").click()
        out = browser.wait_for("#cal-out-lane-1[data-state=proposed]")
        assert "offset +0.25 °C" in out.text and "95 % CI" in out.text and "core_offset_c = 0.25" in out.text
        dropins = tmp_path / "state" / "config.d"
        assert not list(dropins.glob("*.toml"))  # nothing written before Apply
        browser.driver.execute_script("arguments[0].scrollIntoView()", out)
        browser.screenshot("offset-proposed")

        browser.find("#cal-apply-lane-1").click()
        out = browser.wait_for("#cal-out-lane-1[data-state=applied]")
        assert "50-offset-lane-1.toml" in out.text and "reload requested" in out.text
        browser.driver.execute_script("arguments[0].scrollIntoView()", out)
        browser.screenshot("offset-applied")

        merged, files = load_config_with_dropins(rig.config_path)
        assert [p.name for p in files] == ["50-offset-lane-1.toml"]
        assert merged.screening_for("lane-1").core_offset_c == pytest.approx(0.25, abs=0.01)
        reloaded = service.wait_console(2)
        expected_hash = config_hash(merged)
        _wait_metric(reloaded, lambda s: _running_hash(s) == expected_hash)
    finally:
        service.stop()
        rig.close()
