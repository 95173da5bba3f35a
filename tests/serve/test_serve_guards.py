"""The server's guards without a model: API key files, the loopback rule, the bearer check, the body
cap and upload deadline on a streamed body, and `rawtune serve` refusing to start unsafely (before
it loads anything)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from rawtune.cli.main import main
from rawtune.errors import ConfigError
from rawtune.serve.security import ServeSecurityError, bearer_ok, check_bind, is_loopback, read_api_key

KEY = "a-key-of-24-characters-x"


def test_api_key_file(tmp_path):
    path = tmp_path / "key"
    path.write_text(f"  {KEY}\n")
    assert read_api_key(path) == KEY
    for bad, why in (
        ("short", "at least 16"),
        ("with a space inside it ok", "no spaces"),
        ("ключ" * 8, "ASCII"),
        ("", "at least 16"),
    ):
        path.write_text(bad)
        with pytest.raises(ServeSecurityError, match=why):
            read_api_key(path)
    with pytest.raises(ServeSecurityError, match="cannot read"):
        read_api_key(tmp_path / "missing")


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.com", False), ("", False)],
)  # fmt: skip
def test_loopback_rule(host, loopback):
    assert is_loopback(host) is loopback
    check_bind(host, has_key=True)
    if loopback:
        check_bind(host, has_key=False)
    else:
        with pytest.raises(ServeSecurityError, match="without an API key"):
            check_bind(host, has_key=False)


def test_bearer_check():
    key = KEY.encode()
    assert bearer_ok(b"Bearer " + key, key) and bearer_ok(b"bearer " + key, key)
    for header in (
        None,
        b"",
        b"Bearer",
        b"Bearer " + key[:-1],
        b"Bearer " + key + b"x",
        b"Basic " + key,
        key,
        b"Bearer  x",
    ):
        assert not bearer_ok(header, key), header


def test_bearer_middleware_refuses_websockets_too():
    from rawtune.serve.security import BearerAuth

    reached, sent = [], []

    async def app(scope, receive, send) -> None:
        reached.append(scope["type"])

    async def send(message: dict) -> None:
        sent.append(message)

    auth = BearerAuth(app, KEY)
    asyncio.run(auth({"type": "websocket", "path": "/v1/models", "headers": []}, None, send))
    assert reached == [] and sent == [{"type": "websocket.close", "code": 1008}]
    header = [(b"authorization", b"Bearer " + KEY.encode())]
    asyncio.run(auth({"type": "websocket", "path": "/x", "headers": header}, None, send))
    asyncio.run(auth({"type": "lifespan"}, None, send))
    assert reached == ["websocket", "lifespan"]


def _asgi(middleware, chunks: list[bytes], delay: float = 0.0, headers=()) -> tuple[int, bytes]:
    """Run an ASGI middleware on a POST whose body arrives in `chunks`, `delay` s apart."""
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(delay)
        body = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": list(headers)}
    asyncio.run(middleware(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def echo(scope, receive, send) -> None:
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_body_cap_on_a_streamed_body():
    pytest.importorskip("fastapi")
    from rawtune.serve.limits import BodyLimit

    limit = BodyLimit(echo, max_bytes=10, timeout_s=5)
    assert _asgi(limit, [b"12345", b"67890"]) == (200, b"1234567890")  # at the cap, in two chunks
    status, body = _asgi(limit, [b"12345", b"678901"])  # one byte past, no Content-Length
    assert status == 413 and b"more than 10 bytes" in body
    status, body = _asgi(limit, [b"1"], headers=[(b"content-length", b"11")])  # refused unread
    assert status == 413 and b"11 bytes" in body


def test_body_that_does_not_arrive_in_time_is_408():
    pytest.importorskip("fastapi")
    from rawtune.serve.limits import BodyLimit

    status, body = _asgi(BodyLimit(echo, max_bytes=100, timeout_s=0.2), [b"a", b"b", b"c"], delay=0.15)
    assert status == 408 and b"0.2 s" in body


def test_serve_refuses_an_open_bind_without_a_key(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "run"), "--host", "0.0.0.0"]) == 2
    assert "refusing to bind 0.0.0.0 without an API key" in capsys.readouterr().err
    (tmp_path / "key").write_text("short")
    assert (
        main(["serve", str(tmp_path / "run"), "--host", "0.0.0.0", "--api-key-file", str(tmp_path / "key")])
        == 2
    )
    assert "at least 16" in capsys.readouterr().err


def test_serve_flags_and_names(capsys):
    from rawtune.cli.serve_cmd import model_table

    assert model_table(["runs/ner/", "x/cls"], ["topic=runs/cls-2"]) == {
        "ner": "runs/ner/",
        "cls": "x/cls",
        "topic": "runs/cls-2",
    }
    for runs, named, why in (
        (["a/ner", "b/ner"], [], "two runs named 'ner'"),
        ([], ["bad name=x"], "not a usable model name"),
        ([], ["noequals"], "expected NAME=RUN"),
        ([], [], "at least one RUN"),
    ):
        with pytest.raises(ConfigError, match=why):
            model_table(runs, named)
    assert main(["serve", "r", "--max-texts", "0", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert "--max-texts" in err and "--port" in err


def test_help_needs_no_torch_or_server_libraries():
    code = (
        "import sys, contextlib, io\nfrom rawtune.cli.main import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['serve', '--help'])\n"
        "assert '--max-concurrency' in out.getvalue() and '(default 64)' in out.getvalue()\n"
        "print(sorted(m for m in ('torch', 'fastapi', 'uvicorn', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
