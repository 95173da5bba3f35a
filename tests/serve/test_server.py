"""The HTTP server on tiny fine-tuned runs (NER, classification, pairs), in process: predictions are
`Predictor.predict`'s, every limit holds at its bound and fails one past it with the right status,
the API key guards every route but the health probes, bad requests never produce a 5xx, overload
gives 429 + Retry-After and recovers, the deadline gives 504, concurrent requests share batches.
One test runs a real `rawtune serve` process and stops it with SIGTERM while a request is in flight."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from rawtune.config.serve import ServeConfig  # noqa: E402
from rawtune.serve.app import create_app  # noqa: E402
from rawtune.serve.predictor import Predictor  # noqa: E402
from rawtune.stages.finetune import run_finetune  # noqa: E402

KEY = "k3y-for-tests-0123456789abcdef"
INPUTS = {  # name: (request field, inputs)
    "ner": ("texts", ["Maria Lopez flew to Paris on Monday.", "The bank in Berlin hired John Smith.", ""]),
    "cls": ("texts", ["the film was good and great", "the meal was awful and dull", "the show was fine"]),
    "pairs": (
        "pairs",
        [["the film was good", "the film was good"], ["the meal was fine", "the show was bad"]],
    ),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_backbone, ner_data, cls_data, pair_data) -> dict[str, str]:
    root = tmp_path_factory.mktemp("served")
    out = {}
    for name, task, data in (
        ("ner", "ner", ner_data),
        ("cls", "classification", cls_data),
        ("pairs", "pairs", pair_data),
    ):
        columns = {"text_column": "text_a"} if task == "pairs" else {}
        cfg = {
            "output": str(root / name),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": task},
            "data": {
                "train": str(data["train"]),
                "dev": str(data["dev"]),
                "max_length": 64,
                "stride": 16,
                **columns,
            },
            "train": {
                "max_steps": 4,
                "eval_steps": 4,
                "save_steps": 4,
                "batch_size": 8,
                "lr": 3e-3,
                "threads": 1,
                "progress": False,
            },
        }
        out[name] = str(run_finetune(cfg).path)
    return out


@pytest.fixture(scope="module")
def predictor(runs) -> Predictor:
    return Predictor.from_runs(runs)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "key.txt"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path


class Slow:
    """The predictor with a sleep before every model call; records each call's (model, size)."""

    def __init__(self, inner: Predictor, delay: float, fail_on: str | None = None):
        self.inner, self.delay, self.fail_on = inner, delay, fail_on
        self.calls: list[tuple[str, int]] = []
        self.finished = 0  # model calls that have returned
        self.names = inner.names

    def entry(self, name: str) -> Any:
        return self.inner.entry(name)

    def predict(self, items: list[Any], *, batch_size: int, adapter: str) -> list[dict]:
        self.calls.append((adapter, len(items)))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError("a bug that must not reach the client")
        try:
            return self.inner.predict(items, batch_size=batch_size, adapter=adapter)
        finally:
            self.finished += 1


def client(pred: Any, **settings: Any) -> TestClient:
    return TestClient(create_app(pred, ServeConfig(**settings)), raise_server_exceptions=False)


