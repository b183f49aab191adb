"""Where the 68-point landmark model comes from: never the internet at run time.

The workers' default is the file the PyPI package `face_recognition_models` ships. `GAZEPIPE_MODEL=pruned`
takes its first PRUNED_STAGES stages of PRUNED_TREES trees instead (a cheaper fit, `docs/performance.md`):
derived from it once, into a cache folder, by `make`'s install step or on first use, and checked against its
SHA-256."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

from gazepipe.tracking import predictor_file

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
MODEL_SHA256 = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
PRUNED_STAGES, PRUNED_TREES = 8, 250
PRUNED_FILE = f"shape_predictor_68_face_landmarks_{PRUNED_STAGES}x{PRUNED_TREES}.dat"
PRUNED_SHA256 = "985a517988196ad2b5bab080088b6eb2b6b3c8cb90a80a13d34eb4294c414c80"
MODEL_ENV = "GAZEPIPE_MODEL"
FULL = "full"  # GAZEPIPE_MODEL=full (the default): the model as face_recognition_models ships it
# GAZEPIPE_MODEL=pruned: its first 8 stages of 250 trees, about a third of the fit's cost. Not the default: on hard and
# small faces the pupils and eye state found on its eye contour are worse (models/README.md, docs/accuracy.md).
PRUNED = "pruned"
CACHE_ENV = "GAZEPIPE_MODEL_CACHE"

log = logging.getLogger("gazepipe.model")


class ModelNotFound(FileNotFoundError):
    """The landmark model is neither where `GAZEPIPE_MODEL` points nor derivable from `face_recognition_models`."""


def predictor_path(choice: str | None = None) -> Path:
    """The 68-point predictor: the file `face_recognition_models` ships, or as `choice` (by default
    `$GAZEPIPE_MODEL`) says: `pruned` (derived into the cache folder first if it is not there yet), `full`, or the
    path of a model file."""
    override = choice or os.environ.get(MODEL_ENV) or FULL
    if override == FULL:
        return full_model_path()
    if override == PRUNED:
        path = cache_folder() / PRUNED_FILE
        if not path.is_file():
            derive(path)
        return path
    path = Path(override)
    if not path.is_file():
        raise ModelNotFound(f"{MODEL_ENV}={override} is not a file")
    return path


def full_model_path() -> Path:
    """The file `face_recognition_models` ships, located without importing the package (its `__init__` needs
    `pkg_resources`)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("install face_recognition_models==0.3.0 or set GAZEPIPE_MODEL to the .dat file")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE
    if not path.is_file():
        raise ModelNotFound(f"{path} is missing from face_recognition_models")
    return path


def cache_folder() -> Path:
    """`$GAZEPIPE_MODEL_CACHE`, else `$XDG_CACHE_HOME/gazepipe` (by default `~/.cache/gazepipe`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gazepipe"


def derive(path: Path) -> None:
    """Writes the pruned model to `path`: written aside, checked against PRUNED_SHA256, then moved in place
    (processes deriving it at the same time each move a whole, identical file)."""
    source = full_model_path()
    log.warning("deriving the landmark model %s from %s (first %d stages x %d trees; once, a few seconds)",
                path, source, PRUNED_STAGES, PRUNED_TREES)
    pruned = predictor_file.read(source).pruned(PRUNED_STAGES, PRUNED_TREES)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        predictor_file.write(pruned, partial)
        digest = sha256(partial)
        if digest != PRUNED_SHA256:
            raise ModelNotFound(f"the model derived from {source} has SHA-256 {digest}, not {PRUNED_SHA256}: "
                                f"is {source} the face_recognition_models 0.3.0 file ({MODEL_SHA256})?")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    """`python -m gazepipe.model`: prints the file the workers load and its SHA-256, deriving it if it is the
    pruned model and missing (`GAZEPIPE_MODEL=pruned python -m gazepipe.model` makes it ahead of use)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = predictor_path()
    print(path, sha256(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
