"""`rawtune config show|validate STAGE` works for every stage of the STAGES registry: show prints a
config that reads back as itself, validate answers ok or names what is missing (never 'unknown
stage', never a traceback)."""

from __future__ import annotations

import pytest

from rawtune.cli.main import main
from rawtune.config.base import STAGES


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_config_show_and_validate_every_stage(stage, tmp_path, capfd):
    assert main(["config", "show", stage]) == 0
    shown = capfd.readouterr().out
    assert shown.strip()
    path = tmp_path / f"{stage}.yaml"
    path.write_text(shown)
    assert main(["config", "show", stage, "--config", str(path)]) == 0
    assert capfd.readouterr().out == shown
    code = main(["config", "validate", stage, "--config", str(path)])
    out, err = capfd.readouterr()
    if code == 0:
        assert out == f"ok: valid {stage} config\n"
    else:
        assert code == 2 and "rawtune config: error: invalid config" in err, err
        assert "unknown stage" not in err and "Traceback" not in err
