"""dlib's `shape_predictor` file, read into NumPy arrays and written back byte for byte (dlib's own format:
`dlib/image_processing/shape_predictor.h`, `dlib/serialize.h`, `dlib/float_details.h`).

Every value in the file is one of dlib's integers: a control byte (0x80 for negative, the low 4 bits the number
of bytes) and that many little-endian bytes of the absolute value. A float is two of them, its mantissa and its
exponent; a matrix is -rows, -columns and its values; a vector its length and its items. A predictor is
version 1, the initial shape (a matrix of 2 x parts floats), the stages' forests of regression trees (each tree
its splits (pixel index, pixel index, threshold) and its leaves (a shape update each)), and per stage the anchor
point index and offset of each feature pixel.

The 33 million values of the 100 MB model are found and decoded with NumPy: the file is cut into chunks, a walk
from the start of every chunk runs in all chunks at once, and the one walk from the file's start joins them, as a
variable-length code falls back into step within a few values."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

VERSION = 1
_CHUNK = 1024
# float_details: a float32 is mantissa * 2**exponent with a 24-bit mantissa, whose zero low bytes are shifted off
_DIGITS = 24
_IS_INF, _IS_NINF, _IS_NAN = 32000, 32001, 32002

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Stage:
    """One level of the cascade: its trees (all of one depth) and the feature pixels they compare."""

    splits: Ints  # (trees, splits, 2): the two feature pixels each split compares
    thresholds: Floats  # (trees, splits)
    leaves: Floats  # (trees, splits + 1, 2 * parts): the shape update of each leaf
    anchors: Ints  # (pixels,): the initial shape's point each feature pixel is placed from
    deltas: Floats  # (pixels, 2): and its offset from that point

    @property
    def trees(self) -> int:
        return int(self.leaves.shape[0])


@dataclass(frozen=True)
class ShapePredictor:
    """A dlib shape predictor as arrays."""

    initial_shape: Floats  # (2 * parts,): x0, y0, x1, y1, ... in the face box's unit square
    stages: tuple[Stage, ...]

    @property
    def parts(self) -> int:
        return self.initial_shape.size // 2

    def pruned(self, stages: int, trees: int) -> ShapePredictor:
        """The first `trees` trees of each of the first `stages` stages: a cheaper predictor of the same format."""
        if not (0 < stages <= len(self.stages) and trees > 0):
            raise ValueError(f"cannot keep {stages} of {len(self.stages)} stages")
        kept = tuple(replace(s, splits=s.splits[:trees], thresholds=s.thresholds[:trees], leaves=s.leaves[:trees])
                     for s in self.stages[:stages])
        return replace(self, stages=kept)


def read(path: Path | str) -> ShapePredictor:
    return decode(np.fromfile(path, dtype=np.uint8))


def write(predictor: ShapePredictor, path: Path | str) -> None:
    encode(predictor).tofile(path)


def decode(data: npt.NDArray[np.uint8]) -> ShapePredictor:
    """The predictor serialized in `data`; ValueError if it is not one."""
    tokens = _Tokens(_decode_ints(data, _token_starts(data)))
    if tokens.integer() != VERSION:
        raise ValueError("not a version 1 dlib shape_predictor")
    initial_shape = tokens.matrix()
    parts2 = initial_shape.size
    forests = [_read_forest(tokens, parts2) for _ in range(tokens.integer())]
    anchors = [tokens.take(tokens.integer()) for _ in range(tokens.integer())]
    deltas = [tokens.floats(2 * tokens.integer()).reshape(-1, 2) for _ in range(tokens.integer())]
    if tokens.left or not len(forests) == len(anchors) == len(deltas):
        raise ValueError("not a dlib shape_predictor: the stages do not add up")
    stages = tuple(Stage(*forest, a, d) for forest, a, d in zip(forests, anchors, deltas, strict=True))
    return ShapePredictor(initial_shape, stages)


def encode(predictor: ShapePredictor) -> npt.NDArray[np.uint8]:
    """The bytes dlib's `serialize` writes for `predictor`."""
    parts2 = predictor.initial_shape.size
    stages = predictor.stages
    pieces: list[Ints] = [np.array([VERSION, -parts2, -1]), _float_tokens(predictor.initial_shape),
                          np.array([len(stages)])]
    for stage in stages:
        trees, splits = stage.thresholds.shape
        leaves = stage.leaves.shape[1]
        split_tokens = np.concatenate([stage.splits, _float_tokens(stage.thresholds).reshape(trees, splits, 2)],
                                      axis=2).reshape(trees, -1)
        leaf_tokens = np.concatenate([np.broadcast_to(np.array([-parts2, -1]), (trees, leaves, 2)),
                                      _float_tokens(stage.leaves).reshape(trees, leaves, -1)], axis=2)
        pieces += [np.array([trees]), np.concatenate([
            np.full((trees, 1), splits), split_tokens, np.full((trees, 1), leaves), leaf_tokens.reshape(trees, -1),
        ], axis=1).ravel()]
    pieces.append(np.array([len(stages)]))
    for stage in stages:
        pieces += [np.array([stage.anchors.size]), stage.anchors]
    pieces.append(np.array([len(stages)]))
    for stage in stages:
        pieces += [np.array([len(stage.deltas)]), _float_tokens(stage.deltas)]
    return _encode_ints(np.concatenate([np.asarray(p, dtype=np.int64).ravel() for p in pieces]))


