"""The small convolutional networks' shared forward pieces (NumPy only): the eye-state classifier and the
pupil stage's iris-centre regressor run the same trunk under different heads."""

from __future__ import annotations

import numpy as np

Activations = tuple[np.ndarray, ...]


def normalise(patches: np.ndarray) -> np.ndarray:
    """(N, H, W) grey patches to (N, H, W, 1) with zero mean and unit contrast each."""
    # np.mean's and np.std's own steps (a sum, divided; the squared deviations' mean), without their Python
    # overhead and copies: the same floats
    pixels = patches.shape[1] * patches.shape[2]
    x = patches.astype(np.float32)
    x -= x.sum(axis=(1, 2), keepdims=True) / pixels
    contrast = np.sqrt(np.square(x).sum(axis=(1, 2), keepdims=True) / pixels)
    contrast += 4.0
    x /= contrast
    return x[..., None]


def conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'Same' 3x3 convolution of (..., N, H, W, C) by (..., 3, 3, C, O), as one matrix product over 3x3 windows;
    leading axes broadcast (the ensemble's networks side by side)."""
    *lead, h, wd, c = x.shape
    padded = np.zeros((*lead, h + 2, wd + 2, c), np.float32)
    padded[..., 1:-1, 1:-1, :] = x
    # The columns: each pixel's window in (dy, dx, c) order, as `w` is laid out, built by one copy of a strided
    # view of `padded` whose innermost runs are as long as the layout allows.
    s = padded.strides
    if c == 1:
        # 9 shifted planes (runs of W floats), which the matrix product reads transposed
        planes = np.ndarray((*lead[:-1], 3, 3, lead[-1], h, wd), np.float32, padded, 0,
                            (*s[:-4], s[-3], s[-2], s[-4], s[-3], s[-2]))
        columns = np.ascontiguousarray(planes).reshape(*lead[:-1], 9, -1).swapaxes(-1, -2)
    else:
        # per window row (dy), its 3 pixels' channels are 3C consecutive floats
        rows = np.ndarray((*lead, h, wd, 3, 3 * c), np.float32, padded, 0, (*s[:-1], s[-3], s[-1]))
        columns = rows.reshape(*lead[:-1], -1, 9 * c)
    out = columns @ w.reshape(*w.shape[:-4], 9 * c, w.shape[-1])
    out = out.reshape(*out.shape[:-2], lead[-1], h, wd, w.shape[-1])
    out += b[..., None, None, None, :]
    return out


def pool2x2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pooling of (..., H, W, C); also the input in blocks, for the gradient."""
    *lead, h, w, c = x.shape
    # rows in pairs, then each pixel pair's 2C channels: two maxima over long runs of floats
    row_pairs = x.reshape(*lead, h // 2, 2, w // 2, 2 * c)
    pixel_pairs = np.maximum(row_pairs[..., 0, :, :], row_pairs[..., 1, :, :])
    pooled = np.maximum(pixel_pairs[..., :c], pixel_pairs[..., c:])
    return pooled, x.reshape(*lead, h // 2, 2, w // 2, 2, c)


def trunk(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, Activations]:
    """The hidden layer for normalised patches (two 3x3 convolutions with 2x2 max pooling, then a dense ReLU
    layer), and the activations training needs. `params` may stack networks on a leading axis: the hidden
    layer is then one block per network."""
    # Max pooling and ReLU commute: pooled first, the ReLU runs on a quarter of the floats (the blocks hold the
    # convolution's outputs, whose winners under a positive maximum are the ReLU's).
    a1 = conv3x3(x, params["c1"], params["cb1"])
    pooled1, blocks1 = pool2x2(a1)
    p1 = np.maximum(pooled1, 0.0)
    a2 = conv3x3(p1, params["c2"], params["cb2"])
    pooled2, blocks2 = pool2x2(a2)
    p2 = np.maximum(pooled2, 0.0)
    flat = p2.reshape(*p2.shape[:-3], -1)
    a3 = flat @ params["w3"] + params["b3"][..., None, :]
    hidden = np.maximum(a3, 0.0)
    return hidden, (x, a1, p1, blocks1, a2, p2, blocks2, flat, a3, hidden)
