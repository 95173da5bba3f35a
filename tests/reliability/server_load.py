"""A real rawtune HTTP server (uvicorn, in a thread, on a free port) and the load the reliability
suite puts on it: N concurrent clients for a while, every answer's status and latency recorded.
Kept free of pytest; used by test_server_reliability.py."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1:PORT in a daemon thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of values; None when there are none."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


@dataclass
class Load:
    """What the clients of one load phase saw."""

    clients: int
    seconds: float
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # of the 200s
    rejections: list[dict[str, Any]] = field(default_factory=list)  # status, retry_after, message
    failures: list[str] = field(default_factory=list)  # transport errors: resets, timeouts

    def count(self, status: int) -> int:
        return sum(1 for s in self.statuses if s == status)

    @property
    def server_errors(self) -> int:
        return sum(1 for s in self.statuses if s >= 500)

    def summary(self) -> dict[str, Any]:
        ok = self.count(200)
        p50, p99 = percentile(self.latencies, 50), percentile(self.latencies, 99)
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 2),
            "requests": len(self.statuses),
            "ok": ok,
            "throughput_rps": round(ok / self.seconds, 2) if self.seconds else None,
            "p50_ms": round(p50 * 1000, 1) if p50 is not None else None,
            "p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
            "rejected_429": self.count(429),
            "rejected_503": self.count(503),
            "status_5xx": self.server_errors,
            "transport_failures": len(self.failures),
            "statuses": {str(s): self.count(s) for s in sorted(set(self.statuses))},
        }


async def _client(c: httpx.AsyncClient, url: str, body: dict, until: float, load: Load, pause: float) -> None:
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            r = await c.post(url, json=body)
        except httpx.HTTPError as e:
            load.failures.append(f"{type(e).__name__}: {e}")
            await asyncio.sleep(pause)
            continue
        load.statuses.append(r.status_code)
        if r.status_code == 200:
            load.latencies.append(time.monotonic() - t0)
        else:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = None
            load.rejections.append(
                {"status": r.status_code, "retry_after": r.headers.get("retry-after"), "message": message}
            )
            await asyncio.sleep(pause)  # a rejected client comes straight back: pressure, not politeness


async def _probe(c: httpx.AsyncClient, url: str, until: float, out: list[float], errors: list[str]) -> None:
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            r = await c.get(url)
            if r.status_code != 200:
                errors.append(f"status {r.status_code}")
        except httpx.HTTPError as e:
            errors.append(f"{type(e).__name__}: {e}")
        out.append(time.monotonic() - t0)
        await asyncio.sleep(0.02)


def apply_load(
    base: str,
    path: str,
    body: dict,
    clients: int,
    seconds: float,
    *,
    pause: float = 0.02,
    probe: str | None = None,
) -> tuple[Load, list[float], list[str]]:
    """`clients` concurrent clients POSTing `body` to base+path for `seconds`; with `probe`, one more
    client GETs base+probe every 20 ms meanwhile. Returns (the load, probe latencies, probe errors)."""

    async def main() -> tuple[Load, list[float], list[str]]:
        load, probes, errors = Load(clients, seconds), [], []
        limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
        async with httpx.AsyncClient(timeout=60, limits=limits) as c, httpx.AsyncClient(timeout=60) as p:
            t0 = time.monotonic()
            until = t0 + seconds
            jobs = [_client(c, base + path, body, until, load, pause) for _ in range(clients)]
            if probe:
                jobs.append(_probe(p, base + probe, until, probes, errors))
            await asyncio.gather(*jobs)
            load.seconds = time.monotonic() - t0
        return load, probes, errors

    return asyncio.run(main())
