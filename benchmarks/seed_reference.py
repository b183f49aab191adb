"""The seed's design, rebuilt as the reference for the throughput benchmark: one Starlette process on hypercorn,
base64 JSON frames in, the JPEG decoded with OpenCV to colour, GazeTracking's method (dlib's detector on every
full frame, then 68 landmarks and the threshold pupils, `gazetracking_baseline.py`) run in the event loop.

    .venv/bin/python benchmarks/seed_reference.py --port 8210

Answers `{"type": "result", "timestamp", "seq", "pupil_left", ..., "frame_processed": true}` per frame, in
order, one frame at a time; no frame is ever dropped. `/health` names its one process so that the benchmarks'
launcher can wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gazetracking_baseline import GazeTrackingBaseline

from gazepipe.model import predictor_path

_TRACKER = GazeTrackingBaseline(str(predictor_path()))


def process(tracker: GazeTrackingBaseline, message: dict[str, object]) -> dict[str, object]:
    """One frame, the seed's way: base64 -> colour image -> grey -> detector on the full frame -> pupils."""
    started = time.perf_counter()
    image_field = str(message.get("image", ""))
    payload = image_field.split(",", 1)[1] if image_field.startswith("data:") else image_field
    colour = cv2.imdecode(np.frombuffer(base64.b64decode(payload), np.uint8), cv2.IMREAD_COLOR)
    if colour is None:
        raise ValueError("not a decodable image")
    decoded = time.perf_counter()
    grey = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    out = tracker.track(grey, tracker.landmarks(grey))
    done = time.perf_counter()
    pupils = out.pupils
    horizontal, vertical = out.horizontal_ratio, out.vertical_ratio
    blinking = bool(out.is_blinking)
    return {
        "type": "result",
        "timestamp": message.get("timestamp", 0.0),
        "seq": message.get("seq", 0),
        "pupil_left": pupils[0] if pupils else None,
        "pupil_right": pupils[1] if pupils else None,
        "horizontal_ratio": horizontal,
        "vertical_ratio": vertical,
        "is_right": horizontal is not None and horizontal <= 0.35,
        "is_left": horizontal is not None and horizontal >= 0.65,
        "is_center": horizontal is not None and 0.35 < horizontal < 0.65,
        "is_blinking": blinking,
        "attention_score": 1.0 if pupils else 0.0,
        "frame_processed": True,
        "face_found": out.face_found,
        "stages_ms": {"decode": round((decoded - started) * 1000.0, 3), "track": round((done - decoded) * 1000.0, 3),
                      "total": round((done - started) * 1000.0, 3)},
    }


async def gaze(websocket: WebSocket) -> None:
    await websocket.accept()
    tracker = copy.copy(_TRACKER)  # shares dlib's models; a fresh calibration, as a new GazeTracking would
    tracker._thresholds = ([], [])
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(json.dumps(process(tracker, json.loads(text))))
    except (WebSocketDisconnect, RuntimeError, KeyError, ValueError):
        pass


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "design": "seed", "workers": [{"index": 0, "pid": os.getpid()}]})


app = Starlette(routes=[Route("/health", health), WebSocketRoute("/ws/gaze", gaze)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the seed-style reference on loopback.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GAZEPIPE_PORT", "8210")))
    args = parser.parse_args(argv)
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.accesslog = None
    config.websocket_max_message_size = 16 * 1024 * 1024
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
