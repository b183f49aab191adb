"""`gazepipe analyze`: every frame of each recording through the service's machinery, into the named outputs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from gazepipe.config import Settings
from gazepipe.offline.engine import AnalysisError, LocalService, analysis_settings, private_socket_dir
from gazepipe.offline.outputs import Outputs
from gazepipe.offline.recording import Recording, RecordingError
from gazepipe.offline.report import FileSeries, render
from gazepipe.protocol import GazeResult
from gazepipe.signals.screen import CalibrationError, ScreenMapping


def _calibration(path: Path) -> dict[str, Any]:
    """The exported mapping, from the reply message, its `data` or the mapping itself."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"gazepipe analyze: cannot read the calibration {path}: {exc}") from None
    for key in ("data", "calibration"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    try:
        ScreenMapping.from_export(data if isinstance(data, dict) else {})
    except CalibrationError as exc:
        raise SystemExit(f"gazepipe analyze: {path}: {exc}") from None
    return data


def run(args: argparse.Namespace) -> int:
    if args.report is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("gazepipe analyze: --report needs matplotlib: pip install 'gazepipe[analyze]'") from None
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our own message says why a file fails
    # The workers have the cores: OpenCV's own pool splitting each frame's conversion to grey only adds hand-offs.
    cv2.setNumThreads(1)
    settings = Settings.from_env()
    workers = args.workers or settings.workers
    window = args.window or workers
    if workers < 1 or not 1 <= window <= workers:
        # A session has one frame waiting for a worker at most: more would supersede each other.
        raise SystemExit("gazepipe analyze: --workers must be at least 1 and --window from 1 to the workers")
    calibration = _calibration(args.calibration) if args.calibration else None
    return asyncio.run(_analyse_all(args, settings, workers, window, calibration))


async def _analyse_all(args: argparse.Namespace, base: Settings, workers: int, window: int,
                       calibration: dict[str, Any] | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    failures = 0
    files: list[FileSeries] = []
    outputs = Outputs(args.out, args.csv)
    try:
        with private_socket_dir() as folder:
            settings = analysis_settings(base, workers, window, Path(folder) / "workers.sock")
            async with LocalService(settings, on_log=tqdm.write) as service:
                for path in args.videos:
                    if stop.is_set():
                        break
                    series = FileSeries(str(path))
                    ok = await _analyse_file(service, path, window, stop, calibration, outputs, series)
                    failures += not ok
                    files.append(series)
    except AnalysisError as exc:
        print(f"gazepipe analyze: {exc}", file=sys.stderr)
        return 2
    finally:
        outputs.close()
        if args.report is not None and files:
            args.report.write_text(render(files))
    if stop.is_set():
        print(f"gazepipe analyze: interrupted; what was analysed is in {args.out}", file=sys.stderr)
        return 130
    return 1 if failures else 0


async def _analyse_file(service: LocalService, path: Path, window: int, stop: asyncio.Event,
                        calibration: dict[str, Any] | None, outputs: Outputs, series: FileSeries) -> bool:
    """Writes one file's frames and summary; False (after a clear message) when it could not be read whole."""
    name = str(path)
    frames = tracked = 0
    error: str | None = None
    started = time.monotonic()
    recording: Recording | None = None
    try:
        recording = Recording(path, service.settings.slot_pixels)
        with tqdm(total=recording.frame_count or None, desc=path.name, unit="frame", dynamic_ncols=True,
                  disable=None) as bar:
            async with contextlib.aclosing(service.analyse(recording, window, stop, calibration)) as answers:
                async for answer in answers:
                    outputs.frame(name, answer.frame.index, answer.message)
                    series.add(answer.message)
                    frames += 1
                    tracked += isinstance(answer.message, GazeResult) and answer.message.frame_processed
                    bar.update()
    except RecordingError as exc:
        error = str(exc)
        tqdm.write(f"gazepipe analyze: {error}", file=sys.stderr)
    finally:
        if recording is not None:
            recording.close()
    session = service.session if recording is not None else None
    elapsed = time.monotonic() - started
    series.summary = {
        "file": name, "frames": frames, "frames_tracked": tracked,
        "duration_s": None if recording is None else round(recording.duration_s, 3),
        "analysis_s": round(elapsed, 3), "error": error, "interrupted": stop.is_set(),
        "statistics": None if session is None else session.stats(),
    }
    outputs.summary(series.summary)
    return error is None
