"""Configuration of the local web server: two listeners with different audiences.

The operator display is read-only, public-facing (a kiosk screen at the lane) and needs no login; the
technician console and /metrics are management surfaces, on a separate address so a site can put them on a
management network (or keep them on loopback, the default) without exposing them to the display's network.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from drivers.strict import StrictModel


def _ip_literal(value: str) -> str:
    # An IP literal, not a host name: a name could resolve to a public address at start-up.
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"must be an IP address (e.g. 127.0.0.1 or 0.0.0.0), got {value!r}") from None
    return value


class DisplayListenerSettings(StrictModel):
    enabled: bool = Field(True, description="Serve the operator display pages (one per lane, no login).")
    host: str = Field("127.0.0.1", description="Address the operator display listens on (IP literal).")
    port: int = Field(
        8080, ge=0, le=65535, description="TCP port of the operator display; 0 = any free port."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _ip_literal(value)


class ConsoleListenerSettings(StrictModel):
    enabled: bool = Field(True, description="Serve the technician console and /metrics.")
    host: str = Field(
        "127.0.0.1",
        description="Management address of the console and /metrics (IP literal); loopback unless set.",
    )
    port: int = Field(8081, ge=0, le=65535, description="TCP port of the console; 0 = any free port.")
    credentials_file: Path | None = Field(
        None,
        description=(
            "File with the console password hash (`checkpoint-edge console-password FILE` writes it; "
            "mode 0600). No file: there is no default password, so every login is refused."
        ),
    )
    tls_cert_file: Path | None = Field(None, description="PEM certificate: serve the console over HTTPS.")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file.")
    session_idle_s: float = Field(
        900.0, ge=30.0, le=86400.0, description="A console session ends after this long without a request, s."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _ip_literal(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleListenerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        return self


class WebSettings(StrictModel):
    display: DisplayListenerSettings = Field(default_factory=DisplayListenerSettings)
    console: ConsoleListenerSettings = Field(default_factory=ConsoleListenerSettings)
