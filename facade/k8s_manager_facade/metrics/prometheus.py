"""A Prometheus HTTP API client for range queries: one pooled `requests` session, run off the event loop.

Calls run in a small thread pool of the client's own (its size is the session's connection pool size), so the
number of threads and of connections to Prometheus stays bounded however many calls wait, and closing the
client leaves no thread behind once the calls in flight have ended (each within the timeout).

Answers become two errors, for the servicer to map to gRPC codes:
- `QueryRejectedError`: HTTP 400 `bad_data`, Prometheus' verdict on the query itself (INVALID_ARGUMENT);
- `PrometheusUnavailableError`: anything else that is not an answer: 422 (evaluation failed), 5xx (including
  Prometheus' own query timeout), another status, a body that is not a range-query result, no connection, or
  no answer within the timeout (UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import requests
import requests.adapters

from .usage import RangeSeries, parse_matrix
from .validation import Window

log = logging.getLogger(__name__)

QUERY_RANGE_PATH = "/api/v1/query_range"
DEFAULT_CONCURRENCY = 8
MAX_REASON_LENGTH = 300  # Prometheus' error texts quote the query; a message carries at most this much of one


class PrometheusError(Exception):
    """Prometheus gave no usable answer; the message says why and never carries the URL's credentials."""


class QueryRejectedError(PrometheusError):
    """Prometheus refused the query (HTTP 400 bad_data); the message is its reason."""


class PrometheusUnavailableError(PrometheusError):
    pass


def display_url(url: str) -> str:
    """The URL without user name and password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def query_range_form(query: str, window: Window, timeout: float) -> dict[str, str]:
    """The form of a query_range call; `timeout` makes Prometheus give up evaluating when the client would."""
    return {
        "query": query,
        "start": str(window.start),
        "end": str(window.end),
        "step": str(window.step),
        # Seconds as a plain number: Prometheus' duration syntax ("10s") takes whole units only.
        "timeout": f"{timeout:g}",
    }


def interpret_answer(status: int, body: str, where: str) -> list[RangeSeries]:
    """The matrix of a query_range answer, or the error it means (pure)."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise PrometheusUnavailableError(f"{where} answered HTTP {status} without a Prometheus API document")
    if document.get("status") != "success":
        error_type = str(document.get("errorType") or "unknown")
        reason = str(document.get("error") or "no reason given")[:MAX_REASON_LENGTH]
        if status == 400 and error_type == "bad_data":
            raise QueryRejectedError(f"Prometheus rejected the query: {reason}")
        raise PrometheusUnavailableError(f"{where} answered HTTP {status} ({error_type}): {reason}")
    if status != 200:
        raise PrometheusUnavailableError(f"{where} answered HTTP {status}")
    for warning in document.get("warnings") or ():
        log.warning("Prometheus warns: %s", warning)
    data = document.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise PrometheusUnavailableError(f"{where} answered without a range-query result (no matrix)")
    try:
        return parse_matrix(data.get("result"))
    except ValueError as error:
        raise PrometheusUnavailableError(f"{where} answered a malformed matrix: {error}") from None


class PrometheusClient:
    def __init__(self, base_url: str, timeout: float, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        """`timeout` bounds each call (connecting, and waiting for the answer); no call is retried."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.where = f"Prometheus at {display_url(self.base_url)}"
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=concurrency, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._executor = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="prometheus")
        self._closed = False

    async def query_range(self, query: str, window: Window) -> list[RangeSeries]:
        if self._closed:
            raise PrometheusUnavailableError("the facade is shutting down")
        loop = asyncio.get_running_loop()
        form = query_range_form(query, window, self.timeout)
        try:
            status, body = await loop.run_in_executor(self._executor, self._post, form)
        except RuntimeError:  # the pool was shut down between the check above and the call
            raise PrometheusUnavailableError("the facade is shutting down") from None
        return interpret_answer(status, body, self.where)

    def close(self) -> None:
        """Refuse new calls; calls in flight end on their own (within the timeout), then the threads exit."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _post(self, form: dict[str, str]) -> tuple[int, str]:
        """One call, in a pool thread; connection failures and timeouts become PrometheusUnavailableError.

        A pooled connection that Prometheus closed (it restarted, or dropped an idle connection) just as the
        request went out fails without an answer: that request is sent once more, on a new connection. A query
        has no side effect, so asking twice is safe; nothing else is retried.
        """
        try:
            try:
                return self._post_once(form)
            except requests.ConnectionError as error:
                if not closed_by_peer(error):
                    raise
                log.info("Prometheus closed a pooled connection; asking again on a new one")
                return self._post_once(form)
        except requests.Timeout:
            raise PrometheusUnavailableError(f"{self.where} did not answer within {self.timeout:g} s") from None
        except requests.ConnectionError as error:
            raise PrometheusUnavailableError(f"{self.where} is unreachable ({connection_failure(error)})") from None
        except requests.RequestException as error:
            raise PrometheusUnavailableError(f"{self.where} could not be asked: {type(error).__name__}") from None

    def _post_once(self, form: dict[str, str]) -> tuple[int, str]:
        response = self._session.post(self.base_url + QUERY_RANGE_PATH, data=form, timeout=self.timeout)
        return response.status_code, response.text


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps, outermost first: requests wraps urllib3's MaxRetryError, which wraps a
    NewConnectionError or a ProtocolError, which wraps the OSError."""
    reason: BaseException | None = error
    for _ in range(10):
        if reason is None:
            return
        yield reason
        inner = [reason.__cause__, reason.__context__, getattr(reason, "reason", None), *reason.args[:1]]
        reason = next((candidate for candidate in inner if isinstance(candidate, BaseException)), None)


def closed_by_peer(error: requests.ConnectionError) -> bool:
    """The connection was closed or reset by Prometheus' side after it was made (not refused, not unresolvable)."""
    return any(isinstance(reason, ConnectionResetError | BrokenPipeError) for reason in causes(error))


def connection_failure(error: BaseException) -> str:
    """The innermost reason of a failed connection ("Connection refused"), without the URL the outer ones quote."""
    chain = list(causes(error))
    for reason in chain:
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror
    innermost = chain[-1]  # e.g. RemoteDisconnected("Remote end closed connection without response")
    return str(innermost)[:MAX_REASON_LENGTH] if innermost is not error and str(innermost) else type(error).__name__
