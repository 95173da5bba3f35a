"""The report renders in a real headless Chromium with no network: the page loads without console
errors, the rendered DOM holds the key numbers, and the screenshot is a real page (not blank).

Skipped when no Chromium is installed, unless RAWTUNE_REQUIRE_CHROMIUM=1 (then it fails)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rawtune.reporting import write_pipeline_report, write_run_report

WINDOW = (1280, 2400)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("RAWTUNE_REQUIRE_CHROMIUM") == "1":
        pytest.fail("RAWTUNE_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("chromium is not installed")


def render(page: Path, work: Path) -> tuple[str, Path, list[str]]:
    """(rendered DOM, screenshot path, console lines) of `page`, loaded with every host unresolvable
    and a dead proxy: anything the page tried to fetch would fail."""
    work.mkdir(parents=True, exist_ok=True)
    shot = work / "shot.png"
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={work / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={shot}",
        "--dump-dom",
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(work)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return proc.stdout, shot, console


def _check_screenshot(shot: Path) -> None:
    from PIL import Image

    assert shot.is_file() and shot.stat().st_size > 20_000
    with Image.open(shot) as im:
        assert im.size == WINDOW
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, f"screenshot looks blank: {len(colours)} colours"


def test_console_errors_are_caught(tmp_path):
    """The check below is not vacuous: a page with a script error shows up in the console lines."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>no_such_function()</script></body></html>")
    _dom, _shot, console = render(page, tmp_path / "chrome")
    assert any("no_such_function" in line for line in console), console


def test_run_report_renders(tmp_path, ner_run):
    page = write_run_report(ner_run.path)
    dom, shot, console = render(page, tmp_path / "chrome")
    assert console == []
    dev = json.loads(ner_run.metrics_json.read_text())["dev"]
    assert f"{dev['f1']:.4f}" in dom and f"{dev['loss']:.4f}" in dom
    for text in ("Per entity type", "Per tag (token level)", "Label distribution", "Model card"):
        assert text in dom, text
    assert dom.count("<svg") >= 2 and dom.count("<table") >= 5
    _check_screenshot(shot)


def test_pipeline_report_renders(tmp_path, pipeline_root):
    page = write_pipeline_report(pipeline_root)
    dom, shot, console = render(page, tmp_path / "chrome")
    assert console == []
    for text in ("dapt-tapt-ner", "0.8123", "0.7456", "0.6042", "-1.12 points", "stage lineage"):
        assert text in dom, text
    _check_screenshot(shot)
