"""The technician console listener: login, the console page and its data, and /metrics.

Every console route but /login needs a session; /metrics needs none (Prometheus scrapes it from the
management address, it carries counts only, never personal data).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from edge.thermal_view import render_live
from edge.web import pages
from edge.web.auth import SESSION_COOKIE, ConsoleAuth
from edge.web.calibration import ConsoleCalibration
from edge.web.context import WebContext
from edge.web.metrics import metrics_text

MAX_FORM_BYTES = 4096
MAX_CALIBRATION_FORM_BYTES = 64 * 1024

Endpoint = Callable[[Request], Awaitable[Response]]


async def _read_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    """A small urlencoded form, bounded in size (anything larger is refused whole)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in fields.items()}


class Console:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        settings = ctx.settings.console
        self.auth = ConsoleAuth(settings.credentials_file, settings.session_idle_s)
        self.secure_cookie = settings.tls_cert_file is not None
        self.calibration = ConsoleCalibration(ctx)
        self._render_lock = threading.Lock()
        self._rendered: dict[tuple[str, int, float], bytes] = {}

    def authorised(self, request: Request) -> bool:
        return self.auth.check(request.cookies.get(SESSION_COOKIE))

    def page(self, render: Callable[[Request], Response]) -> Endpoint:
        """An HTML page: without a session, the browser is sent to the login form."""

        async def endpoint(request: Request) -> Response:
            if not self.authorised(request):
                return RedirectResponse("/login", status_code=303)
            return await run_in_threadpool(render, request)

        return endpoint

    def api(self, render: Callable[[Request], Response]) -> Endpoint:
        """Data for the page (JSON, images): without a session, 401."""

        async def endpoint(request: Request) -> Response:
            if not self.authorised(request):
                return JSONResponse({"error": "login required"}, status_code=401)
            # Rendering and status snapshots run on a worker thread: the event loop keeps serving.
            return await run_in_threadpool(render, request)

        return endpoint

    def form_api(self, render: Callable[[Request, dict[str, str]], Response]) -> Endpoint:
        """A POSTed form (calibration input): without a session, 401; the work runs on a worker thread."""

        async def endpoint(request: Request) -> Response:
            if not self.authorised(request):
                return JSONResponse({"error": "login required"}, status_code=401)
            if request.headers.get("origin", "").split("://", 1)[-1] != request.headers.get("host"):
                return JSONResponse({"error": "from the console page only"}, status_code=403)
            form = await _read_form(request, MAX_CALIBRATION_FORM_BYTES)
            return await run_in_threadpool(render, request, form)

        return endpoint

    async def login_form(self, _request: Request) -> Response:
        return HTMLResponse(pages.login_page(configured=self.auth.credentials_file is not None))

    async def login(self, request: Request) -> Response:
        form = await _read_form(request)
        # scrypt takes tens of milliseconds by design: not on the event loop.
        token = await run_in_threadpool(self.auth.login, form.get("password", ""))
        if token is None:
            return HTMLResponse(
                pages.login_page(configured=self.auth.credentials_file is not None, failed=True),
                status_code=401,
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookie,
            max_age=int(self.ctx.settings.console.session_idle_s),
        )
        return response

    async def logout(self, request: Request) -> Response:
        self.auth.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", self.page(lambda _r: HTMLResponse(pages.console_page(self.ctx))), methods=["GET"]),
            Route("/api/status", self.api(lambda _r: JSONResponse(pages.console_status(self.ctx)))),
            Route("/lane/{lane_id}/live.jpg", self.api(self.live_image)),
            Route("/metrics", self.metrics, methods=["GET"]),
            *[
                Route(f"/lane/{{lane_id}}/calibrate/{kind}", self.form_api(handler), methods=["POST"])
                for kind, handler in (
                    ("blackbody", self.calibration.blackbody),
                    ("registration", self.calibration.registration),
                    ("offset", self.calibration.offset),
                )
            ],
            Route("/calibrate/apply", self.form_api(self.calibration.apply), methods=["POST"]),
        ]

    async def metrics(self, _request: Request) -> Response:
        """No login: Prometheus scrapes the management address; counts only, no personal data."""
        body = await run_in_threadpool(metrics_text, self.ctx)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def live_image(self, request: Request) -> Response:
        """The lane's latest processed frame, rendered here (on a web thread), cached per frame."""
        lanes = {lane.lane_id: lane for lane in self.ctx.service().lanes}
        lane = lanes.get(request.path_params["lane_id"])
        if lane is None:
            return JSONResponse({"error": "no such lane"}, status_code=404)
        view = lane.screener.last_view
        if view is None:
            return JSONResponse({"error": "no frame yet"}, status_code=503)
        key = (lane.lane_id, view.seq, view.t_mono)
        with self._render_lock:
            jpeg = self._rendered.get(key)
        if jpeg is None:
            jpeg = render_live(view)
            with self._render_lock:
                self._rendered = {k: v for k, v in self._rendered.items() if k[0] != lane.lane_id}
                self._rendered[key] = jpeg
        headers = {"Cache-Control": "no-store", "X-Frame-Seq": str(view.seq), "X-Faces": str(len(view.faces))}
        return Response(jpeg, media_type="image/jpeg", headers=headers)


def console_app(ctx: WebContext) -> Starlette:
    return Starlette(routes=Console(ctx).routes())
