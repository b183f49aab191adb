"""Re-fits the leaf values of the pruned landmark model to the full model's outputs (least squares), to win back
part of what pruning costs. Writes `models/shape_predictor_68_face_landmarks_<S>x<T>_refit.dat`.

    .venv/bin/python models/refit.py [--stages 8 --trees 250]

The pruned model keeps the full model's first trees and its splits; only the leaves change. Stage by stage, the
pruned cascade runs on the training faces (a NumPy copy of dlib's predictor, which matches dlib's points to the
pixel on about 97 % of points and within 2 px on all), and the kept trees' leaves are fitted by backfitting
(each tree in turn, a few passes) so that the stage ends where the full model's same stage ends (the last stage:
where the full model's last stage ends), shrunk towards their original values where few faces reach a leaf.

Training faces: the `tune` side of faces-helen-afw split by photo (`testdata.helen_afw_side`: a third of the
photos on the `test` side), each at 45, 62 and 90 px between the eye centres, mirrored
and not, in dlib's detector box and in a box shifted and scaled by up to 4 %. The targets are the full model's
points, never the human ones.

Measured on the test side (`docs/performance.md`, "The landmark model"), the re-fitted 8 x 250 was no better than
the plain cut, so the workers do not use it and no re-fitted file is kept in the repository."""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from gazepipe import testdata
from gazepipe.model import full_model_path
from gazepipe.tracking import predictor_file
from gazepipe.tracking.face import FaceFinder
from gazepipe.tracking.predictor_file import ShapePredictor, Stage

SIZES = (45.0, 62.0, 90.0)
JITTER = 0.04
MARGIN = 0.8  # of the box, kept around it in each training crop: dlib's feature pixels lie well inside
PASSES = 3
SHRINK = 20.0  # faces' worth of weight on a leaf's original value
SEED = 13

Shapes = npt.NDArray[np.float32]  # (faces, parts, 2), in the face box's unit square


@dataclass
class Samples:
    greys: list[npt.NDArray[np.uint8]]
    rects: npt.NDArray[np.float64]  # (faces, 4): left, top, right, bottom (inclusive), as dlib.rectangle


def training_samples(split: str) -> Samples:
    finder = FaceFinder(full_model_path())
    rng = np.random.default_rng(SEED)
    greys: list[npt.NDArray[np.uint8]] = []
    rects: list[tuple[float, float, float, float]] = []
    for face in testdata.helen_afw_faces():
        if testdata.helen_afw_side(face) != split:
            continue
        image = testdata.read_grey(face.file)
        centres = np.array([face.points[36:42].mean(axis=0), face.points[42:48].mean(axis=0)])
        for size in SIZES:
            grey = testdata.webcam_frame(image, testdata.frame_transform(centres[0], centres[1], size))
            box = finder.detect(grey)
            eyes = (testdata.FRAME_SIZE[0] / 2, testdata.FRAME_SIZE[1] * 0.42)  # where frame_transform puts them
            if box is None or not (box[0] < eyes[0] < box[0] + box[2] and box[1] < eyes[1] < box[1] + box[3]):
                continue  # no face, or another face of the photo
            for mirrored in (False, True):
                frame = grey[:, ::-1] if mirrored else grey
                x, y, w, _ = box
                if mirrored:
                    x = grey.shape[1] - x - w
                for jitter in (0.0, JITTER):
                    dx, dy, ds = rng.uniform(-jitter, jitter, 3) * w
                    left, top, side = x + dx - ds / 2, y + dy - ds / 2, w + ds
                    _add_crop(greys, rects, frame, (left, top, left + side - 1, top + side - 1))
    return Samples(greys, np.array(rects))


def _add_crop(greys: list[npt.NDArray[np.uint8]], rects: list[tuple[float, float, float, float]],
              frame: npt.NDArray[np.uint8], rect: tuple[float, float, float, float]) -> None:
    """Keeps the part of `frame` around `rect` (the rectangle rounded as dlib.rectangle rounds it)."""
    left, top, right, bottom = (round(v) for v in rect)
    margin = round(MARGIN * (right - left))
    x0, y0 = max(0, left - margin), max(0, top - margin)
    x1, y1 = min(frame.shape[1], right + margin + 1), min(frame.shape[0], bottom + margin + 1)
    greys.append(np.ascontiguousarray(frame[y0:y1, x0:x1]))
    rects.append((left - x0, top - y0, right - x0, bottom - y0))


def features(stage: Stage, initial: npt.NDArray[np.float64], shapes: Shapes, samples: Samples) -> Shapes:
    """The stage's feature pixel values on each face (dlib's extract_feature_pixel_values)."""
    moved = _similarity(initial, shapes.astype(np.float64)).astype(np.float32)
    points = np.einsum("nij,fj->nfi", moved, stage.deltas) + shapes[:, stage.anchors]
    left, top, right, bottom = (samples.rects[:, i:i + 1] for i in range(4))
    xs = np.floor(left + points[:, :, 0] * (right - left) + 0.5).astype(np.int64)
    ys = np.floor(top + points[:, :, 1] * (bottom - top) + 0.5).astype(np.int64)
    values = np.zeros(xs.shape, dtype=np.float32)
    for i, grey in enumerate(samples.greys):
        inside = (xs[i] >= 0) & (ys[i] >= 0) & (xs[i] < grey.shape[1]) & (ys[i] < grey.shape[0])
        values[i, inside] = grey[ys[i, inside], xs[i, inside]]
    return values


