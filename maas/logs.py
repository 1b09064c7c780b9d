"""JSON logs, one object a line, each carrying the request id of the request it belongs to."""

from __future__ import annotations

import contextvars
import json
import logging
import math
import sys
import time

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "taskName",
}
_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _utc_millis(created: float) -> str:
    """``2026-05-04T07:30:00.123+00:00``, as ``datetime.isoformat(timespec="milliseconds")``
    wrote it, at a fraction of the cost (every request logs a line)."""
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)  # rounded to microseconds, then cut, as datetime does
    seconds = int(whole) + micros // 1_000_000
    millis = micros % 1_000_000 // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; extra fields passed with ``extra=`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc_millis(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's own access log is replaced by ours, which has the request id and the duration.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # What a record would learn about where it was logged from (the caller's frame, thread and
    # process) is never written, so it is not looked up: the logging HOWTO's "Optimization".
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