async def burst(
    app: Any, requests: list[tuple[str, dict]], headers: dict | None = None
) -> list[httpx.Response]:
    """Send all `requests` (path, json) at once to `app` (lifespan run around them)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as c:
            return await asyncio.gather(*(c.post(path, json=body) for path, body in requests))


def is_json_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["status"] == status and err["code"] and err["message"]
    assert "Traceback" not in r.text
    return err


# --- predictions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(INPUTS))
def test_predictions_equal_predictor(predictor, name):
    field, items = INPUTS[name]
    with client(predictor) as c:
        r = c.post(f"/v1/models/{name}/predict", json={field: items})
    assert r.status_code == 200, r.text
    assert r.json() == {"model": name, "predictions": predictor.predict(items, batch_size=32, adapter=name)}


def test_ner_words_and_offsets(predictor):
    words = [["Maria", "Lopez", "flew", "to", "Paris", "."], ["Berlin"]]
    with client(predictor) as c:
        by_words = c.post("/v1/models/ner/predict", json={"tokens": words}).json()["predictions"]
        text = "Maria Lopez flew to Paris."
        # a form content type (what `curl -d` sends) is read as JSON all the same
        raw = c.post(
            "/v1/models/ner/predict",
            content=json.dumps({"texts": [text]}),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).json()["predictions"][0]
    assert by_words == predictor.predict(words, adapter="ner")
    assert raw["tokens"] == words[0] and raw["text"] == text
    assert all(text[e["start"] : e["end"]] == e["text"] for e in raw["entities"])


def test_models_and_metadata(predictor, runs):
    with client(predictor) as c:
        body = c.get("/v1/models").json()
        ready = c.get("/readyz").json()
    models = {m["name"]: m for m in body["models"]}
    assert list(models) == ["ner", "cls", "pairs"] and ready == {"status": "ready", "models": list(models)}
    assert models["ner"]["task"] == "ner" and "B-PER" in models["ner"]["labels"]
    assert models["cls"]["labels"] == ["neg", "pos"] and models["pairs"]["task"] == "pairs"
    assert models["cls"]["run"] == "cls" and models["cls"]["tuning"] == "full"
    assert models["ner"]["backbone"] == Path(predictor.entry("ner").cfg.model.name_or_path).parent.name
    assert {"f1", "precision", "recall"} <= set(models["ner"]["metrics"]["dev"])
    text = json.dumps(body)
    for path in runs.values():  # no filesystem path leaves the server
        assert str(Path(path).parent) not in text
    assert "/tmp" not in text and str(Path.home()) not in text


def test_wrong_input_kind_and_unknown_model(predictor):
    with client(predictor) as c:
        err = is_json_error(c.post("/v1/models/cls/predict", json={"tokens": [["a"]]}), 422)
        assert "takes texts" in err["message"]
        is_json_error(c.post("/v1/models/ner/predict", json={"pairs": [["a", "b"]]}), 422)
        err = is_json_error(c.post("/v1/models/../predict", json={"texts": ["a"]}), 404)
        err = is_json_error(c.post("/v1/models/runs%2Fner/predict", json={"texts": ["a"]}), 404)
        err = is_json_error(c.post("/v1/models/nope/predict", json={"texts": ["a"]}), 404)
        assert err["code"] == "model_not_found" and "'ner'" in err["message"]
        assert c.post("/v1/models/cls/predict", json={"texts": []}).json() == {
            "model": "cls",
            "predictions": [],
        }


# --- limits: at the bound passes, one past fails ------------------------------------------------------
def test_texts_per_request(predictor):
    with client(predictor, max_texts=4) as c:
        assert c.post("/v1/models/cls/predict", json={"texts": ["a"] * 4}).status_code == 200
        err = is_json_error(c.post("/v1/models/cls/predict", json={"texts": ["a"] * 5}), 422)
        assert (
            err["code"] == "too_many_inputs" and "5 texts" in err["message"] and "at most 4" in err["message"]
        )
        assert c.post("/v1/models/ner/predict", json={"tokens": [["a"]] * 4}).status_code == 200
        is_json_error(c.post("/v1/models/ner/predict", json={"tokens": [["a"]] * 5}), 422)


def test_characters_per_text(predictor):
    with client(predictor, max_chars=50) as c:
        for name, at, past in (
            ("cls", {"texts": ["b" * 50]}, {"texts": ["ok", "b" * 51]}),
            ("ner", {"texts": ["é" * 50]}, {"texts": ["é" * 51]}),  # characters, not bytes
            (
                "ner",
                {"tokens": [["a" * 24, "b" * 25]]},
                {"tokens": [["a" * 25, "b" * 25]]},
            ),  # joined by a space
            ("pairs", {"pairs": [["a" * 50, "b" * 50]]}, {"pairs": [["a", "b" * 51]]}),
        ):
            ok = c.post(f"/v1/models/{name}/predict", json=at)
            assert ok.status_code == 200, ok.text
            err = is_json_error(c.post(f"/v1/models/{name}/predict", json=past), 422)
            assert (
                err["code"] == "input_too_long"
                and "51 characters" in err["message"]
                and "50" in err["message"]
            )
        assert (
            "texts[1]"
            in c.post("/v1/models/cls/predict", json={"texts": ["ok", "b" * 51]}).json()["error"]["message"]
        )


def test_long_text_is_windowed_not_cut(predictor):
    """A text far longer than the model's 64-token window is predicted word for word."""
    text = " ".join(["Maria Lopez flew to Paris ."] * 60)
    with client(predictor) as c:
        pred = c.post("/v1/models/ner/predict", json={"texts": [text]}).json()["predictions"][0]
    assert len(pred["tokens"]) == len(pred["tags"]) == 360


