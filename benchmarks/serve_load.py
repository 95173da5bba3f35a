#!/usr/bin/env python
"""Benchmark: `rawtune serve` under load on loopback — throughput, latency percentiles and errors of the
MiniLM CoNLL-2003 NER model for each backend (one served run each: the fp32 fine-tuning run, its
`rawtune compress --quantize int8` run, its `rawtune compress --onnx --quantize int8` run), then
overload at 2x and 5x the server's concurrency cap (429s expected, zero 5xx).

A bounded load generator: N client threads (stdlib http.client, one keep-alive connection each) each send
one request at a time for T seconds, every request a slice of --sentences-per-request CoNLL-2003 dev
sentences (as raw text, cycling through the dev set). Latency is the client's wall time per request.
Load generator and server share this machine's cores, so compare rows of one run, not absolute numbers
across machines.

Usage:
    python benchmarks/serve_load.py --run RUN [--run-int8 RUN] [--run-onnx RUN] --threads 2
    python benchmarks/serve_load.py --run RUN --clients 8 --seconds 20 --cap 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import socket
import subprocess
import sys
import threading
import time

from corpora import read_conll, sentence_texts
from harness import (
    add_data_dir,
    add_json,
    add_threads,
    begin,
    child_env,
    log,
    machine_line,
    markdown_table,
    new_parser,
    write_payload,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before it was ready")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not ready within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def load(port: int, name: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """`clients` threads, each a request at a time until `seconds` pass; per-request latency and status."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    sentences = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    path = f"/v1/models/{name}/predict"

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = k
        while time.monotonic() < stop:
            body = bodies[i % len(bodies)]
            i += clients
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except OSError:
                status = -1  # connection error: counted, the client reconnects
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                data = b""
            dt = time.perf_counter() - t0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    lat.append(dt)
                    sentences[0] += len(json.loads(data)["predictions"])
            if status == 429:
                time.sleep(0.05)  # a polite client backs off a little (Retry-After is in seconds)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = statuses.get(200, 0)
    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "requests_ok": ok,
        "sentences_per_s": sentences[0] / wall,
        "requests_per_s": ok / wall,
        "p50_ms": 1000 * percentile(lat, 50),
        "p95_ms": 1000 * percentile(lat, 95),
        "p99_ms": 1000 * percentile(lat, 99),
        "status": {str(k): v for k, v in sorted(statuses.items())},
        "errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "rejected_429": statuses.get(429, 0),
    }


def serve(run: str, port: int, args) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "rawtune.cli.main", "serve", "--name", f"ner={run}", "--host", "127.0.0.1",
        "--port", str(port),
        *shlex.split(args.serve_args),
    ]  # fmt: skip
    log(f"serving: {shlex.join(cmd)}")
    return subprocess.Popen(
        cmd, env=child_env(args.threads), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="the fp32 NER run")
    p.add_argument("--run-int8", help="its `rawtune compress --quantize int8` run")
    p.add_argument("--run-onnx", help="its `rawtune compress --onnx --quantize int8` run")
    add_data_dir(p, "folder holding conll2003/")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients of the normal-load rows")
    p.add_argument(
        "--cap", type=int, default=8, help="the server's concurrency cap (passed as --max-concurrency)"
    )
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--sentences-per-request", type=int, default=4)
    p.add_argument("--serve-args", default="", help="extra `rawtune serve` flags")
    add_threads(p)
    add_json(p)
    return p


def backend_rows(label: str, run: str, bodies: list[bytes], args) -> list[dict]:
    """One backend served: its normal-load row, and for fp32 the overload rows."""
    rows = []
    port = free_port()
    proc = serve(run, port, args)
    try:
        wait_ready(port, proc)
        load(port, "ner", bodies[:20], 2, 3.0)  # warm-up, not reported
        plan = [(args.clients, "normal")]
        if label == "torch fp32":
            plan += [(2 * args.cap, "2x cap"), (5 * args.cap, "5x cap")]
        for clients, kind in plan:
            log(f"[{label}] {kind}: {clients} clients for {args.seconds:.0f} s")
            rows.append({"backend": label, "load": kind, **load(port, "ner", bodies, clients, args.seconds)})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.serve_args = f"--max-concurrency {args.cap} {args.serve_args}".strip()
    dev = sentence_texts(read_conll(args.data_dir / "conll2003" / "dev.txt"))
    k = args.sentences_per_request
    bodies = [json.dumps({"texts": dev[i : i + k]}).encode() for i in range(0, len(dev) - k + 1, k)]
    command, info = begin(__file__, argv, args.threads)
    backends = [("torch fp32", args.run), ("torch int8", args.run_int8), ("onnx int8", args.run_onnx)]
    rows = [row for label, run in backends if run for row in backend_rows(label, run, bodies, args)]
    print(f"command: {command}")
    print(machine_line(info))
    print(f"{len(dev):,} CoNLL-2003 dev sentences, {k} per request; server: --max-concurrency {args.cap}\n")
    header = [
        "backend",
        "load",
        "clients",
        "sentences/s",
        "requests/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "429",
        "5xx",
    ]
    print(markdown_table(header, [
        [r["backend"], r["load"], r["clients"], f"{r['sentences_per_s']:.1f}", f"{r['requests_per_s']:.1f}",
         f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}", r["rejected_429"], r["errors_5xx"]]
        for r in rows
    ], "llrrrrrrrr"))  # fmt: skip
    write_payload(args.json, command, info, rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
