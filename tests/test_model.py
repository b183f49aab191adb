"""Which landmark model the workers load: the full model, the pruned one derived into the cache folder, or a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gazepipe import model


def test_the_pruned_model_is_derived_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(model.MODEL_ENV, model.PRUNED)
    monkeypatch.setenv(model.CACHE_ENV, str(tmp_path / "cache"))
    path = model.predictor_path()
    assert path == tmp_path / "cache" / model.PRUNED_FILE
    assert model.sha256(path) == model.PRUNED_SHA256
    assert list(path.parent.iterdir()) == [path]  # nothing left aside
    written = path.stat().st_mtime_ns
    assert model.predictor_path() == path and path.stat().st_mtime_ns == written  # derived once


def test_gazepipe_model_selects_the_full_model_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(model.MODEL_ENV, raising=False)
    full = model.predictor_path()
    assert full == model.full_model_path() and full.name == model.MODEL_FILE
    assert model.sha256(full) == model.MODEL_SHA256
    monkeypatch.setenv(model.MODEL_ENV, model.FULL)
    assert model.predictor_path() == full
    monkeypatch.setenv(model.MODEL_ENV, str(full))
    assert model.predictor_path() == full
    monkeypatch.setenv(model.MODEL_ENV, str(tmp_path / "missing.dat"))
    with pytest.raises(model.ModelNotFound):
        model.predictor_path()
