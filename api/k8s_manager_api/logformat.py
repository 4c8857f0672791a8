"""The text log line of every k8s-manager process: `2026-01-02T03:04:05.678Z INFO logger.name: message`.

The facade and the dev mode (k8s_manager.logs) and the operator (k8s_manager_operator.logformat) write their text
lines with `text_line`, so that one stream, such as the dev mode's interleaving of all three, has one timestamp
format: UTC, ISO 8601 with milliseconds. A line stays one line: newlines (tracebacks) are escaped.
"""

from __future__ import annotations

import datetime
import logging


def timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "\\n")


def text_line(record: logging.LogRecord, message: str) -> str:
    """The line for `record`, whose message (already formatted, with any traceback) is `message`."""
    return f"{timestamp(record)} {record.levelname} {record.name}: {one_line(message)}"
