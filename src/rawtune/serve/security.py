"""Who may call the server: the API key (read from a file, never from the command line where `ps`
shows it), the rule that a non-loopback bind needs one, and the bearer check on every request but
the health probes (constant-time, `hmac.compare_digest`)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import stat
from collections.abc import Callable
from typing import Any

from rawtune.errors import RawtuneError

log = logging.getLogger("rawtune.serve")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # liveness/readiness probes carry no key
MIN_KEY_CHARS = 16
_KEY_HINT = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))' > key.txt"


class ServeSecurityError(RawtuneError):
    """The server refuses to start as asked (a missing or weak key, an unsafe bind)."""


def read_api_key(path: str | os.PathLike) -> str:
    """The key in `path` (surrounding whitespace stripped): at least 16 visible ASCII characters."""
    try:
        with open(path, "rb") as f:
            raw = f.read(4097)
    except OSError as e:
        raise ServeSecurityError(f"cannot read the API key file {path}: {e.strerror or e}") from None
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ServeSecurityError(f"{path}: the API key must be ASCII; {_KEY_HINT}") from None
    if len(raw) > 4096:
        raise ServeSecurityError(f"{path}: the API key file is larger than 4096 bytes")
    if len(key) < MIN_KEY_CHARS or any(not (33 <= ord(c) <= 126) for c in key):
        raise ServeSecurityError(
            f"{path}: the API key must be at least {MIN_KEY_CHARS} visible ASCII characters with no "
            f"spaces (this one has {len(key)}); {_KEY_HINT}"
        )
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s: the API key file is readable by other users (chmod 600 it)", path)
    return key


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1; any other name or address (0.0.0.0 included) is not."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, has_key: bool) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if not has_key and not is_loopback(host):
        raise ServeSecurityError(
            f"refusing to bind {host} without an API key: any machine that reaches it could use the "
            f"models. Pass --api-key-file FILE (clients send 'Authorization: Bearer <key>'), or bind "
            f"127.0.0.1 (the default) and put an authenticating proxy in front"
        )


def bearer_ok(header: bytes | None, key: bytes) -> bool:
    """Whether an `Authorization` header value carries `key` as a bearer token (constant time in the
    token's content)."""
    if not header:
        return False
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(token.strip(), key)


class BearerAuth:
    """ASGI middleware: 401 (JSON, `WWW-Authenticate: Bearer`) for any request outside OPEN_PATHS
    without the key, before its body is read or a route is matched (unknown paths answer 401 too,
    so they reveal nothing)."""

    def __init__(self, app: Any, key: str, on_reject: Callable[[], None] | None = None):
        self.app, self.key, self.on_reject = app, key.encode("ascii"), on_reject

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)  # lifespan, and the health probes
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        if bearer_ok(header, self.key):
            await self.app(scope, receive, send)
            return
        if self.on_reject is not None:
            self.on_reject()
        if scope["type"] == "websocket":  # none are served; refuse the handshake all the same
            await send({"type": "websocket.close", "code": 1008})
            return
        from rawtune.serve.http_errors import ApiError, error_response

        message = "missing API key" if not header else "wrong API key"
        response = error_response(
            ApiError(
                401, f"{message}: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
            )
        )
        await response(scope, receive, send)
