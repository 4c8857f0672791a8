"""The operator's kopf handlers: the module `kopf run` loads.

    kopf run --standalone --all-namespaces -m k8s_manager_operator.handlers

`k8s-manager operator` loads the same module, so both ways run the same operator with the same settings.
Resource handlers (Runtime, RuntimeVersion) are added here as they are built.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from typing import Any

import kopf

# Everything kopf writes on objects (finalizer, progress, last-handled configuration) lives under our own
# prefix, so it never collides with another kopf-based operator watching the same resources.
FRAMEWORK_PREFIX = "kopf.k8s-manager.konstellation.io"
FINALIZER = f"{FRAMEWORK_PREFIX}/finalizer"
REPORTING_COMPONENT = "k8s-manager-operator"

STARTED_AT = datetime.datetime.now(datetime.UTC)


def configure_settings(settings: kopf.OperatorSettings, instance: str) -> None:
    """Production settings. Peering, namespaces and standalone mode come from the command line instead."""
    # Events on objects: warnings and errors only; progress is visible in the resources' status conditions.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.reporting_instance = instance

    # Ask the API server to end each watch after 5 minutes (clients then resume from the last
    # resourceVersion); the client gives up a little later, so a silently dead connection is noticed.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10

    # Plain API requests: fail fast on a hung connection and retry 5xx/429/connection errors with
    # growing pauses (about one minute in total) before the error reaches a handler.
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.networking.error_backoffs = (1, 2, 4, 8, 15, 30)

    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=FRAMEWORK_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=FRAMEWORK_PREFIX, key="last-handled-configuration"
    )


def instance_name() -> str:
    """The pod name inside a cluster (POD_NAME from the downward API), the host name elsewhere."""
    return os.environ.get("POD_NAME") or socket.gethostname()


@kopf.on.startup()
def on_startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure_settings(settings, instance_name())


@kopf.on.probe(id="started_at")
def started_at(**_: Any) -> str:
    """Reported by the liveness endpoint: when this operator process started."""
    return STARTED_AT.isoformat()
