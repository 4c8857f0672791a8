"""Prometheus answers as the metrics RPCs see them: 400 bad_data is the query's fault, everything else unavailable."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from k8s_manager_facade.metrics.prometheus import (
    PrometheusClient,
    PrometheusUnavailableError,
    QueryRejectedError,
    display_url,
    interpret_answer,
    query_range_form,
)
from k8s_manager_facade.metrics.usage import RangeSeries
from k8s_manager_facade.metrics.validation import Window

WHERE = "Prometheus at http://prometheus:9090"


def answer(**document: Any) -> str:
    return json.dumps(document)


def success(result: Any, result_type: str = "matrix") -> str:
    return answer(status="success", data={"resultType": result_type, "result": result})


def test_a_matrix_answer_gives_its_series():
    body = success([{"metric": {"metric": "mem"}, "values": [[60, "1"]]}])

    assert interpret_answer(200, body, WHERE) == [RangeSeries({"metric": "mem"}, [(60.0, "1")])]


def test_an_empty_matrix_is_no_series_not_an_error():
    assert interpret_answer(200, success([]), WHERE) == []


def test_bad_data_is_the_query_rejected_with_prometheus_reason():
    body = answer(status="error", errorType="bad_data", error="1:5: parse error: unclosed left parenthesis")

    with pytest.raises(QueryRejectedError) as rejected:
        interpret_answer(400, body, WHERE)

    assert str(rejected.value) == "Prometheus rejected the query: 1:5: parse error: unclosed left parenthesis"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (422, answer(status="error", errorType="execution", error="found duplicate series"), "HTTP 422 (execution)"),
        (503, answer(status="error", errorType="timeout", error="query timed out"), "HTTP 503 (timeout)"),
        (500, answer(status="error", errorType="internal", error="boom"), "HTTP 500 (internal): boom"),
        (502, "<html>Bad Gateway</html>", "HTTP 502 without a Prometheus API document"),
        (404, "404 page not found", "HTTP 404 without a Prometheus API document"),
        (400, "Bad Request", "HTTP 400 without a Prometheus API document"),
        (200, "[]", "HTTP 200 without a Prometheus API document"),
        (200, success([], "vector"), "without a range-query result"),
        (200, success({"not": "a list"}), "malformed matrix"),
        (204, answer(status="success", data={"resultType": "matrix", "result": []}), "HTTP 204"),
    ],
)
def test_any_other_answer_is_prometheus_unavailable(status, body, message):
    with pytest.raises(PrometheusUnavailableError) as unavailable:
        interpret_answer(status, body, WHERE)

    assert str(unavailable.value).startswith(WHERE)
    assert message in str(unavailable.value)


def test_a_long_reason_is_cut():
    body = answer(status="error", errorType="bad_data", error="x" * 5000)

    with pytest.raises(QueryRejectedError) as rejected:
        interpret_answer(400, body, WHERE)

    assert len(str(rejected.value)) < 400


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://prometheus:9090", "http://prometheus:9090"),
        ("https://user:s3cret@prometheus.example/prom", "https://prometheus.example/prom"),
        ("http://[::1]:9090", "http://[::1]:9090"),
    ],
)
def test_urls_are_shown_without_credentials(url, shown):
    assert display_url(url) == shown


def test_the_form_asks_prometheus_to_stop_when_the_client_does():
    form = query_range_form("up", Window(60, 180, 60), 2.5)

    assert form == {"query": "up", "start": "60", "end": "180", "step": "60", "timeout": "2.5"}


class DroppingPrometheus(socketserver.ThreadingTCPServer):
    """Answers the first request of each connection (keeping it open) and closes it, unanswered, at the second:
    what a pooled connection meets when Prometheus restarts or drops it just as a request goes out."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DroppingHandler)
        self.connections = 0
        self.requests = 0


class DroppingHandler(socketserver.StreamRequestHandler):
    server: DroppingPrometheus

    def handle(self) -> None:
        self.server.connections += 1
        for number in (1, 2):
            headers = b""
            while not headers.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                headers += line
            length = next(
                (int(h.split(b":")[1]) for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
            )
            self.rfile.read(length)
            self.server.requests += 1
            if number == 2:
                return  # closes the connection without an answer
            body = success([]).encode()
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )


@pytest.fixture
def dropping_prometheus() -> Iterator[DroppingPrometheus]:
    server = DroppingPrometheus()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


async def test_a_pooled_connection_closed_by_prometheus_is_retried_once_on_a_new_one(dropping_prometheus):
    client = PrometheusClient(f"http://127.0.0.1:{dropping_prometheus.server_address[1]}", timeout=5)
    try:
        first = await client.query_range("up", Window(60, 60, 60))
        second = await client.query_range("up", Window(60, 60, 60))  # on the pooled connection, which is dropped
    finally:
        client.close()

    assert first == second == []
    assert (dropping_prometheus.requests, dropping_prometheus.connections) == (3, 2)


async def test_a_refused_connection_is_not_retried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=5)
    try:
        with pytest.raises(PrometheusUnavailableError) as unavailable:
            await client.query_range("up", Window(60, 60, 60))
    finally:
        client.close()

    assert str(unavailable.value) == f"Prometheus at http://127.0.0.1:{port} is unreachable (Connection refused)"
