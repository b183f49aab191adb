"""Trains the pupil stage's learned iris-centre cue (two small CNN regressors over the tracker's eye crop: a
first pass over a fixed window, a second over a window re-centred on the first's estimate) on the
`tune` halves of `faces-helen-afw` (split by photo) and `faces-wild` (split by source), and writes the weights
the tracker ships, `src/gazepipe/tracking/pupil_net.npz`. The test halves are only for `accuracy.py`.

    .venv/bin/python benchmarks/train_pupil.py [--cache EYES.npz ...] [--pairs]

Each face is rendered as the accuracy benchmark renders it (JPEG quality 80, 36-70 px between the irises) with
both irises moved (`gaze_moved.py`) sideways, up and down, by fixed and by random shifts; the tracker's own fit
(dlib's landmarks on the rendered frame, two passes as in a session) cuts the eyes, so the contour's noise is
the real one, also where it answers the (labelled open) eyes closed. The target is the moved MediaPipe iris
centre in crop coordinates. A fifth of the `tune` photos (by a hash) is held out of training, for choosing how
the pupil stage fuses the cue with its own fit. With `--pairs` it then trains each network on with real eyes
looking up and down (the `columbia-eyes` tune people, persons 1-12), whose lids follow the gaze as no render's
do; the committed weights were made so. Several caches, each collected alone (one per `GAZEPIPE_MODEL`, whose
contour cuts the eyes), are trained on together: one set of networks for eyes cut by either landmark model."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import columbia
import cv2
import numpy as np
import testdata
from accuracy import _wild_split, read_colour, webcam_grey
from convnet_training import Adam, init, trunk_backward
from gaze_moved import IRIS_CENTRES, move_gaze

from gazepipe.front.jpeg import decode_grey
from gazepipe.model import predictor_path
from gazepipe.tracking import pupil_net
from gazepipe.tracking.convnet import Activations, normalise, trunk
from gazepipe.tracking.eye import EYE_WIDTH, LEFT_POINTS, RIGHT_POINTS, Eye
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import following

# (sideways, down) iris radii: the benchmark's moves, then RANDOM_MOVES more drawn per face
MOVES = ((-0.8, 0.0), (-0.4, 0.0), (0.0, 0.0), (0.4, 0.0), (0.8, 0.0), (0.0, -0.4), (0.0, 0.4))
RANDOM_MOVES = 7
# the inter-iris distance of each render, drawn from this range: below the benchmark's 45 px, since a small face's
# eye crop is upscaled to EYE_WIDTH and comes out as soft as a small source face's
SIZES = (36.0, 70.0)
OPEN = 0.15  # both eyes at least this open (MediaPipe's openness), as the benchmark measures
HELD_OUT = 5  # one `tune` photo in this many is held out of training (for the fusion's choices)
EPOCHS = 20
BATCH = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
CHANNELS = (8, 16)
HIDDEN = 48
HUBER = 0.25  # of a UNIT: larger errors count linearly (a few labels are off: another face, a closed eye)
# crop jitter: the window shifted by up to JITTER crop pixels, turned by up to TURN degrees, scaled by up to ZOOM
JITTER = 2.0
TURN = 6.0
ZOOM = 0.07
# `--pairs`: after `train`, PAIR_EPOCHS more passes over the renders, each batch joined by PAIR_BATCH real up/down
# pairs of the `columbia-eyes` tune people, whose loss (weighted PAIR_WEIGHT) asks the eye looking down for a
# centre at least PAIR_MARGIN crop pixels lower than the same eye looking up
PAIR_EPOCHS = 10
PAIR_BATCH = 32
PAIR_WEIGHT = 0.1
PAIR_MARGIN = 1.0
PAIR_RATE = 1e-3
# the second pass (`pupil_net.FINE_*`): its network, and its windows' centres about the truth in training, as a
# first pass leaves them (crop pixels, per axis: normal, cut at FINE_REACH)
FINE_CHANNELS = (8, 16)
FINE_HIDDEN = 48
FINE_EPOCHS = 40
FINE_SPREAD = 2.5
FINE_REACH = 7.0


@dataclass
class Eyes:
    """Eyes cut by the tracker: crops, contours and targets in crop coordinates, and what they came from."""

    crops: np.ndarray  # (N, H, W) uint8
    points: np.ndarray  # (N, 6, 2) dlib's contour in the crop
    targets: np.ndarray  # (N, 2) the true iris centre in the crop
    scale: np.ndarray  # (N,) crop pixels per frame pixel
    distance: np.ndarray  # (N,) the reference inter-iris distance in the frame
    down: np.ndarray  # (N,) the move across, in iris radii
    frame: np.ndarray  # (N,) the frame's index (both eyes of a frame share it)
    face: np.ndarray  # (N,) the face's name
    held_out: np.ndarray  # (N,) bool: a held-out `tune` photo
    closed: np.ndarray  # (N,) bool: the tracker answered the render's eyes closed

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **self.__dict__)

    def subset(self, which: np.ndarray) -> Eyes:
        return Eyes(**{k: v[which] for k, v in self.__dict__.items()})

    @classmethod
    def load(cls, path: Path) -> Eyes:
        with np.load(path) as data:
            fields = {k: data[k] for k in data.files}
        # caches collected before `closed` (session 7's) skipped every render answered closed
        fields.setdefault("closed", np.zeros(len(fields["crops"]), bool))
        return cls(**fields)

    @classmethod
    def joined(cls, parts: Sequence[Eyes]) -> Eyes:
        """The eyes of several collections, one after another."""
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in cls.__dataclass_fields__})


def _faces() -> list[tuple[str, testdata.ReferenceFace, np.ndarray, bool]]:
    """The `tune` faces with both eyes open: name, face, Face Mesh in OpenCV's pixel convention, held out."""
    out = []
    for face in testdata.helen_afw_faces():
        opening = min(face.raw["openness_left"], face.raw["openness_right"])
        if testdata.helen_afw_split(face) == "tune" and opening >= OPEN:
            photo = testdata.photo_of(face)
            out.append((f"{face.file.parent.name}/{face.file.name}", face, testdata.reference_mesh(face) - 0.5,
                        zlib.crc32(photo.encode()) % HELD_OUT == 0))
    for face in _wild_split("tune"):
        name = f"wild/{face.file.name}#{face.index}"
        out.append((name, face, testdata.reference_mesh(face), zlib.crc32(name.encode()) % HELD_OUT == 0))
    return out


