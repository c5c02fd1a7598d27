"""Every operator-facing text of the lane display, as catalogue msgids (edge.i18n translates them).

Outcome codes, guidance and faults arrive as English machine strings from the rooms that make them; this is
the one place that maps them to what a screen says. A hold never says why: the public can see the screen.
"""

from __future__ import annotations

from edge.i18n import N_

# outcome → (style, headline). Styles are CSS classes on the page; a hold looks like any "wait" outcome.
OUTCOMES: dict[str, tuple[str, str]] = {
    "medical_referral": ("alarm", N_("Temperature above the limit: please see the medical staff")),
    "guide_to_service_point": ("wait", N_("Please go to the service point")),
    "hold": ("wait", N_("Please wait for staff")),
    "recheck": ("recheck", N_("Please measure again")),
    "recheck_document": ("recheck", N_("Please scan your ID document again")),
    "clear": ("clear", N_("Temperature normal: please proceed")),
    "idle": ("idle", N_("Waiting for the next passenger")),
    "not_screened": ("idle", N_("Please proceed")),
}

# The screener's guidance (edge/screening) → what the screen says.
GUIDANCE: dict[str, str] = {
    "one person at a time": N_("One person at a time, please"),
    "re-measure": N_("Please measure again"),
    "step closer": N_("Please step closer"),
    "face the camera": N_("Please face the camera"),
    "remove glasses": N_("Please remove your glasses"),
    "screening locked out: check the blackbody": N_("Screening paused: check the blackbody"),
    "refer to a clinical thermometer": N_("Please measure again with a clinical thermometer"),
    "measure again": N_("Please measure again"),
    "wait and re-measure": N_("Please wait a moment and measure again"),
    "screening locked out: sensor warming up": N_("Screening paused: the camera is warming up"),
    "screening locked out: camera too cold or too hot": N_(
        "Screening paused: the camera is too cold or too hot"
    ),
    "temperature not screened at this lane": N_("Temperature is not screened at this lane"),
}

# Lane faults, by the kind of device down or the screener's state.
FAULTS: dict[str, str] = {
    "thermal": N_("Thermal camera not connected"),
    "idscan": N_("ID reader not connected"),
    "camera": N_("Camera not connected"),
    "alarm": N_("Alarm lamp not working"),
    "warm_up": N_("Warming up: screening starts shortly"),
    "lockout": N_("Screening paused: check the blackbody"),
}

# The page's own labels, sent to it as one JSON object (the page has no text of its own).
UI: dict[str, str] = {
    "title": N_("Lane {lane}"),
    "acknowledge": N_("Acknowledge"),
    "acknowledged": N_("Acknowledged"),
    "pending_alarm": N_("Unacknowledged alarm"),
    "temperature": N_("Temperature"),
    "faults": N_("Lane faults"),
    "disconnected": N_("Connection lost, reconnecting…"),
    "sound_on": N_("Sound on"),
    "sound_off": N_("Sound off"),
    "language": N_("Language"),
    "index_title": N_("Operator displays"),
    "unknown_lane": N_("No such lane"),
}

TEMPERATURE = N_("{value:.1f} °C")
