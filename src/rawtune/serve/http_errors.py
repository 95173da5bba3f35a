"""Every error the server sends is JSON, `{"error": {"status", "code", "message"[, "details"]}}`, and
never a traceback: handlers for our own `ApiError`, Starlette's HTTP errors (404, 405), request
validation, and anything unexpected (500, logged here with its traceback)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("rawtune.serve")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    422: "invalid_request",
    429: "overloaded",
    499: "client_closed_request",  # nginx's code: the client left before the answer (never sent)
    500: "internal",
    503: "unavailable",
    504: "deadline_exceeded",
}


class ApiError(Exception):
    """An error answered as it is: status, a stable code, a message for people."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or CODES.get(status, "error")
        self.headers = dict(headers or {})
        self.details = details


def error_body(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    err: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details:
        err["details"] = details
    return {"error": err}


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(err.status, err.code, err.message, err.details), err.status, headers=err.headers
    )


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the `input` they carry (never echo a client's payload back)."""
    out = []
    for e in errors[:20]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        out.append({"loc": loc or "-", "type": e.get("type", ""), "msg": str(e.get("msg", ""))[:300]})
    return out


def _count(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.error(code)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        _count(request, exc.code)
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES.get(exc.status_code, "error")
        _count(request, code)
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(ApiError(exc.status_code, message, code=code, headers=exc.headers))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(request, "invalid_request")
        details = validation_details(list(exc.errors()))
        return error_response(ApiError(422, "the request is not valid", details=details))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        _count(request, "internal")
        return error_response(ApiError(500, "internal error (logged on the server)"))
