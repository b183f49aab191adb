"""The recording's reader thread: every frame as the capture gives it, in order, then the end; closing stops it."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from gazepipe.offline.reader import ReadAhead
from gazepipe.offline.recording import Recording, VideoFrame

from .recordings import CLIP

SLOT_PIXELS = 1280 * 1024


def _read_ahead(stop_after: int | None = None) -> list[VideoFrame | None]:
    async def main() -> list[VideoFrame | None]:
        recording = Recording(CLIP, SLOT_PIXELS)
        frames = ReadAhead(recording, 4)
        taken: list[VideoFrame | None] = []
        try:
            while stop_after is None or len(taken) < stop_after:
                taken.append(await frames.next())
                if taken[-1] is None:
                    break
                await asyncio.sleep(0)  # the reader runs ahead, as it does while the workers track
        finally:
            frames.close()
            recording.close()
        return taken

    return asyncio.run(main())


def test_the_frames_come_in_order_as_the_capture_decodes_them() -> None:
    taken = _read_ahead()
    recording = Recording(CLIP, SLOT_PIXELS)
    expected = [recording.read(i) for i in range(recording.frame_count + 1)]
    recording.close()
    assert taken[-1] is None and expected[-1] is None
    assert len(taken) == len(expected) > 200
    for got, want in zip(taken[:-1], expected[:-1], strict=True):
        assert got is not None and want is not None
        assert (got.index, got.timestamp_ms) == (want.index, want.timestamp_ms)
        assert np.array_equal(got.grey, want.grey)


def test_closing_stops_a_reader_that_is_ahead() -> None:
    taken = _read_ahead(stop_after=3)
    assert [f.index for f in taken if f is not None] == [0, 1, 2]
    assert "gazepipe-read" not in {thread.name for thread in threading.enumerate()}
