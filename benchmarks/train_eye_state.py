"""Trains the eye-state classifier (an ensemble of small CNNs) on the `tune` half of CEW (split by source
image) and of `faces-helen-afw` (split by photo), and writes the weights the tracker ships,
`src/gazepipe/tracking/eye_state.npz`. The other halves are only for `accuracy.py`.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/train_eye_state.py ../shared/data/cew-eyes --helen-afw

(one BLAS thread: the networks train in parallel processes, and on a loaded 2-core machine OpenBLAS's own
threads made each step about 15 times slower; the seeds are fixed.)

CEW's open eyes are mostly wide open; trained on CEW alone the networks called narrow and smiling open eyes
closed. The `faces-helen-afw` eyes are cut as the tracker cuts them, from webcam-like frames (62 px between the
irises, JPEG quality 80, the gaze also moved sideways) with dlib's landmarks, and labelled by MediaPipe's
openness. `--contours full pruned` cuts them with both landmark models, so that one set of weights serves either
`GAZEPIPE_MODEL`.

Nearly every closed training eye is a CEW patch in CEW's own framing. `--pasted` adds CEW's tune patches, closed
and open alike (so that the paste's seam is no cue), pasted over both eyes of the open faces of faces-helen-afw's
tune half in the benchmarks' frames and cut again as the tracker cuts them from dlib's fit on the pasted frame."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

import cv2
import numpy as np
import testdata
from accuracy import JPEG_QUALITY, PastedEyes, eye_patches, read_colour, webcam_grey
from convnet_training import Adam, init, trunk_backward
from gaze_moved import move_gaze

from gazepipe.front.jpeg import decode_grey
from gazepipe.model import predictor_path
from gazepipe.tracking import eye_state
from gazepipe.tracking.convnet import Activations
from gazepipe.tracking.eye import LEFT_POINTS, RIGHT_POINTS, Eye
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import following

CHANNELS = (8, 16)
HIDDEN = 32
EPOCHS = 30
BATCH = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
ENSEMBLE = 3  # networks from different seeds, their logits averaged
# faces-helen-afw eyes: open from this MediaPipe openness up (the "open"), closed below CLOSED_BELOW
# (the eyes between are left out: half-closed); the gaze moved by these iris radii gives each eye three looks.
OPEN_FROM = 0.15
CLOSED_BELOW = 0.08
SHIFTS = (0.0, -0.8, 0.8)
# CEW's closed patches count this many times, so that the many open faces do not outweigh closures.
CLOSED_REPEAT = 2


def backward(params: dict[str, np.ndarray], acts: Activations, dlogit: np.ndarray) -> dict[str, np.ndarray]:
    hidden = acts[-1]
    grads = trunk_backward(params, acts, np.outer(dlogit, params["w4"]))
    grads.update(w4=hidden.T @ dlogit, b4=np.array([dlogit.sum()], np.float32))
    return grads


def degrade(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sometimes blurred or through JPEG (webcam frames are both), sometimes under another gamma."""
    r = rng.random()
    if r < 0.25:
        patch = cv2.GaussianBlur(patch, (3, 3), rng.uniform(0.3, 1.0))
    elif r < 0.45:
        jpeg = testdata.encode_jpeg(np.clip(patch, 0, 255).astype(np.uint8), int(rng.integers(30, 90)))
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert decoded is not None  # OpenCV's own JPEG
        patch = decoded.astype(np.float32)
    if rng.random() < 0.5:
        patch = 255.0 * (np.clip(patch, 0, 255) / 255.0) ** np.exp(rng.uniform(-0.4, 0.4))
    return patch


def augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirrored (a left eye mirrored is a right eye), slightly rotated, scaled, shifted and re-lit, then
    `degrade`d."""
    out = np.empty_like(batch)
    for i, patch in enumerate(batch):
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        m = np.asarray(cv2.getRotationMatrix2D((11.5, 11.5), rng.uniform(-10, 10), rng.uniform(0.9, 1.1)))
        m = m + np.array([[0.0, 0.0, rng.uniform(-1.5, 1.5)], [0.0, 0.0, rng.uniform(-1.5, 1.5)]])
        out[i] = cv2.warpAffine(np.ascontiguousarray(patch), m, (24, 24), borderMode=cv2.BORDER_REPLICATE)
    out = (out * rng.uniform(0.8, 1.2, (len(batch), 1, 1))).astype(np.float32)
    for i in range(len(out)):
        out[i] = degrade(out[i], rng)
    return out


def train(patches: np.ndarray, closed: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Adam on cross-entropy, learning rate on a cosine schedule to zero."""
    rng = np.random.default_rng(seed)
    params = init(rng, CHANNELS, HIDDEN, 36)
    adam = Adam(params, LEARNING_RATE, WEIGHT_DECAY, EPOCHS * int(np.ceil(len(patches) / BATCH)))
    for _ in range(EPOCHS):
        order = rng.permutation(len(patches))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            logits, acts = eye_state.forward(params, eye_state.normalise(augment(patches[idx], rng)))
            dlogit = ((1 / (1 + np.exp(-logits)) - closed[idx]) / len(idx)).astype(np.float32)
            adam.update(backward(params, acts, dlogit))
    return params


def tracked_eyes(tracker: GazeTracker, face: testdata.ReferenceFace, grey: np.ndarray,
                 transform: np.ndarray) -> tuple[Eye, Eye] | None:
    """Both eyes as the tracker cuts them from `grey` (a detection, then a followed pass as in a session), or
    None where it fits another face than `face`."""
    out = tracker.track(grey)
    out = tracker.track(grey, following(out))
    if out.landmarks is None or not face.fitted_by(np.asarray(out.landmarks), transform):
        return None
    points = np.asarray(out.landmarks)
    return Eye(grey, points[LEFT_POINTS]), Eye(grey, points[RIGHT_POINTS])