def test_body_bytes(predictor):
    def body(n: int) -> bytes:  # valid JSON of exactly n bytes
        b = json.dumps({"texts": ["a"]}).encode()
        return b[:-1] + b" " * (n - len(b)) + b"}"

    with client(predictor, max_body_bytes=300) as c:
        ok = c.post("/v1/models/cls/predict", content=body(300), headers={"content-type": "application/json"})
        assert ok.status_code == 200, ok.text
        err = is_json_error(c.post("/v1/models/cls/predict", content=body(301)), 413)
        assert "301 bytes" in err["message"] and "300" in err["message"]


def test_overload_gives_429_then_recovers(predictor):
    slow = Slow(predictor, delay=0.4)
    app = create_app(slow, ServeConfig(max_concurrency=2, max_wait_ms=0, retry_after_s=3))
    rs = asyncio.run(burst(app, [("/v1/models/cls/predict", {"texts": [f"the film {i}"]}) for i in range(8)]))
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] * 2 + [429] * 6, codes
    for r in rs:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "3"
            assert is_json_error(r, 429)["code"] == "overloaded"
    rs = asyncio.run(burst(app, [("/v1/models/cls/predict", {"texts": ["the film"]})] * 2))
    assert [r.status_code for r in rs] == [200, 200]


def test_deadline_gives_504(predictor):
    slow = Slow(predictor, delay=1.0)
    with client(slow, timeout_s=0.3) as c:
        err = is_json_error(c.post("/v1/models/cls/predict", json={"texts": ["the film"]}), 504)
        assert "0.3 s" in err["message"]
        slow.delay = 0.0
        deadline = time.monotonic() + 30  # the abandoned batch finishes (a loaded machine is slow)
        while slow.finished < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.finished == 1  # and the server goes on
        assert c.post("/v1/models/cls/predict", json={"texts": ["the film"]}).status_code == 200
        assert 'rawtune_errors_total{code="deadline_exceeded"} 1' in c.get("/metrics").text


async def _leaves_early(app: Any, path: str, body: dict, after_s: float) -> list[dict]:
    """One raw ASGI request whose client disconnects `after_s` seconds after sending its body;
    returns what the app sent back (nothing reaches a real client by then)."""
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.sleep(after_s)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"host", b"test")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("test", 80)}  # fmt: skip
    await app(scope, receive, send)
    return sent


