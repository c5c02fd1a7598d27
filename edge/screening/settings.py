"""Screening configuration: how a lane turns thermal frames into one temperature decision per passenger."""

from __future__ import annotations

from pydantic import Field

from edge.strict import StrictModel


class ScreeningSettings(StrictModel):
    threshold_c: float = Field(
        37.3, ge=34.0, le=39.0, description="Core-temperature alarm threshold, °C (IEC 80601-2-59: 34–39)."
    )
    skin_to_core_offset_c: float = Field(
        1.3, ge=0.0, le=4.0, description="Constant added to the face maximum to estimate core temperature, °C."
    )
    face_min_c: float = Field(
        30.0, ge=20.0, le=40.0, description="Pixels at or above this temperature count as skin, °C."
    )
    face_min_pixels: int = Field(4, ge=1, description="Smallest warm region that counts as a face, pixels.")
    passenger_gap_s: float = Field(
        0.4, gt=0.0, le=10.0, description="A face absent this long ends the passenger's measurement, s."
    )
