"""Visible→thermal registration from point pairs: a homography, its residual, and a refusal above a limit.

The residual is the RMS distance, in thermal pixels, between each thermal point and its visible point mapped
through the fitted homography. Above `max_residual_px` (default 1.0 px: a face box off by more than a pixel
at 32×24 misplaces the canthi) the fit is refused: a pair is mistyped, or the targets were not matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.calibration.number_rows import parse_number_rows
from edge.screening.registration import fit_homography, map_points

DEFAULT_MAX_RESIDUAL_PX = 1.0
MAX_PAIRS = 200


class RegistrationRefused(ValueError):
    pass


@dataclass(frozen=True)
class RegistrationResult:
    homography: tuple[tuple[float, float, float], ...]
    rms_residual_px: float
    max_residual_px: float
    pairs: int

    def describe(self) -> str:
        return (
            f"homography from {self.pairs} point pairs: RMS residual {self.rms_residual_px:.3f} px, "
            f"worst pair {self.max_residual_px:.3f} px"
        )


def read_pairs(path: Path) -> np.ndarray:
    return parse_pairs(path.read_text(encoding="utf-8"), str(path))


def parse_pairs(text: str, source: str) -> np.ndarray:
    """CSV lines `visible_x, visible_y, thermal_x, thermal_y` (a header line and # comments allowed)."""
    return parse_number_rows(text, source, 4, "point pairs", MAX_PAIRS)


def calibrate_registration(
    pairs: np.ndarray, max_residual_px: float = DEFAULT_MAX_RESIDUAL_PX
) -> RegistrationResult:
    pairs = np.asarray(pairs, dtype=np.float64).reshape(-1, 4)
    if len(pairs) < 6:
        # Four pairs fit any homography exactly (zero residual proves nothing); two spare pairs check it.
        raise RegistrationRefused(f"need at least 6 point pairs (4 fit exactly, 2 check), got {len(pairs)}")
    visible, thermal = pairs[:, :2], pairs[:, 2:]
    try:
        matrix = fit_homography(visible, thermal)
    except ValueError as exc:
        raise RegistrationRefused(str(exc)) from None
    errors = np.linalg.norm(map_points(matrix, visible) - thermal, axis=1)
    rms, worst = float(np.sqrt(np.mean(errors**2))), float(errors.max())
    if rms > max_residual_px:
        raise RegistrationRefused(
            f"RMS residual {rms:.3f} px exceeds the limit {max_residual_px:.3f} px "
            f"(worst pair #{int(errors.argmax()) + 1}: {worst:.3f} px): check the pairs, nothing written"
        )
    matrix = matrix / matrix[2, 2]
    rows = tuple(tuple(round(float(v), 9) for v in row) for row in matrix)
    return RegistrationResult(rows, round(rms, 4), round(worst, 4), len(pairs))  # type: ignore[arg-type]
