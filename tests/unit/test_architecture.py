"""The house rules of the README's architecture section, counted from the code by
tools/architecture.py: no import circle, no import that climbs a floor (lazy imports included), no
private name imported from another module, no function over 80 lines, no stages/ file over 150."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "architecture.py"


def _tool():
    spec = importlib.util.spec_from_file_location("architecture_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_its_floors():
    tool = _tool()
    r = tool.measure()
    assert r["circles"] == [], r["circles"]
    assert len(r["upward"]) <= tool.BOUNDS["upward"], r["upward"]
    assert r["private"] == [], r["private"]
    assert r["functions"][0][0] <= tool.BOUNDS["longest_function"], r["functions"][:3]
    assert r["stage_files"][0][0] <= tool.BOUNDS["stage_file"], r["stage_files"][:3]


def test_an_upward_import_is_caught(tmp_path, monkeypatch):
    """The counter itself: a lazy import from a lower floor to a higher one is an arrow up."""
    tool = _tool()
    pkg = tmp_path / "rawtune"
    (pkg / "runs").mkdir(parents=True)
    (pkg / "stages").mkdir()
    for d in (pkg, pkg / "runs", pkg / "stages"):
        (d / "__init__.py").write_text("")
    (pkg / "runs" / "rundir.py").write_text("def f():\n    from rawtune.stages.x import g\n    return g\n")
    (pkg / "stages" / "x.py").write_text("from rawtune.runs.rundir import f\n\ndef g():\n    return f\n")
    monkeypatch.setattr(tool, "ROOT", pkg)
    r = tool.measure()
    assert r["upward"] == ["rawtune.runs.rundir -> rawtune.stages.x"]
    assert r["circles"] == [["rawtune.runs.rundir", "rawtune.stages.x"]]
