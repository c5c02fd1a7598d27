"""The topic layout (contract v2): where each message goes, and which names can never be ids.

    {prefix}/devices/{site}/{device}/{alert|stats|status|heartbeat}    from an appliance
    {prefix}/lists/{site}                                              from the centre, retained, signed

The fixed `devices` and `lists` levels keep the two subtrees apart, so no site or device id can reach into
the other (v1 put both under `{prefix}/{site}/`, where a device named `lists` could write its site's lists).
An appliance's broker identity (certificate CN or user name) is `{site}/{device}`, so one Mosquitto ACL
pattern, `pattern write {prefix}/devices/%u/#`, confines it to its own subtree of its own site
(docs/mosquitto.md).
"""

from __future__ import annotations

DEFAULT_PREFIX = "checkpoint/v2"
DEVICES_LEVEL = "devices"
LISTS_LEVEL = "lists"
# Ids that read like a level of the layout or a role: refused as site or device ids, so that a topic or a
# broker identity never means two things to a person reading logs or ACLs.
RESERVED_IDS = frozenset({DEVICES_LEVEL, LISTS_LEVEL, "centre", "center", "all", "site", "device"})


def device_topic_base(prefix: str, site_id: str, device_id: str) -> str:
    return f"{prefix}/{DEVICES_LEVEL}/{site_id}/{device_id}"


def device_topic(prefix: str, site_id: str, device_id: str, kind: str) -> str:
    return f"{device_topic_base(prefix, site_id, device_id)}/{kind}"


def site_devices_filter(prefix: str, site_id: str, kind: str = "#") -> str:
    """What the centre subscribes to for one site: every device's `kind` (`#`: everything)."""
    if kind == "#":
        return f"{prefix}/{DEVICES_LEVEL}/{site_id}/#"
    return f"{prefix}/{DEVICES_LEVEL}/{site_id}/+/{kind}"


def lists_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{LISTS_LEVEL}/{site_id}"


def broker_identity(site_id: str, device_id: str) -> str:
    """The certificate CN / MQTT user name the documented ACL expects of an appliance."""
    return f"{site_id}/{device_id}"


def reserved_id_problem(value: str) -> str | None:
    if value.lower() in RESERVED_IDS:
        return f"{value!r} is reserved (a level of the topic layout or a role): choose another id"
    return None
