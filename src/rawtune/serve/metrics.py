"""Prometheus metrics, written by hand in the text exposition format (0.0.4), so the server needs no
client library: request counts by route/method/status, request latency, batch sizes (examples and
requests per model call), inference time, errors by code, and gauges read at scrape time.

Routes are labelled by their template (`/v1/models/{name}/predict`), never the raw path, so a client
cannot grow the label set; requests that match no route are labelled `unmatched`."""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels) + "}" if labels else ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class _Histogram:
    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(buckets)
        self.counts: dict[Labels, list[int]] = defaultdict(lambda: [0] * (len(self.buckets) + 1))
        self.sums: dict[Labels, float] = defaultdict(float)

    def observe(self, labels: Labels, value: float) -> None:
        self.counts[labels][bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] += value

    def lines(self, name: str) -> list[str]:
        out = []
        for labels, counts in sorted(self.counts.items()):
            total = 0
            for bound, n in zip((*self.buckets, float("inf")), counts):
                total += n
                le = "+Inf" if bound == float("inf") else _num(bound)
                out.append(f"{name}_bucket{_fmt((*labels, ('le', le)))} {total}")
            out.append(f"{name}_sum{_fmt(labels)} {_num(self.sums[labels])}")
            out.append(f"{name}_count{_fmt(labels)} {total}")
        return out


class Metrics:
    """Thread-safe: batches are recorded from the inference threads, requests from the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[Labels, int] = defaultdict(int)
        self.errors: dict[Labels, int] = defaultdict(int)
        self.predictions: dict[Labels, int] = defaultdict(int)
        self.latency = _Histogram(LATENCY_BUCKETS)
        self.batch_examples = _Histogram(SIZE_BUCKETS)
        self.batch_requests = _Histogram(SIZE_BUCKETS)
        self.inference = _Histogram(LATENCY_BUCKETS)
        self.gauges: dict[str, tuple[str, Callable[[], dict[Labels, float]]]] = {}

    # --- recording ----------------------------------------------------------------------------
    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("route", route), ("method", method), ("status", str(status)))] += 1
            self.latency.observe((("route", route),), seconds)

    def error(self, code: str) -> None:
        with self._lock:
            self.errors[(("code", code),)] += 1

    def batch(self, model: str, examples: int, requests: int, seconds: float) -> None:
        labels = (("model", model),)
        with self._lock:
            self.batch_examples.observe(labels, examples)
            self.batch_requests.observe(labels, requests)
            self.inference.observe(labels, seconds)
            self.predictions[labels] += examples

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[Labels, float]]) -> None:
        """A value read when /metrics is scraped."""
        self.gauges[name] = (help_text, read)

    # --- exposition ---------------------------------------------------------------------------
    def render(self) -> str:
        lines: list[str] = []

        def counter(name: str, help_text: str, values: dict[Labels, int]) -> None:
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} counter"])
            lines.extend(f"{name}{_fmt(k)} {v}" for k, v in sorted(values.items()))

        def histogram(name: str, help_text: str, h: _Histogram) -> None:
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} histogram", *h.lines(name)])

        with self._lock:
            counter(
                "rawtune_http_requests_total", "HTTP requests by route, method and status.", self.requests
            )
            histogram("rawtune_http_request_duration_seconds", "HTTP request latency by route.", self.latency)
            counter("rawtune_errors_total", "Error responses by error code.", self.errors)
            counter("rawtune_predictions_total", "Inputs predicted, by model.", self.predictions)
            histogram("rawtune_batch_size", "Inputs per model call (merged requests).", self.batch_examples)
            histogram("rawtune_batch_requests", "Requests merged into one model call.", self.batch_requests)
            histogram("rawtune_inference_seconds", "Time of one model call.", self.inference)
        for name, (help_text, read) in sorted(self.gauges.items()):
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
            lines.extend(f"{name}{_fmt(k)} {_num(v)}" for k, v in sorted(read().items()))
        return "\n".join(lines) + "\n"


class RequestMetrics:
    """ASGI middleware recording every HTTP request (status, route template, latency); it sits
    outside auth and the body limit, so their refusals are counted too."""

    def __init__(self, app: Any, metrics: Metrics, router: Any):
        self.app, self.metrics, self.router = app, metrics, router

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status = status or 500  # Starlette's outermost handler answers 500
            raise
        finally:
            # the app returned without answering: the client left first (mid-body), not a 5xx
            status = status or 499
            self.metrics.request(self._route(scope), scope["method"], status, time.perf_counter() - start)

    def _route(self, scope: dict) -> str:
        route = scope.get("route")
        if route is None:  # refused before routing (auth, body limit): match it here
            from starlette.routing import Match

            route = next((r for r in self.router.routes if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", None) or "unmatched"
