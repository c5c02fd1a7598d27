"""Calibration in the technician console: propose from live frames or pasted readings, show the result and
its drop-in, apply only when the technician presses Apply (then the service reloads through SIGHUP).

Frames for the blackbody come from the LiveView each screener publishes: the console never touches the
sensor's port, which the lane holds.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.calibration.apply import apply_dropin
from edge.calibration.blackbody import MIN_FRAMES, BlackbodyNotFound, find_blackbody
from edge.calibration.dropins import dropin_name, render_dropin
from edge.calibration.offset import OffsetRefused, calibrate_offset, parse_readings
from edge.calibration.registration import (
    DEFAULT_MAX_RESIDUAL_PX,
    RegistrationRefused,
    calibrate_registration,
    parse_pairs,
)
from edge.config import ConfigError
from edge.web.context import WebContext

BLACKBODY_FRAMES = 16
BLACKBODY_WAIT_S = 10.0
MAX_PROPOSALS = 16


@dataclass(frozen=True)
class Proposal:
    lane_id: str
    name: str
    text: str


def reload_running_service() -> bool:
    """SIGHUP to ourselves, only when a handler (the supervisor's reload) is installed: the default action
    of SIGHUP would end the process."""
    if signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, signal.SIG_IGN, None):
        return False
    os.kill(os.getpid(), signal.SIGHUP)
    return True


class ConsoleCalibration:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._proposals: OrderedDict[str, Proposal] = OrderedDict()
        self._lock = threading.Lock()

    def _lane(self, request: Request) -> Any | None:
        lane_id = request.path_params.get("lane_id")
        return next((lane for lane in self.ctx.service().lanes if lane.lane_id == lane_id), None)

    def _offer(
        self, lane_id: str, kind: str, table: str, values: dict[str, Any], lines: list[str]
    ) -> Response:
        text = render_dropin(lane_id, table, values, lines)
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._proposals[token] = Proposal(lane_id, dropin_name(kind, lane_id), text)
            while len(self._proposals) > MAX_PROPOSALS:
                self._proposals.popitem(last=False)
        return JSONResponse({"result": lines, "dropin": text, "token": token})

    def blackbody(self, request: Request, _form: dict[str, str]) -> Response:
        lane = self._lane(request)
        if lane is None:
            return JSONResponse({"error": "no such lane"}, status_code=404)
        frames: list[np.ndarray] = []
        last = None
        deadline = time.monotonic() + BLACKBODY_WAIT_S
        while (
            len(frames) < BLACKBODY_FRAMES and time.monotonic() < deadline and not self.ctx.stopping.is_set()
        ):
            view = lane.screener.last_view
            if view is not None and view is not last and not view.note:
                frames.append(view.temps_c)
                last = view
            time.sleep(0.02)
        try:
            proposal = find_blackbody(frames) if len(frames) >= MIN_FRAMES else None
        except BlackbodyNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        if proposal is None:
            return JSONResponse(
                {"error": f"only {len(frames)} frames in {BLACKBODY_WAIT_S:.0f} s"}, status_code=422
            )
        values = {"enabled": True, "roi": list(proposal.roi), "set_point_c": proposal.set_point_c}
        lines = [proposal.describe(), "set point: check it against the blackbody's display"]
        return self._offer(lane.lane_id, "blackbody", "reference", values, lines)

    def registration(self, request: Request, form: dict[str, str]) -> Response:
        lane = self._lane(request)
        if lane is None:
            return JSONResponse({"error": "no such lane"}, status_code=404)
        try:
            limit = float(form.get("max_residual_px") or DEFAULT_MAX_RESIDUAL_PX)
            result = calibrate_registration(parse_pairs(form.get("pairs", ""), "pairs"), limit)
        except (RegistrationRefused, ValueError) as exc:
            return JSONResponse({"error": f"registration refused: {exc}"}, status_code=422)
        values = {"homography": [list(row) for row in result.homography]}
        return self._offer(lane.lane_id, "registration", "registration", values, [result.describe()])

    def offset(self, request: Request, form: dict[str, str]) -> Response:
        lane = self._lane(request)
        if lane is None:
            return JSONResponse({"error": "no such lane"}, status_code=404)
        try:
            result = calibrate_offset(parse_readings(form.get("readings", ""), "readings"))
        except (OffsetRefused, ValueError) as exc:
            return JSONResponse({"error": f"offset refused: {exc}"}, status_code=422)
        return self._offer(
            lane.lane_id, "offset", "", {"core_offset_c": result.offset_c}, [result.describe()]
        )

    def apply(self, _request: Request, form: dict[str, str]) -> Response:
        with self._lock:
            proposal = self._proposals.pop(form.get("token", ""), None)
        if proposal is None:
            return JSONResponse({"error": "no such proposal (expired or already applied)"}, status_code=404)
        service = self.ctx.service()
        if service.config_path is None:
            return JSONResponse(
                {"error": "this service was not started from a configuration file"}, status_code=409
            )
        try:
            _merged, dropins = apply_dropin(service.config_path, service.config, proposal.name, proposal.text)
        except ConfigError as exc:
            return JSONResponse(
                {"error": "not applied: the configuration would be invalid", "errors": exc.errors},
                status_code=422,
            )
        reloading = reload_running_service()
        return JSONResponse(
            {
                "applied": proposal.name,
                "dropins": [p.name for p in dropins],
                "reload": "requested"
                if reloading
                else "at the next start (no reload handler in this process)",
            }
        )
