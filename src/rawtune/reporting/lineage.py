"""The lineage of a pipeline's stages as a small hand-written inline SVG: one box per stage in
columns by depth (a stage sits right of every stage it starts from), an arrow from each source to
the stages built on it, and a dashed arrow where a stage reads another's files (`${data.train}`). A
source that is not a stage (`base`, the pipeline's model) is drawn as a dashed box."""

from __future__ import annotations

from typing import Any

from rawtune.reporting.markup import Raw, esc

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 166, 46, 36, 16, 8
FILL = {
    "complete": "#dcfce7",
    "skipped": "#e0f2fe",
    "failed": "#fee2e2",
    "pending": "#f1f5f9",
    "running": "#fef3c7",
}


def edges(stages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(source, stage) for every stage a stage starts from: its `sources`, and its `parent`."""
    out = []
    for s in stages:
        found = [*(s.get("sources") or []), *([s["parent"]] if s.get("parent") is not None else [])]
        out += [(str(src), str(s.get("name"))) for src in dict.fromkeys(map(str, found))]
    return out


def uses(stages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(stage, stage reading its files) for the files a stage reads from another (`${data.train}`),
    where that is not already a model link; drawn dashed."""
    models = set(edges(stages))
    names = {str(s.get("name")) for s in stages}
    out = []
    for s in stages:
        for src in s.get("uses") or []:
            link = (str(src), str(s.get("name")))
            if link not in models and link[0] in names:
                out.append(link)
    return out


def layout(nodes: list[str], links: list[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """{node: (column, row)}: the column is the longest path from a node without sources (a cycle in
    a broken pipeline.json stops growing after len(nodes) rounds); rows follow the stage order."""
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):
        changed = False
        for src, dst in links:
            if src in depth and dst in depth and depth[dst] < depth[src] + 1 <= len(nodes):
                depth[dst], changed = depth[src] + 1, True
        if not changed:
            break
    for n in nodes:  # a node nothing feeds sits just left of the first stage it feeds
        targets = [depth[dst] for src, dst in links if src == n and dst in depth]
        if targets and not any(dst == n for _, dst in links):
            depth[n] = max(0, min(targets) - 1)
    rows: dict[int, int] = {}
    pos = {}
    for n in nodes:
        col = depth[n]
        pos[n] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return pos


def lineage_svg(stages: list[dict[str, Any]]) -> Raw:
    if not stages:
        return Raw("")
    by_name = {str(s.get("name")): s for s in stages}
    links, data_links = edges(stages), uses(stages)
    external = [src for src, _ in links if src not in by_name]
    nodes = list(dict.fromkeys([*by_name, *external]))
    pos = layout(nodes, links + data_links)
    width = (max(c for c, _ in pos.values()) + 1) * (BOX_W + GAP_X) - GAP_X + 2 * PAD
    height = (max(r for _, r in pos.values()) + 1) * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD

    def xy(name: str) -> tuple[float, float]:
        c, r = pos[name]
        return PAD + c * (BOX_W + GAP_X), PAD + r * (BOX_H + GAP_Y)

    parts = [
        '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#7b8794"/></marker></defs>'
    ]
    for (src, dst), dashed in [*((link, False) for link in links), *((link, True) for link in data_links)]:
        (px, py), (cx, cy) = xy(src), xy(dst)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        parts.append(
            f'<line x1="{px + BOX_W:.1f}" y1="{py + BOX_H / 2:.1f}" x2="{cx:.1f}" y2="{cy + BOX_H / 2:.1f}" '
            f'stroke="#7b8794" stroke-width="1.5"{dash} marker-end="url(#lineage-arrow)"/>'
        )
    for name in nodes:
        stage = by_name.get(name)
        kind, status = (stage.get("kind"), str(stage.get("status") or "pending")) if stage else ("model", "")
        parts.append(_box(name, str(kind), status, *xy(name), dashed=stage is None))
    return Raw(
        f'<svg role="img" aria-label="stage lineage" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="system-ui, sans-serif">{"".join(parts)}</svg>'
    )


def _box(name: str, kind: str, status: str, x: float, y: float, *, dashed: bool) -> str:
    fill = "#ffffff" if dashed else FILL.get(status, "#f1f5f9")
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    detail = f"{kind} · {status}" if status else kind
    return (
        f"<g><title>{esc(name)}: {esc(detail)}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="7" fill="{fill}" stroke="#9aa5b1"{dash}/>'
        f'<text x="{x + 10:.1f}" y="{y + 19:.1f}" font-size="13" font-weight="600" fill="#1f2933">{esc(_short(name))}</text>'
        f'<text x="{x + 10:.1f}" y="{y + 36:.1f}" font-size="11" fill="#616e7c">{esc(detail)}</text></g>'
    )


def _short(name: Any, limit: int = 22) -> str:
    s = str(name)
    return s if len(s) <= limit else s[: limit - 1] + "…"
