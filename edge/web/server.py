"""Listeners of the local web server: each is a uvicorn server on its own thread and event loop.

The socket is bound before the thread starts, so "address in use" or "permission denied" is known at once.
A listener that cannot start degrades only the web side (logged, in `status()`); screening carries on.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette

from edge.web.context import WebContext
from edge.web.settings import WebSettings

if TYPE_CHECKING:
    from edge.service import Service

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class Listener:
    """One address, one ASGI app, one thread."""

    def __init__(
        self,
        name: str,
        app: Starlette,
        host: str,
        port: int,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.tls = tls
        self._requested_port = port
        self.port = port
        self.state = "stopped"
        self.last_error: str | None = None
        ssl_args: dict[str, Any] = {}
        if tls is not None:
            ssl_args = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])}
        self._config = uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,  # the service owns logging (JSON lines); uvicorn must not reconfigure it
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=1,
            limit_concurrency=64,  # bounded: a flood of clients is refused with 503, not queued without end
            **ssl_args,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(64)
            if self.tls is not None:
                # Fail here, naming the file, rather than inside the server thread.
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                    str(self.tls[0]), str(self.tls[1])
                )
        except (OSError, ssl.SSLError):
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(
            target=self._serve, args=(self._server, sock), name=f"web-{self.name}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.state = "serving" if self._server.started else "failed"

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except Exception as exc:  # never take the process down: the web side degrades alone
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("web %s: server stopped with an error", self.name)
        finally:
            sock.close()
            self.state = "stopped" if self.last_error is None else "failed"

    def stop(self, timeout_s: float = 3.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(1.0)
        self.state = "stopped" if self.last_error is None else "failed"

    def status(self) -> dict[str, Any]:
        return {"url": self.url, "state": self.state, "last_error": self.last_error}


class WebServer:
    """The operator display listener and the management (console + /metrics) listener."""

    def __init__(self, settings: WebSettings, service: Callable[[], Service]) -> None:
        # Imported here: the page modules import the service's rooms, which import the configuration.
        from edge.web.console import console_app
        from edge.web.display import display_app

        self.context = WebContext(settings=settings, service=service)
        self.listeners: dict[str, Listener] = {}
        if settings.display.enabled:
            self.listeners["display"] = Listener(
                "display", display_app(self.context), settings.display.host, settings.display.port
            )
        console = settings.console
        if console.enabled:
            tls = (
                (console.tls_cert_file, console.tls_key_file)
                if console.tls_cert_file is not None and console.tls_key_file is not None
                else None
            )
            self.listeners["console"] = Listener(
                "console", console_app(self.context), console.host, console.port, tls
            )

    def start(self) -> WebServer:
        for listener in self.listeners.values():
            try:
                listener.start()
            except (OSError, ssl.SSLError) as exc:
                listener.state = "failed"
                listener.last_error = f"{listener.host}:{listener.port}: {exc}"
                log.error("web %s: cannot listen on %s: %s", listener.name, listener.url, exc)
            else:
                log.info("web %s: listening on %s", listener.name, listener.url)
        return self

    def stop(self) -> None:
        self.context.stopping.set()
        for listener in self.listeners.values():
            listener.stop()

    def url(self, name: str) -> str | None:
        listener = self.listeners.get(name)
        return listener.url if listener is not None and listener.state == "serving" else None

    def status(self) -> dict[str, Any]:
        return {name: listener.status() for name, listener in self.listeners.items()}
