"""PET-style prompt classification (Schick & Schütze 2021) as an objective of the one loop: each text
is put in a cloze template ("{text} It was {mask}."), and the masked-LM head's logits of one
verbaliser word per class at the mask are the class scores; the loss is cross-entropy over them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rawtune.errors import ConfigError, ConfigIssue


def verbalizer_ids(tokenizer: Any, verbalizer: dict[str, str], labels: Sequence[str]) -> list[int]:
    """One vocabulary id per label, in `labels` order; a missing label or a word that is not a single
    token is refused, naming it and its pieces."""
    missing = [lab for lab in labels if lab not in verbalizer]
    if missing:
        raise ConfigError(
            [
                ConfigIssue(
                    "pet.verbalizer", f"no word for label(s) {missing}; give e.g. {{'{missing[0]}': 'great'}}"
                )
            ]
        )
    ids = []
    for lab in labels:
        word = verbalizer[lab]
        pieces = (
            tokenizer.tokenize(" " + word)
            if getattr(tokenizer, "add_prefix_space", False)
            else tokenizer.tokenize(word)
        )
        if len(pieces) != 1:
            raise ConfigError(
                [
                    ConfigIssue(
                        "pet.verbalizer",
                        f"'{word}' (label {lab}) is {len(pieces)} tokens {pieces}; each verbaliser word must be one token of the model's vocabulary",
                    )
                ]
            )
        ids.append(tokenizer.convert_tokens_to_ids(pieces[0]))
    return ids


def encode_prompts(
    tokenizer: Any, texts: Sequence[str], template: str, max_length: int
) -> list[dict[str, Any]]:
    """{"input_ids", "mask_pos"} per text; the text is cut (never the template) to fit max_length."""
    if template.count("{text}") != 1 or template.count("{mask}") != 1:
        raise ConfigError(
            [ConfigIssue("pet.template", f"needs one {{text}} and one {{mask}}, got {template!r}")]
        )
    if tokenizer.mask_token_id is None:
        raise ConfigError([ConfigIssue("model.name_or_path", "the tokenizer has no mask token")])
    mask = tokenizer.mask_token_id
    frame = template.format(text="", mask=tokenizer.mask_token)
    budget = max(0, max_length - len(tokenizer(frame)["input_ids"]))
    out = []
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) > budget:  # cut the text, never the template, at a token boundary
            text = text[: enc["offset_mapping"][budget - 1][1]] if budget else ""
        ids = tokenizer(template.format(text=text, mask=tokenizer.mask_token))["input_ids"]
        out.append({"input_ids": ids, "mask_pos": ids.index(mask)})
    return out


class PromptCollator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(s["input_ids"]) for s in samples)
        ids = torch.full((len(samples), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(samples), width), dtype=torch.long)
        for r, s in enumerate(samples):
            ids[r, : len(s["input_ids"])] = torch.tensor(s["input_ids"])
            mask[r, : len(s["input_ids"])] = 1
        batch = {
            "input_ids": ids,
            "attention_mask": mask,
            "mask_pos": torch.tensor([s["mask_pos"] for s in samples]),
        }
        if "label" in samples[0]:
            batch["labels"] = torch.tensor([s["label"] for s in samples])
        return batch


class PromptLoss(nn.Module):
    """`forward(**batch)` -> the loop's loss dict for the masked LM (`.model`)."""

    def __init__(self, mlm: nn.Module, word_ids: list[int]):
        super().__init__()
        self.model = mlm
        self.register_buffer("word_ids", torch.tensor(word_ids), persistent=False)

    def scores(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, mask_pos: torch.Tensor
    ) -> torch.Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        at_mask = logits[torch.arange(len(mask_pos), device=logits.device), mask_pos]
        return at_mask[:, self.word_ids].float()

    def forward(self, input_ids, attention_mask, mask_pos, labels) -> dict[str, Any]:
        s = self.scores(input_ids, attention_mask, mask_pos)
        n = int(labels.shape[0])
        loss_sum = F.cross_entropy(s, labels, reduction="sum")
        return {
            "loss": loss_sum / max(n, 1),
            "loss_sum": float(loss_sum.detach()),
            "count": n,
            "correct": (s.detach().argmax(-1) == labels).sum(),
        }


@torch.no_grad()
def predict_ids(
    module: PromptLoss, features: list[dict[str, Any]], pad_id: int, batch_size: int = 64
) -> list[int]:
    was = module.training
    module.eval()
    device = next(module.parameters()).device
    collate = PromptCollator(pad_id)
    out: list[int] = []
    for k in range(0, len(features), batch_size):
        b = collate(
            [{"input_ids": f["input_ids"], "mask_pos": f["mask_pos"]} for f in features[k : k + batch_size]]
        )
        out += (
            module.scores(b["input_ids"].to(device), b["attention_mask"].to(device), b["mask_pos"].to(device))
            .argmax(-1)
            .tolist()
        )
    module.train(was)
    return out


class PromptClassifier(nn.Module):
    """A PET run's classifier: its masked LM scoring each text's cloze prompt by the verbaliser words
    (softmax over them, columns in label order), as the run scored its dev data. The model of
    `tasks.scored.ScoredClassificationTask`."""

    probabilities = True

    def __init__(self, mlm: nn.Module, word_ids: list[int], template: str, max_length: int):
        super().__init__()
        self.prompt = PromptLoss(mlm, word_ids)
        self.template, self.max_length = template, max_length

    @torch.no_grad()
    def class_scores(self, tokenizer: Any, texts: Sequence[str], batch_size: int) -> Any:
        from rawtune.modeling.tokenizers import pad_id

        features = encode_prompts(tokenizer, texts, self.template, self.max_length)
        collate = PromptCollator(pad_id(tokenizer))
        device = next(self.parameters()).device
        out = []
        for k in range(0, len(features), batch_size):
            b = collate(features[k : k + batch_size])
            s = self.prompt.scores(
                b["input_ids"].to(device), b["attention_mask"].to(device), b["mask_pos"].to(device)
            )
            out.append(F.softmax(s, dim=-1).cpu())
        width = len(self.prompt.word_ids)
        return (torch.cat(out) if out else torch.empty(0, width)).numpy()
