"""The lane's operator display in a real browser (headless Chromium), against the service on simulators:
a febrile passenger's alarm appears in Chinese with the temperature, English is a click away, the operator
acknowledges, a hold shows only the neutral text, and an unplugged camera shows as a lane fault.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.items import IdDocument, IdScan
from edge.passengers import Passenger
from edge.rules import Decision, Reason
from edge.service import Service
from edge.simulation import script_scene
from edge.web.settings import WebSettings
from tests.fakes.browser import Browser
from tests.fakes.checkpoint import SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def operator_rig(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[SimulatedCheckpoint, Service, str]]:
    # The febrile passenger comes last, so their alarm stays the current passenger until acknowledged.
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=3, febrile=(2,), key_region=())])
    web = WebSettings.model_validate({"display": {"port": 0}, "console": {"enabled": False}})
    service = Service(rig.config.model_copy(update={"web": web}))
    service.start()
    try:
        url = service.web.url("display")
        assert url is not None, service.web.status()
        yield rig, service, url
    finally:
        service.stop()
        rig.close()


def test_febrile_alarm_in_chinese_then_english_then_acknowledged_and_a_hold_is_neutral(
    operator_rig: tuple[SimulatedCheckpoint, Service, str], browser: Browser
) -> None:
    rig, service, url = operator_rig
    browser.get(url + "/lane/lane-1")
    assert browser.wait_for("#lane", text="通道 lane-1")

    headline = browser.wait_for("body.style-alarm #headline", text="体温异常", timeout_s=60)
    temperature = browser.find("#temperature").text
    assert re.fullmatch(r"3[7-9]\.\d ℃", temperature), temperature
    assert browser.find("#ack").is_displayed() and browser.find("#ack").text == "确认报警"
    assert headline.text == "体温异常，请配合医务人员复测"
    browser.screenshot("alarm-zh")

    browser.find("#lang").click()
    browser.wait_for("#headline", text="Temperature above the limit")
    assert browser.find("#lane").text == "Lane lane-1"
    assert re.fullmatch(r"3[7-9]\.\d °C", browser.find("#temperature").text)
    assert browser.find("#ack").text == "Acknowledge"
    assert "lang=en" in browser.driver.current_url
    visible = browser.find("body").text.replace("中文", "")  # the switch back names its language in Chinese
    assert not CJK.search(visible), visible
    browser.screenshot("alarm-en")

    lane = service.lanes[0]
    browser.find("#ack").click()
    browser.wait_for("body.acknowledged")
    assert not browser.find("#ack").is_displayed()
    assert lane.signals.board is service.board
    browser.screenshot("acknowledged-en")

    browser.find("#lang").click()
    browser.wait_for("#lane", text="通道 lane-1")
    # A hold from the watch list, as the lane's joined decision announces it (a card with no face measured).
    document = IdDocument("cn_resident_id", number="990000200001020018", region="990000")
    passenger = Passenger("lane-1", None, IdScan("lane-1.idscan0", 0.0, 0.0, document))
    lane.signals.decision(passenger, Decision("hold", (Reason("watch_list", "on the list", "hold"),)))
    browser.wait_for("#headline", text="请稍候，等待工作人员")
    page = browser.driver.page_source.lower()
    assert "watch" not in page and "名单" not in page and "hold" not in page
    assert browser.find("#temperature").text == ""
    browser.screenshot("hold-zh")

    # Lane faults: the thermal camera unplugged shows on the page, in the viewer's language.
    rig.wait_scene_end()
    rig.lanes[0].thermal.unplug()
    browser.wait_for("#faults #fault-list", text="热成像仪未连接")
    browser.screenshot("fault-zh")


def test_acknowledge_only_from_the_page_itself(
    operator_rig: tuple[SimulatedCheckpoint, Service, str],
) -> None:
    _rig, _service, url = operator_rig

    def post(origin: str | None) -> int:
        request = urllib.request.Request(
            url + "/lane/lane-1/ack", data=json.dumps({"seq": 1}).encode(), method="POST"
        )
        if origin is not None:
            request.add_header("Origin", origin)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post(None) == 403
    assert post("http://evil.example") == 403
    assert post(url) == 409  # same origin, but nothing waits for acknowledgement yet
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "/lane/nope", timeout=10)
    assert missing.value.code == 404 and missing.value.read().decode() == "没有这个通道"
