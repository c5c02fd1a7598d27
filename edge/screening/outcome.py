"""The faults that make a frame unusable, the advice each fault gives the passenger, and which outcomes
stay at the lane as guidance (`PassengerMeasurement.lane_guidance`, edge/records.py)."""

from __future__ import annotations

from edge.screening.envelope import ADVICE_PRESENCE_ONLY
from edge.screening.sensor_guard import FAULT_BLACKBODY, FAULT_FFC, FAULT_SHUTTER_LOCKOUT, FAULT_WARM_UP

# Faults: why a frame cannot be used. Also the passenger's reasons when no frame was usable.
FAULT_MULTIPLE = "more than one face in the measurement zone"
FAULT_SMALL = "face too small"
FAULT_FAR = "face too far"
FAULT_NOT_FRONTAL = "face not frontal"
FAULT_GLASSES = "glasses hide the inner canthi"
FAULT_COLD_EXPOSED = "face cold-exposed (forehead far below the inner canthi)"

ADVICE = {
    FAULT_MULTIPLE: "one person at a time",
    FAULT_FFC: "re-measure",
    FAULT_SMALL: "step closer",
    FAULT_FAR: "step closer",
    FAULT_NOT_FRONTAL: "face the camera",
    FAULT_GLASSES: "remove glasses",
    FAULT_BLACKBODY: "screening locked out: check the blackbody",
    FAULT_WARM_UP: "screening locked out: sensor warming up",
    FAULT_SHUTTER_LOCKOUT: "screening locked out: camera too cold or too hot",
    FAULT_COLD_EXPOSED: "wait and re-measure",
}
# Advice that keeps the passenger at the lane (guidance): the outcome is counted in statistics but not sent
# to the centre as an alert (docs/screening.md "What leaves the lane").
LANE_GUIDANCE = frozenset(
    {
        "step closer",
        "face the camera",
        "remove glasses",
        "one person at a time",
        "wait and re-measure",
        "re-measure",
        ADVICE_PRESENCE_ONLY,
    }
)
