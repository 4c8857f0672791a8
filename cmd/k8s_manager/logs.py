"""Logging for the command line: one line per event, as text or as JSON objects, on stderr."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from k8s_manager_api.logformat import text_line, timestamp

LOG_FORMATS = ("text", "json")
# Record attributes (`extra=` of a log call) that JSON lines carry as fields of their own; an allow-list, so that
# nothing passed along by accident (a request, a credential) is ever written.
JSON_EXTRA_FIELDS = ("rpc", "code", "runtime", "version")


class TextFormatter(logging.Formatter):
    """`2026-01-02T03:04:05.678Z INFO logger.name: message` with tracebacks folded into the same line (the
    operator's text lines have the same format: k8s_manager_api.logformat)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        return text_line(record, message)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the allow-listed extra fields, any exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in JSON_EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                document[field] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging(log_format: str = "text", level: int = logging.INFO, stream: TextIO | None = None) -> None:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (per-request lines) only when debugging.
    for noisy in ("aiohttp.access", "asyncio", "urllib3"):
        logging.getLogger(noisy).setLevel(level if level <= logging.DEBUG else logging.WARNING)
