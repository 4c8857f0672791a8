"""The operator's production settings, applied by its startup handler."""

from __future__ import annotations

import logging

import kopf
from k8s_manager_operator.handlers import FINALIZER, FRAMEWORK_PREFIX, configure_settings, instance_name


def test_kopf_state_lives_under_k8s_managers_own_prefix():
    settings = kopf.OperatorSettings()

    configure_settings(settings, "pod-1")

    progress = settings.persistence.progress_storage
    diffbase = settings.persistence.diffbase_storage
    assert isinstance(progress, kopf.AnnotationsProgressStorage)
    assert progress.prefix == FRAMEWORK_PREFIX == "kopf.k8s-manager.konstellation.io"
    assert isinstance(diffbase, kopf.AnnotationsDiffBaseStorage)
    assert diffbase.prefix == FRAMEWORK_PREFIX
    assert diffbase.key == "last-handled-configuration"
    assert settings.persistence.finalizer == FINALIZER == "kopf.k8s-manager.konstellation.io/finalizer"


def test_watches_end_on_the_server_before_the_client_gives_up():
    settings = kopf.OperatorSettings()

    configure_settings(settings, "pod-1")

    assert settings.watching.server_timeout is not None
    assert settings.watching.client_timeout is not None
    assert settings.watching.client_timeout > settings.watching.server_timeout


def test_api_errors_are_retried_a_bounded_number_of_times():
    settings = kopf.OperatorSettings()

    configure_settings(settings, "pod-1")

    backoffs = list(settings.networking.error_backoffs)  # type: ignore[arg-type]
    assert 3 <= len(backoffs) <= 10
    assert backoffs == sorted(backoffs)
    assert settings.networking.request_timeout is not None


def test_events_report_the_operator_and_its_instance():
    settings = kopf.OperatorSettings()

    configure_settings(settings, "k8s-manager-operator-5d9c7-x2x4q")

    assert settings.posting.reporting_component == "k8s-manager-operator"
    assert settings.posting.reporting_instance == "k8s-manager-operator-5d9c7-x2x4q"
    assert settings.posting.level == logging.WARNING


def test_the_instance_is_the_pod_name_inside_a_cluster(monkeypatch):
    monkeypatch.setenv("POD_NAME", "k8s-manager-operator-5d9c7-x2x4q")

    assert instance_name() == "k8s-manager-operator-5d9c7-x2x4q"
