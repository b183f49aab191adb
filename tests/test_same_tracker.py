"""The service's workers and the accuracy benchmark run the same tracker on the same pixels."""

from __future__ import annotations

import asyncio

import websockets

from gazepipe.front.jpeg import decode_grey
from gazepipe.model import predictor_path
from gazepipe.protocol import GazeResult
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.tracker import GazeTracker

from .conftest import FaceFrame
from .service import Service
from .wsclient import GazeConnection


def test_service_answer_equals_the_benchmarks_tracker_output(service: Service, face_frames: list[FaceFrame]) -> None:
    frames = face_frames[:4]

    async def first_answers() -> list[GazeResult]:
        answers = []
        for frame in frames:
            # A new session per face: its first frame is tracked with fresh calibration, as the benchmark does.
            async with websockets.connect(service.ws_url) as ws:
                answers.append(await GazeConnection(ws, binary=True).track(frame.jpeg))
        return answers

    served = asyncio.run(first_answers())
    tracker = GazeTracker(predictor_path())
    for frame, answer in zip(frames, served, strict=True):
        local = tracker.track(decode_grey(frame.jpeg), ThresholdCalibration().hints(detect=True))
        assert answer.face_found and local.face_found
        assert answer.face_box == local.face_box
        assert answer.pupil_left == local.pupil_left
        assert answer.pupil_right == local.pupil_right
        assert answer.horizontal_ratio == local.horizontal_ratio
        assert answer.vertical_ratio == local.vertical_ratio
        assert answer.is_blinking == local.eyes_closed
        assert answer.pupil_left_confidence == local.pupil_left_confidence
