"""ROOT/report.html for a pipeline: the stage table, the lineage, the comparison of stages, the
learning curve, and a report per stage linked from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_fakes import assert_self_contained

from rawtune.errors import RunDirError
from rawtune.reporting import build_report, write_pipeline_report


def test_pipeline_report(pipeline_root: Path):
    out = write_pipeline_report(pipeline_root)
    assert out == pipeline_root / "report.html"
    html = out.read_text()
    for stage in ("dapt", "tapt", "ner", "ner-base", "ner-int8", "curve"):
        assert (pipeline_root / stage / "report.html").is_file(), stage
        assert f'href="{stage}/report.html"' in html, stage
    for href in re.findall(r'href="([^"#]+)"', html):
        assert (pipeline_root / href).is_file(), href  # every link resolves, relative to ROOT
    assert not (pipeline_root / "serve").exists()
    assert (
        '<span class="badge muted">pending</span>' in html
        and '<span class="badge muted">skipped</span>' in html
    )
    # stage table: dev metric, size, latency
    assert "0.8123 f1" in html and "0.7456 f1" in html and "3.1000 val loss" in html
    assert "0.99 MB" in html and "2.10 ms" in html and "2.50 MB" in html
    # comparison of stages: chain under each model, compressed vs its parent
    assert "<td>tapt ← dapt</td>" in html and "<td>base model</td>" in html
    assert "-1.12 points" in html
    # lineage boxes and arrows, learning curve
    start = html.index('aria-label="stage lineage"')
    lineage = html[start : html.index("</svg>", start)]
    assert lineage.count("<rect") == 8 and lineage.count("<line") == 6  # 7 stages + the base model
    assert "<title>base: model</title>" in lineage and lineage.count('stroke-dasharray="4 3"') == 1
    assert "0.6042" in html and "log scale" in html
    assert '<div class="label">best dev f1</div><div class="value">0.8123</div>' in html
    assert_self_contained(html)


def test_build_report_dispatches_to_the_pipeline(pipeline_root: Path):
    assert build_report([pipeline_root]) == pipeline_root / "report.html"


def test_pipeline_with_a_failed_stage_and_no_runs(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "pipeline.json").write_text(
        '{"name": "<b>p</b>", "status": "failed", "stages": [{"name": "dapt", "kind": "pretrain", '
        '"run": "dapt", "parent": null, "status": "failed", "seconds": 1.5}, {"name": "ner", '
        '"kind": "finetune", "run": "ner", "parent": "dapt", "status": "pending"}]}'
    )
    html = write_pipeline_report(root).read_text()
    assert "&lt;b&gt;p&lt;/b&gt;" in html and "<b>p</b>" not in html
    assert '<span class="badge bad">failed</span>' in html
    assert "No run directory yet for: dapt" in html


def test_pipeline_report_elsewhere_links_back(pipeline_root: Path, tmp_path: Path):
    out = build_report([pipeline_root], tmp_path / "share" / "pipe.html")
    assert out == tmp_path / "share" / "pipe.html"
    hrefs = re.findall(r'href="([^"#]+)"', out.read_text())
    assert "../pipe/ner/report.html" in hrefs
    assert all((out.parent / h).is_file() for h in hrefs)


def test_a_pipeline_root_is_not_compared_as_a_run(pipeline_root: Path, tmp_path: Path):
    with pytest.raises(RunDirError, match="pipeline root"):
        build_report([pipeline_root, pipeline_root / "ner"], tmp_path / "c.html")


def test_lineage_draws_file_links_dashed_and_model_links_solid():
    from rawtune.reporting.lineage import lineage_svg

    stages = [
        {"name": "data", "kind": "prepare", "status": "complete"},
        {"name": "tapt", "kind": "pretrain", "status": "complete", "uses": ["data"]},
        # ner reads data's files and starts from tapt's model: one solid and one dashed arrow
        {
            "name": "ner",
            "kind": "finetune",
            "status": "complete",
            "sources": ["tapt"],
            "uses": ["data", "tapt"],
        },
    ]
    svg = str(lineage_svg(stages))
    assert svg.count("<line") == 3
    assert svg.count('stroke-dasharray="5 4"') == 2