class _Tokens:
    """A cursor over the file's decoded integers."""

    def __init__(self, values: Ints) -> None:
        self._values = values
        self._at = 0

    @property
    def left(self) -> int:
        return self._values.size - self._at

    def take(self, count: int) -> Ints:
        if count > self.left:
            raise ValueError("not a dlib shape_predictor: it ends early")
        self._at += count
        return self._values[self._at - count:self._at]

    def peek(self, offset: int) -> int:
        if offset >= self.left:
            raise ValueError("not a dlib shape_predictor: it ends early")
        return int(self._values[self._at + offset])

    def integer(self) -> int:
        return int(self.take(1)[0])

    def floats(self, count: int) -> Floats:
        return _floats(self.take(2 * count))

    def matrix(self) -> Floats:
        rows, cols = -self.integer(), -self.integer()
        return self.floats(rows * cols)


def _read_forest(tokens: _Tokens, parts2: int) -> tuple[Ints, Floats, Floats]:
    """One stage's trees, read as one block: each tree is its split count, 4 integers a split, its leaf count,
    and per leaf -rows, -1 and 2 integers a value. Trees of unequal depth are refused."""
    trees = tokens.integer()
    if trees == 0:
        raise ValueError("a stage without trees")
    splits = tokens.peek(0)
    leaves = tokens.peek(1 + 4 * splits)
    width = 1 + 4 * splits + 1 + leaves * (2 + 2 * parts2)
    block = tokens.take(trees * width).reshape(trees, width)
    leaf_block = block[:, 2 + 4 * splits:].reshape(trees, leaves, 2 + 2 * parts2)
    if (np.any(block[:, 0] != splits) or np.any(block[:, 1 + 4 * splits] != leaves)
            or np.any(leaf_block[:, :, 0] != -parts2) or np.any(leaf_block[:, :, 1] != -1)):
        raise ValueError("the trees of a stage differ in shape")
    split_block = block[:, 1:1 + 4 * splits].reshape(trees, splits, 4)
    thresholds = _floats(split_block[:, :, 2:].ravel()).reshape(trees, splits)
    values = _floats(leaf_block[:, :, 2:].ravel()).reshape(trees, leaves, parts2)
    return split_block[:, :, :2].copy(), thresholds, values


