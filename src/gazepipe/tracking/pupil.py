"""The pupil: the iris found as the darkest disc inside the eye opening, refined to sub-pixel."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from gazepipe.tracking.eye import EYE_WIDTH, Eye

# The iris radius as a share of the corner span (MediaPipe's irises on faces-wild: 0.19-0.23, median 0.21).
IRIS_RADIUS = 0.21
# Below this much visible eye opening inside the frame there is nothing to search.
MIN_VISIBLE = 0.6
# The iris must be this much darker than the sclera, in grey levels, to count as found.
MIN_CONTRAST = 8.0
MEAN_SHIFT_STEPS = 4


@dataclass(frozen=True)
class Pupil:
    """A pupil in crop coordinates, or the reason why there is none."""

    centre: tuple[float, float] | None
    confidence: float
    reason: str | None
    threshold: float | None  # the grey level that separates this eye's iris from its sclera on this frame


@cache
def _disc(radius: int) -> np.ndarray:
    size = 2 * radius + 1
    ys, xs = np.mgrid[0:size, 0:size] - radius
    return ((xs * xs + ys * ys) <= radius * radius).astype(np.float32)


def locate(eye: Eye, threshold: float | None) -> Pupil:
    """The iris centre in `eye`'s crop. `threshold` is the session's calibrated iris/sclera grey level (None
    before calibration): it weighs the pixels of the refinement; when lighting has changed so much that it no
    longer separates this frame's iris from its sclera, this frame's own level is used."""
    if eye.visible_share < MIN_VISIBLE:
        return Pupil(None, 0.0, "eye_outside_frame", None)
    mask = eye.polygon_mask()
    if mask.sum() < 10:
        return Pupil(None, 0.0, "eye_closed", None)
    crop = eye.crop.astype(np.float32)
    inside = crop[mask]
    sclera = float(np.percentile(inside, 90))
    darkness = np.where(mask, np.maximum(sclera - crop, 0.0), 0.0).astype(np.float32)

    radius = max(2, round(IRIS_RADIUS * EYE_WIDTH))
    disc = _disc(radius)
    # the dark mass a disc of iris size covers, centred at each pixel of the opening
    score = cv2.filter2D(darkness, -1, disc / disc.sum(), borderType=cv2.BORDER_CONSTANT)
    score[~mask] = -1.0
    peak_y, peak_x = (int(v) for v in np.unravel_index(int(np.argmax(score)), score.shape))

    iris_level = float(np.median(crop[(_disc_mask(crop.shape, peak_x, peak_y, radius)) & mask]))
    contrast = sclera - iris_level
    if contrast < MIN_CONTRAST:
        return Pupil(None, 0.0, "no_blob", None)
    observed = (sclera + iris_level) / 2.0
    level = observed if threshold is None or abs(threshold - observed) > contrast / 2.0 else threshold

    weights = np.where(mask, np.maximum(level - crop, 0.0), 0.0)
    cx, cy = float(peak_x), float(peak_y)
    ys, xs = np.mgrid[0:crop.shape[0], 0:crop.shape[1]]
    for _ in range(MEAN_SHIFT_STEPS):
        window = weights * (((xs - cx) ** 2 + (ys - cy) ** 2) <= (radius * 1.2) ** 2)
        total = float(window.sum())
        if total <= 0:
            return Pupil(None, 0.0, "no_blob", observed)
        cx, cy = float((window * xs).sum() / total), float((window * ys).sum() / total)
    confidence = float(np.clip(contrast / 40.0, 0.0, 1.0))
    return Pupil((cx, cy), confidence, None, observed)


def _disc_mask(shape: tuple[int, ...], x: int, y: int, radius: int) -> np.ndarray:
    ys, xs = np.ogrid[0:shape[0], 0:shape[1]]
    return ((xs - x) ** 2 + (ys - y) ** 2) <= radius * radius
