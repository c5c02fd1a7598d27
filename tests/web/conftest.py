"""A running service on a simulated lane with its web listeners on free ports and a console password."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import script_scene
from edge.web.auth import write_credential_file
from edge.web.settings import WebSettings
from tests.fakes.checkpoint import SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

CONSOLE_PASSWORD = "correct horse battery staple"


@dataclass
class WebRig:
    rig: SimulatedCheckpoint
    service: Service

    def url(self, listener: str) -> str:
        url = self.service.web.url(listener)
        assert url is not None, self.service.web.status()
        return url


@pytest.fixture
def web_rig(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[WebRig]:
    credentials = tmp_path / "console.pw"
    write_credential_file(credentials, CONSOLE_PASSWORD)
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=6, febrile=(1,), key_region=())])
    web = WebSettings.model_validate(
        {"display": {"port": 0}, "console": {"port": 0, "credentials_file": str(credentials)}}
    )
    service = Service(rig.config.model_copy(update={"web": web}))
    service.start()
    try:
        yield WebRig(rig, service)
    finally:
        service.stop()
        rig.close()
