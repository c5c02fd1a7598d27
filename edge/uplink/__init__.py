"""Publishes the outbox to the station's broker: in order, at QoS 1, a row deleted only on its PUBACK.

    settings.py   the `[broker]` configuration (BrokerSettings, BrokerEndpoint, TlsSettings)
    tls.py        secret files and the TLS context, checked at start-up; connection errors explained
    timing.py     reconnect backoff, one session's deadlines
    paho_glue.py  paho's error log captured, PUBLISH properties packed once, one record per connection
    report.py     `Uplink.state()`: connected, broker, last error, counters
    window.py     the delivery window: rows published in order, deleted on PUBACK
    presence.py   retained status (birth, last will, stopped) and heartbeat, through the contract's builders
    client.py     Uplink: the worker thread, failover, one session's loop

Importing this package loads no paho-mqtt: the configuration check and the settings need only settings.py
and tls.py; `Uplink` is imported from client.py on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.uplink.settings import BrokerEndpoint, BrokerSettings, TlsSettings
from edge.uplink.timing import backoff_delay_s
from edge.uplink.tls import UplinkConfigError, build_tls_context, read_secret_file

if TYPE_CHECKING:
    from edge.uplink.client import Uplink

__all__ = [
    "BrokerEndpoint",
    "BrokerSettings",
    "TlsSettings",
    "Uplink",
    "UplinkConfigError",
    "backoff_delay_s",
    "build_tls_context",
    "read_secret_file",
]


def __getattr__(name: str) -> Any:
    if name == "Uplink":
        from edge.uplink.client import Uplink

        return Uplink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