_tracker: GazeTracker | None = None


def _face_eyes(job: tuple[int, tuple[str, testdata.ReferenceFace, np.ndarray, bool]]) -> list[dict[str, object]]:
    """The eyes of every render of one face, as dicts of `Eyes`' fields."""
    index, (name, face, mesh, held_out) = job
    global _tracker
    if _tracker is None:
        _tracker = GazeTracker(predictor_path())
    rng = np.random.default_rng(index)
    moves = list(MOVES) + [(rng.uniform(-0.9, 0.9), rng.uniform(-0.5, 0.5)) for _ in range(RANDOM_MOVES)]
    image = read_colour(face.file)
    irises = mesh[list(IRIS_CENTRES)]
    out = []
    for m, (sideways, down) in enumerate(moves):
        size = rng.uniform(*SIZES)
        transform = testdata.frame_transform(irises[0], irises[1], size)
        picture, truth = move_gaze(image, mesh, sideways, down)
        grey = webcam_grey(picture, transform)
        truth = truth @ transform[:, :2].T + transform[:, 2]
        # a detection, then a followed pass (the benchmark's calibration has no thresholds before its 6th pass)
        result = _tracker.track(grey)
        result = _tracker.track(grey, following(result))
        # renders answered closed are kept: the labels say both eyes are open, and such narrow open eyes are the
        # ones a session's own threshold answers open, whose pupils then matter
        if result.landmarks is None:
            continue
        landmarks = np.asarray(result.landmarks)
        eyes = np.array([landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)])
        if np.max(np.linalg.norm(eyes - truth, axis=1)) > 0.3 * size:
            continue  # another face of the photo
        for points, centre in zip((LEFT_POINTS, RIGHT_POINTS), truth, strict=True):
            eye = Eye(grey, landmarks[points])
            out.append(dict(crops=eye.crop, points=eye.crop_points, targets=eye.map_to_crop(centre[None])[0],
                            scale=EYE_WIDTH / eye.span, distance=size, down=down,
                            frame=index * 100 + m, face=name, held_out=held_out,
                            closed=result.eyes_closed))
    return out


def collect(jobs: int) -> Eyes:
    faces = _faces()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        rows = [row for rows in pool.imap(_face_eyes, enumerate(faces), chunksize=2) for row in rows]
    return Eyes(**{k: np.array([row[k] for row in rows]) for k in Eyes.__dataclass_fields__})