def _floats(tokens: Ints) -> Floats:
    """float_details pairs (mantissa, exponent) as float32."""
    mantissa, exponent = tokens[0::2], tokens[1::2]
    finite = exponent < _IS_INF
    values = np.ldexp(mantissa.astype(np.float64), np.where(finite, exponent, 0)).astype(np.float32)
    if not finite.all():
        values[exponent == _IS_INF] = np.inf
        values[exponent == _IS_NINF] = -np.inf
        values[exponent == _IS_NAN] = np.nan
    return values


def _float_tokens(values: npt.NDArray[np.floating]) -> Ints:
    """float_details of float32 values as (mantissa, exponent) pairs, flattened, as dlib computes them."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    fraction, exponent = np.frexp(flat)
    finite = np.isfinite(flat)
    mantissa = np.where(finite, fraction.astype(np.float64) * (1 << _DIGITS), 0).astype(np.int64)
    exponent = exponent.astype(np.int64) - _DIGITS
    for _ in range(8):  # shift off zero low bytes (arithmetic shift, as C++ does on the signed mantissa)
        zero = (mantissa & 0xFF) == 0
        if not zero.any():
            break
        mantissa = np.where(zero, mantissa >> 8, mantissa)
        exponent = np.where(zero, exponent + 8, exponent)
    if not finite.all():
        exponent[np.isnan(flat)] = _IS_NAN
        exponent[flat == np.inf] = _IS_INF
        exponent[flat == -np.inf] = _IS_NINF
    return np.stack([mantissa, exponent], axis=1).ravel()


def _token_starts(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """Where each integer of `data` starts. A walk from every chunk's first byte, all at once, marks its
    chunk; the walk from the file's start then follows the marks, correcting a chunk wherever that chunk's own
    walk had started out of step, until the two meet."""
    size = data.size
    marks = np.zeros(size, dtype=bool)
    starts = np.arange(0, size, _CHUNK)
    ends = np.minimum(starts + _CHUNK, size)
    exits = starts.copy()
    live = np.arange(starts.size)
    while live.size:
        at = exits[live]
        marks[at] = True
        exits[live] = at = at + 1 + (data[at] & 0x0F)
        live = live[at < ends[live]]
    position = 0
    for chunk in range(starts.size):
        walked = []
        while position < ends[chunk] and not marks[position]:
            walked.append(position)
            position += 1 + int(data[position] & 0x0F)
        if position < ends[chunk]:  # in step with this chunk's walk from here on
            marks[starts[chunk]:position] = False
            position = int(exits[chunk])
        else:
            marks[starts[chunk]:ends[chunk]] = False
        marks[walked] = True
    if position != size:
        raise ValueError("not a dlib file: the last value runs past its end")
    return np.flatnonzero(marks)


def _decode_ints(data: npt.NDArray[np.uint8], starts: npt.NDArray[np.intp]) -> Ints:
    control = data[starts]
    lengths = control & 0x0F
    if np.any(lengths > 8):
        raise ValueError("not a dlib file: an integer longer than 8 bytes")
    padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
    values = np.zeros(starts.size, dtype=np.int64)
    for byte in range(int(lengths.max(initial=0))):
        part = padded[starts + 1 + byte]
        part[lengths <= byte] = 0
        values |= part.astype(np.int64) << (8 * byte)
    values[control >= 0x80] *= -1
    return values


def _encode_ints(values: Ints) -> npt.NDArray[np.uint8]:
    """dlib's integer code of each value, concatenated: the fewest bytes that hold it, at least one."""
    magnitude = np.abs(values).astype("<i8")
    longest = 1
    while longest < 8 and np.any(magnitude >> (8 * longest)):
        longest += 1
    lengths = np.ones(values.size, dtype=np.uint8)
    for byte in range(1, longest):
        lengths += magnitude >= (1 << (8 * byte))
    codes = np.empty((values.size, 1 + longest), dtype=np.uint8)
    codes[:, 0] = lengths
    codes[values < 0, 0] |= 0x80
    codes[:, 1:] = magnitude.view(np.uint8).reshape(-1, 8)[:, :longest]
    return codes[np.arange(1 + longest) <= lengths[:, None]]
