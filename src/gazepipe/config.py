"""Settings, read once from `GAZEPIPE_*` environment variables; every limit the service enforces lives here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Service configuration. Field `foo_bar` is read from `GAZEPIPE_FOO_BAR`."""

    host: str = "127.0.0.1"
    port: int = 8001
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    socket: str = ""  # the front's Unix socket for workers; default derived from the port
    ring_slots: int = 64
    slot_pixels: int = 1280 * 1024  # decoded greyscale pixels per ring slot; larger frames decode scaled down
    max_frame_side: int = 4096  # JPEG width or height above this is refused before decoding
    max_progressive_pixels: int = 640 * 480  # progressive JPEGs buffer the whole image: refused above this
    max_message_bytes: int = 4 * 1024 * 1024  # a larger message is answered message_too_large
    max_in_flight: int = 2  # frames per session inside workers at once
    worker_depth: int = 1  # jobs a worker holds at once; with 2 the next waits in its socket while it tracks one
    stale_ms: float = 250.0  # a queued frame older than this is answered as stale, not tracked
    fresh_ms: float = 25.0  # under overload, frames younger than this are tracked first; 0: sessions in turn
    in_flight_timeout_ms: float = 2000.0  # a frame a worker holds longer than this is answered as stale
    worker_hang_s: float = 15.0  # a worker holding one frame this long is killed (SIGKILL) and restarted; 0: never
    max_fps: float = 60.0  # frames per second a session may send; excess frames are answered as rate_limited
    max_bytes_per_s: float = 16.0 * 1024 * 1024  # message bytes per second a session may send, likewise
    max_connections_per_client: int = 32
    flood_hold_s: float = 4.0  # longest hold of a new handshake from an address just cut off for flooding
    max_outbox: int = 256  # answers waiting for a client that does not read; past this it is disconnected
    idle_timeout_s: float = 60.0
    no_face_search_every_s: float = 0.25  # after a second without a face, the frame is searched this often; 0: always
    detect_every_s: float = 2.0  # while a face is followed, look this often for a larger face in the whole frame
    allowed_origins: str = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
    token: str = ""  # when set, clients must pass ?token=... to /ws/gaze
    log_json: bool = False

    @property
    def socket_path(self) -> Path:
        return Path(self.socket or f"/tmp/gazepipe-{self.port}.sock")

    @classmethod
    def from_env(cls) -> Settings:
        defaults = cls()
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"GAZEPIPE_{f.name.upper()}")
            if raw is None:
                continue
            kind = type(getattr(defaults, f.name))
            if kind is bool:
                values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            else:
                values[f.name] = kind(raw)
        return cls(**values)  # type: ignore[arg-type]
