"""The pupil stage and the ratios on real eyes that move: the `columbia-eyes` crops (64x64, true gaze known).

The eye contour is taken from the crop's geometry, not found in it: the crops are squares of 1.5 times the
68-point eye contour's box around the box's centre, so the corners lie at 1/6 and 5/6 of the width. Across, the
box is not centred on the corners: dlib's contour reaches further above the corner axis than below it, so the
contour put here is dlib's mean eye shape (SHAPE), placed with its box at the crop's centre; the crop then frames
the eye as the tracker's crops framed the eyes `pupil_net` was trained on. The contour is the same for every gaze
of an eye, so the pupil is measured alone, without the landmark fit's own errors, and `vertical_ratio` is nearly
a function of the pupil's y alone: its up/down order is about the pupil's. The 68-point model needs a whole face,
which a 64 px eye crop does not hold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import testdata

from gazepipe.tracking.eye import MEDIAN_UPPER_LID, Eye
from gazepipe.tracking.pupil import locate
from gazepipe.tracking.tracker import _ratios

SIZE = 64
# dlib's eye contour (its order: corner, two upper-lid points, corner, two lower-lid points) in units of the
# corner span from the corners' midpoint, y down: the median over the 9,856 eyes the tracker cut from the `tune`
# renders that trained `pupil_net` until session 8 (`train_pupil.py`'s cache; session 8's 15,466 give the same to
# two decimals), in their crops, which are aligned to the corner axis. Its box's centre lies 0.06 of the span
# above the corners.
SHAPE = np.array([(-0.5, 0.0), (-0.18, -MEDIAN_UPPER_LID), (0.18, -MEDIAN_UPPER_LID), (0.5, 0.0), (0.18, 0.09),
                  (-0.18, 0.09)])


def contour(size: int = SIZE) -> np.ndarray:
    """The six eye points in a crop of `size`: SHAPE scaled to the box's width (a third of the crop's) with
    its box centred in the crop."""
    span = size / 1.5
    box = (SHAPE.min(axis=0) + SHAPE.max(axis=0)) / 2.0
    return (SHAPE - box) * span + (size / 2.0 - 0.5)


Measured = list[tuple[testdata.GazeEye, np.ndarray | None, float | None]]


def measure(eyes: Iterable[testdata.GazeEye]) -> Measured:
    """Each crop's pupil (crop pixels) and `vertical_ratio`, or None where the pupil stage found none."""
    points = contour()
    out: Measured = []
    for gaze_eye in eyes:
        eye = Eye(testdata.read_grey(gaze_eye.file), points)
        pupil = locate(eye, None)
        if pupil.centre is None:
            out.append((gaze_eye, None, None))
            continue
        _, vertical = _ratios((eye, eye), [pupil, pupil])
        out.append((gaze_eye, eye.map_to_frame(np.array([pupil.centre]))[0], vertical))
    return out


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None when either side is constant."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def up_down_pairs(eyes: Iterable[testdata.GazeEye]) -> list[tuple[testdata.GazeEye, testdata.GazeEye]]:
    """The up/down pairs among `eyes`, in the order met: looking up and looking down (V = +10 and V = -10) with
    the same person, eye, head pose and H."""
    found: dict[tuple[int, str, int, int], dict[int, testdata.GazeEye]] = defaultdict(dict)
    for eye in eyes:
        if eye.vertical in (-10, 10):
            found[(eye.subject, eye.eye, eye.head, eye.horizontal)][eye.vertical] = eye
    return [(pair[10], pair[-10]) for pair in found.values() if len(pair) == 2]


def summarise(measured: Measured) -> dict[str, object]:
    """Per person, eye and head pose: the rank correlation of pupil x with the sideways angle (over all its
    crops with a pupil); over the `up_down_pairs`: the share whose pupil y (and `vertical_ratio`) is smaller
    looking up. A pair without both pupils counts as not ordered; ties too."""
    groups: dict[tuple[int, str, int], list[tuple[int, float]]] = defaultdict(list)
    answers: dict[Path, tuple[float, float] | None] = {}
    for eye, pupil, vertical in measured:
        answers[eye.file] = None if pupil is None or vertical is None else (float(pupil[1]), vertical)
        if pupil is not None:
            groups[(eye.subject, eye.eye, eye.head)].append((eye.horizontal, float(pupil[0])))
    found = sum(answer is not None for answer in answers.values())
    correlations = {key: spearman(*np.array(values).T) for key, values in groups.items() if len(values) >= 3}
    valid = [c for c in correlations.values() if c is not None]
    complete = [(answers[up.file], answers[down.file]) for up, down in up_down_pairs(e for e, _, _ in measured)]
    y_right = [up is not None and down is not None and up[0] < down[0] for up, down in complete]
    v_right = [up is not None and down is not None and up[1] < down[1] for up, down in complete]
    return {
        "n": len(measured),
        "pupil_found": found / max(len(measured), 1),
        "groups": len(correlations),
        "people": len({key[0] for key in correlations}),
        "x_rank_median": float(np.median(valid)) if valid else None,
        "x_rank_p10": float(np.percentile(valid, 10)) if valid else None,
        "pairs": len(complete),
        "y_pairs_right": float(np.mean(y_right)) if y_right else None,
        "v_pairs_right": float(np.mean(v_right)) if v_right else None,
        "per_group": {f"{s}/{e}/{h}": c for (s, e, h), c in sorted(correlations.items())},
    }
