"""Training pieces shared by the small CNNs of `gazepipe.tracking.convnet` (the eye-state classifier's and the
pupil stage's): initial weights, the trunk's backward pass and Adam with a cosine learning rate."""

from __future__ import annotations

import numpy as np

from gazepipe.tracking.convnet import Activations


def init(rng: np.random.Generator, channels: tuple[int, int], hidden: int, pooled: int,
         outputs: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    """He-initialised weights for a trunk whose second pooling leaves `pooled` pixels, and a dense head of
    `outputs` (none: one output, `w4` a vector)."""
    c1, c2 = channels
    shapes = {"c1": (3, 3, 1, c1), "c2": (3, 3, c1, c2), "w3": (pooled * c2, hidden), "w4": (hidden, *outputs)}
    fan_in = {"c1": 9, "c2": 9 * c1, "w3": pooled * c2, "w4": hidden}
    params = {k: rng.normal(0, np.sqrt(2 / fan_in[k]), shape).astype(np.float32) for k, shape in shapes.items()}
    params.update(cb1=np.zeros(c1, np.float32), cb2=np.zeros(c2, np.float32),
                  b3=np.zeros(hidden, np.float32), b4=np.zeros(outputs or (1,), np.float32))
    return params


def _conv_backward(x: np.ndarray, w: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, ...]:
    _, h, wd, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    dpadded = np.zeros_like(padded)
    dw = np.zeros_like(w)
    for dy in range(3):
        for dx in range(3):
            shifted = padded[:, dy:dy + h, dx:dx + wd, :]
            dw[dy, dx] = shifted.reshape(-1, c).T @ dout.reshape(-1, dout.shape[3])
            dpadded[:, dy:dy + h, dx:dx + wd, :] += dout @ w[dy, dx].T
    return dpadded[:, 1:-1, 1:-1, :], dw, dout.sum(axis=(0, 1, 2))


def _pool_backward(blocks: np.ndarray, pooled: np.ndarray, dpooled: np.ndarray) -> np.ndarray:
    winners = blocks == pooled[:, :, None, :, None, :]
    n, a, _, b, _, c = blocks.shape
    return (winners * dpooled[:, :, None, :, None, :]).reshape(n, 2 * a, 2 * b, c)


def trunk_backward(params: dict[str, np.ndarray], acts: Activations, dhidden: np.ndarray) -> dict[str, np.ndarray]:
    """The trunk's gradients, given the loss's gradient on its hidden layer's output (before the ReLU's mask)."""
    x, a1, p1, blocks1, a2, p2, blocks2, flat, a3, _ = acts
    grads = {}
    dhidden = dhidden * (a3 > 0)
    grads["w3"], grads["b3"] = flat.T @ dhidden, dhidden.sum(axis=0)
    dp2 = (dhidden @ params["w3"].T).reshape(p2.shape)
    da2 = _pool_backward(blocks2, p2, dp2) * (a2 > 0)
    dp1, grads["c2"], grads["cb2"] = _conv_backward(p1, params["c2"], da2)
    da1 = _pool_backward(blocks1, p1, dp1) * (a1 > 0)
    _, grads["c1"], grads["cb1"] = _conv_backward(x, params["c1"], da1)
    return grads


class Adam:
    """Adam with weight decay, its learning rate on a cosine schedule to zero over `steps`."""

    def __init__(self, params: dict[str, np.ndarray], rate: float, decay: float, steps: int) -> None:
        self.params, self.rate, self.decay, self.steps = params, rate, decay, steps
        self.moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
        self.step = 0

    def update(self, grads: dict[str, np.ndarray]) -> None:
        self.step += 1
        rate = self.rate * 0.5 * (1 + np.cos(np.pi * self.step / self.steps))
        for k, g in grads.items():
            g = g + self.decay * self.params[k]
            m, v = self.moments[k]
            m[:] = 0.9 * m + 0.1 * g
            v[:] = 0.999 * v + 0.001 * g * g
            self.params[k] -= rate * (m / (1 - 0.9**self.step)) / (np.sqrt(v / (1 - 0.999**self.step)) + 1e-8)
