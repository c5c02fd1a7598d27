"""The console's live thermal view: rendered from what the screener saw, and it moves as frames arrive."""

from __future__ import annotations

import hashlib
import time

import cv2
import numpy as np
import pytest

from edge.records import LiveFace, LiveView
from edge.thermal_view import render_live
from tests.fakes.browser import Browser
from tests.web.conftest import CONSOLE_PASSWORD, WebRig


def test_live_picture_draws_zone_blackbody_and_faces() -> None:
    temps = np.full((24, 32), 24.0, np.float32)
    temps[8:14, 12:18] = 36.5
    temps[1:3, 28:31] = 35.0
    view = LiveView(
        seq=7,
        t_mono=1.0,
        temps_c=temps,
        faces=(LiveFace((12.0, 8.0, 18.0, 14.0), 36.5),),
        blackbody_roi=(28, 1, 31, 3),
        blackbody_c=35.0,
        blackbody_valid=True,
        measurement_zone=(0.25, 0.0, 0.75, 1.0),
    )
    image = cv2.imdecode(np.frombuffer(render_live(view), np.uint8), cv2.IMREAD_COLOR)
    scale = 480 // 32
    assert image.shape[:2] == (24 * scale, 32 * scale)
    b, g, r = (image[..., i].astype(int) for i in range(3))
    # Face box in white on its top edge, blackbody ROI in green, measurement zone in cyan (left edge).
    assert (image[8 * scale, 14 * scale] > 200).all()
    assert g[1 * scale, 29 * scale] > 180 and r[1 * scale, 29 * scale] < 140
    assert b[12 * scale, 8 * scale] > 200 and g[12 * scale, 8 * scale] > 180 and r[12 * scale, 8 * scale] < 60
    # The face interior is hotter (brighter) than the background.
    assert image[11 * scale, 15 * scale].sum() > image[20 * scale, 3 * scale].sum() + 200


@pytest.mark.slow
def test_live_view_changes_as_frames_arrive(web_rig: WebRig, browser: Browser) -> None:
    console = web_rig.url("console")
    browser.get(console + "/login")
    browser.find("#password").send_keys(CONSOLE_PASSWORD)
    browser.find("#login").click()
    browser.wait_for("#live-lane-1[data-frame]")
    seen: list[str] = []
    frames: list[int] = []
    face_shown = False
    deadline = time.monotonic() + 40.0
    while (len(set(seen)) < 3 or not face_shown) and time.monotonic() < deadline:
        image = browser.find("#live-lane-1")
        digest = hashlib.sha256(image.screenshot_as_png).hexdigest()
        frames.append(int(image.get_attribute("data-frame") or 0))
        faces = int(image.get_attribute("data-faces") or 0)
        if not seen or digest != seen[-1]:
            browser.screenshot(f"live-{len(set(seen))}" + ("-face" if faces and not face_shown else ""))
        face_shown = face_shown or faces > 0
        seen.append(digest)
        time.sleep(0.5)
    assert len(set(seen)) >= 3, "the live image did not change while the simulator sent frames"
    assert frames == sorted(frames) and frames[-1] > frames[0]  # newer frames, in order
    assert face_shown, "no passenger's face appeared in the live view during the scene"
