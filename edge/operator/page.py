"""The operator display pages: one full-screen kiosk page per lane, pushed by server-sent events.

    GET  /                       the lanes, each a link to its page (/healthz: their ids, JSON)
    GET  /lane/{lane}            the page: markup and script only; every text comes from the catalogue
    GET  /lane/{lane}/strings    the page's labels in ?lang= (the language switch fetches them)
    GET  /lane/{lane}/events     text/event-stream of snapshots in ?lang= (edge.operator.board)
    POST /lane/{lane}/ack        {"seq": n}: the operator acknowledges the alarm (stops the lane's buzzer)

No login: the listener is bound to the display address (127.0.0.1 unless configured). The one write, the
acknowledgement, must come from the page itself (same Origin), so no other site open in the kiosk's browser
can post it. No CDN, no inline script: a strict Content-Security-Policy holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from edge.i18n import LANGUAGES, language, translate
from edge.operator.board import OperatorBoard, ui_strings
from edge.operator.texts import UI

if TYPE_CHECKING:
    from edge.web.context import WebContext

KEEPALIVE_S = 15.0
WAKE_EVERY_S = 1.0  # also how soon an idle screen blanks and a stopping server ends the stream
MAX_ACK_BODY = 256
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATIC = {"operator.js": "text/javascript; charset=utf-8", "operator.css": "text/css; charset=utf-8"}


def _static(name: str) -> bytes:
    return resources.files("edge.operator").joinpath("static", name).read_bytes()


def _page(lane_id: str, lang: str, sound: bool) -> str:
    strings = ui_strings(lang, lane_id)
    config = {"lane": lane_id, "lang": lang, "languages": LANGUAGES, "strings": strings, "sound": sound}
    # JSON in a data block (not executed; CSP-safe); "</" escaped so no text can close the element.
    data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    return (
        f'<!doctype html><html lang="{lang.replace("_", "-")}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(strings['title'])}</title>"
        '<link rel="stylesheet" href="/static/operator.css"></head>'
        '<body class="style-idle" data-seq="0">'
        '<header><span id="lane"></span><span id="controls">'
        '<button id="sound" type="button"></button> <button id="lang" type="button"></button></span></header>'
        '<main><div id="headline"></div><div id="temperature"></div><div id="guidance"></div>'
        '<button id="ack" type="button" hidden></button></main>'
        '<aside id="pending" hidden><span id="pending-text"></span> <span id="pending-temperature"></span> '
        '<button id="pending-ack" type="button"></button></aside>'
        '<footer><div id="faults" hidden><span id="faults-title"></span><ul id="fault-list"></ul></div>'
        '<div id="offline" hidden></div></footer>'
        f'<script id="config" type="application/json">{data}</script>'
        '<script src="/static/operator.js"></script></body></html>'
    )


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    if origin is None or host is None:
        return False
    return origin.split("://", 1)[-1] == host


class OperatorPages:
    """The routes; the board is looked up per request because a reload replaces the service."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def board(self) -> OperatorBoard:
        board: OperatorBoard = self.ctx.service().board
        return board

    def _lane(self, request: Request) -> str | None:
        lane_id = str(request.path_params["lane"])
        return lane_id if lane_id in self.board().lane_ids else None

    @staticmethod
    def _not_found(lang: str) -> Response:
        return HTMLResponse(
            html.escape(translate(lang, UI["unknown_lane"])), status_code=404, headers=HEADERS
        )

    def index(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        title = html.escape(translate(lang, UI["index_title"]))
        links = "".join(
            f'<li><a href="/lane/{html.escape(lane)}?lang={lang}">'
            f"{html.escape(translate(lang, UI['title'], lane=lane))}</a></li>"
            for lane in self.board().lane_ids
        )
        body = (
            f'<!doctype html><html lang="{lang.replace("_", "-")}"><head><meta charset="utf-8">'
            f'<title>{title}</title><link rel="stylesheet" href="/static/operator.css"></head>'
            f'<body class="index"><h1>{title}</h1><ul id="lanes">{links}</ul></body></html>'
        )
        return HTMLResponse(body, headers=HEADERS)

    def health(self, _request: Request) -> Response:
        return JSONResponse({"lanes": self.board().lane_ids})

    def page(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        lane_id = self._lane(request)
        if lane_id is None:
            return self._not_found(lang)
        sound = request.query_params.get("sound") in ("1", "on", "true")
        return HTMLResponse(_page(lane_id, lang, sound), headers=HEADERS)

    def strings(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        lane_id = self._lane(request)
        if lane_id is None:
            return self._not_found(lang)
        return JSONResponse({"lang": lang, "strings": ui_strings(lang, lane_id)}, headers=HEADERS)

    async def events(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        lane_id = self._lane(request)
        if lane_id is None:
            return self._not_found(lang)
        return StreamingResponse(
            _stream(self.ctx, self.board(), lane_id, lang),
            media_type="text/event-stream",
            headers={**HEADERS, "X-Accel-Buffering": "no"},
        )

    async def ack(self, request: Request) -> Response:
        lane_id = self._lane(request)
        if lane_id is None:
            return JSONResponse({"error": "unknown lane"}, status_code=404)
        if not _same_origin(request):
            return JSONResponse({"error": "acknowledge from the lane page only"}, status_code=403)
        seq = _ack_seq(await request.body())
        if seq is None:
            return JSONResponse({"error": 'body must be {"seq": <int>}'}, status_code=400)
        if not self.board().acknowledge(lane_id, seq):
            return JSONResponse({"acknowledged": False}, status_code=409)
        return JSONResponse({"acknowledged": True})

    @staticmethod
    def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in STATIC:
            return Response(status_code=404)
        return Response(_static(name), media_type=STATIC[name], headers=HEADERS)


def _ack_seq(body: bytes) -> int | None:
    if len(body) > MAX_ACK_BODY:
        return None
    try:
        seq = json.loads(body)["seq"]
    except (ValueError, TypeError, KeyError):
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def operator_app(ctx: WebContext) -> Starlette:
    pages = OperatorPages(ctx)
    return Starlette(
        routes=[
            Route("/", pages.index),
            Route("/healthz", pages.health),
            Route("/lane/{lane}", pages.page),
            Route("/lane/{lane}/strings", pages.strings),
            Route("/lane/{lane}/events", pages.events),
            Route("/lane/{lane}/ack", pages.ack, methods=["POST"]),
            Route("/static/{name}", pages.static),
        ]
    )


async def _stream(ctx: WebContext, board: OperatorBoard, lane_id: str, lang: str) -> AsyncIterator[str]:
    """Snapshots as they change (a slow client gets only the newest), a keepalive comment when quiet."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    board.watch(lane_id, loop, changed)
    try:
        yield "retry: 1000\n\n"
        last: tuple[Any, ...] | None = None
        last_sent = time.monotonic()
        # A reload replaces the service (and its board): end the stream so the page reconnects to the new one.
        while not ctx.stopping.is_set() and ctx.service().board is board:
            snapshot = board.snapshot(lane_id, lang)
            key = (snapshot["version"], snapshot["idle"])
            now = time.monotonic()
            if key != last:
                last, last_sent = key, now
                yield f"data: {json.dumps(snapshot, ensure_ascii=False)}\n\n"
            elif now - last_sent >= KEEPALIVE_S:
                last_sent = now
                yield ": keepalive\n\n"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), WAKE_EVERY_S)
            changed.clear()
    finally:
        board.unwatch(lane_id, changed)
