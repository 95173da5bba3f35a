"""The page shell: one HTML document with its stylesheet inline. No scripts, no web fonts, no
external references of any kind, so the file opens the same offline, from an e-mail attachment or
an archive years later."""

from __future__ import annotations

import time

from rawtune._version import __version__
from rawtune.reporting.markup import Raw, esc

CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --card:#fff;
  --accent:#2563eb; --ok:#15803d; --bad:#b91c1c; --warn:#b45309; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1120px; margin:0 auto; padding:28px 24px 64px; }
header.top { border-bottom:1px solid var(--line); margin-bottom:20px; padding-bottom:12px; }
h1 { font-size:26px; margin:0 0 4px; word-break:break-all; }
h2 { font-size:19px; margin:0 0 12px; }
h4 { font-size:14px; margin:14px 0 6px; }
h3 { font-size:15px; margin:20px 0 8px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
.meta { color:var(--muted); font-size:13px; }
.meta span + span::before { content:" · "; }
nav.toc { font-size:13px; margin:8px 0 0; }
nav.toc a { margin-right:14px; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:18px 20px; margin:18px 0; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); gap:12px;
  margin:16px 0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px;
  border-top:3px solid var(--accent); }
.card.ok { border-top-color:var(--ok); } .card.bad { border-top-color:var(--bad); }
.card.muted { border-top-color:var(--line); }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:24px; font-weight:600; font-variant-numeric:tabular-nums;
  word-break:break-word; }
.card .sub { color:var(--muted); font-size:12px; }
.scroll { overflow-x:auto; }
.cols { display:grid; grid-template-columns:repeat(auto-fit,minmax(330px,1fr)); gap:8px 28px;
  align-items:start; }
table { border-collapse:collapse; font-size:13.5px; margin:4px 0 12px; min-width:40%; }
th, td { padding:5px 12px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { border-bottom:2px solid #cbd2d9; font-weight:600; white-space:nowrap; }
tbody tr:nth-child(even) { background:#fafbfc; }
.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.kv th { font-weight:500; color:var(--muted); white-space:nowrap; }
table.confusion td.num { min-width:44px; }
.badge { display:inline-block; padding:1px 8px; border-radius:9px; font-size:12px; font-weight:600;
  background:#e4e7eb; color:var(--fg); }
.badge.ok { background:#dcfce7; color:var(--ok); } .badge.bad { background:#fee2e2; color:var(--bad); }
.badge.warn { background:#fef3c7; color:var(--warn); }
.bar { display:inline-block; width:90px; height:8px; background:#e4e7eb; border-radius:4px;
  vertical-align:middle; margin-left:6px; }
.bar span { display:block; height:8px; background:var(--accent); border-radius:4px; }
figure { margin:8px 0 16px; } figure svg { max-width:100%; height:auto; }
figcaption { color:var(--muted); font-size:13px; }
details { margin:8px 0; } summary { cursor:pointer; color:var(--accent); font-weight:500; }
pre { background:#f0f2f5; border-radius:8px; padding:12px; overflow:auto; font-size:12.5px;
  max-height:560px; }
pre.code { background:#1f2933; color:#e4e7eb; }
.note { color:var(--muted); font-size:13px; }
footer { color:var(--muted); font-size:12px; margin-top:32px; }
"""


def page(title: str, subtitle: Raw | str, body: str, toc: list[tuple[str, str]] | None = None) -> str:
    """The complete document; `toc` is [(anchor, label)] for the links under the title."""
    nav = ""
    if toc:
        nav = '<nav class="toc">' + "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in toc) + "</nav>"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header class="top"><h1>{esc(title)}</h1><div class="meta">{esc(subtitle)}</div>{nav}</header>\n'
        f"{body}\n"
        f"<footer>Written by rawtune {esc(__version__)} on {esc(stamp)}. Self-contained: no scripts, "
        "no external files.</footer>\n</main>\n</body>\n</html>\n"
    )
