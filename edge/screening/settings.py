"""Screening configuration: how a lane turns thermal frames into one temperature decision per passenger.

Every field has a safe default, so an empty `[screening]` table is a working low-resolution lane:
skin segmentation, constant skin→core offset, absolute 37.3 °C threshold, blackbody disabled.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from drivers.strict import StrictModel
from edge.screening.decision import DecisionSettings
from edge.screening.operating_points import check_threshold

# cold_arrivals: a face maximum below this is too cold to clear: wait indoors and re-measure. A face warmed
# up indoors reads about 35.5 °C and above at its inner canthi; a febrile face cooled on a platform can read
# 35.2 and still look smooth (no gradient to betray it).
COLD_ARRIVALS_COLD_SKIN_C = 35.5


class ReferenceSettings(StrictModel):
    """Extended-area temperature reference source (ETRS, "blackbody") in the thermal field of view."""

    enabled: bool = Field(
        default=False, description="Correct every frame by the blackbody and lock out when it fails."
    )
    roi: tuple[int, int, int, int] = Field(
        default=(0, 0, 2, 2),
        description="Blackbody region in thermal pixels: x0, y0, x1, y1 (x1, y1 exclusive).",
    )
    set_point_c: float = Field(default=35.0, ge=20.0, le=45.0, description="Blackbody set temperature, °C.")
    max_spread_c: float = Field(
        default=0.6,
        gt=0.0,
        le=10.0,
        description="10–90 % spread inside the ROI above this: moved or occluded, °C.",
    )
    max_offset_c: float = Field(
        default=3.0,
        gt=0.0,
        le=10.0,
        description="A larger correction means the reference is not in the ROI, °C.",
    )
    window_frames: int = Field(
        default=16, ge=2, le=1000, description="Frames over which stability is judged."
    )
    max_step_c: float = Field(
        default=0.5,
        gt=0.0,
        le=5.0,
        description="A jump of the ROI reading between frames above this: unstable, °C.",
    )
    max_jitter_c: float = Field(
        default=0.15,
        gt=0.0,
        le=5.0,
        description="Frame-to-frame standard deviation above this: unstable, °C.",
    )
    drift_log_step_c: float = Field(
        default=0.2,
        gt=0.0,
        le=5.0,
        description="Log the blackbody offset each time it drifts this much further from its first value, °C.",
    )


class RegistrationSettings(StrictModel):
    """Visible→thermal mapping, calibrated by a technician (e.g. heated checkerboard)."""

    homography: tuple[tuple[float, float, float], ...] = Field(
        default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        description="3×3 matrix mapping visible pixel (x, y, 1) to thermal pixel coordinates.",
    )

    @model_validator(mode="after")
    def _three_by_three(self) -> RegistrationSettings:
        if len(self.homography) != 3:
            raise ValueError("homography must have three rows of three numbers")
        return self


class ScreeningSettings(StrictModel):
    profile: Literal["standard", "cold_arrivals"] = Field(
        default="standard",
        description="standard: indoor arrivals at room temperature; cold_arrivals: passengers come off cold"
        " platforms (adaptive baseline by default, a cold face is re-measured, never normal; docs/install.md).",
    )
    threshold_c: float = Field(
        default=37.3,
        ge=34.0,
        le=39.0,
        description="Core-temperature alarm threshold, °C (IEC 80601-2-59: 34–39). With the trained"
        " estimator it must be a row of the estimator's operating-point table: 36.5–38.0 in 0.1 steps.",
    )
    skin_to_core_offset_c: float = Field(
        default=1.3,
        ge=0.0,
        le=4.0,
        description="Constant added to the face maximum where the trained estimator does not apply, °C.",
    )
    face_min_c: float = Field(
        default=30.0, ge=20.0, le=40.0, description="Pixels at or above this temperature count as skin, °C."
    )
    face_min_pixels: int = Field(
        default=4, ge=1, description="Smallest warm region that counts as a face, pixels."
    )
    face_max_c: float = Field(
        default=41.5,
        ge=38.0,
        le=50.0,
        description="Pixels above this are not skin (a hot drink, a lamp, a heater) and neither are the"
        " mixed pixels around them, °C.",
    )
    background_static_s: float = Field(
        default=20.0,
        ge=0.0,
        le=3600.0,
        description="Skin-warm pixels unchanged this long are background (lamp, heater, sunlit wall), not"
        " faces; 0 disables, s.",
    )
    min_distance_m: float = Field(
        default=0.2,
        gt=0.05,
        le=5.0,
        description="The closest a face comes to the camera: a warm region wider than a face at this"
        " distance is not one face, m.",
    )
    passenger_gap_s: float = Field(
        default=0.4,
        gt=0.0,
        le=10.0,
        description="A face absent this long ends the passenger's measurement, s.",
    )

    # Face finding.
    face_finder: Literal["auto", "skin", "thermal-detector", "visible"] = Field(
        default="auto",
        description="auto: RetinaFace on the visible frame when one is supplied, else skin segmentation;"
        " skin: segmentation of skin-warm pixels (any resolution, the only choice below ~80×60);"
        " thermal-detector: RetinaFace on the normalised thermal image (unreliable, see docs);"
        " visible: RetinaFace on the visible frame mapped by the homography.",
    )
    detector_every_n: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Run the detector on every Nth frame; in between, boxes follow the skin.",
    )
    detector_max_side: int = Field(
        default=320,
        ge=64,
        le=2048,
        description="Frames are resized to this long side before detection, pixels.",
    )
    detector_min_score: float = Field(
        default=0.8, gt=0.0, lt=1.0, description="RetinaFace face score cut-off."
    )
    registration: RegistrationSettings = Field(
        default=RegistrationSettings(), description="Visible→thermal homography."
    )

    # Geometry and quality gates.
    horizontal_fov_deg: float = Field(
        default=56.0, gt=5.0, lt=180.0, description="Thermal lens horizontal field of view, degrees."
    )
    face_width_m: float = Field(
        default=0.15, gt=0.05, lt=0.3, description="Assumed face width for distance, m."
    )
    max_distance_m: float = Field(
        default=3.0, gt=0.1, le=20.0, description="Faces farther than this are too far to measure, m."
    )
    min_face_width_px: float = Field(
        default=1.0, ge=1.0, description="Narrower faces are too small to measure, px."
    )
    measurement_zone: tuple[float, float, float, float] = Field(
        default=(0.0, 0.0, 1.0, 1.0),
        description="Fractions of the frame (x0, y0, x1, y1) where faces are measured; one face at a time.",
    )
    cold_skin_c: float = Field(
        default=33.5,
        ge=25.0,
        le=36.0,
        description="Face maximum below this: skin too cold to judge, re-measure, °C.",
    )
    warm_skin_c: float = Field(
        default=40.5,
        ge=37.0,
        le=45.0,
        description="Face maximum above this: skin too warm to judge, re-measure, °C.",
    )
    cold_gradient_c: float = Field(
        default=2.0,
        gt=0.0,
        le=10.0,
        description="cold_arrivals profile: forehead centre this much below the inner canthi means a"
        " cold-exposed face: wait and re-measure, °C.",
    )
    glasses_drop_c: float = Field(
        default=1.5,
        gt=0.0,
        le=10.0,
        description="Canthi this much colder than the face maximum: glasses, °C.",
    )
    mask_above_ambient_c: float = Field(
        default=4.0, gt=0.0, le=20.0, description="Mouth region within this of ambient: mask or covering, °C."
    )
    verdict_frames: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Decide a passenger's temperature once this many clean frames are in, while they are"
        " still in view (the lane display and alarm act on it; the alert still leaves after the card join);"
        " 0: only when the face has gone for passenger_gap_s.",
    )
    best_k_frames: int = Field(
        default=5, ge=1, le=100, description="A passenger is measured on their best K frames."
    )
    ffc_uniform_std_c: float = Field(
        default=0.02,
        ge=0.0,
        le=2.0,
        description="A frame flatter than this (standard deviation) is the closed shutter of a flat-field"
        " correction; an empty room at ambient still shows more structure and noise than this, °C.",
    )
    ffc_settle_s: float = Field(
        default=2.0,
        ge=0.0,
        le=30.0,
        description="Frames this soon after a flat-field correction are not measured, s.",
    )
    ffc_max_s: float = Field(
        default=3.0,
        gt=0.0,
        le=30.0,
        description="Flat frames for longer than this are not a shutter (noiseless source, dead sensor), s.",
    )

    warm_up_s: float | None = Field(
        default=None,
        ge=0.0,
        le=7200.0,
        description="No decisions this long after the sensor powers on (default: per sensor type,"
        " GY-MCU90640 300, Lepton 900, GY-MCU8833 60), s.",
    )
    emissivity: float = Field(
        default=0.98,
        ge=0.9,
        le=1.0,
        description="Skin emissivity applied to radiometric cameras (Lepton) that report ε = 1 themselves.",
    )
    reflected_c: float | None = Field(
        default=None,
        ge=-20.0,
        le=60.0,
        description="Reflected (background) temperature for the emissivity correction (default: ambient), °C.",
    )

    # Estimation and decision.
    estimator: Literal["auto", "model", "offset"] = Field(
        default="auto",
        description="model: the trained ONNX estimator; offset: face max + skin_to_core_offset_c;"
        " auto: the model for faces at least model_min_face_px wide, the offset below.",
    )
    model_min_face_px: float = Field(
        default=16.0,
        ge=1.0,
        description="Narrower faces mix with background and read low; the model never saw such faces, px.",
    )
    estimator_camera: Literal["FLIR", "ICI"] = Field(
        default="FLIR", description="Which clinical camera's estimator profile to run."
    )
    estimator_path: str | None = Field(
        default=None,
        description="Override the estimator .onnx path (default: the repository's models/ directory).",
    )
    ambient_source: Literal["frame", "configured"] = Field(
        default="configured",
        description="frame: the sensor-reported ambient when present; configured: always ambient_c"
        " (thermopile die temperatures read several °C above the room).",
    )
    ambient_c: float = Field(
        default=24.0, ge=-10.0, le=50.0, description="Room temperature when not measured, °C."
    )
    core_offset_c: float = Field(
        default=0.0,
        ge=-3.0,
        le=3.0,
        description="Site offset against a clinical thermometer (`checkpoint-edge calibrate offset`), added"
        " to every core estimate before the decision, °C.",
    )
    decision: DecisionSettings = Field(default=DecisionSettings(), description="Decision policy.")
    reference: ReferenceSettings = Field(default=ReferenceSettings(), description="Blackbody (ETRS).")

    @model_validator(mode="after")
    def _threshold_has_an_operating_point(self) -> ScreeningSettings:
        # The trained estimator decides with the margin of this threshold's row in its table (beside the
        # .onnx); a threshold without a row would have no validated operating point.
        if self.estimator != "offset":
            check_threshold(self.threshold_c, self.estimator_camera, self.estimator_path)
        return self

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        """cold_arrivals changes defaults only: a key the site set explicitly always wins."""
        if not isinstance(data, dict) or data.get("profile") != "cold_arrivals":
            return data
        data = dict(data)
        decision = data.get("decision", {})
        if isinstance(decision, dict) and "policy" not in decision:
            # Cold-skinned passengers feed the baseline, so the alarm follows the crowd off the platform.
            data["decision"] = {**decision, "policy": "adaptive"}
        data.setdefault("cold_skin_c", COLD_ARRIVALS_COLD_SKIN_C)
        data.setdefault("ambient_source", "frame")  # a room sensor, where the device has one
        return data
