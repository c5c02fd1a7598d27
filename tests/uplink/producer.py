"""A minimal screening service for crash tests: an outbox, an uplink, and a lane appending numbered alerts.

Run as `python -m tests.uplink.producer --db PATH --port N --total 1000`. It resumes after the last committed
alert (the outbox's persisted sequence number), so a SIGKILL at any instant is followed by a restart that
neither skips nor re-creates an alert; it exits 0 once all `total` alerts are acknowledged by the broker.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge.outbox import Outbox
from edge.uplink import BrokerSettings, Uplink
from tests.uplink.conftest import DEVICE, SITE, alert_payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--interval-s", type=float, default=0.002, help="pause between alerts")
    args = parser.parse_args(argv)
    outbox = Outbox(args.db)
    settings = BrokerSettings(port=args.port, reconnect_min_s=0.05, reconnect_max_s=0.5)
    uplink = Uplink(settings, outbox, SITE, DEVICE)
    uplink.start()
    produced = outbox.last_seq(DEVICE, "alert")
    while produced < args.total:
        stamped = outbox.append("alert", alert_payload(produced + 1))
        produced = stamped["seq"]
        print(produced, flush=True)
        time.sleep(args.interval_s)
    deadline = time.monotonic() + 60
    while outbox.depth()["alert"] > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    uplink.stop()
    outbox.close()
    return 0 if outbox.depth()["alert"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
