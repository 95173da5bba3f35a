"""How the package is built, counted from its code: import circles, imports that climb a floor,
imports of another module's private names, the longest functions and the size of `stages/` files.

    python tools/architecture.py            # the figures and every offending import
    python tools/architecture.py --check    # exit 1 when a figure is over its bound

Every `import` counts, the function-local ones too: a lazy import that climbs a floor is still a
layering fault. The floors (bottom first) are the README's architecture section; a package on a floor
may import its own floor's packages (without a circle) and the floors below."""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "rawtune"
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("_version", "errors", "registry", "logs", "samples")),
    ("runs", ("runs",)),
    ("config", ("config",)),
    ("data", ("data",)),
    ("models", ("modeling", "evaluation")),
    ("training", ("tuning", "train")),
    ("tasks", ("tasks",)),
    ("artifacts", ("artifacts",)),
    (
        "features",
        (
            "finetuning",
            "compress",
            "export",
            "serve",
            "continual",
            "augmentation",
            "fewshot",
            "reporting",
            "versions",
            "selftrain",
            "pretraining",
        ),
    ),
    ("stages", ("stages",)),
    ("engines", ("pipeline", "hpo")),
    ("interface", ("cli", "__main__", "rawtune")),
]
BOUNDS = {"circles": 0, "upward": 0, "private": 0, "longest_function": 80, "stage_file": 150}


def modules(root: Path | None = None) -> dict[str, Path]:
    root = root or ROOT
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(mod: str, path: Path, mods: dict[str, Path]) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or '', line) of every rawtune import in the file."""

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] == "rawtune" and (m := known(a.name)):
                    yield m, "", n.lineno
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                base = ".".join(up + ([n.module] if n.module else []))
            if base.split(".")[0] != "rawtune":
                continue
            for a in n.names:
                full = f"{base}.{a.name}"
                if full in mods:
                    yield full, "", n.lineno
                elif m := known(base):
                    yield m, a.name, n.lineno


def package(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "rawtune"


def floor(mod: str) -> int:
    pkg = package(mod)
    for i, (_, pkgs) in enumerate(FLOORS):
        if pkg in pkgs:
            return i
    raise SystemExit(f"tools/architecture.py: package {pkg!r} ({mod}) is on no floor; add it to FLOORS")


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    out.append(sorted(group))
    return out


def functions(mods: dict[str, Path]) -> list[tuple[int, str]]:
    rows = []
    for p in mods.values():
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                rows.append(
                    (n.end_lineno - n.lineno + 1, f"{p.relative_to(ROOT.parent.parent)}:{n.lineno} {n.name}")
                )
    return sorted(rows, reverse=True)


def measure() -> dict[str, object]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    upward, private = [], []
    for m, p in mods.items():
        for target, name, line in _imports(m, p, mods):
            if target == m:
                continue
            edges[m].add(target)
            where = f"{p.relative_to(ROOT.parent.parent)}:{line}"
            if floor(target) > floor(m) and package(target) != package(m):
                upward.append(f"{where} {m} -> {target}")
            if name.startswith("_") and not name.startswith("__"):
                private.append(f"{where} {m} imports {target}.{name}")
    up_edges = sorted({u.split(" ", 1)[1] for u in upward})
    stage_files = sorted(
        (
            (len(p.read_text(encoding="utf-8").splitlines()), m)
            for m, p in mods.items()
            if package(m) == "stages"
        ),
        reverse=True,
    )
    return {
        "circles": circles(edges),
        "upward": up_edges,
        "upward_sites": upward,
        "private": sorted(set(private)),
        "functions": functions(mods),
        "stage_files": stage_files,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a figure is over its bound")
    args = ap.parse_args()
    r = measure()
    longest = r["functions"][0]
    biggest = r["stage_files"][0] if r["stage_files"] else (0, "-")
    figures = {
        "circles": len(r["circles"]),
        "upward": len(r["upward"]),
        "private": len(r["private"]),
        "longest_function": longest[0],
        "stage_file": biggest[0],
    }
    print(f"import circles:                {figures['circles']}")
    for c in r["circles"]:
        print(f"  {' <-> '.join(c) if len(c) < 6 else f'{len(c)} modules: ' + ', '.join(c)}")
    print(f"imports climbing a floor:      {figures['upward']} (module pairs)")
    for u in r["upward"]:
        print(f"  {u}")
    print(f"private names imported across: {figures['private']}")
    for u in r["private"]:
        print(f"  {u}")
    print(f"longest function:              {longest[0]} lines ({longest[1]})")
    for n, where in r["functions"][1:6]:
        print(f"  {n:4d} {where}")
    print(f"largest stages/ file:          {biggest[0]} lines ({biggest[1]})")
    bad = [k for k, v in figures.items() if v > BOUNDS[k]]
    if args.check and bad:
        print("over the bound: " + ", ".join(f"{k} {figures[k]} > {BOUNDS[k]}" for k in bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
