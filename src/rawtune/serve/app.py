"""The HTTP server as a FastAPI app factory: `create_app(predictor, settings)`.

Routes: `POST /v1/models/{name}/predict`, `GET /v1/models`, `GET /healthz`, `GET /readyz`,
`GET /metrics`, `GET /openapi.json`. Model names come only from the Predictor loaded at start; a
request never names a path. A request meets, in order: the API key (security.py), the body byte cap
and upload deadline (limits.BodyLimit), JSON validation, the per-request input caps, the concurrency
cap (429), then the micro-batcher (batcher.py) under the per-request deadline (504)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rawtune._version import __version__
from rawtune.config.serve import ServeConfig
from rawtune.errors import MissingExtraError, RawtuneError

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse
except ImportError as e:  # pragma: no cover - only without the extra
    raise MissingExtraError(e.name or "fastapi", "serve") from None

from rawtune.serve import http_errors
from rawtune.serve.batcher import BatcherClosed, MicroBatcher
from rawtune.serve.http_errors import ApiError, validation_details
from rawtune.serve.limits import Admission, BodyLimit, check_sizes
from rawtune.serve.metrics import CONTENT_TYPE, Metrics, RequestMetrics
from rawtune.serve.schemas import ErrorResponse, ModelInfo, ModelList, PredictRequest, PredictResponse
from rawtune.serve.security import BearerAuth, read_api_key

log = logging.getLogger("rawtune.serve")

_ERRORS = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Missing or wrong API key",
        404: "No model of that name",
        413: "Body over --max-body-bytes",
        422: "Invalid JSON, wrong input kind, or over --max-texts / --max-chars",
        429: "Over --max-concurrency (see Retry-After)",
        503: "Shutting down",
        504: "Over the --timeout deadline",
    }.items()
}


class Service:
    """What the routes share: the model table, the batcher, the admission gate, the metrics."""

    def __init__(self, predictor: Any, settings: ServeConfig):
        self.predictor, self.settings = predictor, settings
        self.names = list(predictor.names)
        self.infos = {name: describe(name, predictor.entry(name)) for name in self.names}
        self.metrics = Metrics()
        self.admission = Admission(settings.max_concurrency, settings.retry_after_s)
        self.batcher = MicroBatcher(
            self._run,
            self.names,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            workers=settings.workers,
            on_batch=self.metrics.batch,
        )
        self.ready = False

    def _run(self, name: str, items: list[Any]) -> list[Any]:  # in an inference thread
        return self.predictor.predict(items, batch_size=self.settings.max_batch_size, adapter=name)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.batcher.start()
        self.ready = True
        tasks = ", ".join(f"{n} ({self.infos[n].task})" for n in self.names)
        log.info("serving %d model(s): %s", len(self.names), tasks)
        try:
            yield
        finally:  # uvicorn has drained the connections by now; finish whatever is still queued
            self.ready = False
            await self.batcher.close()

    async def predict(self, name: str, request: Request) -> JSONResponse:
        """Predictions of model `name` for a batch of inputs, in order."""
        info = self.infos.get(name)
        if info is None:
            raise ApiError(404, f"no model named {name[:80]!r}; loaded: {self.names}", code="model_not_found")
        try:  # parsed here, whatever the Content-Type (curl -d sends a form type)
            req = PredictRequest.model_validate_json(await request.body())
        except ValidationError as e:
            raise ApiError(422, "the request is not valid", details=validation_details(e.errors())) from None
        kind, items = req.inputs(name, info.task, self.predictor.entry(name).task.inputs)
        check_sizes(kind, items, self.settings.max_texts, self.settings.max_chars)
        preds = await self.infer(name, items, request) if items else []
        return JSONResponse({"model": name, "predictions": preds})

    async def infer(self, name: str, items: list[Any], request: Request | None = None) -> list[Any]:
        """`items` through the batcher, inside the concurrency cap and the deadline. With the
        `request`, a client that disconnects first gives its place back at once and its job is
        dropped from the queue if its batch has not started (a batch already running finishes in
        its thread, and only that client's part is thrown away)."""
        self.admission.enter()
        answer = asyncio.ensure_future(self._answer(name, items))
        try:
            if request is None:
                return await answer
            gone = asyncio.ensure_future(_client_gone(request))
            try:
                await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
            if not answer.done():
                raise ApiError(499, "the client disconnected before the answer") from None
            return answer.result()
        finally:
            if not answer.done():
                answer.cancel()  # the batcher skips a cancelled job (batcher.py)
            self.admission.leave()

    async def _answer(self, name: str, items: list[Any]) -> list[Any]:
        try:
            return await asyncio.wait_for(self.batcher.submit(name, items), self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(
                504, f"no answer within the {self.settings.timeout_s:g} s deadline (--timeout)"
            ) from None
        except BatcherClosed:
            raise ApiError(503, "the server is shutting down", headers={"Retry-After": "1"}) from None
        except RawtuneError as e:  # the model refused this input
            raise ApiError(422, str(e), code="invalid_input") from None
        except Exception as e:
            log.error("model %s failed on a request of %d input(s)", name, len(items), exc_info=e)
            raise ApiError(500, "internal error while predicting (logged on the server)") from None


async def _client_gone(request: Request) -> None:
    """Returns when the ASGI server reports the client gone. The body has been read, so the next
    message is `http.disconnect` (uvicorn sends it when the connection closes, or once the answer
    is sent, by when this waiter has been cancelled)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def create_app(predictor: Any, settings: ServeConfig | None = None) -> FastAPI:
    """An app serving every run of `predictor` (a `Predictor`, or anything with its `names`,
    `entry(name)` and `predict(items, batch_size=, adapter=)`) under its name."""
    settings = settings or ServeConfig()
    key = read_api_key(settings.api_key_file) if settings.api_key_file else None
    svc = Service(predictor, settings)
    app = FastAPI(
        title="rawtune",
        version=__version__,
        description="Predictions from fine-tuned rawtune runs.",
        lifespan=svc.lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service, app.state.metrics = svc, svc.metrics
    http_errors.install(app)
    _routes(app, svc)
    _gauges(svc)
    # added innermost first: metrics(auth(body limit(app)))
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.timeout_s,
        on_reject=svc.metrics.error,
    )
    if key is not None:
        app.add_middleware(BearerAuth, key=key, on_reject=lambda: svc.metrics.error("unauthorized"))
    app.add_middleware(RequestMetrics, metrics=svc.metrics, router=app.router)
    return app


def _routes(app: FastAPI, svc: Service) -> None:
    body = {"required": True, "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}}
    app.post(
        "/v1/models/{name}/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": body},
    )(svc.predict)

    @app.get("/v1/models", response_model=ModelList, responses={401: _ERRORS[401]})
    async def models() -> ModelList:
        """The loaded models: task, labels, run and backbone names, the run's dev/test metrics."""
        return ModelList(models=[svc.infos[n] for n in svc.names])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (no API key needed)."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: _ERRORS[503]})
    async def readyz() -> dict[str, Any]:
        """Readiness: models loaded and taking requests (no API key needed)."""
        if not (svc.ready and svc.batcher.running):
            raise ApiError(503, "not ready: starting or shutting down", code="not_ready")
        return {"status": "ready", "models": svc.names}

    @app.get("/metrics", response_class=PlainTextResponse, responses={401: _ERRORS[401]})
    async def prometheus() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(svc.metrics.render(), media_type=CONTENT_TYPE)


def _gauges(svc: Service) -> None:
    gauge = svc.metrics.gauge
    gauge("rawtune_models_loaded", "Models being served.", lambda: {(): len(svc.names)})
    gauge("rawtune_ready", "1 when taking requests.", lambda: {(): int(svc.ready)})
    gauge(
        "rawtune_inflight_requests",
        "Prediction requests admitted (queued or running).",
        lambda: {(): svc.admission.active},
    )
    gauge(
        "rawtune_queue_depth",
        "Requests waiting for a batch, by model.",
        lambda: {(("model", n),): svc.batcher.depth(n) for n in svc.names},
    )


# --- what GET /v1/models says about a run ----------------------------------------------------------
def describe(name: str, entry: Any) -> ModelInfo:
    cfg = getattr(entry, "cfg", None)
    run_path = Path(entry.run_path)
    return ModelInfo(
        name=name,
        task=entry.task.name,
        labels=[str(x) for x in entry.space.labels],
        run=run_path.name,
        backbone=_display(getattr(getattr(cfg, "model", None), "name_or_path", None)),
        tuning=getattr(getattr(cfg, "tuning", None), "method", None),
        metrics=run_metrics(run_path / "metrics.json"),
    )


def _display(name_or_path: str | None) -> str | None:
    """A hub id as it is; a local directory by its name (a run's `model/` by the run's name), so no
    filesystem path leaves the server."""
    if not name_or_path:
        return None
    p = Path(name_or_path)
    if not (p.is_absolute() or p.exists() or name_or_path.startswith((".", "~"))):
        return name_or_path
    return p.parent.name if p.name == "model" and p.parent.name else p.name


def run_metrics(path: Path) -> dict[str, dict[str, float]]:
    """The scalar numbers of the `dev` and `test` sections of RUN/metrics.json ({} when absent)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[str, dict[str, float]] = {}
    for split in ("dev", "test"):
        section = data.get(split) if isinstance(data, dict) else None
        if isinstance(section, dict):
            out[split] = {
                k: float(v)
                for k, v in section.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            }
    return out
