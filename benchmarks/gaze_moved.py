"""Faces with their gaze moved: both irises shifted sideways (or up and down) inside the eye opening, from
MediaPipe's 478 points.

The old place of the iris is filled with the eye's own sclera, interpolated row by row from the sclera
beside it; the iris texture is pasted at its new place and clipped by the eyelid outline. Then the true iris
centre is known and varies, which photos of people looking at the camera cannot give."""

from __future__ import annotations

import cv2
import numpy as np

# Face Mesh indices (image-left eye first): eye outlines, iris centres and contours, eye corners.
OUTLINES = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
)
IRIS_CENTRES = (468, 473)
IRIS_CONTOURS = ((469, 470, 471, 472), (474, 475, 476, 477))
CORNERS = ((33, 133), (362, 263))  # image-left corner first
# iris radii along the corner axis, towards the image-right corner when positive
SHIFTS = (-0.8, -0.4, 0.4, 0.8)
# iris radii across it, downwards when positive (0 renders the iris in place, for a centre frame made the same way)
VERTICAL_SHIFTS = (-0.4, 0.0, 0.4)


def move_gaze(image: np.ndarray, mesh: np.ndarray, shift: float | tuple[float, float],
              down: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`image` with both irises moved by `shift` iris radii (one for both eyes, or one per eye) along their
    corner axes and by `down` radii across them, and the new iris centres (2, 2), image-left eye first."""
    out = image.copy()
    shifts = shift if isinstance(shift, tuple) else (shift, shift)
    centres = []
    for eye in range(2):
        centre, offset = _move_iris(out, mesh, eye, shifts[eye], down)
        centres.append(centre + offset)
    return out, np.array(centres)


def _move_iris(image: np.ndarray, mesh: np.ndarray, eye: int, shift: float,
               down: float) -> tuple[np.ndarray, np.ndarray]:
    """Moves one iris in place; returns its old centre and the offset it was moved by."""
    outline = mesh[list(OUTLINES[eye])]
    centre = mesh[IRIS_CENTRES[eye]]
    radius = float(np.mean(np.linalg.norm(mesh[list(IRIS_CONTOURS[eye])] - centre, axis=1)))
    left, right = mesh[CORNERS[eye][0]], mesh[CORNERS[eye][1]]
    axis = (right - left) / np.linalg.norm(right - left)
    offset = radius * (shift * axis + down * np.array([-axis[1], axis[0]]))

    # work on a patch around the eye, large enough for the iris at both places
    pad = int(np.ceil(2 * radius)) + 3
    x0 = max(0, int(np.floor(outline[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(outline[:, 1].min())) - pad)
    x1 = min(image.shape[1], int(np.ceil(outline[:, 0].max())) + pad + 1)
    y1 = min(image.shape[0], int(np.ceil(outline[:, 1].max())) + pad + 1)
    patch = image[y0:y1, x0:x1].astype(np.float32)
    colour = patch.ndim == 3
    if not colour:
        patch = patch[:, :, None]
    h, w = patch.shape[:2]
    local_outline = outline - (x0, y0)
    local_centre = centre - (x0, y0)

    opening = polygon_alpha(local_outline, (h, w))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    old_disc = np.clip(radius + 0.5 - np.hypot(xs - local_centre[0], ys - local_centre[1]), 0.0, 1.0)
    old_iris = (old_disc > 0) & (opening > 0.5)
    filled = _fill_rows(patch, old_iris, (opening > 0.5) & ~old_iris)

    # the iris texture where it was visible, its median where the lids hid it, then moved by `offset`
    texture = patch.copy()
    median = np.median(patch[old_iris], axis=0) if old_iris.any() else patch.mean(axis=(0, 1))
    texture[~old_iris] = median
    move = np.array([[1, 0, offset[0]], [0, 1, offset[1]]], dtype=np.float64)
    moved = cv2.warpAffine(texture, move, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if moved.ndim == 2:
        moved = moved[:, :, None]
    new_disc = cv2.warpAffine(old_disc, move, (w, h), flags=cv2.INTER_LINEAR)
    alpha = (new_disc * opening)[:, :, None]
    result = filled * (1.0 - alpha) + moved * alpha
    image[y0:y1, x0:x1] = np.clip(np.rint(result if colour else result[:, :, 0]), 0, 255).astype(image.dtype)
    return centre, offset


def polygon_alpha(outline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The eye opening as coverage 0..1, drawn at 4x and averaged down for soft lid edges."""
    big = np.zeros((shape[0] * 4, shape[1] * 4), np.uint8)
    cv2.fillPoly(big, [np.round((outline + 0.5) * 4 - 0.5).astype(np.int32)], 255)
    return cv2.resize(big, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _fill_rows(patch: np.ndarray, hole: np.ndarray, sclera: np.ndarray) -> np.ndarray:
    """`patch` with the `hole` pixels replaced, row by row, by the linear interpolation between the nearest
    sclera pixels on their left and right (the nearer side's value where only one side has sclera)."""
    out = patch.copy()
    for y in np.flatnonzero(hole.any(axis=1)):
        xs_hole = np.flatnonzero(hole[y])
        xs_sclera = np.flatnonzero(sclera[y])
        if xs_sclera.size == 0:  # a row of iris only: take the nearest row that has sclera
            rows = np.flatnonzero(sclera.any(axis=1))
            if rows.size == 0:
                continue
            xs_sclera = np.flatnonzero(sclera[rows[np.argmin(np.abs(rows - y))]])
            source = patch[rows[np.argmin(np.abs(rows - y))]]
        else:
            source = patch[y]
        for channel in range(patch.shape[2]):
            out[y, xs_hole, channel] = np.interp(xs_hole, xs_sclera, source[xs_sclera, channel])
    return out


def picture(path: str, faces: int = 2, size: float = 62.0, zoom: int = 2) -> None:
    """Writes the eye band of a few `tune` faces, as the tracker receives them, for shifts -0.8 .. +0.8:
    the true iris centre in red, the tracker's pupil in green."""
    import testdata
    from accuracy import read_colour, webcam_grey

    from gazepipe.model import predictor_path
    from gazepipe.tracking.tracker import GazeTracker

    tracker = GazeTracker(predictor_path())
    rows = []
    for face in testdata.split_by_source(testdata.clean_wild_faces())[0][:faces]:
        image, mesh = read_colour(face.file), testdata.reference_mesh(face)
        transform = testdata.frame_transform(face.iris_left, face.iris_right, size)
        tiles = []
        for shift in (-0.8, -0.4, 0.0, 0.4, 0.8):
            moved, irises = move_gaze(image, mesh, shift)
            grey = webcam_grey(moved, transform)
            out = tracker.track(grey)
            top, left = round(480 * 0.42 - 0.4 * size), round(320 - 1.0 * size)
            band = cv2.cvtColor(grey[top:top + round(0.8 * size), left:left + round(2 * size)], cv2.COLOR_GRAY2BGR)
            band = cv2.resize(band, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            truth = irises @ transform[:, :2].T + transform[:, 2]
            for point, colour in [(p, (0, 0, 255)) for p in truth] + [
                    (p, (0, 200, 0)) for p in (out.pupil_left, out.pupil_right) if p is not None]:
                centre = (round((point[0] - left) * zoom), round((point[1] - top) * zoom))
                cv2.drawMarker(band, centre, colour, cv2.MARKER_CROSS if colour[1] else cv2.MARKER_DIAMOND, 7, 1)
            tiles.append(band)
        rows.append(np.hstack(tiles))
    cv2.imwrite(path, np.vstack(rows))


if __name__ == "__main__":
    import sys

    picture(sys.argv[1] if len(sys.argv) > 1 else "docs/gaze_moved.png")
