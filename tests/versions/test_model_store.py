"""ModelStore: numbering, promotion, gates, rollback, look-ups, names, and unusable files."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from rawtune.errors import ModelStoreError, PromotionRefused
from rawtune.versions import ModelStore, default_path
from rawtune.versions.schema import SCHEMA_VERSION


def statuses(reg: ModelStore, name: str) -> dict[int, str]:
    return {v.version: v.status for v in reg.list(name)}


def test_register_numbers_versions_per_name(reg, make_run):
    a, b = make_run("a"), make_run("b")
    assert [reg.register("sst2", a).version for _ in range(3)] == [1, 2, 3]
    assert reg.register("ner", b).version == 1
    v = reg.get("sst2", 2)
    assert (v.status, v.run, v.parent, v.metrics, v.data, v.gate) == ("candidate", str(a), None, {}, {}, None)
    assert v.created.endswith("+00:00")
    assert reg.get("sst2").version == 3
    assert reg.names() == ["ner", "sst2"]
    assert [(v.name, v.version) for v in reg.list()] == [("ner", 1), ("sst2", 1), ("sst2", 2), ("sst2", 3)]


def test_register_keeps_what_it_is_given(reg, make_run, tmp_path, monkeypatch):
    run = make_run("r")
    monkeypatch.chdir(run.parent)
    reg.register("m", run)
    v = reg.register(
        "m", "r", parent=1, task="ner", metrics={"dev": {"f1": 0.9}}, data={"data": "abc"},
        gate={"passed": True}, note="nightly",
    )  # fmt: skip
    assert v == reg.get("m", 2)
    assert v.run == str(run.resolve()) and Path(v.run).is_absolute()
    assert (v.parent, v.task, v.metrics, v.data, v.gate, v.note) == (
        1, "ner", {"dev": {"f1": 0.9}}, {"data": "abc"}, {"passed": True}, "nightly",
    )  # fmt: skip


def test_register_refuses_a_missing_run_or_parent(reg, make_run, tmp_path):
    with pytest.raises(ModelStoreError, match="not a directory"):
        reg.register("m", tmp_path / "nowhere")
    with pytest.raises(ModelStoreError, match="parent version 4 of 'm'"):
        reg.register("m", make_run("r"), parent=4)
    assert reg.names() == []


@pytest.mark.parametrize("bad", ["", "-x", ".x", "a b", "a/b", "models:/a", "é", "x" * 129])
def test_bad_names_are_refused(reg, make_run, bad):
    with pytest.raises(ModelStoreError, match="not a usable model name"):
        reg.register(bad, make_run("r"))


@pytest.mark.parametrize("good", ["a", "sst2", "ner-v2.int8", "A_b", "x" * 128])
def test_good_names(reg, make_run, good):
    assert reg.register(good, make_run("r")).name == good


def test_unknown_name_and_version(reg, make_run):
    reg.register("sst2", make_run("r"))
    with pytest.raises(ModelStoreError, match=r"no model named 'sst' .*did you mean 'sst2'"):
        reg.get("sst")
    with pytest.raises(ModelStoreError, match=r"'sst2' has no version 5 \(versions 1 to 1\)"):
        reg.get("sst2", 5)


def test_promote_archives_the_previous_production(reg, make_run):
    for _ in range(3):
        reg.register("m", make_run(f"r{_}"))
    assert reg.production("m") is None
    assert reg.promote("m").version == 3  # the latest candidate
    assert reg.promote("m", 1).status == "production"
    assert statuses(reg, "m") == {1: "production", 2: "candidate", 3: "archived"}
    assert reg.promote("m").version == 2
    assert statuses(reg, "m") == {1: "archived", 2: "production", 3: "archived"}
    with pytest.raises(ModelStoreError, match="no candidate version"):
        reg.promote("m")
    with pytest.raises(ModelStoreError, match="already production"):
        reg.promote("m", 2)


def test_the_database_allows_one_production_version_per_name(reg, make_run, registry_path):
    reg.register("m", make_run("a"))
    reg.register("m", make_run("b"))
    reg.promote("m", 1)
    with sqlite3.connect(registry_path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE versions SET status = 'production' WHERE version = 2")


@pytest.mark.parametrize("gate", [{"passed": False, "failed": ["forgot 3.1 points"]}, {"accepted": False}])
def test_a_failed_gate_refuses_promotion_unless_forced(reg, make_run, gate):
    reg.register("m", make_run("a"), gate={"passed": True})
    reg.promote("m")
    reg.register("m", make_run("b"), gate=gate)
    with pytest.raises(PromotionRefused, match="'m' version 2 failed its gate") as err:
        reg.promote("m")
    assert err.value.exit_code == 4
    assert statuses(reg, "m") == {1: "production", 2: "candidate"}
    assert reg.promote("m", force=True).version == 2
    assert reg.history("m")[-1].detail["forced"] is True
    assert statuses(reg, "m") == {1: "archived", 2: "production"}


def test_rollback_round_trip(reg, make_run):
    reg.register("m", make_run("a"))
    reg.register("m", make_run("b"))
    reg.promote("m", 1)
    reg.promote("m", 2)
    back = reg.rollback("m")
    assert (back.version, back.status) == (1, "production")
    assert statuses(reg, "m") == {1: "production", 2: "archived"}
    assert reg.promote("m", 2).version == 2  # and forward again
    assert statuses(reg, "m") == {1: "archived", 2: "production"}
    assert [e.action for e in reg.history("m")] == [
        "register",
        "register",
        "promote",
        "promote",
        "rollback",
        "promote",
    ]


def test_repeated_rollbacks_walk_back_through_promotions(reg, make_run):
    for i in range(3):
        reg.register("m", make_run(f"r{i}"))
    for v in (1, 2, 3, 1):  # re-promoting 1 puts it on top again: 1, 2, 3, 1
        reg.promote("m", v)
    assert [reg.rollback("m").version for _ in range(3)] == [3, 2, 1]
    with pytest.raises(ModelStoreError, match="'m' version 1 is the first production version"):
        reg.rollback("m")
    assert statuses(reg, "m") == {1: "production", 2: "archived", 3: "archived"}


def test_rollback_with_nothing_to_roll_back(reg, make_run):
    reg.register("m", make_run("a"))
    with pytest.raises(ModelStoreError, match="'m' has no production version"):
        reg.rollback("m")
    reg.promote("m")
    with pytest.raises(ModelStoreError, match="nothing to roll back to"):
        reg.rollback("m")
    assert reg.production("m").version == 1


def test_find_data(reg, make_run):
    reg.register("m", make_run("a"), data={"data": "d1", "tokenizer": "t"})
    reg.register("m", make_run("b"), data={"data": "d2", "tokenizer": "t"})
    reg.register("m", make_run("c"), data={"data": "d1", "tokenizer": "t"})
    assert reg.find_data("m", "data", "d1").version == 3  # the latest
    assert reg.find_data("m", "data", "d2").version == 2
    assert reg.find_data("m", "tokenizer", "t").version == 3
    assert reg.find_data("m", "data", "d3") is None
    assert reg.find_data("m", "other", "d1") is None
    assert reg.find_data("never-registered", "data", "d1") is None


def test_history_records_every_change(reg, make_run):
    run = make_run("a")
    reg.register("m", run)
    reg.register("m", run, parent=1)
    reg.promote("m", 1)
    reg.promote("m", 2)
    reg.rollback("m")
    events = reg.history("m")
    assert [(e.version, e.action) for e in events] == [
        (1, "register"), (2, "register"), (1, "promote"), (2, "promote"), (1, "rollback"),
    ]  # fmt: skip
    assert events[1].detail == {"run": str(run), "parent": 1}
    assert events[3].detail["previous"] == 1 and events[4].detail["from"] == 2
    assert [e.id for e in events] == sorted(e.id for e in events)


def test_default_path_and_reopening(registry_path, make_run, monkeypatch, tmp_path):
    assert default_path() == registry_path
    with ModelStore() as reg:  # creates the missing parent folder
        reg.register("m", make_run("a"))
    with ModelStore(registry_path) as reg:
        assert reg.get("m").version == 1
        assert reg._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    monkeypatch.delenv("RAWTUNE_REGISTRY")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "share" / "rawtune" / "registry.db"


def test_a_file_that_is_not_sqlite_is_named(tmp_path):
    bad = tmp_path / "registry.db"
    bad.write_text("this is not a database\n" * 100)
    with pytest.raises(
        ModelStoreError, match=re.escape(f"{bad} is not a usable model registry") + ".*not a database"
    ):
        ModelStore(bad)


def test_another_sqlite_database_is_refused(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(
        ModelStoreError, match=re.escape(f"{other} is an SQLite database but not a rawtune model registry")
    ):
        ModelStore(other)


def test_a_newer_schema_is_refused(registry_path):
    ModelStore(registry_path).close()
    with sqlite3.connect(registry_path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ModelStoreError, match="written by a newer rawtune"):
        ModelStore(registry_path)


def test_a_directory_or_missing_file(tmp_path):
    with pytest.raises(ModelStoreError, match="is a directory"):
        ModelStore(tmp_path)
    with pytest.raises(ModelStoreError, match="no model registry at"):
        ModelStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
