"""benchmarks/gpu_check.sh, the prepared GPU check, without running it: the script parses, answers
--help and refuses an unknown flag; its helper writes the fallback data a bare GPU machine uses,
compares prediction files and renders the table. (The whole check: `bash benchmarks/gpu_check.sh --cpu`.)"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _helper():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "benchmarks_gpu_check", ROOT / "benchmarks" / "gpu_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_parses_and_answers_help():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "--cpu" in done.stdout and "resume" in done.stdout
    bad = subprocess.run(["bash", str(SCRIPT), "--gpus", "2"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown argument --gpus" in bad.stderr


def test_without_shared_data_it_writes_the_bundled_sample(tmp_path):
    files = _helper().prepare(tmp_path, "cpu", tmp_path / "no-such-dir")
    assert "synthetic" in files["source"]
    for key in ("raw", "raw_dev", "ner_train", "ner_dev", "predict", "cls_train", "cls_dev"):
        assert Path(files[key]).stat().st_size > 0, key
    assert (tmp_path / "data" / "conll2003" / "train.txt").exists()  # what the HF speed workers read
    train = set(Path(files["raw"]).read_text().splitlines())
    assert not train & set(Path(files["raw_dev"]).read_text().splitlines())  # held out for MLM validation
    assert json.loads((tmp_path / "data" / "files.json").read_text())["ner_sentences"] == 160


def test_same_tags_counts_word_tags(tmp_path, capsys):
    h = _helper()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(
        json.dumps({"tags": ["B-PER", "O", "O", "O"]}) + "\n" + json.dumps({"tags": ["O"] * 6}) + "\n"
    )
    b.write_text(
        json.dumps({"tags": ["B-PER", "O", "O", "B-LOC"]}) + "\n" + json.dumps({"tags": ["O"] * 6}) + "\n"
    )
    assert h.same_tags(a, b, 0.9) == 0  # 9 of 10
    assert h.same_tags(a, b, 0.95) == 1
    assert "9/10 word tags equal" in capsys.readouterr().out


def test_table_has_every_step_and_the_throughput_rows(tmp_path):
    h = _helper()
    (tmp_path / "steps.tsv").write_text("pretrain\tok\t12\t100 MLM steps\nner\tFAILED (exit 1)\t3\tNER\n")
    rows = [
        {
            "item": "MLM pretraining",
            "recipe": "HF Trainer",
            "unit": "tokens/s",
            "value": 1000.0,
            "mfu": 0.1,
            "work": "w",
        },
        {
            "item": "MLM pretraining",
            "recipe": "rawtune",
            "unit": "tokens/s",
            "value": 1500.0,
            "mfu": 0.15,
            "work": "w",
        },
    ]
    info = {"device": "NVIDIA H100 80GB HBM3", "precision": "bf16", "params": 22713216, "peak_tflops": 989.0}
    (tmp_path / "speed.json").write_text(json.dumps({"info": info, "rows": rows}))
    text = h.table(tmp_path)
    assert "| pretrain | ok | 12 |" in text and "FAILED (exit 1)" in text
    assert "| MLM pretraining | rawtune | 1,500.0 tokens/s | 1.50x | 15.0% |" in text
    assert (tmp_path / "table.md").read_text() == text
