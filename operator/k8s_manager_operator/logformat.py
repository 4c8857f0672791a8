"""The operator's text log lines (`k8s-manager operator`, `--log-format text`): k8s-manager's line format, every
line about an object naming it, and kopf's per-event success lines only when debugging.

- The format is the facade's and the dev mode's (k8s_manager_api.logformat), not kopf's `[2026-01-02
  03:04:05,678]` in local time: the dev mode interleaves the three processes' lines in one stream.
- A record about an object (kopf's object logger, and every line logged while a reconcile worker handles an
  object: logcontext.py) carries a reference to it; its line starts with the object, `runtime kre-demo: ` or
  `version kre-demo/greeter-v1: ` (other kinds: `pod kre-demo/kre-nats-0: `), the form the reconcilers' own
  messages start with, which are left as they are.
- kopf logs `Handler 'runtime_changed' succeeded.` at INFO for every watch event of every object (and `Timer ...
  succeeded.` for every resync): for one runtime and one version lifecycle, most of the log. Those lines are shown
  only at DEBUG (`-v`), as DEBUG lines; failures of handlers are kopf's warnings and errors, always shown.

JSON lines (`--log-format json`) are kopf's own, with the object as a field, and keep every line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from k8s_manager_api.logformat import text_line

from .logcontext import REFERENCE_ATTRIBUTE

# kopf's object logger, and what it logs once a handler of an object has run without error
# (kopf._core.actions.execution: f"{handler} succeeded.").
KOPF_OBJECT_LOGGER = "kopf.objects"
HANDLER_SUCCEEDED = re.compile(r"(Handler|Timer|Daemon) '[^']*' succeeded\.")
# The word naming an object of these kinds, as in the reconcilers' messages; other kinds: the kind in lower case.
KIND_WORDS = {"Runtime": "runtime", "RuntimeVersion": "version"}


def describe(reference: Mapping[str, object]) -> str:
    """`runtime kre-demo`, `version kre-demo/greeter-v1`, `pod kre-demo/kre-nats-0`."""
    kind = str(reference.get("kind") or "object")
    namespace, name = reference.get("namespace"), reference.get("name")
    where = f"{namespace}/{name}" if namespace else f"{name}"
    return f"{KIND_WORDS.get(kind, kind.lower())} {where}"


class TextFormatter(logging.Formatter):
    """`2026-01-02T03:04:05.678Z INFO kopf.objects: runtime kre-demo: Handler 'runtime_changed' succeeded.`"""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        reference = getattr(record, REFERENCE_ATTRIBUTE, None)
        if isinstance(reference, Mapping) and reference.get("name"):
            named = f"{describe(reference)}: "
            if not message.startswith(named):
                message = named + message
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        return text_line(record, message)


class HandlerSuccessFilter(logging.Filter):
    """Drops kopf's per-event success lines unless the root logger is at DEBUG; then they are DEBUG lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not HANDLER_SUCCEEDED.fullmatch(str(record.msg)):
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def use_text_format() -> None:
    """The operator's text lines on every handler of the root logger (kopf.configure's) and kopf's success lines
    only at DEBUG; applying it twice changes nothing."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(TextFormatter())
    kopf_objects = logging.getLogger(KOPF_OBJECT_LOGGER)
    if not any(isinstance(existing, HandlerSuccessFilter) for existing in kopf_objects.filters):
        kopf_objects.addFilter(HandlerSuccessFilter())
