"""Structured logs for every gazepipe process: one line per event, JSON when `GAZEPIPE_LOG_JSON=1`.

Events carry their context as fields (`extra={"session": ...}`), never image bytes or gaze values: a message is
cut at `MAX_MESSAGE` characters so that even a mistaken log call cannot copy a frame into the log.
"""

from __future__ import annotations

import json
import logging
import sys
import time

MAX_MESSAGE = 1000
# Fields a log call may attach with `extra=`; anything else on the record is ignored.
CONTEXT_FIELDS = ("session", "client", "worker", "worker_pid", "code", "reason", "restarts")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + f"... [{len(text) - MAX_MESSAGE} more]"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "process", "message", ...context, "exc"?}` on one line."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self.role,
            "pid": record.process,
            "message": _clip(record.getMessage()),
        }
        for key in CONTEXT_FIELDS:
            if key in record.__dict__:
                event[key] = record.__dict__[key]
        if record.exc_info:
            event["exc"] = _clip(self.formatException(record.exc_info))
        return json.dumps(event, default=str)


class PlainFormatter(logging.Formatter):
    """`time logger level message [key=value ...]` on one line (tracebacks indented on the following lines)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.msg, record.args = _clip(record.getMessage()), None
        line = super().format(record)
        context = " ".join(f"{k}={record.__dict__[k]}" for k in CONTEXT_FIELDS if k in record.__dict__)
        return f"{line} [{context}]" if context else line


def configure(json_lines: bool, role: str, level: int = logging.INFO) -> None:
    """Sends every logger of this process (hypercorn's and Python warnings included) to stderr, one event a line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(role) if json_lines else PlainFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    for name in ("hypercorn.error", "hypercorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
