"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012): a low-pass filter whose cutoff rises with speed.

Slow movements (fixations) are smoothed strongly, fast ones (saccades) pass with little lag. Time comes from the
client's timestamps, so the filter behaves the same at any frame rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _alpha(cutoff_hz: float, dt_s: float) -> float:
    """The smoothing factor of a first-order low-pass filter with this cutoff over a step of dt_s seconds."""
    if dt_s <= 0:
        return 0.0
    if cutoff_hz <= 0:
        return 0.0  # a zero cutoff holds the previous value
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One scalar. `min_cutoff_hz` sets the jitter removed at rest, `beta` how fast the cutoff rises with speed
    (in units of the value per second), `d_cutoff_hz` the smoothing of the speed estimate."""

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.0, d_cutoff_hz: float = 1.0) -> None:
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self.value: float | None = None
        self.speed = 0.0
        self._t_ms: float | None = None

    def reset(self) -> None:
        self.value = None
        self.speed = 0.0
        self._t_ms = None

    def __call__(self, x: float, t_ms: float) -> float:
        if self.value is None or self._t_ms is None:
            self.value, self.speed, self._t_ms = x, 0.0, t_ms
            return x
        dt = (t_ms - self._t_ms) / 1000.0
        if dt <= 0:  # same or earlier timestamp: nothing to integrate over, keep the estimate
            return self.value
        self._t_ms = t_ms
        speed = (x - self.value) / dt
        self.speed += _alpha(self.d_cutoff_hz, dt) * (speed - self.speed)
        cutoff = self.min_cutoff_hz + self.beta * abs(self.speed)
        self.value += _alpha(cutoff, dt) * (x - self.value)
        return self.value


class VectorFilter:
    """One One Euro filter per coordinate; a missing value (None) resets it, so that it restarts from the next
    measurement instead of gliding from a stale one."""

    def __init__(self, size: int) -> None:
        self.filters = [OneEuroFilter() for _ in range(size)]

    def configure(self, min_cutoff_hz: float, beta: float, d_cutoff_hz: float) -> None:
        for f in self.filters:
            f.min_cutoff_hz, f.beta, f.d_cutoff_hz = min_cutoff_hz, beta, d_cutoff_hz

    def __call__(self, values: Sequence[float] | None, t_ms: float) -> tuple[float, ...] | None:
        if values is None:
            for f in self.filters:
                f.reset()
            return None
        return tuple(f(float(v), t_ms) for f, v in zip(self.filters, values, strict=True))
