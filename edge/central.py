"""A stand-in for the station's central system, shared by the demo, the benchmarks and the tests.

One MQTT client subscribed at QoS 1 to a topic filter; every message goes to `handle(topic, payload, retained)`
on paho's network thread; the subscription is renewed after a reconnect. The appliance never uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

Handler = Callable[[str, bytes, bool], None]


class CentralSubscriber:
    def __init__(
        self,
        port: int,
        topic: str,
        handle: Handler,
        *,
        client_id: str = "central",
        protocol: str = "5",
        persistent: bool = False,
        host: str = "127.0.0.1",
        subscribe_timeout_s: float = 10.0,
    ) -> None:
        """persistent: the broker keeps the session, so what is published while we are away still arrives."""
        v5 = protocol == "5"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else not persistent,
        )
        subscribed = threading.Event()
        self.client.on_message = lambda _c, _u, msg: handle(msg.topic, bytes(msg.payload), bool(msg.retain))
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]  # fractions of a second work
        if v5:
            properties = None
            if persistent:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = 3600
            self.client.connect(host, port, clean_start=not persistent, properties=properties)
        else:
            self.client.connect(host, port)
        self.client.loop_start()
        if not subscribed.wait(subscribe_timeout_s):
            self.close()
            raise RuntimeError(
                f"the central subscriber got no SUBACK for {topic} within {subscribe_timeout_s} s"
            )

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
