"""Eye state: open or closed, from the eye's appearance, unless its landmark contour is wide open.

The appearance classifier is an ensemble of small convolutional networks (two 3x3 convolutions with max
pooling, one hidden layer; NumPy only) over a 24x24 eye patch, trained on CEW ("Closed Eyes in the Wild") and
on narrow and smiling open eyes of `faces-helen-afw` (both research use) with `benchmarks/train_eye_state.py`;
only its weights ship, in `eye_state.npz`. A flat contour alone never says "closed": narrow open eyes have
one too (dlib's aspect ratio is under 0.12 on some open eyes of faces-helen-afw)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from gazepipe.tracking.convnet import Activations, normalise, trunk
from gazepipe.tracking.eye import Eye

PATCH = 24
# The patch is a square centred on the eye, aligned with the corner axis, this many corner spans wide: the
# framing of CEW's patches.
PATCH_SPAN = 1.5
WEIGHTS = Path(__file__).with_name("eye_state.npz")
# From this landmark aspect ratio up the contour alone says "open" (the classifier is not run).
OPEN_ASPECT_RATIO = 0.32
# Closed above this probability (for a face: both eyes' mean). Chosen on the tune halves: with the networks
# trained on narrow open eyes too, 0.35-0.4 caught the most closed CEW eyes pasted in a face (92.6 % against
# 90.9 % at 0.5) with no open faces-helen-afw eye answered closed.
CLOSED_ABOVE = 0.4
# Some people's open eyes look half closed to the classifier (narrow or smiling eyes it was not trained on score
# 0.4-0.6 and are answered closed). A session learns its own: its closure threshold is the lower quartile of
# its recent closed scores (eyes are open most of the time) plus SESSION_MARGIN, never below CLOSED_ABOVE nor
# above MAX_CLOSED_ABOVE. Chosen on the tune halves: closed CEW eyes pasted into narrow-eyed faces scored more
# than 0.3 above the face's own open eyes on 90-97 % of patches for 6 of 8 faces. The landmark aspect ratio
# relative to the session's was tried first and dropped: pasted closed eyes kept 75-90 % of a narrow eye's.
SESSION_MARGIN = 0.3
MAX_CLOSED_ABOVE = 0.9


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, Activations]:
    """Logits of "closed" for normalised patches, and the activations training needs. `params` may stack
    networks on a leading axis (`ensemble`): the logits are then one row per network."""
    hidden, acts = trunk(params, x)
    logits = (hidden @ params["w4"][..., :, None])[..., 0] + params["b4"]
    return logits, acts


@cache
def load_weights() -> list[dict[str, np.ndarray]]:
    """The ensemble's networks: arrays named `<network>.<parameter>` in WEIGHTS."""
    networks: dict[str, dict[str, np.ndarray]] = {}
    with np.load(WEIGHTS) as data:
        for key in data.files:
            network, name = key.split(".")
            networks.setdefault(network, {})[name] = data[key]
    return [networks[k] for k in sorted(networks)]


@cache
def ensemble() -> dict[str, np.ndarray]:
    """The ensemble's networks stacked on a leading axis, for `forward` to run them as one (the same floats as
    one network at a time: each network's products keep their shapes)."""
    networks = load_weights()
    return {name: np.stack([params[name] for params in networks]) for name in networks[0]}


def closed_probabilities(patches: np.ndarray) -> list[float]:
    """The appearance classifier's probability that each (N, 24, 24) eye patch shows a closed eye (the
    ensemble's mean logit)."""
    logits = forward(ensemble(), normalise(patches))[0]
    mean = logits.sum(axis=0) / len(logits)
    probabilities: list[float] = (1.0 / (1.0 + np.exp(-mean))).tolist()
    return probabilities


def session_closed_above(scores: list[float]) -> float:
    """The closure threshold for a session whose recent frames had these closed scores (see SESSION_MARGIN)."""
    quartile = sorted(scores)[len(scores) // 4]
    return max(CLOSED_ABOVE, min(quartile + SESSION_MARGIN, MAX_CLOSED_ABOVE))


def patch_is_closed(patch: np.ndarray) -> bool:
    """The appearance decision alone, for patches without landmarks (the benchmark's CEW patches)."""
    return closed_probabilities(patch[None])[0] > CLOSED_ABOVE


def eye_patch(eye: Eye) -> np.ndarray:
    """The eye cut from its crop as a 24x24 patch framed like CEW's."""
    left, right = eye.crop_points[0], eye.crop_points[3]
    centre = (left + right) / 2  # the corners' mean, without np.mean's Python overhead (the same floats)
    side = PATCH_SPAN * right[0] - PATCH_SPAN * left[0]
    scale = PATCH / side
    to_patch = np.array([[scale, 0.0, PATCH / 2 - scale * centre[0]], [0.0, scale, PATCH / 2 - scale * centre[1]]])
    return cv2.warpAffine(eye.crop, to_patch, (PATCH, PATCH), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def openness(eye: Eye, closed: float) -> float:
    """0 for a closed eye, 1 for a wide open one: the landmark aspect ratio (0.3 and more is wide open),
    weighed by the appearance's confidence that the eye is open (`closed` from `closed_scores`)."""
    return float(min(1.0, eye.aspect_ratio / 0.3) * (1.0 - closed))


def closed_scores(eyes: tuple[Eye, ...]) -> list[float]:
    """How surely each eye is closed, 0..1: 0 for a wide-open contour, else the appearance classifier's
    probability (the eyes that need it in one batch)."""
    scores = [0.0] * len(eyes)
    unsure = [i for i, e in enumerate(eyes) if e.aspect_ratio < OPEN_ASPECT_RATIO]
    if unsure:
        for i, p in zip(unsure, closed_probabilities(np.stack([eye_patch(eyes[i]) for i in unsure])), strict=True):
            scores[i] = p
    return scores
