"""The eye-state ensemble run as one batch gives what its networks give one at a time, on real CEW patches, and
the activations it returns still train it (benchmarks/train_eye_state.py's backward)."""

from __future__ import annotations

import numpy as np
import pytest
import testdata
from accuracy import eye_patches
from train_eye_state import backward

from gazepipe.tracking import eye_state


@pytest.fixture(scope="module")
def cew() -> tuple[np.ndarray, np.ndarray]:
    patches, closed, _ = eye_patches(testdata.data_root() / "cew-eyes", limit=40)
    return np.array(patches), np.array(closed)


def _one_network_at_a_time(patches: np.ndarray) -> np.ndarray:
    """The ensemble's probabilities as it was first written: each network's `forward`, their logits averaged."""
    x = eye_state.normalise(patches)
    logits = np.mean([eye_state.forward(params, x)[0] for params in eye_state.load_weights()], axis=0)
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def test_the_batched_ensemble_gives_each_networks_probabilities_and_decisions(
        cew: tuple[np.ndarray, np.ndarray]) -> None:
    patches, closed = cew
    expected = _one_network_at_a_time(patches)
    # one eye and two eyes per call, as the tracker asks, and all at once
    for batch in (1, 2, len(patches)):
        got = np.concatenate([eye_state.closed_probabilities(patches[i:i + batch])
                              for i in range(0, len(patches), batch)])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        assert np.array_equal(got > eye_state.CLOSED_ABOVE, expected > eye_state.CLOSED_ABOVE)
    # real decisions on both sides of the threshold, and mostly right (CEW: 95 % on the test half)
    decisions = expected > eye_state.CLOSED_ABOVE
    assert 0 < decisions.sum() < len(decisions)
    assert np.mean(decisions == closed) > 0.85


def test_each_row_of_the_stacked_forward_is_that_networks_forward(cew: tuple[np.ndarray, np.ndarray]) -> None:
    x = eye_state.normalise(cew[0][:16])
    stacked, _ = eye_state.forward(eye_state.ensemble(), x)
    for row, params in zip(stacked, eye_state.load_weights(), strict=True):
        np.testing.assert_allclose(row, eye_state.forward(params, x)[0], rtol=0, atol=1e-5)


def test_the_activations_give_the_loss_gradient(cew: tuple[np.ndarray, np.ndarray]) -> None:
    """Training's backward pass over `forward`'s activations against the loss's own change along the gradient
    (pooling before the ReLU must leave the gradient as it was)."""
    patches, closed = cew
    params = {k: v.astype(np.float32) for k, v in eye_state.load_weights()[0].items()}
    x, y = eye_state.normalise(patches[::4]), closed[::4].astype(np.float32)

    def loss(p: dict[str, np.ndarray]) -> float:
        logits = eye_state.forward(p, x)[0].astype(np.float64)
        return float(np.mean(np.logaddexp(0.0, logits) - y * logits))

    logits, acts = eye_state.forward(params, x)
    grads = backward(params, acts, ((1 / (1 + np.exp(-logits)) - y) / len(y)).astype(np.float32))
    for name, grad in grads.items():  # each parameter on its own: the first convolution's share is small
        squared_norm = float(np.sum(grad.astype(np.float64) ** 2))
        step = np.float32(1e-2 / np.sqrt(squared_norm))
        ahead = loss({**params, name: params[name] + step * grad})
        behind = loss({**params, name: params[name] - step * grad})
        assert (ahead - behind) / (2 * float(step)) == pytest.approx(squared_norm, rel=0.05), name
