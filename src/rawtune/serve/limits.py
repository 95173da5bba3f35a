"""The server's bounds, in the order a request meets them: body bytes (413, or 408 for a body that
does not arrive in time), inputs per request and characters per input (422, naming the numbers),
requests admitted at once (429 + Retry-After). The deadline (504) is the batcher caller's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rawtune.serve.http_errors import ApiError, error_response


class BodyLimit:
    """ASGI middleware: reads the whole body (at most `max_bytes`, within `timeout_s`) before the app
    sees the request, then replays it. A declared Content-Length over the cap is refused unread."""

    def __init__(
        self, app: Any, max_bytes: int, timeout_s: float, on_reject: Callable[[str], None] | None = None
    ):
        self.app, self.max_bytes, self.timeout_s, self.on_reject = app, max_bytes, timeout_s, on_reject

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large(int(declared)))
            return
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                err = ApiError(408, f"the request body did not arrive within {self.timeout_s:g} s")
                await self._refuse(scope, receive, send, err)
                return
            if message["type"] == "http.disconnect":  # the client left; nobody to answer
                if self.on_reject is not None:
                    self.on_reject("client_closed_request")
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, self._too_large(size, streamed=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int, streamed: bool = False) -> ApiError:
        got = f"more than {self.max_bytes} bytes" if streamed else f"{size} bytes"
        return ApiError(413, f"request body of {got}: the limit is {self.max_bytes} bytes (--max-body-bytes)")

    async def _refuse(self, scope: dict, receive: Callable, send: Callable, err: ApiError) -> None:
        if self.on_reject is not None:
            self.on_reject(err.code)
        err.headers.setdefault("Connection", "close")
        await error_response(err)(scope, receive, send)


class Admission:
    """At most `limit` prediction requests inside the server at once (queued or running); the event
    loop is the only caller, so a plain counter is enough."""

    def __init__(self, limit: int, retry_after_s: int):
        self.limit, self.retry_after_s, self.active = limit, retry_after_s, 0

    def enter(self) -> None:
        if self.active >= self.limit:
            raise ApiError(
                429,
                f"the server is at its limit of {self.limit} concurrent requests (--max-concurrency); "
                f"retry after {self.retry_after_s} s",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.active += 1

    def leave(self) -> None:
        self.active -= 1


def check_sizes(kind: str, items: list[Any], max_items: int, max_chars: int) -> None:
    """422 when a request holds more than `max_items` inputs or an input more than `max_chars`
    characters (a word list counts its words joined by spaces; a pair counts each side). Nothing is
    ever cut to fit."""
    count = sum(len(d["sentences"]) for d in items) if kind == "documents" else len(items)
    if count > max_items:
        what = "sentences in documents" if kind == "documents" else kind
        raise ApiError(
            422,
            f"{count} {what} in one request; at most {max_items} are allowed (--max-texts): "
            f"split the request",
            code="too_many_inputs",
        )
    for i, item in enumerate(items):
        parts = [" ".join(item)] if kind == "tokens" else list(item) if kind == "pairs" else [item]
        if kind == "documents":  # {"sentences": [...]}: every sentence a text
            parts = list(item["sentences"])
        if kind == "questions":  # extractive QA: {"question", "context"}
            parts = [item["question"], item["context"]]
        elif kind == "relations":  # {"text" | "tokens", "head", "tail"}
            parts = [item["text"] if "text" in item else " ".join(item.get("tokens") or [])]
        for j, text in enumerate(parts):
            where = f"{kind}[{i}]" + (f"[{j}]" if kind in ("pairs", "documents") else "")
            where += (".question", ".context")[j] if kind == "questions" else ""
            if len(text) > max_chars:
                raise ApiError(
                    422,
                    f"{where} has {len(text)} characters; at most {max_chars} are allowed per text "
                    f"(--max-chars): split it",
                    code="input_too_long",
                )
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ApiError(
                    422, f"{where} is not valid Unicode (a lone surrogate at {e.start})", code="invalid_text"
                ) from None