def augment(crops: np.ndarray, targets: np.ndarray, centres: np.ndarray, size: tuple[int, int],
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `size` (width, height) centred on `centres` of the crops, mirrored half the time, shifted,
    turned and scaled a little (the targets follow), then re-lit (gamma, contrast), blurred, noised and
    JPEG-compressed; and their targets' offsets from the windows' centres in UNITs."""
    windows = np.empty((len(crops), size[1], size[0]), np.float32)
    out = np.empty_like(targets)
    middle = (np.array(size) - 1) / 2
    for i, (crop, target, centre) in enumerate(zip(crops, targets, centres, strict=True)):
        if rng.random() < 0.5:  # a left eye mirrored is a right eye
            crop = crop[:, ::-1]
            target = np.array([crop.shape[1] - 1 - target[0], target[1]])
            centre = np.array([crop.shape[1] - 1 - centre[0], centre[1]])
        angle, zoom = np.radians(rng.uniform(-TURN, TURN)), rng.uniform(1 - ZOOM, 1 + ZOOM)
        turn = zoom * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        # crop -> window: turned about the window's centre, then shifted
        shift = rng.uniform(-JITTER, JITTER, 2)
        m = np.hstack([turn, (middle + shift - turn @ centre)[:, None]])
        w = cv2.warpAffine(np.ascontiguousarray(crop), m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[i] = (turn @ target + m[:, 2] - middle) / pupil_net.UNIT
        windows[i] = _relit(w, rng)
    return windows, out


def _relit(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = 255.0 * (window.astype(np.float32) / 255.0) ** rng.uniform(0.6, 1.6)
    x = (x - x.mean()) * rng.uniform(0.6, 1.3) + x.mean() + rng.uniform(-20, 20)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.0))
    x = x + rng.normal(0, rng.uniform(0, 5), x.shape)
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        x = decode_grey(testdata.encode_jpeg(x, int(rng.integers(40, 90))))
    return x.astype(np.float32)


def _backward(params: dict[str, np.ndarray], acts: Activations, dout: np.ndarray) -> dict[str, np.ndarray]:
    """The gradients of a network, given the loss's gradient on its two outputs (`dout`, (N, 2))."""
    hidden = acts[-1]
    grads = trunk_backward(params, acts, dout @ params["w4"].T)
    grads.update(w4=hidden.T @ dout, b4=dout.sum(axis=0))
    return grads


def _size(fine: bool) -> tuple[int, int]:
    """The (width, height) of the first pass's window, or (`fine`) of the second's."""
    return (pupil_net.FINE_WIDTH, pupil_net.FINE_HEIGHT) if fine else (pupil_net.WINDOW_WIDTH, pupil_net.WINDOW_HEIGHT)


def _centres(targets: np.ndarray, fine: bool, rng: np.random.Generator) -> np.ndarray:
    """The training windows' centres in the crops: the first pass's fixed one, or (`fine`) the truth moved as a
    first pass leaves it, by a spread of FINE_SPREAD cut at FINE_REACH."""
    if fine:
        return targets + np.clip(rng.normal(0, FINE_SPREAD, targets.shape), -FINE_REACH, FINE_REACH)
    return np.broadcast_to(pupil_net.ORIGIN, targets.shape)


def train(crops: np.ndarray, targets: np.ndarray, seed: int = 0, fine: bool = False) -> dict[str, np.ndarray]:
    """Adam on the Huber loss of the centre, learning rate on a cosine schedule to zero: the first pass's
    network over the fixed window, or (`fine`) the second pass's over windows centred where a first pass
    leaves them, about the truth by a spread of FINE_SPREAD."""
    rng = np.random.default_rng(seed)
    size = _size(fine)
    params = init(rng, FINE_CHANNELS if fine else CHANNELS, FINE_HIDDEN if fine else HIDDEN,
                  (size[0] // 4) * (size[1] // 4), (2,))
    epochs = FINE_EPOCHS if fine else EPOCHS
    adam = Adam(params, LEARNING_RATE, WEIGHT_DECAY, epochs * int(np.ceil(len(crops) / BATCH)))
    for _ in range(epochs):
        order = rng.permutation(len(crops))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            windows, truth = augment(crops[idx], targets[idx], _centres(targets[idx], fine, rng), size, rng)
            hidden, acts = trunk(params, normalise(windows))
            dout = (np.clip(hidden @ params["w4"] + params["b4"] - truth, -HUBER, HUBER) / len(idx)).astype(np.float32)
            adam.update(_backward(params, acts, dout))
    return params


def columbia_pairs() -> tuple[np.ndarray, np.ndarray]:
    """The `columbia-eyes` tune people's `columbia.up_down_pairs` as the tracker's eye crops over
    `columbia.contour()`: (N, H, W) looking up, and the same looking down."""
    points = columbia.contour()
    pairs = columbia.up_down_pairs(e for e in testdata.columbia_eyes() if testdata.columbia_split(e) == "tune")

    def crops(eyes: Iterable[testdata.GazeEye]) -> np.ndarray:
        return np.array([Eye(testdata.read_grey(eye.file), points).crop for eye in eyes])

    return crops(up for up, _ in pairs), crops(down for _, down in pairs)


def tune_on_pairs(params: dict[str, np.ndarray], crops: np.ndarray, targets: np.ndarray,
                  pairs: tuple[np.ndarray, np.ndarray], seed: int = 0,
                  first: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """`params` trained further on the renders (the Huber loss, as `train`) and, in every batch, on real eyes
    moving up and down: a hinge on the heights of the two centres of each pair. The renders leave the lids in
    place; the real pairs carry the lids that follow the gaze, which no rendering here gives. With `first`,
    `params` is the second pass's network, and each pair's windows are centred where `first` puts the iris."""
    rng = np.random.default_rng(seed)
    fine = first is not None
    size = _size(fine)
    up, down = pairs
    both = np.concatenate([up, down])
    if first is None:
        placed = np.broadcast_to(pupil_net.ORIGIN, (len(both), 2))
    else:
        placed = pupil_net.first_pass(first, list(both))
    steps = PAIR_EPOCHS * int(np.ceil(len(crops) / BATCH))
    adam = Adam(params, PAIR_RATE, WEIGHT_DECAY, steps)
    for _ in range(PAIR_EPOCHS):
        order = rng.permutation(len(crops))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            chosen = rng.integers(0, len(up), PAIR_BATCH)
            windows, truth = augment(crops[idx], targets[idx], _centres(targets[idx], fine, rng), size, rng)
            # each pair window's height is read against where the augmentation put its centre, plus that centre's
            # height in the crop: the absolute height, whatever each window's own place, shift, turn and zoom
            chosen = np.concatenate([chosen, chosen + len(up)])
            pair_windows, marks = augment(both[chosen], placed[chosen], placed[chosen], size, rng)
            hidden, acts = trunk(params, normalise(np.concatenate([windows, pair_windows])))
            out = hidden @ params["w4"] + params["b4"]
            dout = np.zeros_like(out)
            n = len(idx)
            dout[:n] = np.clip(out[:n] - truth, -HUBER, HUBER) / n
            heights = out[n:, 1] - marks[:, 1] + placed[chosen, 1] / pupil_net.UNIT
            short = (heights[PAIR_BATCH:] - heights[:PAIR_BATCH]) < PAIR_MARGIN / pupil_net.UNIT
            dout[n:n + PAIR_BATCH, 1] = PAIR_WEIGHT * short / PAIR_BATCH
            dout[n + PAIR_BATCH:, 1] = -PAIR_WEIGHT * short / PAIR_BATCH
            adam.update(_backward(params, acts, dout.astype(np.float32)))
    return params


def errors(nets: pupil_net.Nets, eyes: Eyes) -> np.ndarray:
    """Each eye's error (the two passes' centre against the target) over the frame's inter-iris distance."""
    centres = pupil_net.estimate(nets, list(eyes.crops))
    return np.asarray(np.linalg.norm(centres - eyes.targets, axis=1) / eyes.scale / eyes.distance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, nargs="+", default=[],
                        help="the collected eyes: read if it exists, else written; several (each collected alone, "
                        "say under another GAZEPIPE_MODEL) are read and trained on together")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=pupil_net.WEIGHTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", action="store_true",
                        help="then train each network on with the columbia-eyes tune people's up/down pairs "
                        "(`tune_on_pairs`)")
    args = parser.parse_args(argv)
    if args.cache and all(path.exists() for path in args.cache):
        eyes = Eyes.joined([Eyes.load(path) for path in args.cache])
    elif len(args.cache) > 1:
        parser.error("several caches are only read: collect each alone first")
    else:
        eyes = collect(args.jobs)
        if args.cache:
            eyes.save(args.cache[0])
    fit = ~eyes.held_out
    crops, targets = eyes.crops[fit].astype(np.float32), eyes.targets[fit]
    first, second = train(crops, targets, args.seed), train(crops, targets, args.seed, fine=True)
    if args.pairs:
        pairs = columbia_pairs()
        first = tune_on_pairs(first, crops, targets, pairs, args.seed)
        second = tune_on_pairs(second, crops, targets, pairs, args.seed, first=first)
    nets = first, second
    np.savez_compressed(args.out, **nets[0], **{pupil_net.FINE + k: v for k, v in nets[1].items()})  # type: ignore[arg-type]
    for name, part in (("trained on", fit), ("held out", eyes.held_out)):
        e = errors(nets, eyes.subset(part))
        print(f"{name}: {int(part.sum())} eyes, error / inter-iris distance: median {np.median(e):.4f}, "
              f"<= 0.05 {np.mean(e <= 0.05):.3f}, <= 0.10 {np.mean(e <= 0.10):.3f}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
