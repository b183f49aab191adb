"""The shared-memory frame ring: fixed-size greyscale slots that the front decodes into and workers read.

Only the front allocates and frees slots; a slot's ownership passes to a worker with the job message and back
with the result, so no lock is shared between processes and no pixel is copied or pickled.
"""

from __future__ import annotations

import contextlib
import os
import re
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path

import numpy as np

SEGMENT_PREFIX = "gazepipe_"
_SEGMENT_NAME = re.compile(rf"^{SEGMENT_PREFIX}(\d+)_(\d+)$")


def segment_name(port: int, pid: int) -> str:
    return f"{SEGMENT_PREFIX}{port}_{pid}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_segments(shm_dir: Path = Path("/dev/shm")) -> list[str]:
    """Unlinks ring segments whose creating front process is gone (a front killed with SIGKILL leaves them)."""
    removed = []
    for path in shm_dir.glob(f"{SEGMENT_PREFIX}*"):
        match = _SEGMENT_NAME.match(path.name)
        if match and not _pid_alive(int(match.group(2))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed


class FrameRing:
    """`slots` buffers of `slot_bytes` each in one shared-memory segment."""

    def __init__(self, segment: shared_memory.SharedMemory, slots: int, slot_bytes: int, owner: bool) -> None:
        self._segment = segment
        self.slots = slots
        self.slot_bytes = slot_bytes
        self.owner = owner
        self._free = list(range(slots - 1, -1, -1)) if owner else []

    @property
    def name(self) -> str:
        return self._segment.name

    @classmethod
    def create(cls, name: str, slots: int, slot_bytes: int) -> FrameRing:
        with contextlib.suppress(FileNotFoundError):
            shared_memory.SharedMemory(name=name).unlink()
        segment = shared_memory.SharedMemory(name=name, create=True, size=slots * slot_bytes)
        return cls(segment, slots, slot_bytes, owner=True)

    @classmethod
    def attach(cls, name: str, slots: int, slot_bytes: int) -> FrameRing:
        segment = shared_memory.SharedMemory(name=name)
        # Python 3.11 registers attached segments too and unlinks them when this process exits, which would
        # pull the ring from under the front: only the creator may own its lifetime.
        resource_tracker.unregister(segment._name, "shared_memory")  # type: ignore[attr-defined]
        return cls(segment, slots, slot_bytes, owner=False)

    def view(self, slot: int, width: int, height: int) -> np.ndarray:
        """A (height, width) uint8 array over the slot's memory; valid until the ring is closed."""
        if not 0 <= slot < self.slots or width * height > self.slot_bytes:
            raise ValueError(f"slot {slot} cannot hold {width}x{height}")
        start = slot * self.slot_bytes
        return np.ndarray((height, width), dtype=np.uint8, buffer=self._segment.buf, offset=start)

    def acquire(self) -> int | None:
        """A free slot, or None when every slot is in use."""
        return self._free.pop() if self._free else None

    def release(self, slot: int) -> None:
        self._free.append(slot)

    @property
    def in_use(self) -> int:
        return self.slots - len(self._free)

    def close(self) -> None:
        """Detaches; the creator also unlinks the segment. Views handed out must be dropped first."""
        with contextlib.suppress(BufferError):
            self._segment.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self._segment.unlink()