def _similarity(source: npt.NDArray[np.float64], targets: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The 2x2 part (scale x rotation) of the least-squares similarity from `source` (parts, 2) to each of
    `targets` (faces, parts, 2), as dlib's find_similarity_transform (Umeyama) computes it."""
    src = source - source.mean(axis=0)
    dst = targets - targets.mean(axis=1, keepdims=True)
    covariance = np.einsum("npi,pj->nij", dst, src) / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.ones((len(targets), 2))
    sign[np.linalg.det(covariance) < 0, 1] = -1
    scale = (d * sign).sum(axis=1) / (src ** 2).sum(axis=1).mean()
    return scale[:, None, None] * (u @ (sign[:, :, None] * vt))


def leaves_reached(stage: Stage, values: Shapes) -> npt.NDArray[np.int64]:
    """(faces, trees): the leaf each tree ends in."""
    trees, splits = stage.thresholds.shape
    node = np.zeros((len(values), trees), dtype=np.int64)
    tree = np.arange(trees)[None, :]
    for _ in range(int(np.log2(splits + 1))):
        first = np.take_along_axis(values, stage.splits[tree, node, 0], axis=1)
        second = np.take_along_axis(values, stage.splits[tree, node, 1], axis=1)
        node = np.where(first - second > stage.thresholds[tree, node], 2 * node + 1, 2 * node + 2)
    return node - splits


def trace(predictor: ShapePredictor, samples: Samples) -> list[Shapes]:
    """The shapes after each stage (the initial shape first)."""
    initial = predictor.initial_shape.reshape(-1, 2)
    shapes = np.repeat(initial[None], len(samples.greys), axis=0)
    out = [shapes]
    for stage in predictor.stages:
        reached = leaves_reached(stage, features(stage, initial.astype(np.float64), shapes, samples))
        update = np.zeros((len(shapes), initial.size), dtype=np.float32)
        for tree in range(stage.trees):
            update += stage.leaves[tree, reached[:, tree]]
        shapes = shapes + update.reshape(shapes.shape)
        out.append(shapes)
    return out


def refit(pruned: ShapePredictor, targets: list[Shapes], samples: Samples) -> ShapePredictor:
    """`pruned` with each stage's leaves fitted to end where targets[stage] is."""
    initial = pruned.initial_shape.reshape(-1, 2)
    shapes = np.repeat(initial[None], len(samples.greys), axis=0)
    stages = []
    for index, stage in enumerate(pruned.stages):
        reached = leaves_reached(stage, features(stage, initial.astype(np.float64), shapes, samples))
        leaves = stage.leaves.copy()
        flat = shapes.reshape(len(shapes), -1)
        residual = targets[index].reshape(len(shapes), -1) - flat
        for tree in range(stage.trees):
            residual -= leaves[tree, reached[:, tree]]
        before = float(np.sqrt((residual ** 2).mean()))
        eye = np.eye(leaves.shape[1], dtype=np.float32)
        for _ in range(PASSES):
            for tree in range(stage.trees):
                residual += leaves[tree, reached[:, tree]]
                hits = eye[reached[:, tree]]
                counts = hits.sum(axis=0)[:, None]
                leaves[tree] = (hits.T @ residual + SHRINK * stage.leaves[tree]) / (counts + SHRINK)
                residual -= leaves[tree, reached[:, tree]]
        print(f"stage {index}: rms residual {before:.5f} -> {float(np.sqrt((residual ** 2).mean())):.5f}",
              file=sys.stderr)
        shapes = (targets[index].reshape(len(shapes), -1) - residual).reshape(shapes.shape)
        stages.append(Stage(stage.splits, stage.thresholds, leaves, stage.anchors, stage.deltas))
    return ShapePredictor(pruned.initial_shape, tuple(stages))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=8)
    parser.add_argument("--trees", type=int, default=250)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    full = predictor_file.read(full_model_path())
    samples = training_samples("tune")
    print(f"{len(samples.greys)} training faces", file=sys.stderr)
    full_trace = trace(full, samples)
    targets = [*full_trace[1:args.stages], full_trace[-1]]
    fitted = refit(full.pruned(args.stages, args.trees), targets, samples)
    out = args.out or Path(__file__).parent / f"shape_predictor_68_face_landmarks_{args.stages}x{args.trees}_refit.dat"
    predictor_file.write(fitted, out)
    print(out, out.stat().st_size, hashlib.sha256(out.read_bytes()).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
