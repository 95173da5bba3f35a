"""A static check of src/: no call that runs code hidden in data. Each rule is checked on the syntax
tree (docstrings and comments that mention these calls do not count), and each is first shown to
catch a crafted example, so the check cannot pass by matching nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "rawtune"


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: torch.load, pickle.loads, eval."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"  # x().eval() is "?.eval", not eval
    return "?"


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def problems(source: str, where: str = "<string>") -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name, line = _name(node.func), f"{where}:{node.lineno}"
        if name.endswith("torch.load") and not _true(_kw(node, "weights_only")):
            out.append(f"{line}: torch.load without weights_only=True (unpickles arbitrary objects)")
        if name in ("pickle.load", "pickle.loads", "cloudpickle.load", "cloudpickle.loads", "dill.load",
                    "dill.loads", "joblib.load", "marshal.loads", "shelve.open"):  # fmt: skip
            out.append(f"{line}: {name} (runs code from the file)")
        if name == "yaml.load" or name == "yaml.load_all" or name == "yaml.unsafe_load":
            loader = _name(_kw(node, "Loader") or ast.Name("none"))
            if not loader.endswith(("SafeLoader", "CSafeLoader")):
                out.append(f"{line}: {name} without a safe loader")
        if name.endswith(("numpy.load", "np.load")) and _true(_kw(node, "allow_pickle")):
            out.append(f"{line}: numpy.load with allow_pickle=True")
        if _true(_kw(node, "trust_remote_code")):
            out.append(
                f"{line}: trust_remote_code=True written into a call (it must come from the user's config)"
            )
        if _true(_kw(node, "shell")):
            out.append(f"{line}: shell=True")
        if name in ("eval", "exec", "compile", "__import__"):
            out.append(f"{line}: {name}()")
        if name in ("os.system", "os.popen"):
            out.append(f"{line}: {name} (a shell)")
    return out


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch\ntorch.load('x.pt')",
        "import torch\ntorch.load('x.pt', weights_only=False)",
        "import pickle\npickle.loads(b'')",
        "import yaml\nyaml.load('a: 1')",
        "import yaml\nyaml.load('a: 1', Loader=yaml.Loader)",
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
        "from transformers import AutoModel\nAutoModel.from_pretrained('m', trust_remote_code=True)",
        "import subprocess\nsubprocess.run('ls', shell=True)",
        "eval('1 + 1')",
        "import os\nos.system('ls')",
    ],
)
def test_the_check_catches_each_unsafe_call(snippet):
    assert problems(snippet), snippet


def test_the_check_accepts_the_safe_forms():
    safe = (
        "import torch, yaml, numpy as np\n"
        "torch.load('x.pt', weights_only=True)\n"
        "yaml.safe_load('a: 1')\n"
        "yaml.load('a: 1', Loader=yaml.SafeLoader)\n"
        "np.load('x.npy')\n"
        "model.eval()\n"
        "load(m).eval()\n"
        "f(trust_remote_code=cfg.trust_remote_code)\n"
    )
    assert problems(safe) == []


def test_src_has_no_unsafe_loads_or_calls():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50  # the tree was found
    found = [
        p for f in files for p in problems(f.read_text(encoding="utf-8"), str(f.relative_to(SRC.parent)))
    ]
    assert found == [], "\n".join(found)
