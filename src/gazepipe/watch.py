"""`gazepipe watch --camera 0 | --video FILE`: streams to a running service and prints the live values."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

import cv2

from gazepipe.client import GazeClient
from gazepipe.protocol import ErrorMessage, GazeResult


def _line(result: GazeResult | ErrorMessage) -> str:
    if isinstance(result, ErrorMessage):
        return f"error {result.code}: {result.message}"
    if not result.frame_processed:
        return f"#{result.seq:<6} dropped ({result.dropped})"
    if not result.face_found:
        return f"#{result.seq:<6} no face    attention {result.attention_score:.2f}"
    h = "-" if result.horizontal_ratio is None else f"{result.horizontal_ratio:.2f}"
    v = "-" if result.vertical_ratio is None else f"{result.vertical_ratio:.2f}"
    events = " ".join(str(e.get("type")) for e in result.events)
    return (f"#{result.seq:<6} gaze h {h} v {v}  {'BLINK' if result.is_blinking else 'open '}  attention "
            f"{result.attention_score:.2f} {'attentive' if result.attentive else 'away     '}  "
            f"{result.latency_ms:5.1f} ms  {events}")


async def _watch(args: argparse.Namespace) -> int:
    source = args.video if args.video is not None else args.camera
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        print(f"gazepipe watch: cannot open {source!r}", file=sys.stderr)
        return 1
    period = 1.0 / (capture.get(cv2.CAP_PROP_FPS) or 30.0) if args.video is not None else 0.0
    async with GazeClient(args.url, max_unanswered=args.max_unanswered, token=args.token) as client:

        async def show() -> None:
            async for answer in client:
                if isinstance(answer, GazeResult | ErrorMessage):
                    print(_line(answer), flush=True)

        printer = asyncio.create_task(show())
        try:
            next_at = time.monotonic()
            while True:
                ok, frame = await asyncio.to_thread(capture.read)
                if not ok:
                    break
                await client.send(frame)
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            while client.unanswered:
                await asyncio.sleep(0.05)
        finally:
            printer.cancel()
            with contextlib.suppress(BaseException):
                await printer
            capture.release()
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_watch(args))
    except KeyboardInterrupt:
        return 130
