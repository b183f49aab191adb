"""Prometheus metrics of the front process, served at `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

FRAMES_RECEIVED = Counter("gazepipe_frames_received", "Frames received from clients", registry=REGISTRY)
FRAMES_PROCESSED = Counter("gazepipe_frames_processed", "Frames tracked and answered", registry=REGISTRY)
FRAMES_DROPPED = Counter("gazepipe_frames_dropped", "Frames answered without tracking", ["reason"], registry=REGISTRY)
ERRORS = Counter("gazepipe_errors", "Error messages sent to clients", ["code"], registry=REGISTRY)
STAGE_SECONDS = Histogram(
    "gazepipe_stage_seconds", "Per-frame time spent in each stage", ["stage"], registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
# Bound once: looking a label's series up takes a lock and a tuple on every frame.
DECODE_SECONDS, QUEUE_SECONDS, TRACK_SECONDS, ENCODE_SECONDS = (
    STAGE_SECONDS.labels(stage) for stage in ("decode", "queue", "track", "encode"))
CONNECTIONS = Gauge("gazepipe_connections", "Open WebSocket sessions", registry=REGISTRY)
SESSIONS_TOTAL = Counter("gazepipe_sessions", "WebSocket sessions accepted", registry=REGISTRY)
RING_IN_USE = Gauge("gazepipe_ring_slots_in_use", "Ring slots holding a frame", registry=REGISTRY)
WORKERS = Gauge("gazepipe_workers", "Tracker workers connected", registry=REGISTRY)
WORKER_RESTARTS = Gauge("gazepipe_worker_restarts", "Worker restarts reported by connected workers",
                        registry=REGISTRY)
WORKERS_LOST = Counter("gazepipe_workers_lost", "Worker connections lost (a worker died or stopped)",
                       registry=REGISTRY)