def test_a_client_that_disconnects_is_dropped_from_the_queue(predictor):
    """While one batch runs, a queued request whose client leaves is never computed, and its
    admission place is given back at once (not when the running batch ends)."""
    slow = Slow(predictor, delay=1.0)
    app = create_app(slow, ServeConfig(max_wait_ms=0, max_batch_size=1))
    svc = app.state.service

    async def scenario() -> tuple[httpx.Response, list[dict], int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                first = asyncio.ensure_future(c.post("/v1/models/cls/predict", json={"texts": ["the film"]}))
                while not slow.calls:  # the first request's batch is running
                    await asyncio.sleep(0.01)
                sent = await _leaves_early(
                    app, "/v1/models/cls/predict", {"texts": ["never computed"]}, after_s=0.2
                )
                active_after_leaving = svc.admission.active  # the first is still running
                return await first, sent, active_after_leaving

    first, sent, active = asyncio.run(scenario())
    assert first.status_code == 200
    assert active == 1
    assert slow.calls == [("cls", 1)]  # only the first request reached the model
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    assert svc.admission.active == 0
    assert 'rawtune_errors_total{code="client_closed_request"} 1' in svc.metrics.render()


def test_micro_batching_merges_concurrent_requests(predictor):
    slow = Slow(predictor, delay=0.05)
    app = create_app(slow, ServeConfig(max_batch_size=8, max_wait_ms=150))
    texts = [[f"the film was good {i}"] if i % 2 else [f"the meal {i}", "was awful"] for i in range(6)]
    rs = asyncio.run(burst(app, [("/v1/models/cls/predict", {"texts": t}) for t in texts]))
    assert all(r.status_code == 200 for r in rs)
    assert sum(n for _, n in slow.calls) == 9 and len(slow.calls) < 6 and max(n for _, n in slow.calls) > 2
    assert all(n <= 8 for _, n in slow.calls)
    for sent, r in zip(texts, rs):  # each request gets its own predictions back, in order
        got = r.json()["predictions"]
        alone = predictor.predict(sent, adapter="cls")
        assert [p["text"] for p in got] == sent and [p["label"] for p in got] == [p["label"] for p in alone]
        for g, a in zip(got, alone):
            assert g["scores"] == pytest.approx(a["scores"], abs=1e-4)


def test_models_batch_apart_and_a_failing_request_fails_alone(predictor):
    slow = Slow(predictor, delay=0.05, fail_on="BOOM")
    app = create_app(slow, ServeConfig(max_batch_size=16, max_wait_ms=100))
    reqs = [
        ("/v1/models/cls/predict", {"texts": ["the film"]}),
        ("/v1/models/ner/predict", {"texts": ["Maria"]}),
    ] * 3
    reqs.append(("/v1/models/cls/predict", {"texts": ["BOOM"]}))
    rs = asyncio.run(burst(app, reqs))
    assert [r.status_code for r in rs] == [200] * 6 + [500]
    err = is_json_error(rs[-1], 500)
    assert "bug" not in err["message"]  # logged on the server, not sent
    assert [r.json()["model"] for r in rs[:6]] == ["cls", "ner"] * 3


# --- auth ----------------------------------------------------------------------------------------------
ROUTES = [
    ("GET", "/v1/models", 200),
    ("POST", "/v1/models/cls/predict", 200),
    ("GET", "/metrics", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/no/such/route", 404),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
]
OPEN = {"/healthz", "/readyz"}


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer wrong-key-0123456789abcdef",
        f"Basic {KEY}",
        f"Bearer {KEY}x",
        f"Bearer {KEY[:-1]}",
        "Bearer ",
        f"bearer {KEY}",
        f"Bearer {KEY}",
    ],
)
def test_auth_matrix(predictor, key_file, auth):
    good = auth is not None and auth.lower() == f"bearer {KEY}".lower() and auth.split(" ", 1)[1] == KEY
    headers = {"Authorization": auth} if auth else {}
    with client(predictor, api_key_file=str(key_file)) as c:
        for method, path, status in ROUTES:
            r = c.request(
                method, path, headers=headers, json={"texts": ["the film"]} if method == "POST" else None
            )
            if good or path in OPEN:
                assert r.status_code == status, (method, path, r.text)
            else:
                err = is_json_error(r, 401)
                assert r.headers["www-authenticate"] == "Bearer" and KEY not in r.text
                assert err["message"].startswith("missing" if auth is None else "wrong")


