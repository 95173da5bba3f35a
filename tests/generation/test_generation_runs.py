"""Generation runs end to end on tiny models: a T5 learns to copy through the CLI and its run
reloads with plain transformers, predicts and serves generated text; a GPT-2 learns replies to
prompts; a T5 built from scratch with its own tokenizer trains; LoRA adapts T5 and GPT-2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rawtune.cli.main import main
from rawtune.stages.finetune import run_finetune

STEPS = ["--train.eval_before=false", "--train.progress=false", "--train.threads=1", "--train.warmup_ratio=0"]


def _flags(**keys) -> list[str]:
    return [f"--{k}={v}" for k, v in keys.items()]


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory, tiny_t5, copy_data) -> Path:
    """The tiny T5 trained to copy its input (1,500 steps, about 20 s on one thread), through the CLI."""
    out = tmp_path_factory.mktemp("copy-run") / "run"
    argv = ["finetune", "--task", "seq2seq", "--model", str(tiny_t5), "--output", str(out)]
    argv += ["--train", str(copy_data["train"]), "--dev", str(copy_data["dev"]), *STEPS]
    argv += _flags(**{"train.max_steps": 1500, "train.eval_steps": 750, "train.save_steps": 750})
    argv += _flags(**{"train.lr": 5e-3, "train.batch_size": 16, "generation.max_new_tokens": 12})
    argv += ["--generation.metrics=[exact_match, rouge]", "--data.max_length=32", "--data.stride=8"]
    assert main(argv) == 0
    return out


@pytest.mark.slow
def test_a_tiny_t5_learns_to_copy(copy_run):
    m = json.loads((copy_run / "metrics.json").read_text())
    dev = m["dev"]
    assert m["selected_by"] == {"metric": "exact_match", "greater_is_better": True}
    assert dev["exact_match"] >= 60.0  # chance: 12 words, 3-5 of them in order, ~0
    assert dev["rougeL"] > 80.0 and dev["rouge1"] >= dev["rouge2"]
    assert dev["perplexity"] < 2.0 and dev["generated"] == dev["examples"] == 24
    losses = [r["loss"] for r in map(json.loads, (copy_run / "metrics.jsonl").read_text().splitlines())]
    assert losses[-1] < losses[0] / 3
    report = json.loads((copy_run / "eval" / "dev" / "report.json").read_text())
    assert report["metrics"]["rougeL"] == dev["rougeL"]
    assert "## Samples" in (copy_run / "eval" / "dev" / "report.md").read_text()


def test_the_run_reloads_with_plain_transformers_and_predicts(copy_run, copy_data, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from rawtune.serve.predictor import Predictor

    model = AutoModelForSeq2SeqLM.from_pretrained(copy_run / "model")
    tok = AutoTokenizer.from_pretrained(copy_run / "model")
    ids = model.generate(**tok(["red cat dog"], return_tensors="pt"), max_new_tokens=12)
    plain = tok.decode(ids[0], skip_special_tokens=True).strip()
    pred = Predictor.from_run(copy_run)
    out = pred.predict(["red cat dog", {"source": "sun moon star"}])
    assert out[0] == {"source": "red cat dog", "generated": plain}  # the same decode path
    assert set(out[1]) == {"source", "generated"} and pred.space.labels == ()
    # rawtune predict: one record per line, the input's file:line under "input"
    dst = tmp_path / "pred.jsonl"
    assert main(["predict", str(copy_run), "--input", str(copy_data["dev"]), "--output", str(dst)]) == 0
    recs = [json.loads(x) for x in dst.read_text().splitlines()]
    dev = [json.loads(x) for x in Path(copy_data["dev"]).read_text().splitlines()]
    assert [r["source"] for r in recs] == [d["source"] for d in dev]
    assert recs[0]["input"].endswith("dev.jsonl:1")
    hits = sum(r["generated"] == d["target"] for r, d in zip(recs, dev))
    metrics = json.loads((copy_run / "metrics.json").read_text())["dev"]
    assert 100.0 * hits / len(dev) == pytest.approx(metrics["exact_match"])  # predict == evaluation


def test_rawtune_evaluate_on_a_generation_run(copy_run, copy_data):
    from rawtune.stages.evaluate import evaluate_run

    metrics, out = evaluate_run(str(copy_run), str(copy_data["dev"]), name="again")
    reported = json.loads((copy_run / "metrics.json").read_text())["dev"]
    assert metrics["exact_match"] == reported["exact_match"]
    assert metrics["loss"] == pytest.approx(reported["loss"], rel=1e-5)
    assert (out / "report.md").is_file()


def test_the_server_returns_generated_text(copy_run):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from rawtune.config.serve import ServeConfig
    from rawtune.serve.app import create_app
    from rawtune.serve.predictor import Predictor

    pred = Predictor.from_runs({"sum": str(copy_run)})
    expected = pred.predict(["red cat dog"])[0]
    with TestClient(create_app(pred, ServeConfig())) as client:
        r = client.post("/v1/models/sum/predict", json={"texts": ["red cat dog"]})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [expected]
        models = client.get("/v1/models").json()["models"]
        assert models[0]["task"] == "seq2seq" and models[0]["labels"] == []
        assert client.post("/v1/models/sum/predict", json={"tokens": [["a"]]}).status_code == 422


def test_a_tiny_gpt2_learns_replies_with_the_prompt_masked(gen_config, tiny_gpt2, reply_data):
    cfg = gen_config(
        "causal",
        tiny_gpt2,
        reply_data,
        data={"source_template": "{source} ="},
        generation={"metrics": ["exact_match", "bleu", "chrf"], "max_new_tokens": 6},
        train={"max_steps": 400, "eval_steps": 400, "save_steps": 400, "lr": 1e-2, "eval_before": False},
    )
    run = run_finetune(cfg)
    dev = json.loads(run.metrics_json.read_text())["dev"]
    assert dev["exact_match"] >= 50.0, dev["samples"]
    assert {"bleu", "chrf", "loss", "perplexity"} <= set(dev)
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(run.model_dir).config.model_type == "gpt2"
    from rawtune.serve.predictor import Predictor

    out = Predictor.from_run(run.path).predict(["star red cat"])
    assert out[0]["source"] == "star red cat" and "=" not in out[0]["generated"]  # the prompt is not echoed


def test_a_t5_from_scratch_with_its_own_tokenizer(gen_config, copy_data, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    cfg = gen_config(
        "seq2seq",
        None,
        copy_data,
        model={"init": "scratch", "arch": "t5", "layers": 2, "hidden": 32, "heads": 2, "intermediate": 64},
        tokenizer={"vocab_size": 300, "min_frequency": 1},
        train={"max_steps": 60, "eval_steps": 60, "save_steps": 60},
    )
    run = run_finetune(cfg)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["model_source"]["kind"] == "scratch"
    model = AutoModelForSeq2SeqLM.from_pretrained(run.model_dir)
    tok = AutoTokenizer.from_pretrained(run.model_dir)
    assert model.config.d_model == 32 and model.config.num_layers == 2
    assert len(tok) <= 300 and model.config.vocab_size >= len(tok)
    assert tok.decode(tok("red cat")["input_ids"], skip_special_tokens=True).strip() == "red cat"
    losses = [r["loss"] for r in run.read_metrics() if r["kind"] == "train"]
    assert losses[-1] < losses[0]


def test_scratch_is_refused_for_other_tasks_and_archs(capsys):
    assert (
        main(
            [
                "finetune",
                "--task",
                "ner",
                "--init",
                "scratch",
                "--arch",
                "t5",
                "--output",
                "o",
                "--train",
                "t",
            ]
        )
        == 2
    )
    assert "needs a generation task" in capsys.readouterr().err
    assert (
        main(
            [
                "finetune",
                "--task",
                "seq2seq",
                "--init",
                "scratch",
                "--arch",
                "gpt2",
                "--output",
                "o",
                "--train",
                "t",
            ]
        )
        == 2
    )
    assert "needs model.arch=t5" in capsys.readouterr().err


@pytest.mark.parametrize("task, model", [("seq2seq", "tiny_t5"), ("causal", "tiny_gpt2")])
def test_lora_adapts_t5_and_gpt2(request, gen_config, copy_data, task, model):
    from rawtune.serve.predictor import Predictor

    cfg = gen_config(task, request.getfixturevalue(model), copy_data, tuning={"method": "lora", "lora_r": 4})
    run = run_finetune(cfg)
    m = json.loads(run.metrics_json.read_text())
    params = m["train"]["parameters"]
    assert 0 < params["trainable"] < params["total"] / 2  # only the low-rank matrices train
    assert (run.adapter_dir / "adapter_config.json").is_file()
    merged = Predictor.from_run(run.path).predict(["red cat"])
    adapter = Predictor.from_runs({"a": str(run.path)}).predict(["red cat"])  # base + adapter
    assert merged == adapter


def test_compress_and_onnx_export_refuse_a_generation_run(copy_run, tmp_path, capsys):
    assert main(["compress", str(copy_run), "--output", str(tmp_path / "c"), "--quantize", "int8"]) == 2
    assert "generation) run is not supported" in capsys.readouterr().err
    assert main(["export", str(copy_run), "--output", str(tmp_path / "e"), "--onnx"]) == 2
    assert "generation) run is not supported" in capsys.readouterr().err


@pytest.mark.parametrize(
    "task, model, method",
    [
        ("seq2seq", "tiny_t5", "ia3"),
        ("seq2seq", "tiny_t5", "prompt"),
        ("causal", "tiny_gpt2", "ia3"),
        ("causal", "tiny_gpt2", "adapter"),
    ],
)
def test_other_peft_methods_train_and_predict(request, gen_config, copy_data, task, model, method):
    from rawtune.serve.predictor import Predictor

    steps = {"max_steps": 2, "eval_steps": 2, "save_steps": 2, "eval_before": False}
    cfg = gen_config(task, request.getfixturevalue(model), copy_data, tuning={"method": method}, train=steps)
    run = run_finetune(cfg)
    m = json.loads(run.metrics_json.read_text())
    assert 0 < m["train"]["parameters"]["trainable"] < m["train"]["parameters"]["total"] / 2
    assert m["dev"]["loss"] == m["dev"]["loss"]  # finite, not NaN
    out = Predictor.from_run(run.path).predict(["red cat", "sun moon star fish"])
    assert [r["source"] for r in out] == ["red cat", "sun moon star fish"]


def test_prompt_tuning_a_decoder_only_model_is_refused(gen_config, tiny_gpt2, copy_data):
    from rawtune.errors import ConfigError

    with pytest.raises(ConfigError, match="'prompt' cannot generate with a decoder-only model"):
        run_finetune(gen_config("causal", tiny_gpt2, copy_data, tuning={"method": "prompt"}))


def test_lengths_past_the_models_positions_are_refused(gen_config, tiny_gpt2, copy_data):
    from rawtune.errors import ConfigError

    cfg = gen_config("causal", tiny_gpt2, copy_data, data={"max_length": 256, "stride": 8})  # 128 positions
    with pytest.raises(ConfigError, match=r"data\.max_length: 256 exceeds the model's 128 positions"):
        run_finetune(cfg)


def test_a_scratch_seq2seq_run_resumes_exactly(gen_config, copy_data, tmp_path, monkeypatch):
    """The tokenizer is trained again on resume: it must come out identical (the fingerprint check
    would refuse the checkpoint otherwise), and the resumed run must equal an uninterrupted one."""
    import rawtune.train.fit as fit_module

    def config(name):
        cfg = gen_config(
            "seq2seq",
            None,
            copy_data,
            model={
                "init": "scratch",
                "arch": "t5",
                "layers": 1,
                "hidden": 32,
                "heads": 2,
                "intermediate": 64,
            },
            tokenizer={"vocab_size": 300, "min_frequency": 1},
            generation={"eval_max_examples": 4, "max_new_tokens": 4},
            train={"max_steps": 8, "eval_steps": 4, "save_steps": 4},
        )
        return {**cfg, "output": str(tmp_path / name)}

    ref = run_finetune(config("ref"))
    original = fit_module.train_steps

    def crash_after_five(*args, **kwargs):
        for res in original(*args, **kwargs):
            yield res
            if res.step == 5:
                raise RuntimeError("simulated crash")

    monkeypatch.setattr(fit_module, "train_steps", crash_after_five)
    crashed = config("crashed")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_finetune(crashed)
    monkeypatch.setattr(fit_module, "train_steps", original)
    resumed = run_finetune(crashed, resume=True)

    def records(run):
        return [(r["step"], r["kind"], r["loss"]) for r in run.read_metrics()]

    assert records(resumed) == records(ref)
    a, b = (json.loads(r.metrics_json.read_text())["dev"] for r in (ref, resumed))
    assert a["loss"] == b["loss"] and a["samples"] == b["samples"]


def test_a_dialogue_run_trains_on_the_last_turn(gen_config, tiny_gpt2, tmp_path):
    rows = [
        {"turns": ["red cat", "blue dog", "sun moon"]},
        {"turns": [{"role": "user", "content": "tree"}, {"role": "assistant", "content": "rock"}]},
    ]
    files = {}
    for split in ("train", "dev"):
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in rows * 4))
    steps = {"max_steps": 2, "eval_steps": 2, "save_steps": 2, "eval_before": False}
    run = run_finetune(gen_config("causal", tiny_gpt2, files, train=steps))
    samples = json.loads(run.metrics_json.read_text())["dev"]["samples"]
    assert (
        samples[0]["source"] == "user: red cat\nassistant: blue dog\nuser: "
        and samples[0]["target"] == "sun moon"
    )
    assert samples[1]["source"] == "user: tree\nassistant: " and samples[1]["target"] == "rock"
