"""The named outputs of `gazepipe analyze`: per-frame JSON lines (and a closing summary per file) and a flat CSV."""

from __future__ import annotations

import csv
import typing
from pathlib import Path
from typing import IO

import msgspec

from gazepipe.protocol import ErrorMessage, GazeResult, HeadPose, ServerMessage

# How the CSV splits a field that holds several numbers; `stages_ms` (processing times) stays in the JSON lines.
_PARTS = {"face_box": ("x", "y", "width", "height"), "head_pose": tuple(HeadPose.__struct_fields__)}
_POINT = ("x", "y")
_SKIP = {"type", "stages_ms"}


def _is_point(annotation: object) -> bool:
    return tuple[float, float] in typing.get_args(annotation) or annotation == tuple[float, float]


def _csv_fields() -> list[tuple[str, tuple[str, ...] | None]]:
    hints = typing.get_type_hints(GazeResult)
    fields: list[tuple[str, tuple[str, ...] | None]] = []
    for name in GazeResult.__struct_fields__:
        if name in _SKIP:
            continue
        parts = _PARTS.get(name) or (_POINT if _is_point(hints[name]) else None)
        fields.append((name, parts))
    return fields


CSV_FIELDS = _csv_fields()
CSV_HEADER = ["file", "frame", *(f"{n}_{p}" if parts else n for n, parts in CSV_FIELDS for p in (parts or ("",)))]
_DROPPED = CSV_HEADER.index("dropped")


def _cell(value: object) -> object:
    return "" if value is None else value


def csv_row(file: str, frame: int, message: ServerMessage) -> list[object]:
    """One frame's row; an error answer fills only `file`, `frame`, `timestamp` and `dropped` (with its code)."""
    if isinstance(message, GazeResult):
        result = message
    elif isinstance(message, ErrorMessage):
        result = GazeResult(timestamp=message.timestamp or 0.0, seq=frame)
    else:
        raise TypeError(f"{type(message).__name__} is not a frame's answer")
    row: list[object] = [file, frame]
    for name, parts in CSV_FIELDS:
        value = getattr(result, name)
        if name == "events":
            row.append(" ".join(str(e.get("type")) for e in value))
        elif parts is None:
            row.append(_cell(value))
        elif value is None:
            row.extend("" for _ in parts)
        else:
            row.extend(msgspec.structs.astuple(value) if isinstance(value, msgspec.Struct) else value)
    if isinstance(message, ErrorMessage):
        row[_DROPPED] = f"error:{message.code}"
    return row


class Outputs:
    """The JSON lines file and the optional CSV, written a line at a time as the answers come: what was analysed
    is on disk whenever the run stops, even killed."""

    def __init__(self, jsonl: Path, csv_path: Path | None) -> None:
        self._jsonl: IO[str] = jsonl.open("w", buffering=1)
        self._csv_file: IO[str] | None = csv_path.open("w", newline="", buffering=1) if csv_path else None
        self._csv = csv.writer(self._csv_file) if self._csv_file else None
        if self._csv is not None:
            self._csv.writerow(CSV_HEADER)
        self._encoder = msgspec.json.Encoder()

    def frame(self, file: str, index: int, message: ServerMessage) -> None:
        row = {"frame": index, "file": file, **msgspec.to_builtins(message)}
        self._jsonl.write(self._encoder.encode(row).decode() + "\n")
        if self._csv is not None:
            self._csv.writerow(csv_row(file, index, message))

    def summary(self, summary: dict[str, object]) -> None:
        self._jsonl.write(self._encoder.encode({"type": "summary", **summary}).decode() + "\n")

    def close(self) -> None:
        self._jsonl.close()
        if self._csv_file is not None:
            self._csv_file.close()

