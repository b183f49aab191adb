"""Where the 68-point landmark model comes from: never the internet at run time."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
MODEL_SHA256 = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
MODEL_ENV = "GAZEPIPE_MODEL"


class ModelNotFound(FileNotFoundError):
    """The landmark model is neither where `GAZEPIPE_MODEL` points nor in `face_recognition_models`."""


def predictor_path() -> Path:
    """The 68-point predictor: `$GAZEPIPE_MODEL` if set, else the file the PyPI package `face_recognition_models`
    ships. The package is located without importing it (its `__init__` needs `pkg_resources`)."""
    override = os.environ.get(MODEL_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise ModelNotFound(f"{MODEL_ENV}={override} is not a file")
        return path
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("install face_recognition_models==0.3.0 or set GAZEPIPE_MODEL to the .dat file")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE
    if not path.is_file():
        raise ModelNotFound(f"{path} is missing from face_recognition_models")
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
