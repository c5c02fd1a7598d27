"""The operator display listener (kiosk pages per lane, no login, read-only): the lane side's pages in
edge/operator/page.py, served on this listener's own address."""

from __future__ import annotations

from starlette.applications import Starlette

from edge.operator.page import operator_app
from edge.web.context import WebContext


def display_app(ctx: WebContext) -> Starlette:
    return operator_app(ctx)
