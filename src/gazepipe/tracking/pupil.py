"""The pupil: the iris found as the darkest disc inside the eye opening, refined to sub-pixel by fitting
discs to the pixels darker and brighter than the eye's threshold. Where the iris lies across the eye,
darkness just under the upper lid counts less: lashes and the lid's shadow are dark there. A learned cue
(`pupil_net`, from the eye's appearance) takes over where the two disagree and gives the height, and their
disagreement lowers the confidence."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

import cv2
import numpy as np

from gazepipe.tracking import pupil_net
from gazepipe.tracking.eye import EYE_WIDTH, Eye

# The radius of the iris's dark core as a share of dlib's corner span, and the whole iris's radius as a
# multiple of it (tuned on the `tune` half of faces-wild; MediaPipe's irises are 0.21 of its own corner span).
IRIS_RADIUS = 0.15
ACROSS_SCALE = 1.3
# Below this share of the eye opening inside the frame there is nothing to search.
MIN_VISIBLE = 0.6
# The iris must be this much darker than the sclera, in grey levels, to count as found.
MIN_CONTRAST = 8.0
# The threshold between iris and sclera, as a share of the way from the iris's median grey to the sclera's:
# low, so that the dark eyelid line above the iris stays out.
LEVEL = 0.3
# Contrast (grey levels) at which the confidence saturates.
FULL_CONTRAST = 40.0
# The upper lid's lashes and shadow darken the top of the opening, most toward the outer corner, and pulled the
# iris outward. For the search and the across fit, a pixel's darkness counts from nothing at the upper lid to
# fully at this share of the opening below it (tuned on the `tune` half of faces-wild: 0.35-1.0 did about
# equally well). Up and down keeps the plain fit: weighted, clean irises moved down too.
LID_SHADOW = 0.5
# The iris's radius out to its edge (the limbus; the discs above cover its darker inside) as a share of dlib's
# corner span: MediaPipe's iris radius over dlib's corner span, mean over the `tune` half of faces-wild (the
# human iris is about 12 mm across, the eye opening about 25-30 mm wide).
LIMBUS_RADIUS = 0.235
# The limbus (the iris's edge) refines the across fit by up to this many pixels, on arcs this many degrees either
# side of horizontal (the lids hide the rest of it).
LIMBUS_REACH = 2
LIMBUS_ARC = 50.0
# The limbus is the iris's edge against the sclera: an edge counts only where, LIMBUS_SIDE pixels outward, the eye
# is at least LIMBUS_SCLERA of the way from the iris's grey to the sclera's, once bright spots narrower than
# LIMBUS_OPEN pixels (catchlights) are opened away. The edges of a light iris's pupil, of a catchlight or of a
# shaded corner are not the limbus, and pushed the centre on by up to the whole reach.
LIMBUS_SCLERA = 0.5
LIMBUS_SIDE = 2
LIMBUS_OPEN = 5
# The learned cue (`pupil_net`) takes over where it lies more than NET_APART crop pixels from the fit, and
# otherwise counts NET_SHARE of the centre (chosen on held-out `tune` photos: 1.5-3 px and 0.3-0.7 gave within
# half a point of each other, the cue alone 0.2 point less). The confidence is the fit's, doubled and capped at 1
# (alone it was tuned when it was the only cue), times the cues' agreement, which falls from 1 to 0 as they part
# by AGREE_FREE to AGREE_FREE + DISAGREE pixels (chosen there too, by how well it ranks the eyes' errors).
NET_APART = 2.0
NET_SHARE = 0.7
# Up and down, the cue's height counts at least NET_Y_SHARE: on real eyes moving up and down (the `columbia-eyes`
# tune people) and on the held-out `tune` renders it orders the moves better than the blend (the fit's height
# barely follows the iris when the lids clip it).
NET_Y_SHARE = 1.0
FIT_WEIGHT = 2.0
AGREE_FREE = 1.0
DISAGREE = 6.0
_SQUARE_3 = np.ones((3, 3), np.uint8)
_SQUARE_OPEN = np.ones((LIMBUS_OPEN, LIMBUS_OPEN), np.uint8)


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


@cache
def _area(radius: int) -> np.float32:
    return _disc(radius).sum()


@cache
def _disc_within(radius: int) -> np.ndarray:
    """The disc as a bool array in a square one pixel wider on each side."""
    return np.pad(_disc(radius) > 0, 1)


OUTSIDE_FRAME = Pupil(None, 0.0, "eye_outside_frame", None)


def searched(eye: Eye) -> bool:
    """Whether `locate` searches `eye` for its pupil: at least MIN_VISIBLE of its opening lies inside the frame."""
    return eye.visible_share >= MIN_VISIBLE


def locate(eye: Eye, threshold: float | None, learned: tuple[float, float] | None = None) -> Pupil:
    """The iris centre in `eye`'s crop. `threshold` is the session's calibrated iris/sclera grey level (None
    before calibration); when lighting has changed so much that it no longer separates this frame's iris from
    its sclera, this frame's own level is used. `learned` is `pupil_net`'s centre for the eye, if already
    computed (the tracker runs both eyes through it at once)."""
    if not searched(eye):
        return OUTSIDE_FRAME
    mask = eye.polygon_mask
    crop = eye.crop.astype(np.float32)
    # Every per-pixel step below runs only where it can matter: on the opening's box (the weights are 0 outside
    # it, as the opening makes them), or on the window of the crop that a correlation reads. The values there
    # are those over the whole crop, on a fraction of its pixels.
    rows, cols = _box(mask)
    inside = crop[rows, cols][mask[rows, cols]]
    if inside.size < 10:
        return Pupil(None, 0.0, "eye_closed", None)
    net_x, net_y = learned or pupil_net.centres([eye])[0]  # every answer from here on uses it
    sclera = _quantile(inside, 0.9)
    radius = max(2, round(IRIS_RADIUS * EYE_WIDTH))
    disc = _disc(radius)
    weight, limbus_weight = _below_upper_lid(eye, mask, (rows, cols))

    # coarse: where a disc of iris size covers the most darkness (relative to the sclera), lash shadow discounted
    reach = _grown((rows, cols), radius, crop.shape)
    darkness = np.maximum(sclera - crop[reach], 0.0)
    darkness *= weight[reach]
    mass = _correlate(darkness, disc, rows, cols, crop.shape)
    peak_y, peak_x = divmod(int(np.where(mask[rows, cols], mass, -1.0).argmax()), mass.shape[1])
    peak_y, peak_x = peak_y + rows.start, peak_x + cols.start
    # the opening within the disc around the peak, in a square one pixel wider (for the fits' parabolas)
    around = _grown((slice(peak_y, peak_y + 1), slice(peak_x, peak_x + 1)), radius + 1, crop.shape)
    allowed = _disc_within(radius)[_shifted(around, radius + 1 - peak_y, radius + 1 - peak_x)] & mask[around]
    iris_level = _quantile(crop[around][allowed], 0.5)
    contrast = sclera - iris_level
    if contrast < MIN_CONTRAST:  # no dark disc: the learned cue alone, with no confidence
        return Pupil((net_x, net_y), 0.0, None, None)
    observed = iris_level + LEVEL * contrast
    level = observed if threshold is None or abs(threshold - observed) > contrast / 2.0 else threshold

    # fine: each pixel of the opening counts + when darker than the level and - when brighter, pixels hidden
    # by the lids or outside the frame count 0, so a disc partly covered by a lid or at a corner still centres
    # on the whole iris rather than on its visible part. Across, the lids clip the iris: a disc of the
    # iris's full size fits the left and right edges, on darkness with the lash shadow discounted; up and down,
    # the smaller core disc does not slide into the dark lid line.
    box = _shifted(_box(allowed), around[0].start, around[1].start)
    fit = _grown(box, 1, crop.shape)  # one pixel more around for the parabola
    fit_allowed = allowed[_within(fit, around)]
    across = _disc(round(radius * ACROSS_SCALE))
    reach = _grown(fit, across.shape[0] // 2, crop.shape)  # the larger disc's window holds the smaller's
    signed = level - crop[reach]
    core = _grown(fit, radius, crop.shape)
    inner = _within(core, reach)
    _, cy, peak = _fit_disc(_correlate(signed[inner] * mask[core], disc, *fit, crop.shape), fit_allowed, *fit)
    signed *= weight[reach]
    cx, _, _ = _fit_disc(_correlate(signed, across, *fit, crop.shape), fit_allowed, *fit)
    cx = _on_limbus(crop, limbus_weight, cx, round(cy), box[1], iris_level + LIMBUS_SCLERA * contrast)
    # confident when the iris is much darker than the sclera and the core disc is mostly iris; plain Python on
    # the scalars (np.clip costs microseconds each). The sharpness stays a float32 division (the area is one).
    sharpness = float(peak / (_area(radius) * contrast))
    confidence = min(max(contrast / FULL_CONTRAST, 0.0), 1.0) * min(max(sharpness * 2.0, 0.0), 1.0)
    # The learned cue does not need the iris to be the darkest thing in the eye: where it and the fit part, the
    # fit has mostly taken a lash line, make-up or a shadow for a light iris; and the two parting is a reason
    # to be unsure of either.
    apart = math.hypot(net_x - cx, net_y - cy)
    share = 1.0 if apart > NET_APART else NET_SHARE
    centre = (cx + share * (net_x - cx), cy + max(share, NET_Y_SHARE) * (net_y - cy))
    agreement = min(max(1.0 - (apart - AGREE_FREE) / DISAGREE, 0.0), 1.0)
    return Pupil(centre, min(FIT_WEIGHT * confidence, 1.0) * agreement, None, observed)


def _on_limbus(crop: np.ndarray, weight: np.ndarray, cx: float, row: int, within: slice,
               sclera_level: float) -> float:
    """`cx` moved, by up to LIMBUS_REACH and not out of the columns `within`, to where the left and right arcs
    of an iris-sized circle lie on the strongest dark-to-bright edges going outward onto sclera (at least
    `sclera_level` bright), among the pixels of non-zero `weight`: the limbus's edges do not depend on how dark
    the iris's inside is, and one visible edge places an iris clipped by a corner."""
    arcs = _limbus_arcs(LIMBUS_RADIUS * EYE_WIDTH)
    xs = range(max(math.ceil(cx - LIMBUS_REACH), within.start),
               min(math.floor(cx + LIMBUS_REACH), within.stop - 1) + 1)
    # summed over the rows as far either way, as the centre's height is no surer than that
    rows = slice(max(row - LIMBUS_REACH, 0), row + LIMBUS_REACH + 1)
    cols = slice(xs.start, xs.stop)
    # The filters below run only on the part of the crop that the correlations read, with room for the
    # filters' reach (the opening's erosion then dilation, then the shift onto the sclera): the same values
    # there as over the whole crop, on about 40 % of its pixels. Rows and columns become the part's.
    reach = arcs.shape[0] // 2 + 2 * (LIMBUS_OPEN // 2) + LIMBUS_SIDE
    part_rows, part_cols = _grown((rows, cols), reach, crop.shape)
    crop, weight = crop[part_rows, part_cols], weight[part_rows, part_cols]
    rows, cols = _within((rows, cols), (part_rows, part_cols))
    # `weight` is 0 outside the opening shrunk by a pixel, so that the lids' own edges stay out
    gx = cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3)
    gx *= weight
    sclera = cv2.morphologyEx(crop, cv2.MORPH_OPEN, _SQUARE_OPEN) >= sclera_level
    # the rising edges with sclera LIMBUS_SIDE pixels to their right, and the falling ones with sclera as far to
    # their left, as the two channels of one image, bordered by zeros as far as the arcs reach
    half = arcs.shape[0] // 2
    h, w = gx.shape
    edges = np.zeros((h + 2 * half, w + 2 * half, 2), np.float32)
    inner = edges[half:half + h, half:half + w]
    np.multiply(np.maximum(gx[:, :-LIMBUS_SIDE], 0.0), sclera[:, LIMBUS_SIDE:], out=inner[:, :-LIMBUS_SIDE, 0])
    np.multiply(np.minimum(gx[:, LIMBUS_SIDE:], 0.0), sclera[:, :-LIMBUS_SIDE], out=inner[:, LIMBUS_SIDE:, 1])
    # the arcs' correlation at rows x cols, read from their few non-zero taps
    scores = (edges.ravel()[_arc_reads(rows.start, rows.stop, cols.start, cols.stop, w + 2 * half)]
              @ _arc_taps(LIMBUS_RADIUS * EYE_WIDTH, w + 2 * half)[1]).sum(axis=0)
    best = int(scores.argmax())
    if not scores[best] > 0.0:  # no limbus in reach (argmax picked the leftmost column): the fit stands
        return cx
    return float(xs[best] + _vertex(scores[best - 1:best + 2]) if 0 < best < len(xs) - 1 else xs[best])


