"""Registries know their members' module names and import them on first lookup; members register
themselves and never import the registry's filler."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from rawtune.errors import RawtuneError


@pytest.fixture
def widgets(tmp_path, monkeypatch):
    """A package `widgets` whose registry lists two member modules, each registering one name."""
    pkg = tmp_path / "widgets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from rawtune.registry import Registry\n"
        "WIDGETS = Registry('widget', members=('widgets.gear', 'widgets.spring'))\n"
    )
    for module, name in (("gear", "gear"), ("spring", "spring")):
        (pkg / f"{module}.py").write_text(
            textwrap.dedent(f"""
                from widgets import WIDGETS

                @WIDGETS.register("{name}")
                class Member:
                    pass
            """)
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for m in [m for m in sys.modules if m == "widgets" or m.startswith("widgets.")]:
        del sys.modules[m]


def test_members_are_imported_on_first_lookup(widgets):
    from widgets import WIDGETS

    assert "widgets.gear" not in sys.modules and "widgets.spring" not in sys.modules
    assert WIDGETS.get("gear").__module__ == "widgets.gear"
    assert "widgets.spring" in sys.modules  # one lookup fills the whole registry
    assert WIDGETS.names() == ["gear", "spring"]


@pytest.mark.parametrize("lookup", ["names", "contains", "iter"])
def test_every_lookup_fills(widgets, lookup):
    from widgets import WIDGETS

    got = {
        "names": lambda: WIDGETS.names(),
        "contains": lambda: ["spring"] if "spring" in WIDGETS else [],
        "iter": lambda: list(WIDGETS),
    }[lookup]()
    assert "spring" in got


def test_unknown_name_suggests_the_closest(widgets):
    from widgets import WIDGETS

    with pytest.raises(
        RawtuneError, match=r"unknown widget 'geer'; known: gear, spring \(did you mean 'gear'\?\)"
    ):
        WIDGETS.get("geer")


def test_a_failed_member_import_is_tried_again(widgets):
    from widgets import WIDGETS

    good = (widgets / "spring.py").read_text()
    (widgets / "spring.py").write_text("raise ImportError('not yet')\n")
    with pytest.raises(ImportError, match="not yet"):
        WIDGETS.get("gear")
    (widgets / "spring.py").write_text(good)
    sys.modules.pop("widgets.spring", None)
    assert WIDGETS.get("spring").__module__ == "widgets.spring"


def test_project_registries_load_their_members_lazily():
    """Importing a registry's module loads none of its members; the first lookup loads them all."""
    code = textwrap.dedent("""
        import sys
        from rawtune.config.base import STAGES
        from rawtune.tasks.base import TASKS
        from rawtune.tuning.base import METHODS
        members = [*STAGES.members, *TASKS.members, *METHODS.members]
        # the fine-tuning schema (which tuning.base imports) holds the compress and augment sections
        needed = {f"rawtune.config.{m}" for m in ("schema", "compress", "augment")}
        early = [m for m in members if m in sys.modules and m not in needed]
        assert not early, early
        assert "ner" in TASKS and "lora" in METHODS and "fewshot" in STAGES
        late = [m for m in members if m not in sys.modules]
        assert not late, late
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("registry", "bad", "hint"),
    [
        ("rawtune.tasks.base:TASKS", "nre", "ner"),
        ("rawtune.tuning.base:METHODS", "lorra", "lora"),
        ("rawtune.tasks.lm:OBJECTIVES", "mlmm", "mlm"),
        ("rawtune.config.base:STAGES", "finetun", "finetune"),
        ("rawtune.pipeline.kinds:KINDS", "learning-curve", "learning_curve"),
    ],
)
def test_project_registries_suggest(registry, bad, hint):
    import importlib

    module, name = registry.split(":")
    reg = getattr(importlib.import_module(module), name)
    with pytest.raises(RawtuneError, match=rf"did you mean '{hint}'"):
        reg.get(bad)
