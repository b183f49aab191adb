"""The iris centre from the eye's appearance: a small convolutional regressor (the eye-state networks' trunk,
`convnet.trunk`, under a two-output head; NumPy only) over a window of the tracker's eye crop, trained on the
`tune` halves of `faces-helen-afw` and `faces-wild` (research use) with the gaze moved sideways, up and down,
by `benchmarks/train_pupil.py`; only its weights ship, in `pupil_net.npz`. Unlike the darkness fit it does not
need the iris to be the darkest thing in the eye: it was trained on light irises, lash lines and make-up."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

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
ORIGIN_X, ORIGIN_Y = ORIGIN.tolist()
UNIT = 8.0
# The network's offsets along the corner axis come out short of the true ones (a regressor's pull toward the mean
# of its targets): stretched by STRETCH about the window's centre.
STRETCH = 1.1


@cache
def weights() -> dict[str, np.ndarray]:
    """The network's parameters (`name` -> array) from WEIGHTS."""
    with np.load(WEIGHTS) as data:
        return {key: data[key] for key in data.files}


def window(crop: np.ndarray) -> np.ndarray:
    """The part of an eye crop the network reads."""
    return crop[WINDOW_TOP:WINDOW_TOP + WINDOW_HEIGHT, WINDOW_LEFT:WINDOW_LEFT + WINDOW_WIDTH]


def predict(params: dict[str, np.ndarray], windows: np.ndarray) -> np.ndarray:
    """The outputs for (N, WINDOW_HEIGHT, WINDOW_WIDTH) windows: (N, 2), the centre's offset from ORIGIN in
    UNITs; and nothing else is needed at run time."""
    hidden, _ = trunk(params, normalise(windows))
    return np.asarray(hidden @ params["w4"] + params["b4"])


def centres(eyes: Sequence[Eye]) -> list[tuple[float, float]]:
    """The iris centre in each eye's crop coordinates; the eyes go through the network as one batch (a face's
    two in one product cost 0.73 of two calls, with the one BLAS thread the workers run)."""
    offsets = predict(weights(), np.stack([window(eye.crop) for eye in eyes])) * UNIT
    return [(ORIGIN_X + STRETCH * dx, ORIGIN_Y + dy) for dx, dy in offsets.tolist()]
