"""The command line's log lines: JSON objects carry the allow-listed extra fields and nothing else."""

from __future__ import annotations

import io
import json
import logging

from k8s_manager.logs import JsonFormatter, TextFormatter, configure_logging


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("k8s_manager_facade.runtime_service", logging.INFO, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_json_lines_carry_the_allow_listed_extra_fields():
    line = JsonFormatter().format(
        record("Runtime 'kre-demo' created", rpc="Create", code="OK", runtime="kre-demo", version="greeter-v1")
    )

    document = json.loads(line)
    assert document["message"] == "Runtime 'kre-demo' created"
    assert {key: document[key] for key in ("rpc", "code", "runtime", "version")} == {
        "rpc": "Create",
        "code": "OK",
        "runtime": "kre-demo",
        "version": "greeter-v1",
    }


def test_json_lines_leave_out_other_extra_fields_and_absent_ones():
    document = json.loads(JsonFormatter().format(record("created", rpc="Create", password="Xq3vL9pa", request="r")))

    assert set(document) == {"time", "level", "logger", "message", "rpc"}


def test_text_lines_stay_one_line_without_the_fields():
    line = TextFormatter().format(record("created\nagain", rpc="Create", runtime="kre-demo"))

    assert line.endswith("INFO k8s_manager_facade.runtime_service: created\\nagain")


def test_configure_logging_writes_json_with_fields_from_a_logger_call():
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("json", logging.INFO, stream)
        logging.getLogger("k8s_manager_facade.test").info(
            "Runtime %r created", "kre-demo", extra={"runtime": "kre-demo"}
        )
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)

    document = json.loads(stream.getvalue())
    assert (document["message"], document["runtime"]) == ("Runtime 'kre-demo' created", "kre-demo")
