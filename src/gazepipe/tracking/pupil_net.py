"""The iris centre from the eye's appearance: two small convolutional regressors (the eye-state networks' trunk,
`convnet.trunk`, under a two-output head; NumPy only) over windows of the tracker's eye crop, the first over a
fixed window of the eye, the second over one re-centred on the first's estimate; trained on the `tune` halves of
`faces-helen-afw` and `faces-wild` (research use) with the gaze moved sideways, up and down, by
`benchmarks/train_pupil.py`; only their weights ship, in `pupil_net.npz`. Unlike the darkness fit they do not
need the iris to be the darkest thing in the eye: they were trained on light irises, lash lines and make-up."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from gazepipe.tracking.convnet import normalise, trunk
from gazepipe.tracking.eye import EYE_WIDTH, HALF_HEIGHT, MARGIN_X, Eye

WEIGHTS = Path(__file__).with_name("pupil_net.npz")
# The window the network sees: the corners' span and a little beside them, and the opening's height with room
# for an iris moved up or down (crop pixels; the crop's own size follows from eye.py's constants).
WINDOW_WIDTH = 48
WINDOW_HEIGHT = 24
WINDOW_LEFT = round(EYE_WIDTH * (1 + 2 * MARGIN_X) - WINDOW_WIDTH) // 2
WINDOW_TOP = round(2 * HALF_HEIGHT * EYE_WIDTH - WINDOW_HEIGHT) // 2
# The window's centre in crop coordinates, and the crop pixels per unit of the network's outputs.
ORIGIN = np.array([WINDOW_LEFT + (WINDOW_WIDTH - 1) / 2, WINDOW_TOP + (WINDOW_HEIGHT - 1) / 2])
ORIGIN_X = float(ORIGIN[0])
UNIT = 8.0
# The second pass's window, centred on the first pass's estimate (sub-pixel): the iris and the sclera beside it.
FINE_WIDTH = 32
FINE_HEIGHT = 24
# The offsets along the corner axis come out short of the true ones (a regressor's pull toward the mean of its
# targets, which the second pass lessens): stretched by STRETCH about the first window's centre.
STRETCH = 1.1
# The second pass's parameters in WEIGHTS: the first's names with this prefix.
FINE = "fine."

Nets = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]


@cache
def weights() -> Nets:
    """The two passes' parameters (`name` -> array) from WEIGHTS, where the second's names begin with FINE."""
    with np.load(WEIGHTS) as data:
        return ({key: data[key] for key in data.files if not key.startswith(FINE)},
                {key.removeprefix(FINE): data[key] for key in data.files if key.startswith(FINE)})


def window(crop: np.ndarray) -> np.ndarray:
    """The part of an eye crop the first pass reads."""
    return crop[WINDOW_TOP:WINDOW_TOP + WINDOW_HEIGHT, WINDOW_LEFT:WINDOW_LEFT + WINDOW_WIDTH]


def predict(params: dict[str, np.ndarray], windows: np.ndarray) -> np.ndarray:
    """One network's outputs for (N, height, width) windows: (N, 2), the centre's offset from the window's
    centre in UNITs."""
    hidden, _ = trunk(params, normalise(windows))
    return np.asarray(hidden @ params["w4"] + params["b4"])


def first_pass(params: dict[str, np.ndarray], crops: Sequence[np.ndarray]) -> np.ndarray:
    """The first network's iris centres (N, 2) in the crops' coordinates, from the fixed window."""
    return predict(params, np.stack([window(crop) for crop in crops])) * UNIT + ORIGIN


def estimate(nets: Nets, crops: Sequence[np.ndarray]) -> np.ndarray:
    """The iris centres (N, 2) in the crops' coordinates: the `first_pass`, corrected by the second pass over a
    window re-centred on its estimate (a single regressor shrinks its offsets toward its window's centre; one
    over a window near the iris has only a small offset left to find)."""
    found = first_pass(nets[0], crops)
    size = (FINE_WIDTH, FINE_HEIGHT)
    fine = np.stack([cv2.getRectSubPix(crop, size, (x, y)) for crop, (x, y) in zip(crops, found.tolist(), strict=True)])
    return found + predict(nets[1], fine) * UNIT


def centres(eyes: Sequence[Eye]) -> list[tuple[float, float]]:
    """The iris centre in each eye's crop coordinates; the eyes go through each pass as one batch (a face's
    two in one product cost 0.73 of two calls, with the one BLAS thread the workers run)."""
    found = estimate(weights(), [eye.crop for eye in eyes])
    return [(ORIGIN_X + STRETCH * (x - ORIGIN_X), y) for x, y in found.tolist()]
