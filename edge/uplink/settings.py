"""The `[broker]` configuration: endpoints, TLS files, protocol, timing and the delivery window."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from drivers.strict import StrictModel
from edge.contract.topics import DEFAULT_PREFIX


class BrokerEndpoint(StrictModel):
    host: str = Field(
        ..., min_length=1, description="Broker host name (must match its certificate under TLS)."
    )
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port (8883 is usual for TLS).")


class TlsSettings(StrictModel):
    ca_file: Path = Field(..., description="CA certificate(s) that signed the broker's certificate (PEM).")
    cert_file: Path | None = Field(
        default=None, description="This device's client certificate (PEM), for mutual TLS."
    )
    key_file: Path | None = Field(default=None, description="The private key of `cert_file` (PEM).")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file must be given together")
        return self


class BrokerSettings(StrictModel):
    host: str = Field(default="127.0.0.1", min_length=1, description="Primary broker host name.")
    port: int = Field(default=1883, ge=1, le=65535, description="Primary broker TCP port.")
    fallback_brokers: list[BrokerEndpoint] = Field(
        default_factory=list,
        max_length=8,
        description="Brokers tried in order when the primary is unreachable; the uplink returns to the "
        "primary as soon as it accepts connections again.",
    )
    primary_retry_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="While on a fallback broker, probe the primary this often, s.",
    )
    topic_prefix: str = Field(
        default=DEFAULT_PREFIX,
        pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$",
        description="Topics are {topic_prefix}/devices/{site}/{device}/{alert|status|stats|heartbeat}; the "
        "centre's lists {topic_prefix}/lists/{site} (docs/contract.md).",
    )
    client_id: str | None = Field(
        default=None,
        max_length=64,
        description="MQTT client id; default '{site}-{device}' (stable, for the session).",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT protocol version; 5 adds PUBACK reason codes, message expiry, user properties.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keepalive, s.")
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description="MQTT 5 session expiry: how long the broker keeps our session, s.",
    )
    connect_timeout_s: float = Field(
        default=5.0, gt=0.0, le=60.0, description="TCP + TLS connect timeout, s."
    )
    reconnect_min_s: float = Field(
        default=0.5, gt=0.0, le=60.0, description="First reconnect delay (backoff floor), s."
    )
    reconnect_max_s: float = Field(default=30.0, gt=0.0, le=600.0, description="Backoff ceiling, s.")
    inflight_window: int = Field(
        default=64, ge=1, le=1000, description="Most messages published and not yet acknowledged at once."
    )
    heartbeat_interval_s: float = Field(default=30.0, ge=1.0, le=3600.0, description="Heartbeat period, s.")
    stats_expiry_s: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        description="Statistics older than this are no longer worth sending (MQTT 5 message expiry), s.",
    )
    tls: TlsSettings | None = Field(
        default=None,
        description="TLS (hostname verification always on). Without it the connection is plaintext.",
    )
    username: str | None = Field(
        default=None,
        max_length=256,
        description="MQTT user name (with mutual TLS the broker may use the cert CN).",
    )
    password_file: Path | None = Field(
        default=None, description="File holding the MQTT password (never the config itself)."
    )

    @model_validator(mode="after")
    def _backoff_ordered(self) -> BrokerSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be ≥ reconnect_min_s")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    def endpoints(self) -> list[BrokerEndpoint]:
        return [BrokerEndpoint(host=self.host, port=self.port), *self.fallback_brokers]
