"""What web pages may read: the running service through a callable (a reload replaces the Service object),
and a stop event that long-lived responses (SSE streams) watch so shutdown never waits on a client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.web.settings import WebSettings

if TYPE_CHECKING:
    from edge.service import Service


@dataclass
class WebContext:
    settings: WebSettings
    service: Callable[[], Service]
    stopping: threading.Event = field(default_factory=threading.Event)