def face_patches(tracker: GazeTracker) -> tuple[list[np.ndarray], list[bool]]:
    """The eyes of the `tune` half of `faces-helen-afw` with a clear label, as the tracker cuts them from
    webcam-like frames (a detection, then a followed pass as in a session); frames where the tracker fits
    another face than the labelled one are left out."""
    patches, closed = [], []
    for face in testdata.helen_afw_faces():
        if testdata.helen_afw_split(face) != "tune":
            continue
        mesh = testdata.reference_mesh(face)
        openness = (face.raw["openness_left"], face.raw["openness_right"])
        labels = [o >= OPEN_FROM or o < CLOSED_BELOW for o in openness]
        if not any(labels):
            continue
        image = read_colour(face.file)
        transform = testdata.frame_transform(face.iris_left, face.iris_right)
        for shift in SHIFTS:
            grey = webcam_grey(move_gaze(image, mesh, shift)[0] if shift else image, transform)
            eyes = tracked_eyes(tracker, face, grey, transform)
            if eyes is None:
                continue
            for eye, labelled, o in zip(eyes, labels, openness, strict=True):
                if labelled:
                    patches.append(eye_state.eye_patch(eye))
                    closed.append(o < CLOSED_BELOW)
    return patches, closed


def pasted_patches(tracker: GazeTracker, hosts: list[testdata.ReferenceFace], cew: list[np.ndarray],
                   cew_closed: list[bool]) -> tuple[list[np.ndarray], list[bool]]:
    """Each CEW patch pasted over both eyes of one host face (`PastedEyes`; the hosts taken in turn), framed as
    the benchmarks frame faces (62 px, JPEG quality 80 after the paste, as a camera would encode the eye), then cut
    from the tracker's fit on that frame and labelled as the patch is. Hosts the tracker does not fit, and pasted
    frames where it fits another face, give nothing."""
    patches, closed = [], []
    for h, face in enumerate(hosts):
        transform = testdata.frame_transform(face.iris_left, face.iris_right)
        still = webcam_grey(read_colour(face.file), transform)
        if tracked_eyes(tracker, face, still, transform) is None:
            continue
        paste = PastedEyes(tracker, still)
        for k in range(h, len(cew), len(hosts)):
            grey = decode_grey(testdata.encode_jpeg(paste.frame_with(cew[k]), JPEG_QUALITY))
            eyes = tracked_eyes(tracker, face, grey, transform)
            if eyes is not None:
                patches += [eye_state.eye_patch(eye) for eye in eyes]
                closed += [cew_closed[k]] * 2
    return patches, closed


def open_tune_faces() -> list[testdata.ReferenceFace]:
    """The faces of faces-helen-afw's tune half whose eyes are both open (MediaPipe openness >= OPEN_FROM)."""
    return [f for f in testdata.helen_afw_faces() if testdata.helen_afw_split(f) == "tune"
            and min(f.raw["openness_left"], f.raw["openness_right"]) >= OPEN_FROM]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("eyes", type=Path, help="CEW patches in closed*/open* folders")
    parser.add_argument("--helen-afw", action="store_true",
                        help="also the eyes of faces-helen-afw's tune half (from the shared data folder)")
    parser.add_argument("--contours", nargs="+", metavar="MODEL",
                        help="cut the faces-helen-afw eyes with each of these landmark models (full, pruned or a "
                             "file, as GAZEPIPE_MODEL names them), each eye once per model; by default the workers'")
    parser.add_argument("--pasted", action="store_true",
                        help="also CEW's tune patches pasted into faces-helen-afw's open tune faces and cut again by "
                             "the tracker (each patch once, both eyes)")
    parser.add_argument("--out", type=Path, default=eye_state.WEIGHTS)
    args = parser.parse_args(argv)
    patches, closed, sources = eye_patches(args.eyes)
    tune = [i for i, s in enumerate(sources) if testdata.patch_split(s) == "tune"]
    repeated = tune + [i for i in tune if closed[i]] * (CLOSED_REPEAT - 1)
    x_list = [patches[i] for i in repeated]
    y_list = [closed[i] for i in repeated]
    if args.helen_afw:
        for model in args.contours or [None]:
            more, more_closed = face_patches(GazeTracker(predictor_path(model)))
            x_list += more
            y_list += more_closed
    if args.pasted:
        more, more_closed = pasted_patches(GazeTracker(predictor_path()), open_tune_faces(),
                                           [patches[i] for i in tune], [closed[i] for i in tune])
        x_list += more
        y_list += more_closed
    x = np.array(x_list, dtype=np.float32)
    y = np.array(y_list, dtype=np.float32)
    with multiprocessing.Pool(ENSEMBLE) as pool:  # one process per network: they train independently
        networks = pool.starmap(train, [(x, y, seed) for seed in range(ENSEMBLE)])
    weights: dict[str, object] = {f"net{seed}.{name}": value for seed, params in enumerate(networks)
                                  for name, value in params.items()}
    np.savez_compressed(args.out, **weights)  # type: ignore[arg-type]
    inputs = eye_state.normalise(x)
    logits = np.mean([eye_state.forward(params, inputs)[0] for params in networks], axis=0)
    accuracy = np.mean((logits > 0.0) == (y > 0.5))
    print(f"trained on {len(x)} patches ({int(y.sum())} closed), accuracy on them {accuracy:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