def test_unauthenticated_requests_are_refused_before_the_body_is_read(predictor, key_file):
    with client(predictor, api_key_file=str(key_file), max_body_bytes=100) as c:
        is_json_error(c.post("/v1/models/cls/predict", content=b"x" * 1000), 401)
        assert (
            'rawtune_errors_total{code="unauthorized"} 1'
            in c.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
        )


# --- bad requests never produce a 5xx ------------------------------------------------------------------
BAD = [
    b"", b"null", b"[]", b"{}", b"42", b'"texts"', b"{", b"not json", b"\xff\xfe\x00", b"\xef\xbb\xbf{}",
    b'{"texts": null}', b'{"texts": "a string"}', b'{"texts": [null]}', b'{"texts": [1]}', b'{"texts": [1e999]}',
    b'{"texts": [' + b"9" * 5000 + b"]}", b'{"texts": [true]}', b'{"texts": [{"text": "a"}]}', b'{"texts": [["a"]]}',
    b'{"texts": ["a"], "tokens": [["a"]]}', b'{"texts": ["a"], "extra": 1}', b'{"Texts": ["a"]}',
    b'{"tokens": [["a", 1]]}', b'{"tokens": ["a"]}', b'{"tokens": [[]]}', b'{"tokens": [[""]]}',
    b'{"pairs": [["a"]]}', b'{"pairs": [["a", "b", "c"]]}', b'{"pairs": [[null, "b"]]}', b'{"pairs": "ab"}',
    b'{"texts": ["\\ud800"]}', b'{"texts": ["\\u0000"]}', b'{"texts": ["a\\udfff\\ud800b"]}',
    b"[" * 50_000 + b"]" * 50_000, b'{"texts": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"texts": ["' + "😀".encode() * 2000 + b'"]}', b'{"texts": ["' + "\u202e\u200b\u0301".encode() * 100 + b'"]}',
    b'{"texts": ["", " ", "\\n\\t", "\\u00a0"]}', json.dumps({"texts": ["日本語のテキスト", "مرحبا بالعالم"]}).encode(),
]  # fmt: skip


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    return [
        lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(-(10**30), 10**30), lambda: rng.uniform(-1e308, 1e308),
        lambda: "".join(chr(rng.randrange(1, 0x2FFFF)) for _ in range(rng.randrange(8))),
        lambda: [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {rng.choice(["texts", "tokens", "pairs", "x"]): _random_json(rng, depth + 1) for _ in range(rng.randrange(3))},
        lambda: {rng.choice(["texts", "tokens", "pairs"]): [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]},
    ][kind]()  # fmt: skip


def test_fuzzed_requests_never_5xx(predictor):
    rng = random.Random(0)
    bodies = BAD + [
        json.dumps(_random_json(rng), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        for _ in range(150)
    ]
    seen = set()
    with client(predictor, max_chars=5000) as c:
        for i, body in enumerate(bodies):
            name = ["ner", "cls", "pairs"][i % 3]
            ctype = ["application/json", "text/plain", None, "application/json; charset=latin-1"][i % 4]
            r = c.post(
                f"/v1/models/{name}/predict", content=body, headers={"content-type": ctype} if ctype else {}
            )
            assert r.status_code < 500, (name, body[:80], r.text)
            if r.status_code != 200:
                is_json_error(r, r.status_code)
            seen.add(r.status_code)
        for method, path in [("PUT", "/v1/models/ner/predict"), ("GET", "/v1/models/ner/predict"), ("DELETE", "/v1/models"),
                             ("POST", "/v1/models/" + "x" * 5000 + "/predict"), ("POST", "/v1/models/%F0%9F%98%80/predict"),
                             ("POST", "/v1/models/ner/predict?texts=a"), ("GET", "/%00"), ("GET", "/v1/models/../../etc/passwd")]:  # fmt: skip
            r = c.request(method, path, content=b'{"texts": ["a"]}')
            assert r.status_code < 500 and r.headers["content-type"] == "application/json", (
                method,
                path,
                r.text,
            )
    assert {200, 422} <= seen


def test_unexpected_errors_are_json_500(predictor):
    app = create_app(predictor, ServeConfig())

    @app.get("/boom")
    async def boom() -> None:
        raise ZeroDivisionError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        err = is_json_error(c.get("/boom"), 500)
    assert "secret" not in err["message"]


# --- metrics and probes --------------------------------------------------------------------------------
def test_metrics_and_readiness(predictor):
    app = create_app(predictor, ServeConfig())
    with TestClient(app) as c:
        c.post("/v1/models/cls/predict", json={"texts": ["the film", "the show"]})
        c.post("/v1/models/cls/predict", json={"texts": ["x"] * 100})
        text = c.get("/metrics").text
        assert c.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")
    line = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$')
    for ln in text.splitlines():
        assert ln.startswith("# ") or line.match(ln), ln
    assert (
        'rawtune_http_requests_total{route="/v1/models/{name}/predict",method="POST",status="200"} 1' in text
    )
    assert (
        'rawtune_http_requests_total{route="/v1/models/{name}/predict",method="POST",status="422"} 1' in text
    )
    assert 'rawtune_batch_size_bucket{model="cls",le="2"} 1' in text
    assert 'rawtune_predictions_total{model="cls"} 2' in text
    assert 'rawtune_errors_total{code="too_many_inputs"} 1' in text
    assert 'rawtune_http_request_duration_seconds_count{route="/v1/models/{name}/predict"} 2' in text
    assert "rawtune_models_loaded 3" in text and 'rawtune_queue_depth{model="ner"} 0' in text
    # outside its lifespan (not started, or shut down) the app is alive but not ready
    bare = TestClient(app)
    assert bare.get("/healthz").status_code == 200
    is_json_error(bare.get("/readyz"), 503)


def test_openapi_schema(predictor):
    with client(predictor) as c:
        spec = c.get("/openapi.json").json()
    post = spec["paths"]["/v1/models/{name}/predict"]["post"]
    assert set(post["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "texts",
        "tokens",
        "pairs",
        "questions",
        "relations",
        "documents",
    }
    assert {"200", "413", "422", "429", "504"} <= set(post["responses"])
    assert {"/v1/models", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])


# --- a real server process: SIGTERM drains the request in flight, then exits 0 ---------------------------
LAUNCHER = """
import sys, time
from rawtune.serve.predictor import Predictor

predict = Predictor.predict

def slow(self, items, **kw):  # a slow model, so that a request is in flight at SIGTERM
    time.sleep(float(sys.argv[1]))
    return predict(self, items, **kw)

Predictor.predict = slow
from rawtune.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None, timeout: float = 30.0) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {KEY}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metrics(url: str) -> str:
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


@pytest.mark.slow
def test_real_server_drains_on_sigterm(runs, key_file, tmp_path):
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, str(launcher), "1.5", "serve", runs["cls"], "--name", f"ents={runs['ner']}",
           "--port", str(port), "--api-key-file", str(key_file), "--max-wait-ms", "0", "--drain-timeout", "20"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if _call(url + "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        status, body = _call(url + "/v1/models")
        assert status == 200 and [m["name"] for m in body["models"]] == ["cls", "ents"]
        result: dict[str, Any] = {}

        def in_flight() -> None:
            result["r"] = _call(url + "/v1/models/ents/predict", {"texts": ["Maria Lopez flew to Paris."]})

        t = threading.Thread(target=in_flight)
        t.start()
        while "rawtune_inflight_requests 1" not in _metrics(url):  # inside the 1.5 s model call
            assert t.is_alive() and time.monotonic() < deadline, result
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        t.join(30)
        output = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status, body = result["r"]
    assert status == 200 and body["model"] == "ents" and body["predictions"][0]["tokens"][0] == "Maria", (
        output
    )
    assert proc.returncode == 0, output
    assert "Shutting down" in output and "Traceback" not in output
