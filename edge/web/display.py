"""The operator display listener (kiosk pages per lane, no login, read-only).

i10a (issue 10, lane side) builds the pages here; the contract with the server is only `display_app(ctx)`:
return a Starlette app whose routes read `ctx.service()` (never block on a lane) and end long-lived
responses when `ctx.stopping` is set.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.web.context import WebContext


def display_app(ctx: WebContext) -> Starlette:
    def health(_request: Request) -> Response:
        return JSONResponse({"lanes": [lane.lane_id for lane in ctx.service().lanes]})

    return Starlette(routes=[Route("/healthz", health)])
