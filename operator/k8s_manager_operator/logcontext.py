"""The object a log line is about, as a structured field, for the lines logged while it is reconciled.

kopf's per-object log lines carry a reference to their object (the record attribute `k8s_ref`, which kopf's JSON
format writes as `"object": {"apiVersion", "kind", "namespace", "name"}`). The reconcilers log through plain module
loggers from the reconcile queue's workers; while a worker reconciles an object it names it with `about()`, and
the record factory `install()` copies that reference onto every record created meanwhile in that worker, by
whichever logger (reconcilers, apply, API client). Other tasks are not affected: context variables are per task.
Caveat: a log call inside a reconcile must not pass `k8s_ref` in `extra` (logging refuses to overwrite a record
attribute).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final

# The attribute kopf's formatters read (kopf._core.actions.loggers); its poster of events only listens to kopf's
# own object logger, so records of other loggers that carry it are formatted, never posted.
REFERENCE_ATTRIBUTE: Final = "k8s_ref"

_current: ContextVar[Mapping[str, str] | None] = ContextVar("k8s_manager_log_object", default=None)


def about(reference: Mapping[str, str] | None) -> None:
    """Name the object the current task's log lines are about from now on (None: no object)."""
    _current.set(reference)


class _ObjectRecordFactory:
    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        reference = _current.get()
        if reference is not None:
            setattr(record, REFERENCE_ATTRIBUTE, dict(reference))
        return record


def install() -> None:
    """Make every log record carry the object named by `about()`; installing twice changes nothing."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _ObjectRecordFactory):
        logging.setLogRecordFactory(_ObjectRecordFactory(factory))
