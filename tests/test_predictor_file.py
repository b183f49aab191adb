"""dlib's shape_predictor file, read and written by predictor_file: the real model, round trip and pruning."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
import testdata

from gazepipe.model import full_model_path
from gazepipe.tracking import predictor_file
from gazepipe.tracking.face import FaceFinder


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    return np.fromfile(full_model_path(), dtype=np.uint8)


@pytest.fixture(scope="module")
def predictor(original: np.ndarray) -> predictor_file.ShapePredictor:
    return predictor_file.decode(original)


def test_the_full_model_reads_as_15_stages_of_500_trees(predictor: predictor_file.ShapePredictor) -> None:
    assert predictor.parts == 68
    assert len(predictor.stages) == 15
    for stage in predictor.stages:
        assert stage.splits.shape == (500, 15, 2)
        assert stage.leaves.shape == (500, 16, 136)
        assert stage.anchors.shape == (500,) and stage.deltas.shape == (500, 2)
        assert stage.splits.max() < 500 and stage.anchors.max() < 68


def test_round_trip_of_the_original_is_byte_identical(original: np.ndarray,
                                                      predictor: predictor_file.ShapePredictor) -> None:
    written = predictor_file.encode(predictor)
    assert written.size == original.size
    assert np.array_equal(written, original)


def test_a_pruned_file_loads_in_dlib_and_fits_a_real_face(predictor: predictor_file.ShapePredictor,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "pruned.dat"
    predictor_file.write(predictor.pruned(8, 200), path)
    assert predictor_file.read(path).stages[7].leaves.shape == (200, 16, 136)
    face = testdata.clean_wild_faces()[0]
    grey = testdata.face_frame(face)
    full = FaceFinder(full_model_path())
    found = full.detect(grey)
    assert found is not None
    x, y, w, h = found.box
    shape = dlib.shape_predictor(str(path))(grey, dlib.rectangle(x, y, x + w - 1, y + h - 1))
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    assert points.shape == (68, 2)
    # the pruned fit lands on the same eyes as the full model's, within a few pixels at 62 px between the irises
    reference = found.landmarks
    assert np.abs(points[36:48] - reference[36:48]).max() < 4.0
    assert not np.array_equal(points, reference)


def test_pruning_keeps_the_first_trees_and_stages(predictor: predictor_file.ShapePredictor) -> None:
    pruned = predictor.pruned(3, 10)
    assert len(pruned.stages) == 3
    assert np.array_equal(pruned.stages[2].leaves, predictor.stages[2].leaves[:10])
    assert np.array_equal(pruned.stages[2].anchors, predictor.stages[2].anchors)
    with pytest.raises(ValueError):
        predictor.pruned(16, 10)


def test_a_truncated_file_is_refused(original: np.ndarray) -> None:
    with pytest.raises(ValueError):
        predictor_file.decode(original[: original.size // 3])