@cache
def _limbus_arcs(radius: float) -> np.ndarray:
    """A two-channel kernel: a circle's right arc, and its left arc negated (within LIMBUS_ARC of horizontal),
    one pixel wide."""
    size = int(np.ceil(radius)) + 1
    ys, xs = np.mgrid[-size:size + 1, -size:size + 1].astype(np.float32)
    ring = np.clip(1.0 - np.abs(np.hypot(xs, ys) - radius), 0.0, 1.0)
    lateral = ring * (np.degrees(np.arctan2(np.abs(ys), np.abs(xs))) <= LIMBUS_ARC)
    return np.dstack([lateral * (xs > 0), -lateral * (xs < 0)]).astype(np.float32)


@cache
def _arc_taps(radius: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat offsets (in a two-channel image `width` wide, from the top-left of the arcs' square) and
    the values of the arcs' non-zero taps."""
    arcs = _limbus_arcs(radius)
    ys, xs, channels = np.nonzero(arcs)
    return (ys * width + xs) * 2 + channels, arcs[ys, xs, channels].astype(np.float64)


@lru_cache(maxsize=256)
def _arc_reads(top: int, bottom: int, left: int, right: int, width: int) -> np.ndarray:
    """The flat offsets, in a two-channel image `width` wide, of the arcs' taps centred on each pixel of rows
    `top:bottom` x columns `left:right` (as rows x columns x taps). The same few windows recur frame after frame."""
    at = (np.arange(top, bottom)[:, None] * width + np.arange(left, right)) * 2
    return at[:, :, None] + _arc_taps(LIMBUS_RADIUS * EYE_WIDTH, width)[0]


def _below_upper_lid(eye: Eye, mask: np.ndarray, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """Per crop pixel, the weight of its darkness: 0 outside the opening (`mask`, within `box`) and at and above
    the upper lid, rising to 1 at LID_SHADOW of the way down to the lower lid; and that weight within the
    opening shrunk by a pixel, so that the lids' own edges stay out of the limbus."""
    rows, cols = box
    upper, lower = eye.lid_columns
    upper = upper[cols]
    depth = np.subtract(lower[cols], upper)
    np.maximum(depth, 1e-6, out=depth)
    depth *= LID_SHADOW
    share = np.subtract(_rows(eye.crop.shape[0])[rows], upper)
    share /= depth
    # Clipped in place by the two ufuncs (np.clip's Python wrapper costs more than they do on the box), then
    # masked in float64 and rounded once into float32: the same as rounding first, as the mask is 0 or 1.
    np.minimum(np.maximum(share, 0.0, out=share), 1.0, out=share)
    weight, limbus = np.zeros((2, *mask.shape), np.float32)
    np.multiply(share, mask[rows, cols], out=weight[rows, cols], casting="unsafe")
    # eroded over the box and a pixel around it, as over the whole crop
    around = _grown(box, 1, mask.shape)
    eroded = cv2.erode(mask[around].view(np.uint8), _SQUARE_3)
    np.multiply(weight[rows, cols], eroded[_within(box, around)], out=limbus[rows, cols])
    return weight, limbus


@cache
def _rows(height: int) -> np.ndarray:
    """The row index of each crop row, as a column."""
    return np.arange(height, dtype=np.float64)[:, None]


def _quantile(values: np.ndarray, q: float) -> float:
    """np.percentile's (linear) quantile, by partial sorting: several times cheaper on a few hundred pixels.
    `values` (a copy of the pixels, made by the caller's mask) is reordered in place."""
    position = q * (values.size - 1)
    low = int(position)
    high = min(low + 1, values.size - 1)
    values.partition((low, high))  # the method: np.partition's wrapper and copy cost more than the sort
    return float(values[low] + (position - low) * (float(values[high]) - float(values[low])))


def _vertex(values: np.ndarray) -> float:
    """The offset of a parabola's vertex through three neighbouring scores (0 at the middle one)."""
    if values.size != 3:
        return 0.0
    left, middle, right = values.tolist()
    curvature = left - 2 * middle + right
    if not (math.isfinite(curvature) and curvature < 0):  # a neighbour outside the allowed pixels is -inf
        return 0.0
    return min(max(0.5 * (left - right) / curvature, -0.5), 0.5)


def _fit_disc(fit: np.ndarray, allowed: np.ndarray, rows: slice, cols: slice) -> tuple[float, float, float]:
    """The sub-pixel centre (x, y) of the best of a disc's correlation `fit` at rows x cols of the crop, among
    the `allowed` pixels there, and that score."""
    fit = np.where(allowed, fit, -np.inf)
    y, x = divmod(int(fit.argmax()), fit.shape[1])
    centre = (x + cols.start + _vertex(fit[y, x - 1:x + 2]), y + rows.start + _vertex(fit[y - 1:y + 2, x]))
    return centre[0], centre[1], float(fit[y, x])


def _box(pixels: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns around the true `pixels` (a bool array with at least one)."""
    # OpenCV takes the bounding box of an 8-bit image's non-zero pixels several times faster than any() and
    # flatnonzero() per axis
    x, y, w, h = cv2.boundingRect(pixels.view(np.uint8))
    return slice(y, y + h), slice(x, x + w)


def _grown(box: tuple[slice, slice], margin: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """`box` with `margin` more on each side, within an array of `shape`."""
    rows, cols = box
    return (slice(max(rows.start - margin, 0), min(rows.stop + margin, shape[0])),
            slice(max(cols.start - margin, 0), min(cols.stop + margin, shape[1])))


def _within(inner: tuple[slice, slice], outer: tuple[slice, slice]) -> tuple[slice, slice]:
    """The rows and columns `inner`, counted from `outer`'s corner."""
    return _shifted(inner, -outer[0].start, -outer[1].start)


def _shifted(box: tuple[slice, slice], down: int, right: int) -> tuple[slice, slice]:
    rows, cols = box
    return slice(rows.start + down, rows.stop + down), slice(cols.start + right, cols.stop + right)


def _correlate(window: np.ndarray, kernel: np.ndarray, rows: slice, cols: slice,
               shape: tuple[int, ...]) -> np.ndarray:
    """The sums of `kernel` times an image of `shape` (0 beyond its edges) centred on each pixel of rows x
    cols, given the image's `window` that they read (`_grown((rows, cols), half the kernel, shape)`): only
    where they are needed, which is much cheaper than over the whole crop."""
    half = kernel.shape[0] // 2
    h, w = shape[:2]
    top, bottom, left, right = rows.start - half, rows.stop + half, cols.start - half, cols.stop + half
    if top < 0 or bottom > h or left < 0 or right > w:
        window = cv2.copyMakeBorder(window, max(-top, 0), max(bottom - h, 0), max(-left, 0), max(right - w, 0),
                                    cv2.BORDER_CONSTANT, value=0.0)
    return np.asarray(cv2.matchTemplate(window, kernel, cv2.TM_CCORR))
